package analysisrun

import (
	"fmt"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	// maxEventNote bounds an event's note: events.k8s.io refuses notes of 1 KiB or more.
	maxEventNote = 1000
	// maxConditionMessage bounds a condition's message, as metav1.Condition's schema does (a
	// run with many failing dry-run metrics has a long message).
	maxConditionMessage = 32768
)

// withConditions completes a status from the analysis library (which leaves conditions and
// observedGeneration alone) for run: observedGeneration, and the conditions Running,
// Completed and, when invalid is set, InvalidSpec. reason is Progress.Reason. The phase stays
// the one-word summary of these conditions.
func withConditions(run *v1alpha1.AnalysisRun, st v1alpha1.AnalysisRunStatus, reason string, invalid *analysis.InvalidSpecError, now time.Time) v1alpha1.AnalysisRunStatus {
	st.ObservedGeneration = run.Generation
	at := metav1.NewTime(now)
	set := func(typ string, status bool, reason, message string) {
		c := metav1.Condition{
			Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: shorten(message, maxConditionMessage),
			ObservedGeneration: run.Generation, LastTransitionTime: at,
		}
		if status {
			c.Status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, c)
	}
	completed := st.Phase.Completed()
	switch {
	case completed && run.Spec.Terminate:
		set(v1alpha1.AnalysisRunConditionRunning, false, v1alpha1.AnalysisRunReasonTerminated, "spec.terminate is set")
	case completed:
		set(v1alpha1.AnalysisRunConditionRunning, false, string(st.Phase), "")
	default:
		set(v1alpha1.AnalysisRunConditionRunning, st.Phase == v1alpha1.AnalysisPhaseRunning, reason, st.Message)
	}
	if completed {
		set(v1alpha1.AnalysisRunConditionCompleted, true, string(st.Phase), st.Message)
	} else {
		set(v1alpha1.AnalysisRunConditionCompleted, false, reason, "")
	}
	if invalid != nil {
		r := invalid.Reason
		if r == "" {
			r = v1alpha1.AnalysisRunReasonInvalidMetric
		}
		set(v1alpha1.AnalysisRunConditionInvalidSpec, true, r, invalid.Error())
	}
	return st
}

// invalidSpec returns the status of a run that cannot run as written, and the phase change
// to report.
func invalidSpec(run *v1alpha1.AnalysisRun, ise *analysis.InvalidSpecError, now time.Time) (v1alpha1.AnalysisRunStatus, []analysis.PhaseChange) {
	st := analysis.InvalidSpecStatus(&run.Status, ise, now)
	st = withConditions(run, st, string(st.Phase), ise, now)
	var changes []analysis.PhaseChange
	if run.Status.Phase != st.Phase {
		changes = append(changes, analysis.PhaseChange{From: run.Status.Phase, To: st.Phase, Message: st.Message})
	}
	return st, changes
}

// event is one event to record on a run.
type event struct {
	eventType, reason, action, note string
}

// phaseEvent describes a phase change: reason AnalysisRun<Phase> for the run and
// Metric<Phase> for a metric, a warning when the phase is Failed, Error or Inconclusive.
// The note is not redacted yet.
func phaseEvent(c analysis.PhaseChange) event {
	e := event{eventType: corev1.EventTypeNormal}
	switch c.To {
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError, v1alpha1.AnalysisPhaseInconclusive:
		e.eventType = corev1.EventTypeWarning
	}
	subject := "the analysis run"
	if c.Metric == "" {
		e.reason, e.action = "AnalysisRun"+string(c.To), "Analyze"
	} else {
		e.reason, e.action = "Metric"+string(c.To), "Measure"
		subject = fmt.Sprintf("metric %q", c.Metric)
	}
	e.note = fmt.Sprintf("%s is %s (was %s)", subject, c.To, c.From)
	if c.Message != "" {
		e.note += ": " + c.Message
	}
	return e
}

// shorten cuts s to at most n bytes, at a character boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
