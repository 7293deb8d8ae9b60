package experiment

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func rs(available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: available, ReadyReplicas: available, AvailableReplicas: available}}
}

func run(phase v1alpha1.AnalysisPhase) *v1alpha1.AnalysisRun {
	return &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "run"}, Status: v1alpha1.AnalysisRunStatus{Phase: phase}}
}

func TestComputeStatus(t *testing.T) {
	at := func(d time.Duration) *metav1.Time { m := metav1.NewTime(t0.Add(d)); return &m }
	spec := func(duration string, analyses ...v1alpha1.ExperimentAnalysisTemplateRef) v1alpha1.ExperimentSpec {
		return v1alpha1.ExperimentSpec{
			Duration:  v1alpha1.DurationString(duration),
			Templates: []v1alpha1.TemplateSpec{{Name: "baseline", Replicas: ptr.To[int32](2)}, {Name: "canary"}},
			Analyses:  analyses,
		}
	}
	required := v1alpha1.ExperimentAnalysisTemplateRef{Name: "req", TemplateName: "t", RequiredForCompletion: true}
	optional := v1alpha1.ExperimentAnalysisTemplateRef{Name: "opt", TemplateName: "t"}
	running := v1alpha1.ExperimentStatus{Phase: v1alpha1.AnalysisPhaseRunning, AvailableAt: at(0)}
	available := map[string]*appsv1.ReplicaSet{"baseline": rs(2), "canary": rs(1)}

	for _, tc := range []struct {
		name      string
		spec      v1alpha1.ExperimentSpec
		status    v1alpha1.ExperimentStatus
		rs        map[string]*appsv1.ReplicaSet
		runs      map[string]*v1alpha1.AnalysisRun
		invalid   string
		now       time.Duration
		phase     v1alpha1.AnalysisPhase
		replicas  int32 // of the baseline template
		analyses  bool
		terminate bool
		requeue   time.Duration
	}{
		{name: "new: pending, requeue at the progress deadline", spec: spec("1m"), phase: v1alpha1.AnalysisPhasePending,
			replicas: 2, requeue: 600 * time.Second},
		{name: "all available: running, analyses start, requeue at the end of the duration", spec: spec("1m", optional),
			rs: available, phase: v1alpha1.AnalysisPhaseRunning, replicas: 2, analyses: true, requeue: time.Minute},
		{name: "half way", spec: spec("1m"), status: running, rs: available, now: 20 * time.Second,
			phase: v1alpha1.AnalysisPhaseRunning, replicas: 2, analyses: true, requeue: 40 * time.Second},
		{name: "duration passed: successful, scaled down", spec: spec("1m"), status: running, rs: available, now: time.Minute,
			phase: v1alpha1.AnalysisPhaseSuccessful, replicas: 0, terminate: true},
		{name: "duration passed, a required analysis still runs: still running", spec: spec("1m", required), status: running,
			rs: available, runs: map[string]*v1alpha1.AnalysisRun{"req": run(v1alpha1.AnalysisPhaseRunning)}, now: time.Minute,
			phase: v1alpha1.AnalysisPhaseRunning, replicas: 0, analyses: true},
		{name: "required analysis succeeded: successful before the duration", spec: spec("1h", required), status: running,
			rs: available, runs: map[string]*v1alpha1.AnalysisRun{"req": run(v1alpha1.AnalysisPhaseSuccessful)}, now: time.Second,
			phase: v1alpha1.AnalysisPhaseSuccessful, replicas: 0, terminate: true},
		{name: "optional analysis failed: failed", spec: spec("1h", optional, required), status: running, rs: available,
			runs: map[string]*v1alpha1.AnalysisRun{"opt": run(v1alpha1.AnalysisPhaseFailed), "req": run(v1alpha1.AnalysisPhaseRunning)},
			now:  time.Second, phase: v1alpha1.AnalysisPhaseFailed, replicas: 0, terminate: true},
		{name: "inconclusive analysis: inconclusive", spec: spec("", optional), status: running, rs: available,
			runs:  map[string]*v1alpha1.AnalysisRun{"opt": run(v1alpha1.AnalysisPhaseInconclusive)},
			phase: v1alpha1.AnalysisPhaseInconclusive, replicas: 0, terminate: true},
		{name: "no duration, no required analysis: runs until terminated", spec: spec(""), status: running, rs: available,
			now: 24 * time.Hour, phase: v1alpha1.AnalysisPhaseRunning, replicas: 2, analyses: true},
		{name: "missing template: error", spec: spec("1m", optional), invalid: "analysis opt: template t not found",
			phase: v1alpha1.AnalysisPhaseError, replicas: 0, terminate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex := &v1alpha1.Experiment{Spec: tc.spec, Status: tc.status}
			obs := observed{now: t0.Add(tc.now), replicaSets: tc.rs, runs: tc.runs, invalid: tc.invalid}
			d := computeStatus(ex, obs)
			if d.status.Phase != tc.phase {
				t.Errorf("phase %s (%s), want %s", d.status.Phase, d.status.Message, tc.phase)
			}
			if got := d.replicas["baseline"]; got != tc.replicas {
				t.Errorf("baseline replicas %d, want %d", got, tc.replicas)
			}
			if d.runAnalyses != tc.analyses || d.terminateRuns != tc.terminate {
				t.Errorf("runAnalyses %v terminateRuns %v, want %v %v", d.runAnalyses, d.terminateRuns, tc.analyses, tc.terminate)
			}
			if d.requeueAfter != tc.requeue {
				t.Errorf("requeue after %s, want %s", d.requeueAfter, tc.requeue)
			}
		})
	}
}

// TestTemplateFailsAfterProgressDeadline: a template not available within
// progressDeadlineSeconds of its last change fails the experiment.
func TestTemplateFailsAfterProgressDeadline(t *testing.T) {
	ex := &v1alpha1.Experiment{Spec: v1alpha1.ExperimentSpec{
		ProgressDeadlineSeconds: ptr.To[int32](30),
		Templates:               []v1alpha1.TemplateSpec{{Name: "canary"}},
	}}
	d := computeStatus(ex, observed{now: t0, replicaSets: map[string]*appsv1.ReplicaSet{"canary": rs(0)}})
	if d.status.Phase != v1alpha1.AnalysisPhasePending || d.requeueAfter != 30*time.Second {
		t.Fatalf("first: phase %s requeue %s", d.status.Phase, d.requeueAfter)
	}
	ex.Status = d.status
	d = computeStatus(ex, observed{now: t0.Add(30 * time.Second), replicaSets: map[string]*appsv1.ReplicaSet{"canary": rs(0)}})
	if d.status.Phase != v1alpha1.AnalysisPhaseFailed || d.replicas["canary"] != 0 {
		t.Fatalf("after the deadline: phase %s (%s) replicas %d", d.status.Phase, d.status.Message, d.replicas["canary"])
	}
}
