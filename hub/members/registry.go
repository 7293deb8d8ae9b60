/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package members gives the hub access to its member clusters and keeps their health in
// MemberCluster status.
//
// Member access is a small registry rather than multicluster-runtime's kubeconfig provider:
// the hub reads each MemberCluster's spec.kubeconfigSecretRef, builds a client from that
// kubeconfig, and keeps it until the Secret's resourceVersion (or the reference) changes, when
// it builds a new one. Every member call is bounded (RequestTimeout). The hub does not watch
// member objects; the FleetRollout controller reads member Rollouts back when it reconciles
// and requeues while clusters are in flight. (multicluster-runtime would add watches of the
// member Rollouts; the registry is what the time allowed, and swapping it is local to this
// package.)
package members

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// DefaultRequestTimeout bounds every request to a member's API server.
const DefaultRequestTimeout = 5 * time.Second

// DefaultKubeconfigKey is the Secret key read when kubeconfigSecretRef.key is empty.
const DefaultKubeconfigKey = "kubeconfig"

// ErrKubeconfigNotFound is wrapped when the Secret or its key does not exist.
var ErrKubeconfigNotFound = errors.New("kubeconfig not found")

// Member is a client for one member cluster.
type Member struct {
	// Name is the MemberCluster's name.
	Name string
	// Client reads and writes the member's API server.
	Client client.Client
	// Config is the member's REST config (with RequestTimeout).
	Config *rest.Config
}

type cached struct {
	ref             fleetv1alpha1.SecretKeyRef
	resourceVersion string
	member          *Member
}

// Registry builds and caches member clients.
type Registry struct {
	// Secrets reads the kubeconfig Secrets on the hub.
	Secrets client.Reader
	// Scheme of the member clients.
	Scheme *runtime.Scheme
	// RequestTimeout bounds each member request; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Namespace, when set, is the only namespace a kubeconfigSecretRef may point into (the
	// hub's member-namespace): the hub reads no other Secrets.
	Namespace string

	mu    sync.Mutex
	cache map[string]cached
}

// Get returns the client of a member, built from its kubeconfig Secret, rebuilt when the
// Secret changed since it was built.
func (r *Registry) Get(ctx context.Context, mc *fleetv1alpha1.MemberCluster) (*Member, error) {
	ref := mc.Spec.KubeconfigSecretRef
	if ref.Key == "" {
		ref.Key = DefaultKubeconfigKey
	}
	if r.Namespace != "" && ref.Namespace != r.Namespace {
		return nil, fmt.Errorf("%w: kubeconfigSecretRef points to namespace %s; this hub reads member kubeconfigs from %s only",
			ErrKubeconfigNotFound, ref.Namespace, r.Namespace)
	}
	secret := &corev1.Secret{}
	if err := r.Secrets.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: Secret %s/%s does not exist", ErrKubeconfigNotFound, ref.Namespace, ref.Name)
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	r.mu.Lock()
	c, ok := r.cache[mc.Name]
	r.mu.Unlock()
	if ok && c.ref == ref && c.resourceVersion == secret.ResourceVersion {
		return c.member, nil
	}
	data, ok := secret.Data[ref.Key]
	if !ok || len(data) == 0 {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key %q", ErrKubeconfigNotFound, ref.Namespace, ref.Name, ref.Key)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig in Secret %s/%s key %q: %w", ref.Namespace, ref.Name, ref.Key, err)
	}
	cfg.Timeout = r.timeout()
	cfg.QPS, cfg.Burst = 50, 100
	cl, err := client.New(cfg, client.Options{Scheme: r.Scheme})
	if err != nil {
		return nil, fmt.Errorf("client for member %s: %w", mc.Name, err)
	}
	m := &Member{Name: mc.Name, Client: cl, Config: cfg}
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[string]cached{}
	}
	r.cache[mc.Name] = cached{ref: ref, resourceVersion: secret.ResourceVersion, member: m}
	r.mu.Unlock()
	return m, nil
}

// Forget drops the cached client of a member (its MemberCluster was deleted).
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cache, name)
}

func (r *Registry) timeout() time.Duration {
	if r.RequestTimeout > 0 {
		return r.RequestTimeout
	}
	return DefaultRequestTimeout
}

// Health is what one probe of a member found.
type Health struct {
	// Reachable is true when the API server answered.
	Reachable bool
	// KubernetesVersion is the API server's version.
	KubernetesVersion string
	// AgentReady is true when the member serves the spoke's API (rollouts.flotilla.dev/v1alpha1).
	AgentReady bool
	// Err is why the member is not reachable or not ready.
	Err error
}

// RolloutsGroupVersion is the spoke API the hub writes to members.
const RolloutsGroupVersion = "rollouts.flotilla.dev/v1alpha1"

// Probe asks the member's API server for its version and whether it serves the spoke API,
// each within the request timeout.
func (r *Registry) Probe(ctx context.Context, m *Member) Health {
	dc, err := discovery.NewDiscoveryClientForConfig(m.Config)
	if err != nil {
		return Health{Err: err}
	}
	type res struct {
		h Health
	}
	done := make(chan res, 1)
	go func() {
		v, err := dc.ServerVersion()
		if err != nil {
			done <- res{Health{Err: err}}
			return
		}
		h := Health{Reachable: true, KubernetesVersion: v.GitVersion}
		if _, err := dc.ServerResourcesForGroupVersion(RolloutsGroupVersion); err != nil {
			h.Err = fmt.Errorf("the member does not serve %s (is the spoke installed?): %w", RolloutsGroupVersion, err)
		} else {
			h.AgentReady = true
		}
		done <- res{h}
	}()
	select {
	case out := <-done:
		return out.h
	case <-ctx.Done():
		return Health{Err: ctx.Err()}
	case <-time.After(2 * r.timeout()):
		return Health{Err: fmt.Errorf("no answer within %s", 2*r.timeout())}
	}
}
