package analysisrun

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// The label values come from object and metric names, provider types and phases only, never
// from arguments, measured values or messages, so no secret can reach a label.
var (
	runInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_analysis_run_info",
		Help: "A constant 1 per AnalysisRun, labelled with its phase.",
	}, []string{"namespace", "name", "phase"})
	runPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_analysis_run_phase",
		Help: "1 for the phase each AnalysisRun is in, 0 for the others.",
	}, []string{"namespace", "name", "phase"})
	metricPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_analysis_run_metric_phase",
		Help: "1 for the phase each metric of each AnalysisRun is in, 0 for the others; dry_run is true for dry-run metrics.",
	}, []string{"namespace", "name", "metric", "type", "phase", "dry_run"})
	measurementDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "flotilla_analysis_run_measurement_duration_seconds",
		Help:    "Time a provider took to take a measurement, or to look at one in flight, by provider type.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"type"})
)

func init() {
	metrics.Registry.MustRegister(runInfo, runPhase, metricPhase, measurementDuration)
}

var phases = []v1alpha1.AnalysisPhase{
	v1alpha1.AnalysisPhasePending, v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseSuccessful,
	v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive,
}

// observeMeasurement records how long one provider call took.
func observeMeasurement(providerType string, took time.Duration) {
	measurementDuration.WithLabelValues(providerType).Observe(took.Seconds())
}

// observeRun sets the gauges of a run to its status.
func observeRun(run *v1alpha1.AnalysisRun, st *v1alpha1.AnalysisRunStatus) {
	ns, name := run.Namespace, run.Name
	phase := st.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	for _, p := range phases {
		runPhase.WithLabelValues(ns, name, string(p)).Set(boolValue(p == phase))
		if p != phase {
			runInfo.DeleteLabelValues(ns, name, string(p))
		}
	}
	runInfo.WithLabelValues(ns, name, string(phase)).Set(1)
	types := map[string]string{}
	for i := range run.Spec.Metrics {
		types[run.Spec.Metrics[i].Name] = analysis.ProviderType(&run.Spec.Metrics[i])
	}
	for _, r := range st.MetricResults {
		dry := strconv.FormatBool(r.DryRun)
		for _, p := range phases {
			metricPhase.WithLabelValues(ns, name, r.Name, types[r.Name], string(p), dry).Set(boolValue(p == r.Phase))
		}
	}
}

// forgetRun removes every series of a run that no longer exists.
func forgetRun(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	runInfo.DeletePartialMatch(labels)
	runPhase.DeletePartialMatch(labels)
	metricPhase.DeletePartialMatch(labels)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
