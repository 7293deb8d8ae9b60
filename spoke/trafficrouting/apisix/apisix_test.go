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

package apisix_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/apisix"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The ApisixRoute CRD comes from the APISIX ingress controller's own module.
const (
	apisixModule  = "github.com/apache/apisix-ingress-controller"
	apisixVersion = "v1.8.3"
	apisixCRDFile = "samples/deploy/crd/v1/ApisixRoute.yaml"
)

var routeGVK = apisix.DefaultGroupVersion.WithKind(apisix.Kind)

func newRollout(ns string, rules []string, managedRoutes ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: types.UID("9d3e1b7c-2a4f-4e8b-b1c6-" + fmt.Sprintf("%012d", len(ns)))}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService: "web-stable",
		CanaryService: "web-canary",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{
			Apisix: &v1alpha1.ApisixTrafficRouting{Route: &v1alpha1.ApisixRoute{Name: "web", Rules: rules}},
		},
	}
	for _, r := range managedRoutes {
		ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: r})
	}
	return ro
}

// The user's ApisixRoute: the rule the Rollout edits (api), with a plugin and an expression
// of the user's, and a rule it does not touch (static).
const apisixRoute = `
apiVersion: apisix.apache.org/v2
kind: ApisixRoute
metadata:
  name: web
  labels: {team: payments}
spec:
  ingressClassName: apisix
  http:
  - name: api
    priority: 3
    match:
      hosts: [web.example.com]
      paths: [/api/*]
      exprs:
      - subject: {scope: Query, name: region}
        op: Equal
        value: eu
    plugins:
    - {name: cors, enable: true}
    backends:
    - {serviceName: web-stable, servicePort: 80}
    - {serviceName: web-canary, servicePort: 80}
  - name: static
    match: {paths: [/static/*]}
    backends:
    - {serviceName: static, servicePort: 80}
`

func specAt(stable, canary int32, plugin string) string {
	return fmt.Sprintf(`
ingressClassName: apisix
http:
- name: api
  priority: 3
  match:
    hosts: [web.example.com]
    paths: [/api/*]
    exprs:
    - subject: {scope: Query, name: region}
      op: Equal
      value: eu
  plugins:
  - %s
  backends:
  - {serviceName: web-stable, servicePort: 80, weight: %d}
  - {serviceName: web-canary, servicePort: 80, weight: %d}
- name: static
  match: {paths: [/static/*]}
  backends:
  - {serviceName: static, servicePort: 80}
`, plugin, stable, canary)
}

func TestApisixRouter(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{
		CRDDirs: []string{harness.VendorCRDDir(t, apisixModule, apisixVersion, apisixCRDFile)},
	})

	t.Run("canary 20 50 100 then abort, with a header route", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, apisixRoute)
		c := harness.RecordWrites(env.Client)
		ro := newRollout(ns, []string{"api"}, "canary-header")
		r, err := apisix.New(c, ro)
		if err != nil {
			t.Fatal(err)
		}
		plugin := "{name: cors, enable: true}"
		for _, w := range []int32{20, 50, 100, 0} {
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("SetWeight(%d): %v", w, err)
			}
			if n := len(c.Writes()); n != 1 {
				t.Errorf("SetWeight(%d) wrote %d times, want 1: %v", w, n, c.Writes())
			}
			route := harness.GetUnstructured(t, env.Client, routeGVK, ns, "web")
			harness.EqualYAML(t, fmt.Sprintf("ApisixRoute spec at %d", w), specAt(100-w, w, plugin), route.Object["spec"])
			if route.GetLabels()["team"] != "payments" {
				t.Errorf("the user's label is gone: %v", route.GetLabels())
			}
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			if writes := c.Writes(); len(writes) != 0 {
				t.Errorf("SetWeight(%d) at an unchanged weight wrote: %v", w, writes)
			}

			if w == 20 {
				// The user changes their plugin's config between steps: it survives.
				if err := env.Client.Patch(ctx, route, client.RawPatch(types.JSONPatchType,
					[]byte(`[{"op":"add","path":"/spec/http/0/plugins/0/config","value":{"max_age":5}}]`)), client.FieldOwner(harness.UserFieldOwner)); err != nil {
					t.Fatal(err)
				}
				plugin = "{name: cors, enable: true, config: {max_age: 5}}"

				// The header route at 20%.
				header := &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
					{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}},
					{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Prefix: "beta."}},
					{HeaderName: "x-agent", HeaderValue: &v1alpha1.StringMatch{Regex: "^curl/.*"}},
				}}
				if err := r.SetHeaderRoute(ctx, header); err != nil {
					t.Fatalf("SetHeaderRoute: %v", err)
				}
				clone := harness.GetUnstructured(t, env.Client, routeGVK, ns, "canary-header")
				harness.EqualYAML(t, "header route ApisixRoute", `
ingressClassName: apisix
http:
- name: api
  priority: 4
  match:
    hosts: [web.example.com]
    paths: [/api/*]
    exprs:
    - {subject: {scope: Query, name: region}, op: Equal, value: eu}
    - {subject: {scope: Header, name: x-canary}, op: Equal, value: "1"}
    - {subject: {scope: Header, name: x-user}, op: RegexMatch, value: "^beta\\."}
    - {subject: {scope: Header, name: x-agent}, op: RegexMatch, value: "^curl/.*"}
  plugins:
  - {name: cors, enable: true, config: {max_age: 5}}
  backends:
  - {serviceName: web-canary, servicePort: 80, weight: 100}
`, clone.Object["spec"])
				if !metav1.IsControlledBy(clone, ro) || clone.GetLabels()["team"] != "payments" {
					t.Errorf("the header route is not owned by the Rollout or lacks the labels: %v %v", clone.GetOwnerReferences(), clone.GetLabels())
				}
				c.Reset()
				if err := r.SetHeaderRoute(ctx, header); err != nil {
					t.Fatal(err)
				}
				if writes := c.Writes(); len(writes) != 0 {
					t.Errorf("an unchanged header route wrote: %v", writes)
				}
				// A changed match updates the clone in place.
				header.Match = header.Match[:1]
				if err := r.SetHeaderRoute(ctx, header); err != nil {
					t.Fatal(err)
				}
				exprs, _, _ := unstructured.NestedSlice(harness.GetUnstructured(t, env.Client, routeGVK, ns, "canary-header").Object, "spec", "http")
				harness.EqualYAML(t, "header route exprs after the change", `
- {subject: {scope: Query, name: region}, op: Equal, value: eu}
- {subject: {scope: Header, name: x-canary}, op: Equal, value: "1"}
`, exprs[0].(map[string]any)["match"].(map[string]any)["exprs"])
			}
		}
		// The abort removes the header route; the user's ApisixRoute stays.
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		gone := &unstructured.Unstructured{}
		gone.SetGroupVersionKind(routeGVK)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "canary-header"}, gone); !apierrors.IsNotFound(err) {
			t.Errorf("the header route is still there after RemoveManagedRoutes: %v", err)
		}
		harness.EqualYAML(t, "ApisixRoute after the abort", specAt(100, 0, plugin), harness.GetUnstructured(t, env.Client, routeGVK, ns, "web").Object["spec"])
	})

	t.Run("header route removed by a step without matches; a name taken by the user", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, apisixRoute)
		r, err := apisix.New(env.Client, newRollout(ns, []string{"api"}, "canary-header", "users-route"))
		if err != nil {
			t.Fatal(err)
		}
		match := []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}
		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: match}); err != nil {
			t.Fatal(err)
		}
		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header"}); err != nil {
			t.Fatal(err)
		}
		gone := &unstructured.Unstructured{}
		gone.SetGroupVersionKind(routeGVK)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "canary-header"}, gone); !apierrors.IsNotFound(err) {
			t.Errorf("the header route is still there: %v", err)
		}

		harness.CreateYAML(t, env.Client, ns, strings.Replace(apisixRoute, "name: web\n", "name: users-route\n", 1))
		err = r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "users-route", Match: match})
		if trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("a header route whose name the user's ApisixRoute has: got %v, want an InvalidConfigError", err)
		}
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		harness.GetUnstructured(t, env.Client, routeGVK, ns, "users-route") // still there
	})

	t.Run("errors a person can act on", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		r, err := apisix.New(env.Client, newRollout(ns, nil))
		if err != nil {
			t.Fatal(err)
		}
		var notFound *trafficrouting.ObjectNotFoundError
		if err := r.SetWeight(ctx, 10); !errors.As(err, &notFound) {
			t.Errorf("missing ApisixRoute: got %v, want an ObjectNotFoundError", err)
		}
		harness.CreateYAML(t, env.Client, ns, apisixRoute)
		// Without rules, the rule to edit is the one named like the ApisixRoute: "web".
		var routeNotFound *trafficrouting.RouteNotFoundError
		if err := r.SetWeight(ctx, 10); !errors.As(err, &routeNotFound) || !strings.Contains(err.Error(), `HTTP rule "web"`) {
			t.Errorf("missing rule: got %v, want a RouteNotFoundError for rule web", err)
		} else {
			t.Logf("reads: %v", err)
		}
		static, err := apisix.New(env.Client, newRollout(ns, []string{"static"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := static.SetWeight(ctx, 10); !errors.As(err, &routeNotFound) || !strings.Contains(err.Error(), "web-stable") {
			t.Errorf("rule without the Services: got %v, want a RouteNotFoundError for the backend", err)
		}
		other, err := apisix.New(env.Client, newRollout(ns, []string{"api"}), apisix.WithGroupVersion(schema.GroupVersion{Group: "apisix.apache.org", Version: "v2beta3"}))
		if err != nil {
			t.Fatal(err)
		}
		var noCRD *trafficrouting.CRDNotInstalledError
		if err := other.SetWeight(ctx, 10); !errors.As(err, &noCRD) {
			t.Errorf("a version the cluster does not serve: got %v, want a CRDNotInstalledError", err)
		}
		if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "m", Match: []v1alpha1.RouteMatch{{}}}); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("mirror route: got %v, want an InvalidConfigError", err)
		}
	})
}
