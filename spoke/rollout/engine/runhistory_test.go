package engine

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func finished(name, hash string, phase v1alpha1.AnalysisPhase, age int) AnalysisRun {
	return AnalysisRun{Name: name, Phase: phase, PodTemplateHash: hash, CreationTimestamp: t0.Add(-time.Duration(age) * time.Minute)}
}

// TestRunHistoryLimits: the Rollout's finished runs beyond successfulRunHistoryLimit and
// unsuccessfulRunHistoryLimit (5 each by default) are deleted, oldest first; runs a step
// or the status still names never are.
func TestRunHistoryLimits(t *testing.T) {
	v1 := hashOf("demo:v1")
	steady := func() *v1alpha1.Rollout {
		ro := canaryRollout(3, setWeight(50))
		ro.Status.StableRS, ro.Status.CurrentPodHash = v1, v1
		ro.Status.CurrentStepIndex = ptr.To[int32](1)
		return ro
	}
	var seven []AnalysisRun
	for i := 0; i < 7; i++ {
		seven = append(seven, finished(fmt.Sprintf("ok-%d", i), v1, v1alpha1.AnalysisPhaseSuccessful, 10-i))
	}
	limited := steady()
	limited.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr.To[int32](1), UnsuccessfulRunHistoryLimit: ptr.To[int32](0)}
	paused := midUpdate(canaryRollout(3, analysisStep("t"), setWeight(50)), 0)
	paused.Spec.Paused = true
	paused.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr.To[int32](0)}
	paused.Status.Canary.CurrentStepAnalysisRunStatus = &v1alpha1.RolloutAnalysisRunStatus{Name: "current", Status: v1alpha1.AnalysisPhaseSuccessful}

	runEngineCases(t, []engineCase{{
		name:    "defaults: 5 successful kept, the 2 oldest deleted, oldest first",
		ro:      steady(),
		obs:     observed(rs("demo:v1", 1, 3, 3)).runs(seven...),
		actions: []string{"DeleteAnalysisRun ok-0", "DeleteAnalysisRun ok-1"},
	}, {
		name: "limits 1 and 0: the newest successful kept; every unsuccessful one goes, running ones stay",
		ro:   limited,
		obs: observed(rs("demo:v1", 1, 3, 3)).runs(
			finished("old-ok", v1, v1alpha1.AnalysisPhaseSuccessful, 9),
			finished("failed", v1, v1alpha1.AnalysisPhaseFailed, 8),
			finished("error", v1, v1alpha1.AnalysisPhaseError, 7),
			finished("inconclusive", v1, v1alpha1.AnalysisPhaseInconclusive, 6),
			finished("new-ok", v1, v1alpha1.AnalysisPhaseSuccessful, 5),
			AnalysisRun{Name: "running", Phase: v1alpha1.AnalysisPhaseRunning, PodTemplateHash: v1, Terminating: true},
		),
		actions: []string{"DeleteAnalysisRun old-ok", "DeleteAnalysisRun failed", "DeleteAnalysisRun error", "DeleteAnalysisRun inconclusive"},
	}, {
		name:    "a run whose ReplicaSet is gone is deleted whatever the limits",
		ro:      steady(),
		obs:     observed(rs("demo:v1", 1, 3, 3)).runs(finished("orphan", "gone", v1alpha1.AnalysisPhaseFailed, 1)),
		actions: []string{"DeleteAnalysisRun orphan"},
	}, {
		name:    "a run the status names is kept, even while spec.paused keeps the step from asking for it",
		ro:      paused,
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 0, 0)).runs(finished("current", hashOf("demo:v2"), v1alpha1.AnalysisPhaseSuccessful, 1)),
		actions: nil,
	}, {
		name: "experiments follow the same limits, counted apart",
		ro:   limited,
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 3, 3)).runs(finished("run-ok", v1, v1alpha1.AnalysisPhaseSuccessful, 1))
			o.Experiments = []Experiment{
				{Name: "ex-old", Phase: v1alpha1.AnalysisPhaseSuccessful, PodTemplateHash: v1, CreationTimestamp: t0.Add(-2 * time.Minute)},
				{Name: "ex-new", Phase: v1alpha1.AnalysisPhaseSuccessful, PodTemplateHash: v1, CreationTimestamp: t0.Add(-time.Minute)},
				{Name: "ex-failed", Phase: v1alpha1.AnalysisPhaseFailed, PodTemplateHash: v1, CreationTimestamp: t0},
			}
			return o
		}(),
		actions: []string{"DeleteExperiment ex-old", "DeleteExperiment ex-failed"},
	}})
}
