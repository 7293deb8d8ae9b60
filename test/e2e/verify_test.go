package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

// Traefik's CRDs as the Traefik module the router tests use ships them.
const (
	traefikModule  = "github.com/traefik/traefik/v3"
	traefikVersion = "v3.7.13"
	traefikCRDFile = "integration/fixtures/k8s/01-traefik-crd.yml"
	// traefikLabel is the label Traefik's CRD provider is told to select on: taking it off
	// the TraefikService hides the service's changes from Traefik.
	traefikLabel = "flotilla.test/traefik"
)

var traefikService = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}

// TestTraefikWeightVerification runs a canary with the traefik router on a full control
// plane and a real Traefik (bin/traefik, reading the cluster's API server; every request
// goes to 127.0.0.1) whose API the agent asks to verify weights. While Traefik cannot see
// the TraefikService (the label its provider selects on is taken off), the setWeight step
// sets the weight on the TraefikService but stays incomplete, and the Rollout says it waits
// for weight verification; once Traefik loads the weight, the step completes and
// status.canary.weights.verified is true.
func TestTraefikWeightVerification(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stable := harness.StartHTTPBackend(t, "v1")
	canary := harness.StartHTTPBackend(t, "v2")
	var tr *harness.Traefik
	m := startMemberWith(t, memberOptions{
		crdDirs: []string{harness.VendorCRDDir(t, traefikModule, traefikVersion, traefikCRDFile)},
		routers: func(cl *harness.Cluster) routers.Options {
			tr = harness.StartTraefik(t, harness.TraefikOptions{Config: cl.Config, Args: []string{
				"--providers.kubernetescrd=true",
				"--providers.kubernetescrd.allowExternalNameServices=true",
				"--providers.kubernetescrd.labelSelector=" + traefikLabel + "=on",
			}})
			return routers.Options{TraefikAPI: tr.APIURL}
		},
	})
	ns := harness.Namespace(t, m.c)
	for name, b := range map[string]*harness.HTTPBackend{"web-stable": stable, "web-canary": canary} {
		harness.CreateBackendService(t, m.c, ns, name, b)
	}
	harness.CreateYAML(t, m.c, ns, fmt.Sprintf(`
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: web, labels: {%s: "on"}}
spec:
  weighted:
    services:
    - {name: web-stable, port: %d}
    - {name: web-canary, port: %d, weight: 0}
`, traefikLabel, stable.Port, canary.Port))
	harness.CreateYAML(t, m.c, ns, fmt.Sprintf(`
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web, labels: {%s: "on"}}
spec:
  entryPoints: [web]
  routes:
  - match: PathPrefix(`+"`/`"+`)
    kind: Rule
    services: [{name: web, kind: TraefikService}]
`, traefikLabel))
	stableMember := fmt.Sprintf("%s-web-stable-%d", ns, stable.Port)
	canaryMember := fmt.Sprintf("%s-web-canary-%d", ns, canary.Port)

	m.createRollout(t, ns, `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        traefik: {weightedTraefikServiceName: web}
      steps:
      - setWeight: 30
      - pause: {}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:v1
        resources: {requests: {cpu: 5m, memory: 16Mi}}
`)
	key := client.ObjectKey{Namespace: ns, Name: "web"}
	m.waitRollout(ctx, t, key, "the first revision Healthy, its weight 0 verified by Traefik", func(ro *v1alpha1.Rollout) bool {
		return healthyAt(true)(ro) && ro.Status.Canary != nil && ro.Status.Canary.Weights != nil &&
			ro.Status.Canary.Weights.Verified != nil && *ro.Status.Canary.Weights.Verified
	})
	tr.WaitWeighted(t, map[string]int{stableMember: 100, canaryMember: 0})

	// Traefik stops seeing the TraefikService: it no longer runs it, and will not load the
	// weight the next step sets.
	setLabel(ctx, t, m.c, ns, "off")
	tr.WaitServiceGone(t, ns+"-web@kubernetescrd")

	m.kubectlFlotilla(t, ns, "set", "image", "web", "web=example.com/web:v2")
	ro := m.waitRollout(ctx, t, key, "the setWeight step waiting for weight verification", func(ro *v1alpha1.Rollout) bool {
		w := ro.Status.Canary.Weights
		return ro.Status.CurrentPodHash != ro.Status.StableRS && w != nil && w.Canary.Weight == 30 &&
			strings.Contains(ro.Status.Message, "waiting for weight verification")
	})
	if w := ro.Status.Canary.Weights; w.Verified == nil || *w.Verified {
		t.Errorf("status.canary.weights.verified = %v while Traefik does not run the weight, want false", w.Verified)
	}
	if got := weightOf(ctx, t, m.c, ns, "web-canary"); got != 30 {
		t.Errorf("the TraefikService gives the canary %d, want 30: the router set the weight", got)
	}
	// It stays so for three of the agent's verification retries: the step does not complete
	// while Traefik does not run the weight.
	hold := time.Now().Add(3 * engine.VerifyWeightRetry)
	for time.Now().Before(hold) {
		got := &v1alpha1.Rollout{}
		if err := m.c.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if got.Status.CurrentStepIndex == nil || *got.Status.CurrentStepIndex != 0 {
			t.Fatalf("the setWeight step completed (step index %v, message %q) while Traefik did not run the weight",
				got.Status.CurrentStepIndex, got.Status.Message)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Traefik sees the TraefikService again and loads weight 30: the step completes.
	setLabel(ctx, t, m.c, ns, "on")
	tr.WaitWeighted(t, map[string]int{stableMember: 70, canaryMember: 30})
	ro = m.waitRollout(ctx, t, key, "the setWeight step done once Traefik runs weight 30", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1
	})
	if w := ro.Status.Canary.Weights; w == nil || w.Canary.Weight != 30 || w.Verified == nil || !*w.Verified {
		t.Errorf("status.canary.weights = %+v, want weight 30 verified", w)
	}
	if ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Errorf("phase %s (%s), want Paused at the pause step", ro.Status.Phase, ro.Status.Message)
	}
}

// setLabel sets the label Traefik's provider selects on, on the TraefikService web.
func setLabel(ctx context.Context, t *testing.T, c client.Client, ns, value string) {
	t.Helper()
	ts := harness.GetUnstructured(t, c, traefikService, ns, "web")
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, traefikLabel, value)
	if err := c.Patch(ctx, ts, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// weightOf is the weight the TraefikService web gives the entry of Service svc.
func weightOf(_ context.Context, t *testing.T, c client.Client, ns, svc string) int64 {
	t.Helper()
	ts := harness.GetUnstructured(t, c, traefikService, ns, "web")
	list, _, _ := unstructured.NestedSlice(ts.Object, "spec", "weighted", "services")
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["name"] == svc {
			w, _ := m["weight"].(int64)
			return w
		}
	}
	t.Fatalf("TraefikService web has no entry for %s", svc)
	return 0
}
