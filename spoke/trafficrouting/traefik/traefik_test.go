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

package traefik_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/traefik"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The Traefik CRDs come from Traefik's own module, as the recipe says.
const (
	traefikModule  = "github.com/traefik/traefik/v3"
	traefikVersion = "v3.7.13"
	traefikCRDFile = "integration/fixtures/k8s/01-traefik-crd.yml"
)

var tsGVK = traefik.DefaultGroupVersion.WithKind(traefik.Kind)

func newRollout(ns string, managedRoutes ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: types.UID("3f1c7a52-0d7e-4a38-9d5b-" + fmt.Sprintf("%012d", len(ns)))}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService: "web-stable",
		CanaryService: "web-canary",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{
			Traefik: &v1alpha1.TraefikTrafficRouting{WeightedTraefikServiceName: "web"},
		},
	}
	for _, r := range managedRoutes {
		ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: r})
	}
	return ro
}

// weightedService is the user's TraefikService: no weights yet (as Argo's docs recommend),
// and fields of the user's own that the router must leave alone.
const weightedService = `
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata:
  name: web
  labels: {team: payments}
spec:
  weighted:
    services:
    - name: web-stable
      port: 80
      passHostHeader: true
    - name: web-canary
      port: 80
    sticky:
      cookie: {name: lvl1}
`

func TestTraefikRouter(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{
		CRDDirs: []string{harness.VendorCRDDir(t, traefikModule, traefikVersion, traefikCRDFile)},
	})

	t.Run("canary 20 50 100 then abort", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, weightedService)
		c := harness.RecordWrites(env.Client)
		r, err := traefik.New(c, newRollout(ns))
		if err != nil {
			t.Fatal(err)
		}
		sticky := "{name: lvl1}"
		for _, w := range []int32{20, 50, 100, 0} {
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("SetWeight(%d): %v", w, err)
			}
			if n := len(c.Writes()); n != 1 {
				t.Errorf("SetWeight(%d) wrote %d times, want 1: %v", w, n, c.Writes())
			}
			ts := harness.GetUnstructured(t, env.Client, tsGVK, ns, "web")
			harness.EqualYAML(t, fmt.Sprintf("spec at weight %d", w), fmt.Sprintf(`
weighted:
  services:
  - {name: web-stable, port: 80, passHostHeader: true, weight: %d}
  - {name: web-canary, port: 80, weight: %d}
  sticky:
    cookie: %s
`, 100-w, w, sticky), ts.Object["spec"])
			if ts.GetLabels()["team"] != "payments" {
				t.Errorf("the user's label is gone: %v", ts.GetLabels())
			}
			if !managedBy(ts, trafficrouting.FieldManager) {
				t.Errorf("no managedFields entry of %s: %v", trafficrouting.FieldManager, ts.GetManagedFields())
			}

			// The same weight again writes nothing.
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("SetWeight(%d) again: %v", w, err)
			}
			if writes := c.Writes(); len(writes) != 0 {
				t.Errorf("SetWeight(%d) at an unchanged weight wrote: %v", w, writes)
			}

			if w == 50 {
				// The user changes a field of their own between two steps; the next steps
				// keep it (the expected spec above includes it from now on).
				userPatch(t, env.Client, ts, `{"spec":{"weighted":{"sticky":{"cookie":{"name":"lvl2","httpOnly":true}}}}}`)
				sticky = "{name: lvl2, httpOnly: true}"
			}
		}
	})

	t.Run("mirror route", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, weightedService)
		c := harness.RecordWrites(env.Client)
		ro := newRollout(ns, "mirror-get")
		r, err := traefik.New(c, ro)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 10); err != nil {
			t.Fatal(err)
		}
		route := &v1alpha1.SetMirrorRoute{Name: "mirror-get", Match: []v1alpha1.RouteMatch{{}}, Percentage: ptr.To[int32](35)}
		if err := r.SetMirrorRoute(ctx, route); err != nil {
			t.Fatalf("SetMirrorRoute: %v", err)
		}
		mirror := harness.GetUnstructured(t, env.Client, tsGVK, ns, "mirror-get")
		harness.EqualYAML(t, "mirroring TraefikService", `
mirroring:
  name: web-stable
  port: 80
  passHostHeader: true
  mirrors:
  - {name: web-canary, port: 80, percent: 35}
`, mirror.Object["spec"])
		if !metav1.IsControlledBy(mirror, ro) {
			t.Errorf("the mirroring TraefikService is not owned by the Rollout: %v", mirror.GetOwnerReferences())
		}
		if mirror.GetLabels()["team"] != "payments" {
			t.Errorf("the mirroring TraefikService does not carry the weighted one's labels: %v", mirror.GetLabels())
		}
		weighted := `
weighted:
  services:
  - {name: mirror-get, kind: TraefikService, weight: %d}
  - {name: web-canary, port: 80, weight: %d}
  sticky:
    cookie: {name: lvl1}
`
		harness.EqualYAML(t, "weighted spec while mirroring", fmt.Sprintf(weighted, 90, 10),
			harness.GetUnstructured(t, env.Client, tsGVK, ns, "web").Object["spec"])

		// Weights move while the mirror is on; an unchanged mirror route writes nothing.
		if err := r.SetWeight(ctx, 30); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "weighted spec at 30 while mirroring", fmt.Sprintf(weighted, 70, 30),
			harness.GetUnstructured(t, env.Client, tsGVK, ns, "web").Object["spec"])
		c.Reset()
		if err := r.SetMirrorRoute(ctx, route); err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 30); err != nil {
			t.Fatal(err)
		}
		if writes := c.Writes(); len(writes) != 0 {
			t.Errorf("unchanged mirror route and weight wrote: %v", writes)
		}

		// A new percentage changes only the mirroring service.
		route.Percentage = ptr.To[int32](60)
		if err := r.SetMirrorRoute(ctx, route); err != nil {
			t.Fatal(err)
		}
		got, _, _ := unstructured.NestedSlice(harness.GetUnstructured(t, env.Client, tsGVK, ns, "mirror-get").Object, "spec", "mirroring", "mirrors")
		harness.EqualYAML(t, "mirrors at 60%", `[{name: web-canary, port: 80, percent: 60}]`, got)

		// Matches Traefik cannot express are refused, with a reason.
		bad := &v1alpha1.SetMirrorRoute{Name: "mirror-get", Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "GET"}}}}
		var invalid *trafficrouting.InvalidConfigError
		if err := r.SetMirrorRoute(ctx, bad); !errors.As(err, &invalid) {
			t.Errorf("a mirror route on method GET: got %v, want an InvalidConfigError", err)
		}

		// Removal (the abort path) puts the stable entry back as the user wrote it.
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatalf("RemoveManagedRoutes: %v", err)
		}
		harness.EqualYAML(t, "weighted spec after removal", `
weighted:
  services:
  - {name: web-stable, port: 80, passHostHeader: true, weight: 70}
  - {name: web-canary, port: 80, weight: 30}
  sticky:
    cookie: {name: lvl1}
`, harness.GetUnstructured(t, env.Client, tsGVK, ns, "web").Object["spec"])
		gone := &unstructured.Unstructured{}
		gone.SetGroupVersionKind(tsGVK)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "mirror-get"}, gone); !apierrors.IsNotFound(err) {
			t.Errorf("the mirroring TraefikService is still there after RemoveManagedRoutes: %v", err)
		}
		c.Reset()
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		if writes := c.Writes(); len(writes) != 0 {
			t.Errorf("RemoveManagedRoutes with nothing to remove wrote: %v", writes)
		}
	})

	t.Run("a mirroring service of the same name that the Rollout does not own", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, weightedService)
		harness.CreateYAML(t, env.Client, ns, `
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: mirror-get}
spec:
  mirroring: {name: something-else, port: 8080}
`)
		r, err := traefik.New(env.Client, newRollout(ns, "mirror-get"))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "mirror-get", Match: []v1alpha1.RouteMatch{{}}})
		var invalid *trafficrouting.InvalidConfigError
		if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "does not belong to Rollout") {
			t.Errorf("got %v, want an InvalidConfigError saying the name is taken", err)
		}
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		harness.GetUnstructured(t, env.Client, tsGVK, ns, "mirror-get") // the user's object is left alone
		harness.EqualYAML(t, "weighted spec", `
weighted:
  services:
  - {name: web-stable, port: 80, passHostHeader: true}
  - {name: web-canary, port: 80}
  sticky:
    cookie: {name: lvl1}
`, harness.GetUnstructured(t, env.Client, tsGVK, ns, "web").Object["spec"])
	})

	t.Run("errors a person can act on", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)

		r, err := traefik.New(env.Client, newRollout(ns))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetWeight(ctx, 10)
		var notFound *trafficrouting.ObjectNotFoundError
		if !errors.As(err, &notFound) || notFound.Name != "web" || notFound.Kind != traefik.Kind {
			t.Errorf("missing TraefikService: got %v, want an ObjectNotFoundError for web", err)
		}

		harness.CreateYAML(t, env.Client, ns, strings.ReplaceAll(weightedService, "web-canary", "other"))
		err = r.SetWeight(ctx, 10)
		var routeNotFound *trafficrouting.RouteNotFoundError
		if !errors.As(err, &routeNotFound) || !strings.Contains(err.Error(), `"web-canary"`) {
			t.Errorf("no canary entry: got %v, want a RouteNotFoundError naming web-canary", err)
		}

		v2, err := traefik.New(env.Client, newRollout(ns), traefik.WithGroupVersion(schema.GroupVersion{Group: "traefik.containo.us", Version: "v1alpha1"}))
		if err != nil {
			t.Fatal(err)
		}
		err = v2.SetWeight(ctx, 10)
		var noCRD *trafficrouting.CRDNotInstalledError
		if !errors.As(err, &noCRD) || trafficrouting.Reason(err) != trafficrouting.ReasonCRDNotInstalled {
			t.Errorf("Traefik v2 group not served: got %v, want a CRDNotInstalledError", err)
		}
		t.Logf("the errors read: %v", errors.Join(notFound, routeNotFound, noCRD))

		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "h", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("header route: got %v, want an InvalidConfigError", err)
		}
		if _, err := traefik.New(env.Client, &v1alpha1.Rollout{}); err == nil {
			t.Error("New accepted a Rollout without trafficRouting")
		}
	})
}

// userPatch changes obj as the user would, with a merge patch of their own field manager.
func userPatch(t *testing.T, c client.Client, obj *unstructured.Unstructured, patch string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Patch(ctx, obj.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch)), client.FieldOwner(harness.UserFieldOwner)); err != nil {
		t.Fatalf("user patch: %v", err)
	}
}

func managedBy(obj *unstructured.Unstructured, manager string) bool {
	for _, e := range obj.GetManagedFields() {
		if e.Manager == manager {
			return true
		}
	}
	return false
}
