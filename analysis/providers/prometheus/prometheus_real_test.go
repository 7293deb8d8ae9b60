package prometheus_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/prometheus"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
	promtest "github.com/flotilla-io/flotilla/test/prometheus"
)

func promMetric(address, query string) analysis.Request {
	timeout := int64(5)
	return analysis.Request{Metric: v1alpha1.Metric{
		Name: "success-rate",
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
			Address: address, Query: query, Timeout: &timeout,
		}},
	}}
}

// waitForResult measures until check accepts the value, and fails the test with the last
// value or error after a minute.
func waitForResult(t *testing.T, p *prometheus.Provider, req analysis.Request, what string, check func(analysis.Value) bool) analysis.Value {
	t.Helper()
	var last analysis.Value
	err := harness.WaitFor(context.Background(), what, time.Minute, func(ctx context.Context) (bool, string, error) {
		v, err := p.Measure(ctx, req)
		if err != nil {
			return notYet(err)
		}
		last = v
		return check(v), fmt.Sprintf("result %#v (text %s)", v.Result, v.Text), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func near(v analysis.Value, want float64) bool {
	list, ok := v.Result.([]float64)
	return ok && len(list) == 1 && math.Abs(list[0]-want) < 1e-6
}

// TestRealPrometheus runs the provider against a real Prometheus (Debian's package) that
// scrapes an exporter whose error rate the test sets: the success-rate query returns the
// rate the exporter was set to, instant, scalar and range queries work, and once the
// server is stopped a measurement is an error, not a value.
func TestRealPrometheus(t *testing.T) {
	exporter := promtest.NewExporter(t)
	exporter.SetErrorRate(0.1)
	server := promtest.Start(t, exporter.Target())
	p := prometheus.New(prometheus.Options{})

	req := promMetric(server.URL(), promtest.SuccessRateQuery)
	v := waitForResult(t, p, req, "a success rate of 0.9", func(v analysis.Value) bool { return near(v, 0.9) })
	if v.Metadata[prometheus.MetadataQuery] != promtest.SuccessRateQuery {
		t.Errorf("metadata %v does not hold the resolved query", v.Metadata)
	}

	exporter.SetErrorRate(0.001)
	waitForResult(t, p, req, "a success rate of 0.999", func(v analysis.Value) bool { return near(v, 0.999) })

	scalar := promMetric(server.URL(), "scalar("+promtest.SuccessRateQuery+")")
	v = waitForResult(t, p, scalar, "a scalar", func(v analysis.Value) bool { _, ok := v.Result.(float64); return ok })
	if f := v.Result.(float64); math.Abs(f-0.999) > 1e-6 {
		t.Errorf("scalar success rate = %v, want 0.999", f)
	}

	rng := promMetric(server.URL(), `sum(rate(http_requests_total{code="500"}[5s]))`)
	rng.Metric.Provider.Prometheus.RangeQuery = &v1alpha1.PrometheusRangeQueryArgs{
		Start: `now() - duration("3s")`, End: "now()", Step: "1s",
	}
	v = waitForResult(t, p, rng, "a range of error rates", func(v analysis.Value) bool {
		list, ok := v.Result.([]float64)
		return ok && len(list) >= 3
	})
	for _, f := range v.Result.([]float64) {
		if f <= 0 {
			t.Errorf("range result %v holds a rate <= 0", v.Result)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := server.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := p.Measure(context.Background(), req)
	if err == nil {
		t.Fatalf("Measure after Prometheus stopped = %#v, want an error", v)
	}
	t.Logf("with Prometheus stopped: %v", err)
}

// notYet is a condition's result for a transient error, which is what was seen.
func notYet(err error) (bool, string, error) { return false, err.Error(), nil }
