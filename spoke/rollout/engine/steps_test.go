package engine

import (
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// analysisRollout: setWeight 20, analysis, setWeight 60, experiment, with background
// analysis from step 2.
func analysisRollout() *v1alpha1.Rollout {
	ro := canaryRollout(5, setWeight(20), analysisStep("success-rate"), setWeight(60), v1alpha1.CanaryStep{
		Experiment: &v1alpha1.RolloutExperimentStep{
			Duration:  "5m",
			Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline", SpecRef: v1alpha1.StableSpecRef}, {Name: "canary", SpecRef: v1alpha1.CanarySpecRef}},
			Analyses:  []v1alpha1.RolloutExperimentStepAnalysisTemplateRef{{Name: "compare", TemplateName: "compare", RequiredForCompletion: true}},
		},
	})
	hash := v1alpha1.Latest
	ro.Spec.Strategy.Canary.Steps[1].Analysis.Args = []v1alpha1.AnalysisRunArgument{
		{Name: "service", Value: "demo"},
		{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: &hash}},
	}
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "errors"}}},
		StartingStep:    ptrInt32(2),
	}
	return ro
}

func stepRun(idx string) string { return "demo-" + hashOf("demo:v2") + "-2-" + idx }

func bgRun() string { return "demo-" + hashOf("demo:v2") + "-2" }

// TestCanaryAnalysisAndExperimentSteps covers the analysis step (Successful continues,
// Inconclusive pauses, Failed and Error abort), the experiment step, and the background
// analysis with its starting step.
func TestCanaryAnalysisAndExperimentSteps(t *testing.T) {
	ro := analysisRollout()
	ready := observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1))
	at1 := midUpdate(ro, 1)
	withSlot := func(ro *v1alpha1.Rollout, name string, phase v1alpha1.AnalysisPhase) *v1alpha1.Rollout {
		ro = ro.DeepCopy()
		ro.Status.Canary.CurrentStepAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: phase}
		return ro
	}
	runEngineCases(t, []engineCase{{
		name:    "analysis step: the AnalysisRun is created, with resolved args",
		ro:      at1,
		obs:     ready,
		actions: []string{"CreateAnalysisRun " + stepRun("1") + " kind=step"},
		events:  []string{EventReasonAnalysisCreated},
		check: func(t *testing.T, p Plan) {
			a := p.Actions[0].(CreateAnalysisRun)
			if *a.StepIndex != 1 || a.Labels[LabelStepIndex] != "1" || a.Labels[LabelPodTemplateHash] != hashOf("demo:v2") {
				t.Errorf("labels %v", a.Labels)
			}
			if len(a.Args) != 2 || *a.Args[0].Value != "demo" || *a.Args[1].Value != hashOf("demo:v2") {
				t.Errorf("args %+v", a.Args)
			}
			if s := p.Status.Canary.CurrentStepAnalysisRunStatus; s == nil || s.Name != stepRun("1") || s.Status != v1alpha1.AnalysisPhasePending {
				t.Errorf("status %+v", s)
			}
			wantStep(t, p, 1)
		},
	}, {
		name:    "analysis step: a run created by an agent that crashed is adopted, not created again",
		ro:      at1,
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseRunning}),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			if s := p.Status.Canary.CurrentStepAnalysisRunStatus; s.Status != v1alpha1.AnalysisPhaseRunning {
				t.Errorf("status %+v", s)
			}
			wantRequeue(t, p, 0) // the deadline does not run while an analysis does
		},
	}, {
		name:    "analysis step: Successful continues",
		ro:      at1,
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseSuccessful}),
		actions: nil,
		events:  []string{EventReasonStepCompleted, EventReasonAnalysisDone},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 2)
			if p.Status.Canary.CurrentStepAnalysisRunStatus != nil {
				t.Errorf("step analysis status kept after the step")
			}
		},
	}, {
		name:    "analysis step: Inconclusive pauses",
		ro:      withSlot(at1, stepRun("1"), v1alpha1.AnalysisPhaseRunning),
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseInconclusive}),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantPauses(t, p, v1alpha1.PauseReasonInconclusiveAnalysis)
			wantPhase(t, p, v1alpha1.RolloutPhasePaused)
		},
	}, {
		name:    "analysis step: paused for Inconclusive, waits",
		ro:      paused(withSlot(at1, stepRun("1"), v1alpha1.AnalysisPhaseInconclusive), v1alpha1.PauseReasonInconclusiveAnalysis, t0),
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseInconclusive}),
		actions: nil,
		check:   func(t *testing.T, p Plan) { wantPauses(t, p, v1alpha1.PauseReasonInconclusiveAnalysis) },
	}, {
		name: "analysis step: promoted after Inconclusive, the analysis runs again",
		ro: func() *v1alpha1.Rollout {
			ro := withSlot(at1, stepRun("1"), v1alpha1.AnalysisPhaseInconclusive)
			ro.Status.ControllerPause = true
			return ro
		}(),
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseInconclusive}),
		actions: []string{"CreateAnalysisRun " + stepRun("1") + ".2 kind=step"},
		check:   func(t *testing.T, p Plan) { wantPauses(t, p) },
	}, {
		name:    "analysis step: Failed aborts; the canary goes, the stable refills",
		ro:      withSlot(at1, stepRun("1"), v1alpha1.AnalysisPhaseRunning),
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseFailed, Message: "error rate 7%"}),
		actions: []string{"ScaleReplicaSet " + rsName("demo:v1") + " replicas=5", "ScaleReplicaSet " + rsName("demo:v2") + " replicas=0"},
		events:  []string{EventReasonAborted},
		check: func(t *testing.T, p Plan) {
			wantCondition(t, p, v1alpha1.RolloutAborted, "True/AnalysisRunFailed")
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			if !p.Status.Abort {
				t.Errorf("status.abort not set")
			}
			if c := findCondition(&p.Status, v1alpha1.RolloutAborted); c.Message != "step AnalysisRun "+stepRun("1")+" is Failed: error rate 7%" {
				t.Errorf("message %q", c.Message)
			}
		},
	}, {
		name:    "analysis step: Error aborts too",
		ro:      at1,
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseError}),
		actions: []string{"ScaleReplicaSet " + rsName("demo:v1") + " replicas=5", "ScaleReplicaSet " + rsName("demo:v2") + " replicas=0"},
		check:   func(t *testing.T, p Plan) { wantCondition(t, p, v1alpha1.RolloutAborted, "True/AnalysisRunFailed") },
	}, {
		name: "after a retry, runs are named for the new attempt: the failed run is never read again",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(analysisRollout(), 1)
			ro.Status.AbortedAt = &metav1.Time{Time: t0.Add(-time.Hour)}
			return ro
		}(),
		obs:     ready.runs(AnalysisRun{Name: stepRun("1"), Phase: v1alpha1.AnalysisPhaseFailed}),
		actions: []string{"CreateAnalysisRun " + stepRun("1") + "-r" + strconv.FormatInt(t0.Add(-time.Hour).Unix(), 36) + " kind=step"},
	}, {
		name:     "background analysis: starts at its starting step",
		ro:       midUpdate(ro, 2),
		obs:      observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		contains: []string{"CreateAnalysisRun " + bgRun() + " kind=background"},
		check: func(t *testing.T, p Plan) {
			if s := p.Status.Canary.CurrentBackgroundAnalysisRunStatus; s == nil || s.Name != bgRun() {
				t.Errorf("background status %+v", s)
			}
		},
	}, {
		name:    "background analysis: not before its starting step",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 0)),
		actions: nil,
	}, {
		name:     "background analysis: Failed aborts",
		ro:       midUpdate(ro, 2),
		obs:      observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)).runs(AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseFailed}),
		contains: []string{"ScaleReplicaSet " + rsName("demo:v2") + " replicas=0"},
		check:    func(t *testing.T, p Plan) { wantCondition(t, p, v1alpha1.RolloutAborted, "True/AnalysisRunFailed") },
	}, {
		name: "experiment step: the Experiment is created with the stable and canary templates",
		ro:   midUpdate(ro, 3),
		obs: observed(rs("demo:v1", 1, 2, 2), rs("demo:v2", 2, 3, 3)).runs(
			AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseRunning}),
		actions: []string{"CreateExperiment " + stepRun("3")},
		check: func(t *testing.T, p Plan) {
			x := p.Actions[0].(CreateExperiment)
			if len(x.Spec.Templates) != 2 || x.Spec.Templates[0].Template.Spec.Containers[0].Image != "demo:v1" ||
				x.Spec.Templates[1].Template.Spec.Containers[0].Image != "demo:v2" || x.Spec.Duration != "5m" || len(x.Spec.Analyses) != 1 {
				t.Errorf("experiment spec %+v", x.Spec)
			}
			if p.Status.Canary.CurrentExperiment != stepRun("3") {
				t.Errorf("currentExperiment %q", p.Status.Canary.CurrentExperiment)
			}
		},
	}, {
		name: "experiment step: Successful continues",
		ro:   midUpdate(ro, 3),
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 2, 2), rs("demo:v2", 2, 3, 3)).runs(AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseRunning})
			o.Experiments = []Experiment{{Name: stepRun("3"), Phase: v1alpha1.AnalysisPhaseSuccessful}}
			return o
		}(),
		contains: []string{},
		check:    func(t *testing.T, p Plan) { wantStep(t, p, 4) },
	}, {
		name: "experiment step: Failed aborts, and the background analysis is terminated",
		ro:   midUpdate(ro, 3),
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 2, 2), rs("demo:v2", 2, 3, 3)).runs(AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseRunning})
			o.Experiments = []Experiment{{Name: stepRun("3"), Phase: v1alpha1.AnalysisPhaseFailed}}
			return o
		}(),
		contains: []string{"TerminateAnalysisRun " + bgRun()},
		check:    func(t *testing.T, p Plan) { wantCondition(t, p, v1alpha1.RolloutAborted, "True/ExperimentFailed") },
	}, {
		name: "experiment step: Inconclusive pauses",
		ro:   midUpdate(ro, 3),
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 2, 2), rs("demo:v2", 2, 3, 3)).runs(AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseRunning})
			o.Experiments = []Experiment{{Name: stepRun("3"), Phase: v1alpha1.AnalysisPhaseInconclusive}}
			return o
		}(),
		actions: nil,
		check:   func(t *testing.T, p Plan) { wantPauses(t, p, v1alpha1.PauseReasonInconclusiveExperiment) },
	}, {
		name:    "runs nobody waits for any more are terminated",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 0)).runs(AnalysisRun{Name: "demo-old-1-1", Phase: v1alpha1.AnalysisPhaseRunning}, AnalysisRun{Name: "demo-done", Phase: v1alpha1.AnalysisPhaseSuccessful}),
		actions: []string{"TerminateAnalysisRun demo-old-1-1"},
	}, {
		name: "promotion terminates the background analysis",
		ro:   midUpdate(ro, 4),
		obs: observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 5, 5)).runs(
			AnalysisRun{Name: bgRun(), Phase: v1alpha1.AnalysisPhaseRunning}),
		actions: []string{"TerminateAnalysisRun " + bgRun()},
		check: func(t *testing.T, p Plan) {
			if p.Status.StableRS != hashOf("demo:v2") {
				t.Errorf("not promoted")
			}
		},
	}})
}

// TestCanaryRouteAndScaleSteps covers setCanaryScale, setHeaderRoute and setMirrorRoute.
func TestCanaryRouteAndScaleSteps(t *testing.T) {
	header := &v1alpha1.SetHeaderRoute{Name: "header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
	mirror := &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: ptrInt32(20), Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/api"}}}}
	ro := routedRollout(10,
		v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptrInt32(3)}, SetHeaderRoute: header},
		v1alpha1.CanaryStep{SetMirrorRoute: mirror},
		v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Weight: ptrInt32(50)}},
		setWeight(10))
	svc := map[string]string{"demo-canary": hashOf("demo:v2"), "demo-stable": hashOf("demo:v1")}
	runEngineCases(t, []engineCase{{
		name:    "setCanaryScale replicas: the canary gets 3 pods and no traffic",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 10, 10)).with(svc),
		actions: []string{"CreateReplicaSet " + rsName("demo:v2") + " replicas=3 revision=2"},
		check:   func(t *testing.T, p Plan) { wantStep(t, p, 0) },
	}, {
		name:    "setCanaryScale with setHeaderRoute: the route is set once the pods are there, with the step",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 3, 3)).with(svc),
		actions: []string{"SetHeaderRoute header", "SetMirrorRoute mirror"}, // setMirrorRoute completes at once
		check:   func(t *testing.T, p Plan) { wantStep(t, p, 2) },
	}, {
		name:    "setMirrorRoute",
		ro:      midUpdate(ro, 1),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 3, 3)).with(svc),
		actions: []string{"SetMirrorRoute mirror"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 2)
			if m := p.Actions[0].(SetMirrorRoute); *m.Route.Percentage != 20 {
				t.Errorf("mirror %+v", m.Route)
			}
		},
	}, {
		name:    "setCanaryScale weight: a share of spec.replicas",
		ro:      midUpdate(ro, 2),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 3, 3)).with(svc),
		actions: []string{"ScaleReplicaSet " + rsName("demo:v2") + " replicas=5"},
	}})
}
