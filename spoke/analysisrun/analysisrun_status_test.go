package analysisrun

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// TestWithConditions: the conditions each phase reads as, and the transition time that only
// moves when a condition's status changes.
func TestWithConditions(t *testing.T) {
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	type want struct{ running, runningReason, completed, completedReason string }
	for _, tc := range []struct {
		name      string
		phase     v1alpha1.AnalysisPhase
		reason    string
		terminate bool
		want      want
	}{
		{"pending", v1alpha1.AnalysisPhasePending, "Waiting", false, want{"False", "Waiting", "False", "Waiting"}},
		{"running", v1alpha1.AnalysisPhaseRunning, "Measuring", false, want{"True", "Measuring", "False", "Measuring"}},
		{"failed", v1alpha1.AnalysisPhaseFailed, "Failed", false, want{"False", "Failed", "True", "Failed"}},
		{"terminated", v1alpha1.AnalysisPhaseSuccessful, "Successful", true, want{"False", "Terminated", "True", "Successful"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run.DeepCopy()
			r.Spec.Terminate = tc.terminate
			st := withConditions(r, v1alpha1.AnalysisRunStatus{Phase: tc.phase, Message: "m"}, tc.reason, nil, t0)
			running := meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionRunning)
			completed := meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionCompleted)
			got := want{string(running.Status), running.Reason, string(completed.Status), completed.Reason}
			if got != tc.want || st.ObservedGeneration != 3 || running.ObservedGeneration != 3 ||
				meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionInvalidSpec) != nil {
				t.Errorf("conditions %+v, want %+v", st.Conditions, tc.want)
			}
		})
	}

	st := withConditions(run, v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning}, "Measuring", nil, t0)
	st = withConditions(run, st, "Measuring", nil, t0.Add(time.Minute))
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionRunning); !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("an unchanged condition moved its transition time to %v", c.LastTransitionTime)
	}

	ise := &analysis.InvalidSpecError{Reason: v1alpha1.AnalysisRunReasonUnresolvedArgument, Field: "args.key", Message: "has no value"}
	st, changes := invalidSpec(run, ise, t0)
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionInvalidSpec)
	if st.Phase != v1alpha1.AnalysisPhaseError || c == nil || c.Reason != ise.Reason || c.Message != "args.key: has no value" ||
		len(changes) != 1 || changes[0].To != v1alpha1.AnalysisPhaseError {
		t.Errorf("invalid spec: status %+v, changes %+v", st, changes)
	}

	long := strings.Repeat("é", maxConditionMessage)
	st = withConditions(run, v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseFailed, Message: long}, "Failed", nil, t0)
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.AnalysisRunConditionCompleted); len(c.Message) > maxConditionMessage {
		t.Errorf("condition message of %d bytes", len(c.Message))
	}
}

func TestPhaseEvent(t *testing.T) {
	for _, tc := range []struct {
		change analysis.PhaseChange
		want   event
	}{
		{analysis.PhaseChange{From: "Pending", To: "Running"},
			event{"Normal", "AnalysisRunRunning", "Analyze", "the analysis run is Running (was Pending)"}},
		{analysis.PhaseChange{Metric: "error-rate", From: "Running", To: "Failed", Message: "failed (1) > failureLimit (0)"},
			event{"Warning", "MetricFailed", "Measure", `metric "error-rate" is Failed (was Running): failed (1) > failureLimit (0)`}},
		{analysis.PhaseChange{Metric: "m", From: "Running", To: "Inconclusive"},
			event{"Warning", "MetricInconclusive", "Measure", `metric "m" is Inconclusive (was Running)`}},
	} {
		if got := phaseEvent(tc.change); got != tc.want {
			t.Errorf("phaseEvent(%+v) = %+v, want %+v", tc.change, got, tc.want)
		}
	}
	if s := shorten(strings.Repeat("é", 600), maxEventNote); len(s) > maxEventNote || !strings.HasSuffix(s, "...") {
		t.Errorf("shorten: %d bytes", len(s))
	}
}

// TestWriteTracker: a cached copy at the version the last write replaced is stale; any
// other version is the write or a later one, and ends the tracking.
func TestWriteTracker(t *testing.T) {
	var w writeTracker
	key := types.NamespacedName{Namespace: "shop", Name: "canary"}
	if w.stale(key, "5") {
		t.Fatal("nothing written, nothing stale")
	}
	w.wrote(key, "5")
	for range 2 {
		if !w.stale(key, "5") {
			t.Fatal("the replaced version must read as stale until the cache moves on")
		}
	}
	if w.stale(key, "6") || w.stale(key, "5") {
		t.Fatal("once the cache moved on, nothing is stale")
	}
	w.wrote(key, "7")
	w.forget(key)
	if w.stale(key, "7") {
		t.Fatal("a forgotten run is not tracked")
	}
}
