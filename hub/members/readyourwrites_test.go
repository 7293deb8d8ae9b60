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
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/test/harness"
)

// engaged engages the member env with reg under name, its watches through gate, and returns the
// Member once it listed and the cache it reads from; cancelling ctx disengages it.
func engaged(ctx context.Context, t *testing.T, reg *members.Registry, env *harness.Env, name string, gate *harness.WatchGate) (*members.Member, client.Reader) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	if err := gate.Wrap(cfg); err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.New(cfg, reg.ClusterOptions)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cl.Start(ctx) }()
	if err := reg.Engage(ctx, multicluster.ClusterName(name), cl); err != nil {
		t.Fatal(err)
	}
	mc := &fleetv1alpha1.MemberCluster{}
	mc.Spec.KubeconfigSecretRef.Name = name
	m := waitFor(t, name+" engaged and listed", func() (*members.Member, error) {
		m, err := reg.Get(ctx, mc)
		if err != nil {
			return nil, err
		}
		return m, m.Observable()
	})
	return m, cl.GetCache()
}

// placedApply is the Rollout the hub would place, unstructured for server-side apply.
func placedApply(t *testing.T, name string, paused bool, revision string) *unstructured.Unstructured {
	t.Helper()
	ro := placedRollout("shop", name)
	ro.Annotations[federation.RevisionAnnotation] = revision
	ro.APIVersion, ro.Kind = rolloutsv1alpha1.GroupVersion.String(), "Rollout"
	ro.Spec.Paused = paused
	ro.Spec.Template.Spec.Containers[0].Image = "example.com/app:" + revision
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "spec", "containers", "resources")
	return u
}

// TestReadYourWrites writes member Rollouts through a Member's client, as the hub does, to a
// real API server whose watch is held back (harness.WatchGate: the member cache lags by as long
// as the test likes), and checks that a read through the Member never shows the state before
// the hub's write while the cache does: a dispatch (server-side apply of a new Rollout), a
// pause (apply of spec.paused), a retry (status patch of status.abort) and a deletion (not
// observed until the cache drops it). Each expectation ends when the watch delivers the
// write, when the cluster disengages, or at the timeout, after which the cache is read as it is.
func TestReadYourWrites(t *testing.T) {
	s := harness.NewScheme(rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme)
	env := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.SpokeCRDDir}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	gate := &harness.WatchGate{}
	defer gate.Release()
	reg := &members.Registry{Scheme: s, RequestTimeout: 10 * time.Second}
	engageCtx, disengage := context.WithCancel(ctx)
	defer disengage()
	m, cache := engaged(engageCtx, t, reg, env, "m1", gate)
	key := client.ObjectKey{Namespace: "shop", Name: "checkout"}
	apply := func(u *unstructured.Unstructured) {
		t.Helper()
		if err := m.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(federation.FieldManager),
			client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
	}
	// read checks what the Member reads while the cache lags: the Rollout the hub wrote, with an
	// expectation that ends within the timeout; cached says what the lagging cache holds.
	read := func(what string, want func(*rolloutsv1alpha1.Rollout) error, cached func(*rolloutsv1alpha1.Rollout, error) error) {
		t.Helper()
		c := &rolloutsv1alpha1.Rollout{}
		if err := cached(c, cache.Get(ctx, key, c)); err != nil {
			t.Fatalf("%s: the cache does not lag as the test needs: %v", what, err)
		}
		before := time.Now()
		ro, until, err := m.GetRollout(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := want(ro); err != nil {
			t.Errorf("%s: read the state before the hub's write: %v", what, err)
		}
		if until.Before(before) || until.After(before.Add(members.DefaultExpectationTimeout)) {
			t.Errorf("%s: expectation ends at %v, want within %s of the read", what, until, members.DefaultExpectationTimeout)
		}
		if got := &(rolloutsv1alpha1.Rollout{}); m.Client.Get(ctx, key, got) != nil || got.ResourceVersion != ro.ResourceVersion {
			t.Errorf("%s: the Member's client reads resourceVersion %s, GetRollout %s", what, got.ResourceVersion, ro.ResourceVersion)
		}
	}
	caughtUp := func(what string, want func(*rolloutsv1alpha1.Rollout) error) {
		t.Helper()
		gate.Release()
		waitFor(t, what, func() (struct{}, error) {
			if n := m.PendingWrites(); n != 0 {
				return struct{}{}, fmt.Errorf("%d writes pending", n)
			}
			c := &rolloutsv1alpha1.Rollout{}
			if err := cache.Get(ctx, key, c); err != nil {
				return struct{}{}, err
			}
			return struct{}{}, want(c)
		})
		if ro, until, err := m.GetRollout(ctx, key); err != nil || !until.IsZero() || want(ro) != nil {
			t.Errorf("%s: after the cache caught up, read %v (until %v, %v)", what, ro, until, err)
		}
	}

	// Dispatch: the cache does not hold the Rollout yet.
	gate.Hold()
	apply(placedApply(t, "checkout", false, "1"))
	atRevision := func(rev string) func(*rolloutsv1alpha1.Rollout) error {
		return func(ro *rolloutsv1alpha1.Rollout) error {
			if got := ro.Annotations[federation.RevisionAnnotation]; got != rev {
				return fmt.Errorf("revision %q, want %s", got, rev)
			}
			return nil
		}
	}
	read("dispatch", atRevision("1"), func(_ *rolloutsv1alpha1.Rollout, err error) error {
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("the cache holds the Rollout (%w)", err)
		}
		return nil
	})
	caughtUp("dispatch shown", atRevision("1"))

	// Pause: the cache holds it unpaused.
	paused := func(want bool) func(*rolloutsv1alpha1.Rollout) error {
		return func(ro *rolloutsv1alpha1.Rollout) error {
			if ro.Spec.Paused != want {
				return fmt.Errorf("spec.paused %v, want %v", ro.Spec.Paused, want)
			}
			return nil
		}
	}
	gate.Hold()
	apply(placedApply(t, "checkout", true, "1"))
	read("pause", paused(true), func(c *rolloutsv1alpha1.Rollout, err error) error {
		if err != nil {
			return err
		}
		return paused(false)(c)
	})
	caughtUp("pause shown", paused(true))

	// Retry: the spoke aborted, the hub clears status.abort; the cache holds it aborted.
	spoke := &rolloutsv1alpha1.Rollout{}
	if err := env.Client.Get(ctx, key, spoke); err != nil {
		t.Fatal(err)
	}
	abortedBySpoke := spoke.DeepCopy()
	abortedBySpoke.Status.Abort = true
	if err := env.Client.Status().Patch(ctx, abortedBySpoke, client.MergeFrom(spoke)); err != nil {
		t.Fatal(err)
	}
	abort := func(want bool) func(*rolloutsv1alpha1.Rollout) error {
		return func(ro *rolloutsv1alpha1.Rollout) error {
			if ro.Status.Abort != want {
				return fmt.Errorf("status.abort %v, want %v", ro.Status.Abort, want)
			}
			return nil
		}
	}
	caughtUp("the spoke's abort shown", abort(true))
	gate.Hold()
	ro, _, err := m.GetRollout(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	base := ro.DeepCopy()
	ro.Status.Abort = false
	if err := m.Client.Status().Patch(ctx, ro, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatal(err)
	}
	read("retry", abort(false), func(c *rolloutsv1alpha1.Rollout, err error) error {
		if err != nil {
			return err
		}
		return abort(true)(c)
	})
	caughtUp("retry shown", abort(false))

	// Deletion: not observed while the cache holds the Rollout.
	gate.Hold()
	if err := m.Client.Delete(ctx, &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
		t.Fatal(err)
	}
	if err := cache.Get(ctx, key, &rolloutsv1alpha1.Rollout{}); err != nil {
		t.Fatalf("the cache does not lag as the test needs: %v", err)
	}
	var notYet *members.NotObservedError
	if _, _, err := m.GetRollout(ctx, key); !errors.As(err, &notYet) || !errors.Is(err, members.ErrNotObserved) {
		t.Errorf("deletion: read %v, want ErrNotObserved", err)
	}
	gate.Release()
	waitFor(t, "deletion shown", func() (struct{}, error) {
		if _, _, err := m.GetRollout(ctx, key); !apierrors.IsNotFound(err) {
			return struct{}{}, fmt.Errorf("read %w, want NotFound", err)
		}
		return struct{}{}, nil
	})

	// Disengaging drops what was pending.
	gate.Hold()
	apply(placedApply(t, "checkout", false, "2"))
	if n := m.PendingWrites(); n != 1 {
		t.Errorf("%d writes pending while the cache lags, want 1", n)
	}
	disengage()
	waitFor(t, "m1 disengaged, its expectations dropped", func() (struct{}, error) {
		if n := m.PendingWrites(); n != 0 {
			return struct{}{}, fmt.Errorf("%d writes pending", n)
		}
		return struct{}{}, nil
	})
	gate.Release()

	// The timeout: a watch event that never comes does not hold a read forever.
	short := &members.Registry{Scheme: s, RequestTimeout: 10 * time.Second, ExpectationTimeout: 2 * time.Second}
	lost := &harness.WatchGate{}
	defer lost.Release()
	m2, _ := engaged(ctx, t, short, env, "m2", lost)
	lost.Hold()
	if err := m2.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(placedApply(t, "checkout", true, "2")),
		client.FieldOwner(federation.FieldManager), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	ro, until, err := m2.GetRollout(ctx, key)
	if err != nil || !ro.Spec.Paused || until.IsZero() {
		t.Fatalf("before the timeout: read %+v until %v (%v), want the paused Rollout the hub wrote", ro, until, err)
	}
	time.Sleep(time.Until(until)) // the reconcile's requeue at the timeout
	ro, until, err = m2.GetRollout(ctx, key)
	if err != nil || ro.Spec.Paused || !until.IsZero() || m2.PendingWrites() != 0 {
		t.Errorf("after the timeout: read paused=%v until %v (%v), %d pending; want the cache's unpaused Rollout and nothing pending",
			ro != nil && ro.Spec.Paused, until, err, m2.PendingWrites())
	}
}
