package analysis

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// assessMetrics sets the phase and message of every metric that has not completed.
func assessMetrics(st *v1alpha1.AnalysisRunStatus, rs *runSettings, terminating bool) {
	for i := range rs.metrics {
		s := &rs.metrics[i]
		r := findResult(st, s.metric.Name)
		if r.Phase.Completed() {
			continue
		}
		phase, why := assessMetric(s, r, terminating)
		r.Phase = phase
		r.Message = metricMessage(r, phase, why, st.StartedAt.Time, s)
	}
}

// assessMetric decides a metric's phase from its counters and settings, as Argo Rollouts
// does, and says why when the phase is final.
func assessMetric(s *settings, r *v1alpha1.MetricResult, terminating bool) (v1alpha1.AnalysisPhase, string) {
	last := lastMeasurement(r)
	if last == nil {
		if terminating {
			return v1alpha1.AnalysisPhaseSuccessful, "the run was terminated before the metric was measured"
		}
		return v1alpha1.AnalysisPhasePending, ""
	}
	if !last.Phase.Completed() {
		return v1alpha1.AnalysisPhaseRunning, ""
	}
	if phase, why := limitExceeded(s, r); phase != "" {
		return phase, why
	}
	if s.consecutiveSuccessLimit > 0 && r.ConsecutiveSuccess >= s.consecutiveSuccessLimit {
		return v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("consecutiveSuccess (%d) reached consecutiveSuccessLimit (%d)",
			r.ConsecutiveSuccess, s.consecutiveSuccessLimit)
	}
	if !s.unbounded && r.Count >= s.count {
		switch {
		case s.consecutiveSuccessLimit > 0 && s.failureLimit >= 0:
			return v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf(
				"count (%d) reached without consecutiveSuccessLimit (%d) and within failureLimit (%d)",
				s.count, s.consecutiveSuccessLimit, s.failureLimit)
		case s.consecutiveSuccessLimit > 0:
			return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("count (%d) reached without consecutiveSuccessLimit (%d)",
				s.count, s.consecutiveSuccessLimit)
		}
		return v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("count (%d) reached within failureLimit (%d)", s.count, s.failureLimit)
	}
	if terminating {
		return v1alpha1.AnalysisPhaseSuccessful, "the run was terminated"
	}
	return v1alpha1.AnalysisPhaseRunning, ""
}

// limitExceeded checks failureLimit, inconclusiveLimit and consecutiveErrorLimit in that
// order; a later one that is exceeded wins, as in Argo Rollouts.
func limitExceeded(s *settings, r *v1alpha1.MetricResult) (v1alpha1.AnalysisPhase, string) {
	var phase v1alpha1.AnalysisPhase
	var why string
	if s.failureLimit >= 0 && r.Failed > s.failureLimit {
		phase, why = v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("failed (%d) > failureLimit (%d)", r.Failed, s.failureLimit)
	}
	if r.Inconclusive > s.inconclusiveLimit {
		phase, why = v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)",
			r.Inconclusive, s.inconclusiveLimit)
	}
	if r.ConsecutiveError > s.consecutiveErrorLimit {
		phase, why = v1alpha1.AnalysisPhaseError, fmt.Sprintf("consecutiveError (%d) > consecutiveErrorLimit (%d)",
			r.ConsecutiveError, s.consecutiveErrorLimit)
	}
	return phase, why
}

// metricMessage is a metric's message: why it completed and what its latest measurement
// said, the latest error while it retries, or what it waits for.
func metricMessage(r *v1alpha1.MetricResult, phase v1alpha1.AnalysisPhase, why string, started time.Time, s *settings) string {
	last := lastMeasurement(r)
	switch {
	case phase == v1alpha1.AnalysisPhasePending && s.initialDelay > 0:
		return fmt.Sprintf("waiting for initialDelay (%s) until %s", s.initialDelay,
			started.Add(s.initialDelay).UTC().Format(time.RFC3339))
	case phase.Completed():
		if last == nil || phase == v1alpha1.AnalysisPhaseSuccessful {
			return why
		}
		if last.Value != "" {
			why += "; latest value: " + last.Value
		}
		if last.Message != "" {
			why += "; latest measurement: " + last.Message
		}
		return why
	case last != nil && last.Phase == v1alpha1.AnalysisPhaseError:
		return fmt.Sprintf("measurement error (%d in a row, consecutiveErrorLimit %d): %s",
			r.ConsecutiveError, s.consecutiveErrorLimit, last.Message)
	}
	return ""
}

// phaseRank orders final phases from best to worst, as Argo Rollouts ranks them when metrics
// disagree: Failed beats Error, which beats Inconclusive, which beats Successful.
var phaseRank = map[v1alpha1.AnalysisPhase]int{
	v1alpha1.AnalysisPhaseSuccessful:   1,
	v1alpha1.AnalysisPhaseInconclusive: 2,
	v1alpha1.AnalysisPhaseError:        3,
	v1alpha1.AnalysisPhaseFailed:       4,
}

// assessRun sets the run's phase, message, summaries and completion time from its metrics.
func assessRun(st *v1alpha1.AnalysisRunStatus, rs *runSettings, terminated, terminating bool, now time.Time) {
	var summary, drySummary v1alpha1.RunSummary
	var worst *v1alpha1.MetricResult
	var dryNotes []string
	allDone, anyMeasured := true, false
	for i := range rs.metrics {
		s := &rs.metrics[i]
		r := findResult(st, s.metric.Name)
		sum := &summary
		if s.dryRun {
			sum = &drySummary
		}
		sum.Count++
		if len(r.Measurements) > 0 || r.Count > 0 || r.Error > 0 {
			anyMeasured = true
		}
		if !r.Phase.Completed() {
			allDone = false
			continue
		}
		countPhase(sum, r.Phase)
		if s.dryRun {
			if r.Phase != v1alpha1.AnalysisPhaseSuccessful {
				dryNotes = append(dryNotes, fmt.Sprintf("dry-run metric %q is %s: %s", r.Name, r.Phase, r.Message))
			}
			continue
		}
		if worst == nil || phaseRank[r.Phase] > phaseRank[worst.Phase] {
			worst = r
		}
	}

	st.RunSummary = summary
	st.DryRunSummary = nil
	if rs.hasDryRun {
		st.DryRunSummary = &drySummary
	}

	switch {
	case allDone:
		st.Phase = v1alpha1.AnalysisPhaseSuccessful
		var parts []string
		if worst != nil && worst.Phase != v1alpha1.AnalysisPhaseSuccessful {
			st.Phase = worst.Phase
			parts = append(parts, fmt.Sprintf("metric %q is %s: %s", worst.Name, worst.Phase, worst.Message))
		} else if terminated {
			parts = append(parts, "the run was terminated")
		}
		st.Message = strings.Join(append(parts, dryNotes...), "; ")
		if st.CompletedAt == nil {
			st.CompletedAt = &metav1.Time{Time: now}
		}
	case terminating:
		st.Phase = v1alpha1.AnalysisPhaseRunning
		st.Message = "terminating: stopping the measurements in flight"
	case anyMeasured:
		st.Phase = v1alpha1.AnalysisPhaseRunning
		st.Message = strings.Join(dryNotes, "; ")
	default:
		st.Phase = v1alpha1.AnalysisPhasePending
		st.Message = "waiting for the first measurement"
	}
}

// countPhase adds one metric of a final phase to a summary.
func countPhase(sum *v1alpha1.RunSummary, phase v1alpha1.AnalysisPhase) {
	switch phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		sum.Successful++
	case v1alpha1.AnalysisPhaseFailed:
		sum.Failed++
	case v1alpha1.AnalysisPhaseInconclusive:
		sum.Inconclusive++
	case v1alpha1.AnalysisPhaseError:
		sum.Error++
	}
}

// runReason is the condition reason for a run in phase.
func runReason(phase v1alpha1.AnalysisPhase) string {
	switch phase {
	case v1alpha1.AnalysisPhasePending:
		return v1alpha1.AnalysisRunReasonWaiting
	case v1alpha1.AnalysisPhaseRunning:
		return v1alpha1.AnalysisRunReasonMeasuring
	}
	return string(phase)
}

// decisivelyEnded reports whether a metric not in dry-run ended Failed, Error or
// Inconclusive, which makes the run terminate.
func decisivelyEnded(st *v1alpha1.AnalysisRunStatus, rs *runSettings) bool {
	for i := range rs.metrics {
		if rs.metrics[i].dryRun {
			continue
		}
		r := findResult(st, rs.metrics[i].metric.Name)
		if r == nil {
			continue
		}
		switch r.Phase {
		case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
			return true
		}
	}
	return false
}

// phasesOf records the run's phase (under "") and each metric's phase.
func phasesOf(st *v1alpha1.AnalysisRunStatus) map[string]v1alpha1.AnalysisPhase {
	out := map[string]v1alpha1.AnalysisPhase{"": st.Phase}
	for _, r := range st.MetricResults {
		out["metric/"+r.Name] = r.Phase
	}
	return out
}

// phaseChanges lists what changed since before: the run first, then metrics in status order.
// A metric that had no result was Pending.
func phaseChanges(before map[string]v1alpha1.AnalysisPhase, st *v1alpha1.AnalysisRunStatus) []PhaseChange {
	var out []PhaseChange
	if before[""] != st.Phase {
		out = append(out, PhaseChange{From: before[""], To: st.Phase, Message: st.Message})
	}
	for _, r := range st.MetricResults {
		from, seen := before["metric/"+r.Name]
		if !seen || from == "" {
			from = v1alpha1.AnalysisPhasePending // a metric starts Pending; that is no change
		}
		if from != r.Phase {
			out = append(out, PhaseChange{Metric: r.Name, From: from, To: r.Phase, Message: r.Message})
		}
	}
	return out
}

// trimMeasurements keeps the latest measurements of each metric, as many as its retention
// allows, and returns those it removed, oldest first.
func trimMeasurements(st *v1alpha1.AnalysisRunStatus, rs *runSettings) []Measured {
	var dropped []Measured
	for i := range st.MetricResults {
		r := &st.MetricResults[i]
		idx, ok := rs.byName[r.Name]
		if !ok {
			continue
		}
		keep := rs.metrics[idx].retention
		if extra := len(r.Measurements) - keep; extra > 0 {
			for _, m := range r.Measurements[:extra] {
				dropped = append(dropped, Measured{Metric: r.Name, Measurement: m})
			}
			r.Measurements = append([]v1alpha1.Measurement(nil), r.Measurements[extra:]...)
		}
	}
	return dropped
}
