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
	"fmt"
	"net/http"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/gatewayapi"
	"github.com/flotilla-io/flotilla/test/harness"
)

// dataPlaneRequests is how many requests measure one split, and tolerance how far (in
// points of percent) the measured split may be from the weight.
const (
	dataPlaneRequests = 2000
	tolerance         = 3.0
)

// TestGatewayAPIDataPlane proves the Gateway API router on a real data plane: Traefik's
// Gateway API provider serves the HTTPRoute that the router edits, and forwards real requests
// to two local backends.
//
// Traefik's Gateway API provider reaches a Kubernetes Service only through its
// EndpointSlices, which cannot hold loopback addresses, and refuses ExternalName Services.
// So each backendRef of the HTTPRoute is a Traefik TraefikService named after the Rollout's
// Service (Traefik lets an HTTPRoute refer to one), which its Kubernetes CRD provider sends to
// an ExternalName Service for localhost. The router finds backendRefs by name, as Argo's
// plugin does, so it sets the weights of these refs like those of plain Services. Every
// request goes to 127.0.0.1.
func TestGatewayAPIDataPlane(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{CRDDirs: []string{
		harness.VendorCRDDir(t, gatewayModule, gatewayVersion,
			"config/crd/standard/gateway.networking.k8s.io_gatewayclasses.yaml",
			"config/crd/standard/gateway.networking.k8s.io_gateways.yaml",
			"config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_grpcroutes.yaml",
			"config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml",
			"config/crd/standard/gateway.networking.k8s.io_backendtlspolicies.yaml"),
		harness.VendorCRDDir(t, "github.com/traefik/traefik/v3", "v3.7.13", "integration/fixtures/k8s/01-traefik-crd.yml"),
	}})
	ns := env.Namespace(t)
	ctx := context.Background()

	stable := harness.StartHTTPBackend(t, "v1")
	canary := harness.StartHTTPBackend(t, "v2")
	for name, b := range map[string]*harness.HTTPBackend{"web-stable": stable, "web-canary": canary} {
		harness.CreateBackendService(t, env.Client, ns, name, b)
		harness.CreateYAML(t, env.Client, ns, fmt.Sprintf(`
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: %s}
spec:
  weighted:
    services: [{name: %s, port: %d}]
`, name, name, b.Port))
	}
	tr := harness.StartTraefik(t, harness.TraefikOptions{Config: env.Config, Args: []string{
		"--providers.kubernetescrd=true",
		"--providers.kubernetescrd.allowExternalNameServices=true",
		"--providers.kubernetescrd.namespaces=" + ns,
		"--providers.kubernetesgateway=true",
		"--providers.kubernetesgateway.namespaces=" + ns,
	}})
	harness.CreateYAML(t, env.Client, "", fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: %s}
spec:
  controllerName: traefik.io/gateway-controller
`, ns))
	harness.CreateYAML(t, env.Client, ns, fmt.Sprintf(`
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: %s
  listeners:
  - {name: web, protocol: HTTP, port: %d}
`, ns, tr.WebPort))
	harness.CreateYAML(t, env.Client, ns, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gw}]
  rules:
  - backendRefs:
    - {group: traefik.io, kind: TraefikService, name: web-stable}
    - {group: traefik.io, kind: TraefikService, name: web-canary}
`)

	r, err := gatewayapi.New(env.Client, newRollout(ns, v1alpha1.GatewayAPITrafficRouting{HTTPRoute: "web"}, "canary-header"))
	if err != nil {
		t.Fatal(err)
	}
	stableMember, canaryMember := ns+"-web-stable@kubernetescrd", ns+"-web-canary@kubernetescrd"
	set := func(w int32) error { return r.SetWeight(ctx, w) }
	tr.CheckSplit(t, set, stableMember, canaryMember, dataPlaneRequests, tolerance, 10, 50, 90)

	// A header route on the same data plane: with the header, every request goes to the
	// canary; without it, the weight still holds.
	if err := r.SetWeight(ctx, 10); err != nil {
		t.Fatal(err)
	}
	tr.WaitWeighted(t, map[string]int{stableMember: 90, canaryMember: 10})
	if err := r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "canary-header", Match: []v1alpha1.HeaderRoutingMatch{
		{HeaderName: "X-Canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}},
	}}); err != nil {
		t.Fatalf("SetHeaderRoute: %v", err)
	}
	withHeader := http.Header{"X-Canary": {"yes"}}
	tr.WaitAnswer(t, withHeader, "v2")
	answers := tr.SendWith(t, 200, withHeader)
	if answers["v2"] != 200 {
		t.Errorf("with the header route, requests with X-Canary: yes were answered %v; want all 200 by v2", answers)
	}
	answers = tr.Send(t, dataPlaneRequests)
	if got := 100 * float64(answers["v2"]) / dataPlaneRequests; got < 10-tolerance || got > 10+tolerance {
		t.Errorf("with the header route, requests without the header gave the canary %.2f%%, want 10%%", got)
	}
	t.Logf("header route at weight 10: 200 of 200 requests with the header on v2; without it v1 %d, v2 %d", answers["v1"], answers["v2"])

	// Abort: weights back to stable, then the header route removed.
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	tr.WaitAnswer(t, withHeader, "v1")
	if answers := tr.SendWith(t, 200, withHeader); answers["v1"] != 200 {
		t.Errorf("after the abort, requests with the header were answered %v; want all 200 by v1", answers)
	}
}
