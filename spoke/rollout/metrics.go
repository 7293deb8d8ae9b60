package rollout

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var (
	rolloutPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_rollout_phase",
		Help: "1 for the phase each Rollout is in, 0 for the others.",
	}, []string{"namespace", "name", "phase"})
	rolloutInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flotilla_rollout_info",
		Help: "A constant 1 per Rollout, labelled with its strategy and current pod-template hash.",
	}, []string{"namespace", "name", "strategy", "pod_template_hash"})
	reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "flotilla_rollout_reconcile_duration_seconds",
		Help:    "Time one Rollout reconcile took, from read to status patch.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"namespace", "name"})
	stepTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_rollout_step_transitions_total",
		Help: "Canary steps a Rollout moved past.",
	}, []string{"namespace", "name"})
	aborts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_rollout_aborts_total",
		Help: "Updates of a Rollout that were aborted.",
	}, []string{"namespace", "name"})
)

func init() {
	metrics.Registry.MustRegister(rolloutPhase, rolloutInfo, reconcileDuration, stepTransitions, aborts)
}

var phases = []v1alpha1.RolloutPhase{
	v1alpha1.RolloutPhaseProgressing, v1alpha1.RolloutPhasePaused, v1alpha1.RolloutPhaseHealthy, v1alpha1.RolloutPhaseDegraded,
}

func observeReconcile(ro *v1alpha1.Rollout, took time.Duration) {
	reconcileDuration.WithLabelValues(ro.Namespace, ro.Name).Observe(took.Seconds())
}

// countTransitions records the metrics of the move from ro's status to next.
func countTransitions(ro *v1alpha1.Rollout, next *v1alpha1.RolloutStatus) {
	for _, p := range phases {
		v := 0.0
		if next.Phase == p {
			v = 1
		}
		rolloutPhase.WithLabelValues(ro.Namespace, ro.Name, string(p)).Set(v)
	}
	strategy := "canary"
	if ro.Spec.Strategy.BlueGreen != nil {
		strategy = "blueGreen"
	}
	if ro.Status.CurrentPodHash != next.CurrentPodHash {
		rolloutInfo.DeletePartialMatch(prometheus.Labels{"namespace": ro.Namespace, "name": ro.Name})
	}
	rolloutInfo.WithLabelValues(ro.Namespace, ro.Name, strategy, next.CurrentPodHash).Set(1)
	if prev, cur := ro.Status.CurrentStepIndex, next.CurrentStepIndex; cur != nil && (prev == nil || *cur > *prev) &&
		ro.Status.CurrentPodHash == next.CurrentPodHash {
		steps := *cur
		if prev != nil {
			steps -= *prev
		}
		stepTransitions.WithLabelValues(ro.Namespace, ro.Name).Add(float64(steps))
	}
	if next.Abort && !ro.Status.Abort {
		aborts.WithLabelValues(ro.Namespace, ro.Name).Inc()
	}
}
