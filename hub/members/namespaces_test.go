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
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/internal/nsclusters"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestNamespaceProvider runs the registry with the namespace provider on a real API server
// (API only), reaching it as a user whose RBAC the test controls:
//   - a labelled namespace is a member named like it; an unlabelled, missing or system
//     namespace is not, and its MemberCluster gets ErrNamespaceNotFound naming metadata.name;
//   - while the user may not watch Rollouts, the shared watch fails and every
//     namespace-cluster is unobservable (the hub counts them Unknown); once allowed, they list;
//   - a member's client reads and writes its own namespace whatever namespace is asked, and
//     sees another member's placed Rollout nowhere; placed Rollouts enqueue their FleetRollout;
//   - removing the label disengages the member, and the others stay observable.
func TestNamespaceProvider(t *testing.T) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	env := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.HubCRDDir, harness.SpokeCRDDir}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin := env.Client
	for name, labelled := range map[string]bool{"m1": true, "m2": true, "plain": false, ns: false} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if labelled {
			n.Labels = map[string]string{nsclusters.MemberLabel: "true"}
		}
		if err := admin.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// The hub's identity in the members' API server: namespaces only, for now.
	grant(ctx, t, admin, "hub-namespaces", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"}})
	hubUser := rest.CopyConfig(env.Config)
	hubUser.Impersonate = rest.ImpersonationConfig{UserName: "flotilla-hub"}

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := &members.Registry{Secrets: mgr.GetAPIReader(), Scheme: s, Namespace: ns, RequestTimeout: time.Second, NamespaceClusters: hubUser}
	if err := reg.Setup(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	enqueued := make(chan string, 100)
	src := reg.FleetRolloutSource(func(context.Context) []ctrl.Request { return nil })
	if _, err := ctrl.NewControllerManagedBy(mgr).Named("namespace-sink").WatchesRawSource(src).
		Build(reconcilerFunc(func(_ context.Context, req ctrl.Request) (ctrl.Result, error) {
			if req.Name != "" {
				enqueued <- req.String()
			}
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

	for _, name := range []string{"plain", "nope", "kube-system"} {
		waitFor(t, name+" refused", func() (struct{}, error) {
			_, err := reg.Get(ctx, &fleetv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
			if !errors.Is(err, members.ErrNamespaceNotFound) {
				return struct{}{}, err
			}
			return struct{}{}, nil
		})
	}
	mc1 := &fleetv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "m1"}}
	mc2 := &fleetv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "m2"}}
	for _, mc := range []*fleetv1alpha1.MemberCluster{mc1, mc2} {
		m := waitFor(t, mc.Name+" engaged", func() (*members.Member, error) { return reg.Get(ctx, mc) })
		// Forbidden to watch Rollouts: never observable. Wait for the failure to be seen.
		waitFor(t, mc.Name+" unobservable while its watch is forbidden", func() (struct{}, error) {
			if m.WatchFailure() == nil {
				return struct{}{}, errors.New("no watch failure seen yet")
			}
			if err := m.Observable(); err == nil {
				return struct{}{}, errors.New("observable although its watch fails")
			}
			return struct{}{}, nil
		})
	}

	grant(ctx, t, admin, "hub-rollouts", rbacv1.PolicyRule{APIGroups: []string{rolloutsv1alpha1.GroupVersion.Group},
		Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch", "create", "patch"}})
	m1 := waitFor(t, "m1 observable once allowed", func() (*members.Member, error) {
		m, err := reg.Get(ctx, mc1)
		if err != nil {
			return nil, err
		}
		return m, m.Observable()
	})
	m2 := waitFor(t, "m2 observable once allowed", func() (*members.Member, error) {
		m, err := reg.Get(ctx, mc2)
		if err != nil {
			return nil, err
		}
		return m, m.Observable()
	})

	// The hub writes into "shop" of m1: it lands in namespace m1, and enqueues its FleetRollout.
	ro := placedRollout("shop", "checkout")
	if err := m1.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	if ro.Namespace != "m1" {
		t.Errorf("created Rollout is in namespace %s, want m1", ro.Namespace)
	}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "m1", Name: "checkout"}, &rolloutsv1alpha1.Rollout{}); err != nil {
		t.Errorf("the Rollout is not in namespace m1: %v", err)
	}
	select {
	case got := <-enqueued:
		if got != "shop/checkout" {
			t.Errorf("enqueued %s, want shop/checkout", got)
		}
	case <-ctx.Done():
		t.Fatal("the placed Rollout's FleetRollout was never enqueued")
	}
	waitFor(t, "m1 reads its Rollout from its cache, asked for shop", func() (struct{}, error) {
		return struct{}{}, m1.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "checkout"}, &rolloutsv1alpha1.Rollout{})
	})
	if err := m2.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "checkout"}, &rolloutsv1alpha1.Rollout{}); err == nil {
		t.Error("m2 sees m1's Rollout")
	}
	list := &rolloutsv1alpha1.RolloutList{}
	if err := m2.Client.List(ctx, list); err != nil || len(list.Items) != 0 {
		t.Errorf("m2 lists %d Rollouts (%v), want none", len(list.Items), err)
	}

	// Leaving: without the label, m2 is no member.
	n := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: "m2"}, n); err != nil {
		t.Fatal(err)
	}
	delete(n.Labels, nsclusters.MemberLabel)
	if err := admin.Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "m2 disengaged", func() (struct{}, error) {
		if _, err := reg.Get(ctx, mc2); !errors.Is(err, members.ErrNamespaceNotFound) {
			return struct{}{}, errors.New("still engaged")
		}
		return struct{}{}, nil
	})
	// m1 shares the watch m2 left: it stays observable.
	if m, err := reg.Get(ctx, mc1); err != nil {
		t.Errorf("m1 after m2 left: %v", err)
	} else if err := m.Observable(); err != nil {
		t.Errorf("m1 unobservable after m2 left: %v", err)
	}
}

// grant lets the user flotilla-hub do what rule says, in every namespace.
func grant(ctx context.Context, t *testing.T, c client.Client, name string, rule rbacv1.PolicyRule) {
	t.Helper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "flotilla-hub"}}}
	for _, o := range []client.Object{role, binding} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

func placedRollout(namespace, name string) *rolloutsv1alpha1.Rollout {
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
		Labels:      map[string]string{federation.PlacedLabel: "true"},
		Annotations: map[string]string{federation.FleetRolloutAnnotation: "shop/" + name}}}
	ro.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{}
	ro.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	ro.Spec.Template = &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:v1"}}}}
	return ro
}
