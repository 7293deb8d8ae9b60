package analysisrun_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	graphiteprovider "github.com/flotilla-io/flotilla/analysis/providers/graphite"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/graphite"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestGraphite runs the Graphite provider through the controller against a real Graphite
// (Debian's graphite-carbon and graphite-web) fed with a request and an error series: at
// 0.1% errors the run is Successful, at 10% it is Failed.
func TestGraphite(t *testing.T) {
	g := graphite.Start(t)
	var perMille atomic.Int64
	perMille.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Feed(ctx, t, "checkout", &perMille)
	ns := env.Namespace(t)
	metric := v1alpha1.Metric{
		// The latest point of the error percentage, over the last 5 seconds.
		Name: "error-rate", SuccessCondition: "result[len(result)-1] < 1", FailureCondition: "result[len(result)-1] >= 5",
		Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{
			Address: g.URL(),
			Query:   "target=asPercent(checkout.errors, checkout.requests)\n&from=-5s",
		}},
	}

	waitGraphite(t, metric, 0.1)
	got := waitCompleted(t, createRun(t, ns, "graphite-good", oneMetric(metric)), time.Minute)
	wantSuccessful(t, got, "error-rate")
	if v := got.Status.MetricResults[0].Measurements[0].Value; !strings.HasSuffix(v, "0.1]") {
		t.Errorf("value = %q, want the latest point 0.1 (%%)", v)
	}

	perMille.Store(100)
	waitGraphite(t, metric, 10)
	got = waitCompleted(t, createRun(t, ns, "graphite-bad", oneMetric(metric)), time.Minute)
	if got.Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Fatalf("want the run Failed at 10%% errors: %s", describe(got))
	}
}

// waitGraphite waits until Graphite has data for the metric and its latest point is want (a
// percentage), so that the run that follows measures what the test set.
func waitGraphite(t *testing.T, m v1alpha1.Metric, want float64) {
	t.Helper()
	p := graphiteprovider.New(graphiteprovider.Options{})
	err := harness.WaitFor(context.Background(), fmt.Sprintf("Graphite to report an error rate of %v%%", want), time.Minute,
		func(ctx context.Context) (bool, string, error) {
			v, err := p.Measure(ctx, analysis.Request{Metric: m})
			if err != nil {
				return notYet(err)
			}
			list, _ := v.Result.([]float64)
			return len(list) > 0 && math.Abs(list[len(list)-1]-want) < 1e-9, "result " + v.Text, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}
