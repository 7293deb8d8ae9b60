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
	"fmt"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/traefik"
	"github.com/flotilla-io/flotilla/test/harness"
)

// dataPlaneRequests is how many requests measure one split, and tolerance how far (in
// points of percent) the measured split may be from the weight.
const (
	dataPlaneRequests = 2000
	tolerance         = 3.0
)

// TestTraefikDataPlane proves the router on a real data plane: Traefik (built from the Go
// module proxy by hack/tools/traefik/build.sh) reads the TraefikService from a real API
// server through its Kubernetes CRD provider and forwards real requests to two local
// backends. Every request goes to 127.0.0.1. The router verifies the weights through
// Traefik's API.
func TestTraefikDataPlane(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{
		CRDDirs: []string{harness.VendorCRDDir(t, traefikModule, traefikVersion, traefikCRDFile)},
	})
	ns := env.Namespace(t)
	ctx := context.Background()

	stable := harness.StartHTTPBackend(t, "v1")
	canary := harness.StartHTTPBackend(t, "v2")
	for name, b := range map[string]*harness.HTTPBackend{"web-stable": stable, "web-canary": canary} {
		harness.CreateBackendService(t, env.Client, ns, name, b)
	}
	harness.CreateYAML(t, env.Client, ns, fmt.Sprintf(`
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: web}
spec:
  weighted:
    services:
    - {name: web-stable, port: %d}
    - {name: web-canary, port: %d}
`, stable.Port, canary.Port))
	harness.CreateYAML(t, env.Client, ns, `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`+"`/`"+`)
    kind: Rule
    services: [{name: web, kind: TraefikService}]
`)

	tr := harness.StartTraefik(t, harness.TraefikOptions{Config: env.Config, Args: []string{
		"--providers.kubernetescrd=true",
		"--providers.kubernetescrd.allowExternalNameServices=true",
		"--providers.kubernetescrd.namespaces=" + ns,
	}})
	r, err := traefik.New(env.Client, newRollout(ns, "mirror-all"), traefik.WithAPI(tr.APIURL))
	if err != nil {
		t.Fatal(err)
	}
	// verify asks Traefik (through its API) whether it runs weight w, within a minute; a
	// weight Traefik runs must come out Verified.
	verify := func(w int32) {
		t.Helper()
		err := harness.WaitFor(ctx, fmt.Sprintf("Traefik's API to verify weight %d", w), time.Minute, func(ctx context.Context) (bool, string, error) {
			v, verr := r.VerifyWeight(ctx, w)
			return verr == nil && v == trafficrouting.VerificationVerified, fmt.Sprintf("verification %d, error %v", v, verr), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// wantPending checks that weight w, which Traefik does not run, is not verified.
	wantPending := func(w int32) {
		t.Helper()
		if v, err := r.VerifyWeight(ctx, w); err != nil || v != trafficrouting.VerificationPending {
			t.Errorf("VerifyWeight(%d) while Traefik runs another weight = %d, %v; want Pending", w, v, err)
		}
	}
	stableMember := fmt.Sprintf("%s-web-stable-%d", ns, stable.Port)
	canaryMember := fmt.Sprintf("%s-web-canary-%d", ns, canary.Port)

	set := func(w int32) error { return r.SetWeight(ctx, w) }
	tr.CheckSplit(t, set, stableMember, canaryMember, dataPlaneRequests, tolerance, 10, 50, 90)
	verify(90)
	wantPending(50)

	// Without the API the router cannot tell; with an API that does not answer, it never
	// says Verified.
	noAPI, err := traefik.New(env.Client, newRollout(ns, "mirror-all"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := noAPI.VerifyWeight(ctx, 90); err != nil || v != trafficrouting.VerificationUnsupported {
		t.Errorf("VerifyWeight without an API address = %d, %v; want Unsupported", v, err)
	}
	closed, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down, err := traefik.New(env.Client, newRollout(ns, "mirror-all"), traefik.WithAPI(fmt.Sprintf("http://127.0.0.1:%d", closed)))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := down.VerifyWeight(ctx, 90); err == nil || v == trafficrouting.VerificationVerified {
		t.Errorf("VerifyWeight with an API that does not answer = %d, %v; want an error and not Verified", v, err)
	}

	// Flotilla's mirroring extension on the same data plane: at weight 10, mirror 50% of the
	// stable share to the canary. Clients still get 90% of their answers from v1; the canary
	// backend also sees the mirrored copies.
	if err := r.SetWeight(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "mirror-all", Match: []v1alpha1.RouteMatch{{}}, Percentage: ptr.To[int32](50)}); err != nil {
		t.Fatalf("SetMirrorRoute: %v", err)
	}
	tr.WaitWeighted(t, map[string]int{ns + "-mirror-all": 90, canaryMember: 10})
	tr.WaitService(t, ns+"-mirror-all@kubernetescrd")
	// The stable entry now points at the mirroring TraefikService; the weights still verify.
	verify(10)
	stable.Hits.Store(0)
	canary.Hits.Store(0)
	answers := tr.Send(t, dataPlaneRequests)
	// Mirrored copies are sent in the background; wait (bounded) until they stop arriving.
	mirrored := harness.WaitSettled(t, func() int64 { return canary.Hits.Load() - int64(answers["v2"]) })
	wantMirrored := 0.5 * float64(answers["v1"])
	t.Logf("mirror 50%% at weight 10: answers v1 %d, v2 %d; the canary backend also got %d mirrored copies (expected about %.0f)",
		answers["v1"], answers["v2"], mirrored, wantMirrored)
	if d := 100 * (float64(mirrored) - wantMirrored) / dataPlaneRequests; d < -tolerance || d > tolerance {
		t.Errorf("mirrored %d requests, %.2f points of the traffic off the expected %.0f", mirrored, d, wantMirrored)
	}
	if got := 100 * float64(answers["v2"]) / dataPlaneRequests; got < 10-tolerance || got > 10+tolerance {
		t.Errorf("with the mirror on, the canary answered %.2f%% of the requests, want 10%%", got)
	}

	// Abort: all traffic back to stable, then the mirror removed.
	if err := r.SetWeight(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveManagedRoutes(ctx); err != nil {
		t.Fatal(err)
	}
	tr.WaitWeighted(t, map[string]int{stableMember: 100, canaryMember: 0})
	canary.Hits.Store(0)
	answers = tr.Send(t, 200)
	if answers["v1"] != 200 || canary.Hits.Load() != 0 {
		t.Errorf("after the abort: answers %v, canary backend hits %d; want every request on v1", answers, canary.Hits.Load())
	}
}
