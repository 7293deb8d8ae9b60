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
// Member clusters come through multicluster-runtime: a provider (by default its kubeconfig
// provider, which engages one cluster per labelled kubeconfig Secret in the hub's
// member-namespace) engages each cluster with the Registry, which watches the member Rollouts
// the hub placed (label fleet.flotilla.dev/placed) in that cluster's cache, stripped to what
// the hub reads, and turns every event into a reconcile request of the FleetRollout that
// placed the Rollout (Source). Reads of member Rollouts come from those caches; writes go
// directly to the member's API server, each bounded by RequestTimeout. Every write goes
// through the Member's client, which keeps read-your-writes (expectations.go): a read of a
// Rollout the cache shows older than the hub's own write gets the object the write returned
// (a deletion not shown yet is ErrNotObserved), until the cache catches up, the cluster
// disengages or ExpectationTimeout passes; Member.GetRollout says when that is, so that the
// reconcile reads again at the latest then.
//
// A MemberCluster names its cluster with spec.kubeconfigSecretRef: the Secret's name is the
// multicluster-runtime cluster name. With the namespace provider (NamespaceClusters, for large
// simulations) the members are the namespaces of one API server labelled
// fleet.flotilla.dev/simulated-member=true (package internal/nsclusters), and a MemberCluster's
// cluster is the namespace of its own name; kubeconfigSecretRef is not read. A member whose cache has not synced, or whose watch fails
// (connection refused, forbidden, ...), is not observable (Member.Observable): the hub then
// counts it Unknown, never Healthy, until the watch lists again. Each such change, and a
// cluster joining or leaving, enqueues every FleetRollout (and the MemberCluster controller
// probes the cluster at once). Every replica keeps the caches warm; only the leader acts.
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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// DefaultRequestTimeout bounds every request to a member's API server.
const DefaultRequestTimeout = 5 * time.Second

// DefaultKubeconfigKey is the Secret key the kubeconfig provider reads.
const DefaultKubeconfigKey = "kubeconfig"

// KubeconfigSecretLabel marks a Secret whose kubeconfig the kubeconfig provider engages; its
// value must be "true".
const KubeconfigSecretLabel = "sigs.k8s.io/multicluster-runtime-kubeconfig"

// ErrKubeconfigNotFound is wrapped when the Secret or its key does not exist.
var ErrKubeconfigNotFound = errors.New("kubeconfig not found")

// ErrNamespaceNotFound is wrapped, with the namespace provider, when the MemberCluster's
// namespace does not exist or is not labelled as a simulated member.
var ErrNamespaceNotFound = errors.New("member namespace not found")

// ErrNotEngaged is wrapped when a member's cluster is not (or no longer) engaged.
var ErrNotEngaged = errors.New("member cluster not engaged")

// Member is one engaged member cluster.
type Member struct {
	// Name is the cluster's name in multicluster-runtime (the kubeconfig Secret's name).
	Name string
	// Client reads member Rollouts from the cache and writes directly, each write bounded by
	// the request timeout; it reads the hub's own writes of Rollouts (see GetRollout).
	Client client.Client
	// Config is the member's REST config (with the request timeout).
	Config *rest.Config

	watch *watch
	// ryw is the read-your-writes client under Client; namespace is the namespace of a
	// namespace-cluster ("" for a real cluster), whose scoped Client moves every key there
	// before ryw sees it, so its expectations are keyed as the watch events are.
	ryw       *rywClient
	namespace string
}

// GetRollout reads a placed Rollout from the member's cache with read-your-writes: when the
// cache shows it older than the hub's last write of it (or not at all), the answer is the
// object that write returned, and until is when that expectation ends (zero when the answer is
// the cache's own): the caller reads again at the latest then, in case the watch event that
// ends it earlier is lost. A deletion by the hub the cache does not show yet is a
// *NotObservedError (ErrNotObserved): decide nothing on that Rollout and wait for its watch
// event or its Until. A Rollout that does not exist is a NotFound error.
func (m *Member) GetRollout(ctx context.Context, key client.ObjectKey) (ro *rolloutsv1alpha1.Rollout, until time.Time, err error) {
	if m.namespace != "" && key.Namespace != "" {
		key.Namespace = m.namespace
	}
	return m.ryw.getRollout(ctx, key)
}

// PendingWrites is how many of the hub's writes to the member its cache does not show yet.
func (m *Member) PendingWrites() int {
	return m.ryw.expect.pending()
}

// Observable says why the member's Rollouts cannot be trusted right now (the cache has not
// synced, or its watch fails), nil when they can.
func (m *Member) Observable() error {
	return m.watch.observable()
}

// WatchFailure is why the hub's watch of the member's Rollouts fails, nil when it works (or
// has not tried yet).
func (m *Member) WatchFailure() error {
	if m.watch == nil {
		return nil
	}
	return m.watch.failure()
}

// Registry is the hub's view of its engaged member clusters (a multicluster.Aware runnable:
// add it to the multicluster manager).
type Registry struct {
	// Secrets reads the kubeconfig Secrets on the hub (to explain a member that is not engaged).
	Secrets client.Reader
	// Scheme of the member clients and caches.
	Scheme *runtime.Scheme
	// RequestTimeout bounds each member request; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Namespace, when set, is the only namespace a kubeconfigSecretRef may point into (the
	// hub's member-namespace): the hub reads no other Secrets.
	Namespace string
	// RESTOptions change every member's REST config (for example, wrap its transport).
	RESTOptions []func(*rest.Config) error
	// NamespaceClusters, when set, selects the namespace provider: the members are the
	// labelled namespaces of this API server, each named like its namespace, instead of the
	// clusters of labelled kubeconfig Secrets.
	NamespaceClusters *rest.Config

	nsShared client.Reader // reads the namespaces of NamespaceClusters (namespace provider)

	// ExpectationTimeout bounds how long reads rely on a write of the hub that a member's
	// cache does not show yet; zero means DefaultExpectationTimeout.
	ExpectationTimeout time.Duration

	warm     chan struct{} // closed once the clusters known at start are engaged and listed
	warmOnce sync.Once
	changed  chan struct{} // signalled on every cluster change, for the warm-up

	mu       sync.Mutex
	engaged  map[multicluster.ClusterName]*Member
	byCache  map[any]*watch
	notifyFR []func(key client.ObjectKey, all bool)
	notifyMC []func(cluster string)
}

// ClusterName is the multicluster-runtime name of a MemberCluster's cluster, checked against
// what the hub's provider engages.
func (r *Registry) ClusterName(mc *fleetv1alpha1.MemberCluster) (multicluster.ClusterName, error) {
	if r.NamespaceClusters != nil {
		return multicluster.ClusterName(mc.Name), nil
	}
	ref := mc.Spec.KubeconfigSecretRef
	if ref.Name == "" {
		return "", fmt.Errorf("%w: spec.kubeconfigSecretRef is not set; this hub's kubeconfig provider needs it (only a hub with the namespace provider does without)",
			ErrKubeconfigNotFound)
	}
	if r.Namespace != "" && ref.Namespace != r.Namespace {
		return "", fmt.Errorf("%w: spec.kubeconfigSecretRef.namespace is %s; this hub reads member kubeconfigs from %s only",
			ErrKubeconfigNotFound, ref.Namespace, r.Namespace)
	}
	if ref.Key != "" && ref.Key != DefaultKubeconfigKey {
		return "", fmt.Errorf("%w: spec.kubeconfigSecretRef.key is %q; the hub's kubeconfig provider reads key %q only",
			ErrKubeconfigNotFound, ref.Key, DefaultKubeconfigKey)
	}
	return multicluster.ClusterName(ref.Name), nil
}

// Get returns the engaged member cluster of a MemberCluster.
func (r *Registry) Get(ctx context.Context, mc *fleetv1alpha1.MemberCluster) (*Member, error) {
	name, err := r.ClusterName(mc)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	m := r.engaged[name]
	r.mu.Unlock()
	if m != nil {
		return m, nil
	}
	return nil, r.whyNotEngaged(ctx, mc)
}

// whyNotEngaged explains, from the kubeconfig Secret, why the provider has not engaged a member.
func (r *Registry) whyNotEngaged(ctx context.Context, mc *fleetv1alpha1.MemberCluster) error {
	if r.NamespaceClusters != nil {
		return r.whyNamespaceNotEngaged(ctx, mc.Name)
	}
	ref := mc.Spec.KubeconfigSecretRef
	secret := &corev1.Secret{}
	if err := r.Secrets.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: Secret %s/%s (spec.kubeconfigSecretRef) does not exist", ErrKubeconfigNotFound, ref.Namespace, ref.Name)
		}
		return fmt.Errorf("reading Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if secret.Labels[KubeconfigSecretLabel] != "true" {
		return fmt.Errorf("%w: Secret %s/%s lacks the label %s=true", ErrKubeconfigNotFound, ref.Namespace, ref.Name, KubeconfigSecretLabel)
	}
	if len(secret.Data[DefaultKubeconfigKey]) == 0 {
		return fmt.Errorf("%w: Secret %s/%s has no key %q", ErrKubeconfigNotFound, ref.Namespace, ref.Name, DefaultKubeconfigKey)
	}
	return fmt.Errorf("%w: the hub has not engaged the cluster of Secret %s/%s yet (an unreadable kubeconfig is in the hub's log)",
		ErrNotEngaged, ref.Namespace, ref.Name)
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
