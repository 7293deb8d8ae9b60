package graphite_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/graphite"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	graphitetest "github.com/flotilla-io/flotilla/test/graphite"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestRealGraphite runs the provider against Debian's graphite-carbon and graphite-web:
// an asPercent() error rate over series the test feeds follows the rate the test sets, and
// once graphite-web is stopped a measurement is an error.
func TestRealGraphite(t *testing.T) {
	g := graphitetest.Start(t)
	var perMille atomic.Int64
	perMille.Store(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Feed(ctx, t, "checkout", &perMille)

	p := graphite.New(graphite.Options{})
	req := analysis.Request{Metric: v1alpha1.Metric{Name: "error-rate", Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{
		Address: g.URL(),
		Query:   "target=asPercent(checkout.errors, checkout.requests)\n&from=-20s",
	}}}}
	waitFor := func(want float64) {
		t.Helper()
		err := harness.WaitFor(context.Background(), fmt.Sprintf("an error rate of %v%%", want), time.Minute, func(ctx context.Context) (bool, string, error) {
			v, err := p.Measure(ctx, req)
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
	waitFor(10)
	perMille.Store(1)
	waitFor(0.1)

	stopCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := g.StopWeb(stopCtx); err != nil {
		t.Fatal(err)
	}
	v, err := p.Measure(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Measure after graphite-web stopped = %#v, %v; want a connection error", v, err)
	}
}

// notYet is a wait condition's result for a transient error, which is what was seen.
func notYet(err error) (bool, string, error) { return false, err.Error(), nil }
