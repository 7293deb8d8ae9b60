package analysisrun_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/prometheus"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
	promtest "github.com/flotilla-io/flotilla/test/prometheus"
)

// TestPrometheus runs the Prometheus provider through the controller against a real
// Prometheus (Debian's package) that scrapes an exporter whose error rate the test sets,
// with the success condition a canary analysis uses: result[0] >= 0.95.
//   - at 10% errors the run is Failed after its first measurement;
//   - at 0.1% errors it is Successful after its three measurements;
//   - when Prometheus stops in the middle of a run, the measurements become Error and the
//     run ends Error once consecutiveErrorLimit is passed, never Successful.
func TestPrometheus(t *testing.T) {
	exporter := promtest.NewExporter(t)
	exporter.SetErrorRate(0.1)
	server := promtest.Start(t, exporter.Target())
	ns := env.Namespace(t)
	metric := func(count int32) v1alpha1.Metric {
		timeout := int64(5)
		m := v1alpha1.Metric{
			Name: "success-rate", Interval: "1s", SuccessCondition: "result[0] >= 0.95",
			Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
				Address: server.URL(), Query: promtest.SuccessRateQuery, Timeout: &timeout,
			}},
		}
		if count > 0 {
			m.Count = new(intstr.FromInt32(count))
		}
		return m
	}

	t.Run("10% errors fail the run", func(t *testing.T) {
		waitSuccessRate(t, server.URL(), 0.9)
		run := createRun(t, ns, "ten-percent", oneMetric(metric(3)))
		got := waitCompleted(t, run, time.Minute)
		m := metricResult(t, got, "success-rate")
		if got.Status.Phase != v1alpha1.AnalysisPhaseFailed || m.Phase != v1alpha1.AnalysisPhaseFailed || m.Failed != 1 || m.Count != 1 {
			t.Fatalf("want the run Failed at its first measurement: %s", describe(got))
		}
		if v := measuredRate(t, m.Measurements[0]); math.Abs(v-0.9) > 1e-6 {
			t.Errorf("measured %v, want 0.9", v)
		}
		if c := condition(t, got, v1alpha1.AnalysisRunConditionCompleted); c.Reason != "Failed" || !strings.Contains(c.Message, `metric "success-rate" is Failed`) {
			t.Errorf("Completed condition = %+v", c)
		}
		runEvents(t, run, "AnalysisRunFailed", "MetricFailed")
	})

	t.Run("0.1% errors pass", func(t *testing.T) {
		exporter.SetErrorRate(0.001)
		waitSuccessRate(t, server.URL(), 0.999)
		run := createRun(t, ns, "tenth-of-a-percent", oneMetric(metric(3)))
		got := waitCompleted(t, run, time.Minute)
		m := metricResult(t, got, "success-rate")
		if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Successful != 3 || m.Count != 3 || len(m.Measurements) != 3 {
			t.Fatalf("want the run Successful after three measurements: %s", describe(got))
		}
		for _, meas := range m.Measurements {
			if v := measuredRate(t, meas); math.Abs(v-0.999) > 1e-6 {
				t.Errorf("measured %v, want 0.999", v)
			}
		}
	})

	t.Run("Prometheus stopped mid-run", func(t *testing.T) {
		m := metric(0) // until the run ends
		m.ConsecutiveErrorLimit = new(intstr.FromInt32(1))
		run := createRun(t, ns, "prometheus-down", oneMetric(m))
		waitRun(t, run, "two successful measurements", time.Minute, func(r *v1alpha1.AnalysisRun) bool {
			return len(r.Status.MetricResults) == 1 && r.Status.MetricResults[0].Successful >= 2
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := server.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		var phases []v1alpha1.AnalysisPhase
		got := waitRun(t, run, "a final phase", 90*time.Second, func(r *v1alpha1.AnalysisRun) bool {
			if n := len(phases); n == 0 || phases[n-1] != r.Status.Phase {
				phases = append(phases, r.Status.Phase)
			}
			return r.Status.Phase.Completed()
		})
		res := metricResult(t, got, "success-rate")
		if got.Status.Phase != v1alpha1.AnalysisPhaseError || res.Phase != v1alpha1.AnalysisPhaseError ||
			res.ConsecutiveError != 2 || got.Status.RunSummary.Error != 1 {
			t.Fatalf("want the run Error after two errors in a row: %s", describe(got))
		}
		for _, p := range phases {
			if p == v1alpha1.AnalysisPhaseSuccessful {
				t.Fatalf("the run was Successful on the way: %v", phases)
			}
		}
		last := res.Measurements[len(res.Measurements)-1]
		if last.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(last.Message, "connection refused") {
			t.Errorf("last measurement = %+v", last)
		}
		if c := condition(t, got, v1alpha1.AnalysisRunConditionCompleted); c.Reason != "Error" || !strings.Contains(c.Message, "consecutiveErrorLimit") {
			t.Errorf("Completed condition = %+v", c)
		}
	})
}

// waitSuccessRate waits until Prometheus answers the success-rate query with want, that is
// until its rate window holds only scrapes taken at the exporter's current error rate.
func waitSuccessRate(t *testing.T, address string, want float64) {
	t.Helper()
	timeout := int64(5)
	p := prometheus.New(prometheus.Options{})
	req := analysis.Request{Metric: v1alpha1.Metric{Name: "probe", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
		Address: address, Query: promtest.SuccessRateQuery, Timeout: &timeout,
	}}}}
	err := harness.WaitFor(context.Background(), fmt.Sprintf("Prometheus to report a success rate of %v", want), time.Minute,
		func(ctx context.Context) (bool, string, error) {
			v, err := p.Measure(ctx, req)
			if err != nil {
				return notYet(err)
			}
			list, ok := v.Result.([]float64)
			return ok && len(list) == 1 && math.Abs(list[0]-want) < 1e-6, "result " + v.Text, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

// measuredRate reads the one value of a measurement of a vector query.
func measuredRate(t *testing.T, m v1alpha1.Measurement) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscanf(strings.Trim(m.Value, "[]"), "%g", &v); err != nil {
		t.Fatalf("measurement value %q: %v", m.Value, err)
	}
	return v
}
