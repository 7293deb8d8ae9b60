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

package gatewayapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/gatewayapi"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The Gateway API CRDs come from the gateway-api module itself (standard channel: HTTPRoute
// and GRPCRoute with rule names and RequestMirror percent). TCPRoute is left out on purpose:
// it stands for a CRD that is not installed.
const (
	gatewayModule  = "sigs.k8s.io/gateway-api"
	gatewayVersion = "v1.6.3"
)

var (
	httpRouteGVK = schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: gatewayapi.KindHTTPRoute}
	grpcRouteGVK = schema.GroupVersionKind{Group: gatewayapi.Group, Version: "v1", Kind: gatewayapi.KindGRPCRoute}
)

func newRollout(ns string, cfg v1alpha1.GatewayAPITrafficRouting, managedRoutes ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: types.UID("6b0c2f4e-8f7a-4c1e-9a57-" + fmt.Sprintf("%012d", len(ns)))}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService:  "web-stable",
		CanaryService:  "web-canary",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{GatewayAPI: &cfg},
	}
	for _, r := range managedRoutes {
		ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes = append(ro.Spec.Strategy.Canary.TrafficRouting.ManagedRoutes, v1alpha1.MangedRoutes{Name: r})
	}
	return ro
}

// The user's HTTPRoute: a rule of theirs that the Rollout has nothing to do with (docs), and
// the rule that splits the stable and canary Services, with a filter of theirs.
const httpRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  labels: {team: payments}
spec:
  parentRefs: [{name: gw}]
  hostnames: [web.example.com]
  rules:
  - name: docs
    matches: [{path: {type: PathPrefix, value: /docs}}]
    backendRefs: [{name: docs, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: x-env, value: prod}]}
    backendRefs:
    - {name: web-stable, port: 80}
    - {name: web-canary, port: 80, weight: 0}
`

// The API server's defaults (group, kind, weight) are spelt out.
const docsRule = `
  name: docs
  matches: [{path: {type: PathPrefix, value: /docs}}]
  backendRefs: [{group: "", kind: Service, name: docs, port: 80, weight: 1}]
`

func splitRule(stable, canary int32) string {
	return fmt.Sprintf(`
  matches: [{path: {type: PathPrefix, value: /api}}]
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {add: [{name: x-env, value: prod}]}
  backendRefs:
  - {group: "", kind: Service, name: web-stable, port: 80, weight: %d}
  - {group: "", kind: Service, name: web-canary, port: 80, weight: %d}
`, stable, canary)
}

const grpcRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: web-grpc}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{method: {service: shop.Cart}}]
    backendRefs:
    - {name: web-stable, port: 9090}
    - {name: web-canary, port: 9090}
`

func grpcRule(stable, canary int32) string {
	return fmt.Sprintf(`
- matches: [{method: {type: Exact, service: shop.Cart}}]
  backendRefs:
  - {group: "", kind: Service, name: web-stable, port: 9090, weight: %d}
  - {group: "", kind: Service, name: web-canary, port: 9090, weight: %d}
`, stable, canary)
}

func rulesOf(t *testing.T, c client.Client, gvk schema.GroupVersionKind, ns, name string) any {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(harness.GetUnstructured(t, c, gvk, ns, name).Object, "spec", "rules")
	return rules
}

func TestGatewayAPIRouter(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{
		CRDDirs: []string{harness.VendorCRDDir(t, gatewayModule, gatewayVersion,
			"config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml")},
	})

	t.Run("canary 20 50 100 then abort", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, httpRoute)
		harness.CreateYAML(t, env.Client, ns, grpcRoute)
		c := harness.RecordWrites(env.Client)
		r, err := gatewayapi.New(c, newRollout(ns, v1alpha1.GatewayAPITrafficRouting{
			HTTPRoute:  "web",
			GRPCRoutes: []v1alpha1.GatewayAPIRoute{{Name: "web-grpc"}},
		}))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int32{20, 50, 100, 0} {
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("SetWeight(%d): %v", w, err)
			}
			if n := len(c.Writes()); n != 2 {
				t.Errorf("SetWeight(%d) wrote %d times, want 2 (one per route): %v", w, n, c.Writes())
			}
			route := harness.GetUnstructured(t, env.Client, httpRouteGVK, ns, "web")
			harness.EqualYAML(t, fmt.Sprintf("HTTPRoute rules at %d", w), "- "+strings.TrimSpace(docsRule)+"\n- "+strings.TrimSpace(splitRule(100-w, w)),
				route.Object["spec"].(map[string]any)["rules"])
			harness.EqualYAML(t, fmt.Sprintf("GRPCRoute rules at %d", w), grpcRule(100-w, w), rulesOf(t, env.Client, grpcRouteGVK, ns, "web-grpc"))
			if hosts, _, _ := unstructured.NestedStringSlice(route.Object, "spec", "hostnames"); len(hosts) != 1 || route.GetLabels()["team"] != "payments" {
				t.Errorf("the user's hostnames or labels changed: %v %v", hosts, route.GetLabels())
			}
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			if writes := c.Writes(); len(writes) != 0 {
				t.Errorf("SetWeight(%d) at an unchanged weight wrote: %v", w, writes)
			}
		}
	})

	t.Run("maxTrafficWeight", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, httpRoute)
		ro := newRollout(ns, v1alpha1.GatewayAPITrafficRouting{HTTPRoute: "web"})
		ro.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = ptr.To[int32](1000)
		r, err := gatewayapi.New(env.Client, ro)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 25); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "rules at 25 of 1000", "- "+strings.TrimSpace(docsRule)+"\n- "+strings.TrimSpace(splitRule(975, 25)),
			rulesOf(t, env.Client, httpRouteGVK, ns, "web"))
	})

	t.Run("additional destinations", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, strings.Replace(httpRoute, "    - {name: web-canary, port: 80, weight: 0}\n",
			"    - {name: web-canary, port: 80, weight: 0}\n    - {name: web-exp, port: 80, weight: 0}\n", 1))
		r, err := gatewayapi.New(env.Client, newRollout(ns, v1alpha1.GatewayAPITrafficRouting{HTTPRoute: "web"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 20, v1alpha1.WeightDestination{ServiceName: "web-exp", Weight: 10}); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "rules with an experiment destination", "- "+strings.TrimSpace(docsRule)+"\n- "+strings.TrimSpace(splitRule(70, 20))+
			"\n  - {group: \"\", kind: Service, name: web-exp, port: 80, weight: 10}", rulesOf(t, env.Client, httpRouteGVK, ns, "web"))
		var routeNotFound *trafficrouting.RouteNotFoundError
		if err := r.SetWeight(ctx, 20, v1alpha1.WeightDestination{ServiceName: "web-other", Weight: 10}); !errors.As(err, &routeNotFound) {
			t.Errorf("an experiment destination the rule does not name: got %v, want a RouteNotFoundError", err)
		}
	})

	t.Run("header and mirror routes", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, httpRoute)
		harness.CreateYAML(t, env.Client, ns, grpcRoute)
		c := harness.RecordWrites(env.Client)
		ro := newRollout(ns, v1alpha1.GatewayAPITrafficRouting{
			HTTPRoute:  "web",
			GRPCRoutes: []v1alpha1.GatewayAPIRoute{{Name: "web-grpc", UseHeaderRoutes: true}},
		}, "canary-header", "mirror-post")
		r, err := gatewayapi.New(c, ro)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 10); err != nil {
			t.Fatal(err)
		}

		// The mirror route first: the header route, listed before it, is put in front of it.
		mirror := &v1alpha1.SetMirrorRoute{Name: "mirror-post", Percentage: ptr.To[int32](25),
			Match: []v1alpha1.RouteMatch{{Method: &v1alpha1.StringMatch{Exact: "POST"}}}}
		if err := r.SetMirrorRoute(ctx, mirror); err != nil {
			t.Fatalf("SetMirrorRoute: %v", err)
		}
		header := &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}},
			{HeaderName: "x-user", HeaderValue: &v1alpha1.StringMatch{Prefix: "beta"}},
		}}
		if err := r.SetHeaderRoute(ctx, header); err != nil {
			t.Fatalf("SetHeaderRoute: %v", err)
		}
		headerRule := `
- name: canary-header
  matches:
  - path: {type: PathPrefix, value: /api}
    headers:
    - {name: x-canary, type: Exact, value: "1"}
    - {name: x-user, type: RegularExpression, value: "^beta.*"}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {add: [{name: x-env, value: prod}]}
  backendRefs:
  - {group: "", kind: Service, name: web-canary, port: 80, weight: 1}
`
		mirrorRule := func(stable, canary int32) string {
			return fmt.Sprintf(`
- name: mirror-post
  matches:
  - {path: {type: PathPrefix, value: /api}, method: POST}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {add: [{name: x-env, value: prod}]}
  - type: RequestMirror
    requestMirror:
      backendRef: {group: "", kind: Service, name: web-canary, port: 80}
      percent: 25
  backendRefs:
  - {group: "", kind: Service, name: web-stable, port: 80, weight: %d}
  - {group: "", kind: Service, name: web-canary, port: 80, weight: %d}
`, stable, canary)
		}
		rest := func(stable, canary int32) string {
			return "- " + strings.TrimSpace(docsRule) + "\n- " + strings.TrimSpace(splitRule(stable, canary))
		}
		harness.EqualYAML(t, "HTTPRoute rules with header and mirror routes",
			headerRule+mirrorRule(90, 10)+rest(90, 10), rulesOf(t, env.Client, httpRouteGVK, ns, "web"))
		harness.EqualYAML(t, "GRPCRoute rules with the header route", `
- name: canary-header
  matches:
  - method: {type: Exact, service: shop.Cart}
    headers:
    - {name: x-canary, type: Exact, value: "1"}
    - {name: x-user, type: RegularExpression, value: "^beta.*"}
  backendRefs:
  - {group: "", kind: Service, name: web-canary, port: 9090, weight: 1}
`+grpcRule(90, 10), rulesOf(t, env.Client, grpcRouteGVK, ns, "web-grpc"))

		// The weights move in the mirror rule too; unchanged routes write nothing.
		if err := r.SetWeight(ctx, 50); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "HTTPRoute rules at 50", headerRule+mirrorRule(50, 50)+rest(50, 50), rulesOf(t, env.Client, httpRouteGVK, ns, "web"))
		c.Reset()
		for _, err := range []error{r.SetWeight(ctx, 50), r.SetHeaderRoute(ctx, header), r.SetMirrorRoute(ctx, mirror)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if writes := c.Writes(); len(writes) != 0 {
			t.Errorf("unchanged weight, header and mirror routes wrote: %v", writes)
		}

		// The user edits their own rule's filter and hostnames meanwhile; both survive.
		route := harness.GetUnstructured(t, env.Client, httpRouteGVK, ns, "web")
		if err := env.Client.Patch(ctx, route, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"hostnames":["web.example.com","web.example.org"]}}`)),
			client.FieldOwner(harness.UserFieldOwner)); err != nil {
			t.Fatal(err)
		}

		// A header route without matches is removed; the mirror route stays.
		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header"}); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "HTTPRoute rules without the header route", mirrorRule(50, 50)+rest(50, 50), rulesOf(t, env.Client, httpRouteGVK, ns, "web"))
		harness.EqualYAML(t, "GRPCRoute rules without the header route", grpcRule(50, 50), rulesOf(t, env.Client, grpcRouteGVK, ns, "web-grpc"))

		// Abort: weights back to stable, then the managed routes go.
		if err := r.SetHeaderRoute(ctx, header); err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatalf("RemoveManagedRoutes: %v", err)
		}
		route = harness.GetUnstructured(t, env.Client, httpRouteGVK, ns, "web")
		harness.EqualYAML(t, "HTTPRoute spec after the abort", `
parentRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
hostnames: [web.example.com, web.example.org]
rules:
`+rest(100, 0), route.Object["spec"])
		harness.EqualYAML(t, "GRPCRoute rules after the abort", grpcRule(100, 0), rulesOf(t, env.Client, grpcRouteGVK, ns, "web-grpc"))
		c.Reset()
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		if writes := c.Writes(); len(writes) != 0 {
			t.Errorf("RemoveManagedRoutes with nothing to remove wrote: %v", writes)
		}
	})

	t.Run("errors a person can act on", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		r, err := gatewayapi.New(env.Client, newRollout(ns, v1alpha1.GatewayAPITrafficRouting{HTTPRoute: "web"}, "Bad_Name", "ok"))
		if err != nil {
			t.Fatal(err)
		}
		var notFound *trafficrouting.ObjectNotFoundError
		if err := r.SetWeight(ctx, 10); !errors.As(err, &notFound) || notFound.Kind != gatewayapi.KindHTTPRoute {
			t.Errorf("missing HTTPRoute: got %v, want an ObjectNotFoundError", err)
		}

		harness.CreateYAML(t, env.Client, ns, strings.ReplaceAll(httpRoute, "web-canary", "web-other"))
		var routeNotFound *trafficrouting.RouteNotFoundError
		if err := r.SetWeight(ctx, 10); !errors.As(err, &routeNotFound) {
			t.Errorf("no rule with both Services: got %v, want a RouteNotFoundError", err)
		} else {
			t.Logf("reads: %v", err)
		}
		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "ok", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "a", HeaderValue: &v1alpha1.StringMatch{Exact: "b"}}}}); !errors.As(err, &routeNotFound) {
			t.Errorf("header route without a base rule: got %v, want a RouteNotFoundError", err)
		}
		if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "Bad_Name", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "a", HeaderValue: &v1alpha1.StringMatch{Exact: "b"}}}}); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("a managed route that cannot name a rule: got %v, want an InvalidConfigError", err)
		}
		if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "unlisted", Match: []v1alpha1.RouteMatch{{}}}); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("a route not in managedRoutes: got %v, want an InvalidConfigError", err)
		}

		tcp, err := gatewayapi.New(env.Client, newRollout(ns, v1alpha1.GatewayAPITrafficRouting{TCPRoute: "web-tcp"}))
		if err != nil {
			t.Fatal(err)
		}
		var noCRD *trafficrouting.CRDNotInstalledError
		if err := tcp.SetWeight(ctx, 10); !errors.As(err, &noCRD) {
			t.Errorf("TCPRoute CRD not installed: got %v, want a CRDNotInstalledError", err)
		} else {
			t.Logf("reads: %v", err)
		}
	})
}
