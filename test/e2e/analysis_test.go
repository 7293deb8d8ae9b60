package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
	promtest "github.com/flotilla-io/flotilla/test/prometheus"
)

// analysisCanary is a canary whose second step is an analysis of the template named TEMPLATE.
const analysisCanary = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
spec:
  replicas: 4
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
      - name: app
        image: registry.example.com/checkout:v1
  strategy:
    canary:
      steps:
      - setWeight: 25
      - analysis:
          templates:
          - templateName: TEMPLATE
      - setWeight: 50
`

func setImage(t *testing.T, m member, ns, image string) {
	t.Helper()
	m.kubectlFlotilla(t, ns, "set", "image", "checkout", "app=registry.example.com/checkout:"+image)
}

// TestAnalysisDrivenAbort: an analysis step whose web metric reports failure aborts the
// Rollout (Degraded, canary scaled down, stable untouched); once the endpoint reports
// success, retry runs the update again and it completes.
func TestAnalysisDrivenAbort(t *testing.T) {
	var healthy atomic.Bool
	// The analysis endpoint is a local HTTP server; the metric reads $.ok from its answer.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"ok": %t}`, healthy.Load())
	}))
	defer srv.Close()

	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	harness.CreateYAML(t, m.c, ns, `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: health}
spec:
  metrics:
  - name: ok
    provider:
      web:
        url: `+srv.URL+`
        jsonPath: "{$.ok}"
    successCondition: result == true
`)
	ro := m.createRollout(t, ns, strings.Replace(analysisCanary, "TEMPLATE", "health", 1))
	key := client.ObjectKeyFromObject(ro)
	first := m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true))
	stable := first.Status.StableRS

	setImage(t, m, ns, "v2")
	aborted := m.waitRollout(ctx, t, key, "aborted by the failed analysis", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})
	canary := aborted.Status.CurrentPodHash
	waitFor(ctx, t, "the canary scaled down and the stable untouched", func() (bool, string) {
		rss := m.replicaSets(ctx, t, ns)
		return rss[canary][0] == 0 && rss[stable] == [2]int32{4, 4}, fmt.Sprint(rss)
	})
	if got := m.waitRollout(ctx, t, key, "still on the stable", func(*v1alpha1.Rollout) bool { return true }); got.Status.StableRS != stable {
		t.Fatalf("the stable ReplicaSet changed to %s on abort", got.Status.StableRS)
	}

	healthy.Store(true)
	m.kubectlFlotilla(t, ns, "retry", "checkout")
	done := m.waitRollout(ctx, t, key, "Healthy on v2 after retry", healthyAt(true))
	if done.Status.StableRS != canary {
		t.Errorf("after retry the stable is %s, want the canary %s", done.Status.StableRS, canary)
	}
}

// TestPrometheusAnalysis runs the same canary against a real Prometheus scraping an
// exporter whose error rate the test sets: at 10% errors the success-rate analysis fails
// and the Rollout aborts; at 0.1% the same update completes.
func TestPrometheusAnalysis(t *testing.T) {
	exporter := promtest.NewExporter(t)
	prom := promtest.Start(t, exporter.Target())

	m := startMember(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	harness.CreateYAML(t, m.c, ns, `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 2s
    count: 2
    successCondition: result[0] >= 0.95
    failureLimit: 0
    provider:
      prometheus:
        address: `+prom.URL()+`
        query: '`+promtest.SuccessRateQuery+`'
`)
	ro := m.createRollout(t, ns, strings.Replace(analysisCanary, "TEMPLATE", "success-rate", 1))
	key := client.ObjectKeyFromObject(ro)
	m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true))

	// Prometheus needs a few scrapes before rate() has a value.
	waitFor(ctx, t, "Prometheus to have scraped the exporter", func() (bool, string) {
		return exporter.Scrapes() >= 3, fmt.Sprintf("%d scrapes", exporter.Scrapes())
	})

	exporter.SetErrorRate(0.10)
	time.Sleep(6 * time.Second) // the query's rate window is 5s
	setImage(t, m, ns, "v2")
	m.waitRollout(ctx, t, key, "aborted at 10% errors", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && ro.Status.Abort
	})

	exporter.SetErrorRate(0.001)
	time.Sleep(6 * time.Second)
	setImage(t, m, ns, "v3")
	m.waitRollout(ctx, t, key, "Healthy on v3 at 0.1% errors", func(ro *v1alpha1.Rollout) bool {
		return healthyAt(true)(ro) && strings.HasSuffix(ro.Spec.Template.Spec.Containers[0].Image, ":v3")
	})
}
