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

package members_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/test/harness"
)

const ns = "flotilla-system"

func memberCluster(secretNS, name, key string) *fleetv1alpha1.MemberCluster {
	mc := &fleetv1alpha1.MemberCluster{}
	mc.Name = "m1"
	mc.Spec.KubeconfigSecretRef = fleetv1alpha1.SecretKeyRef{Namespace: secretNS, Name: name, Key: key}
	return mc
}

// TestRegistry runs the registry on a real hub and member (API servers only): a labelled
// kubeconfig Secret engages the member, whose placed Rollouts the registry watches (an
// unplaced one stays out of the cache, and a placed one enqueues the FleetRollout that placed
// it); a MemberCluster naming a missing or unlabelled Secret, another key or another
// namespace gets a KubeconfigNotFound error naming the field; deleting the Secret disengages
// the member. (A member cut off is the partition case of hub/fleetrollout's TestWavesRunInOrder.)
func TestRegistry(t *testing.T) {
	s := harness.NewScheme(rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme)
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{
		{Name: "hub", CRDDirs: []string{harness.HubCRDDir}}, {Name: "m1", CRDDirs: []string{harness.SpokeCRDDir}}}})
	hub, member := fleet.Cluster("hub"), fleet.Cluster("m1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, c := range []client.Client{hub.Client, member.Client} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Namespaces: map[string]cache.Config{ns: {}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := &members.Registry{Secrets: mgr.GetAPIReader(), Scheme: s, Namespace: ns, RequestTimeout: time.Second}
	if err := reg.Setup(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	enqueued := make(chan string, 100)
	src := reg.FleetRolloutSource(func(context.Context) []ctrl.Request { return nil })
	if _, err := ctrl.NewControllerManagedBy(mgr).Named("sink").WatchesRawSource(src).
		Build(reconcilerFunc(func(_ context.Context, req ctrl.Request) (ctrl.Result, error) {
			enqueued <- req.String()
			return ctrl.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "m1", Labels: map[string]string{members.KubeconfigSecretLabel: "true"}},
		Data: map[string][]byte{"kubeconfig": member.Kubeconfig}}
	unlabelled := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"},
		Data: map[string][]byte{"kubeconfig": member.Kubeconfig}}
	for _, o := range []client.Object{secret, unlabelled} {
		if err := hub.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for name, mc := range map[string]*fleetv1alpha1.MemberCluster{
		"missing Secret":         memberCluster(ns, "nope", ""),
		"unlabelled Secret":      memberCluster(ns, "plain", ""),
		"another key":            memberCluster(ns, "m1", "other"),
		"outside the namespace":  memberCluster("default", "m1", ""),
		"no kubeconfigSecretRef": {ObjectMeta: metav1.ObjectMeta{Name: "m1"}},
	} {
		if _, err := reg.Get(ctx, mc); !errors.Is(err, members.ErrKubeconfigNotFound) {
			t.Errorf("%s: got %v, want ErrKubeconfigNotFound", name, err)
		}
	}

	mc := memberCluster(ns, "m1", "kubeconfig")
	m := waitFor(t, "the member engaged and listed", func() (*members.Member, error) {
		m, err := reg.Get(ctx, mc)
		if err != nil {
			return nil, err
		}
		return m, m.Observable()
	})

	// A placed Rollout is cached and enqueues its FleetRollout; an unplaced one is not cached.
	for name, placed := range map[string]bool{"placed": true, "own": false} {
		ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Annotations: map[string]string{federation.FleetRolloutAnnotation: "shop/" + name}}}
		ro.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{}
		ro.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
		ro.Spec.Template = &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:v1"}}}}
		if placed {
			ro.Labels = map[string]string{federation.PlacedLabel: "true"}
		}
		if err := member.Client.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case got := <-enqueued:
		if got != "shop/placed" {
			t.Errorf("enqueued %s, want shop/placed", got)
		}
	case <-ctx.Done():
		t.Fatal("the placed Rollout's FleetRollout was never enqueued")
	}
	ro := &rolloutsv1alpha1.Rollout{}
	if err := m.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "placed"}, ro); err != nil {
		t.Errorf("reading the placed Rollout from the cache: %v", err)
	} else if ro.Spec.Template != nil || ro.ManagedFields != nil {
		t.Errorf("cached Rollout keeps its spec or managedFields: %+v", ro.ObjectMeta)
	}
	if err := m.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "own"}, ro); err == nil {
		t.Errorf("an unplaced Rollout is in the hub's cache")
	}

	// Leaving: the Secret's deletion disengages the member.
	if err := hub.Client.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the member disengaged", func() (struct{}, error) {
		if _, err := reg.Get(ctx, mc); !errors.Is(err, members.ErrKubeconfigNotFound) {
			return struct{}{}, errors.New("still engaged")
		}
		return struct{}{}, nil
	})
}

type reconcilerFunc func(context.Context, ctrl.Request) (ctrl.Result, error)

func (f reconcilerFunc) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return f(ctx, req)
}

// waitFor calls f until it returns no error, for at most a minute, and fails with its last error.
func waitFor[T any](t *testing.T, what string, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in time; last: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
