package engine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestBlueGreen covers the blue-green transitions one reconcile at a time.
func TestBlueGreen(t *testing.T) {
	v1, v2 := rsName("demo:v1"), rsName("demo:v2")
	h1, h2 := hashOf("demo:v1"), hashOf("demo:v2")
	bg := blueGreenRollout(3)
	manual := bg.DeepCopy()
	manual.Spec.Strategy.BlueGreen.AutoPromotionEnabled = ptrBool(false)
	preview := manual.DeepCopy()
	preview.Spec.Strategy.BlueGreen.PreviewReplicaCount = ptrInt32(1)
	pre := bg.DeepCopy()
	pre.Spec.Strategy.BlueGreen.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	before := map[string]string{"demo-active": h1, "demo-preview": h1}
	during := map[string]string{"demo-active": h1, "demo-preview": h2}
	after := map[string]string{"demo-active": h2, "demo-preview": h2}
	runEngineCases(t, []engineCase{{
		name:    "first deploy: the active Service waits for every pod",
		ro:      bg,
		obs:     observed().with(map[string]string{"demo-active": "", "demo-preview": ""}),
		actions: []string{"CreateReplicaSet " + v1 + " replicas=3 revision=1", "SetServiceSelector demo-preview hash=" + h1},
		check: func(t *testing.T, p Plan) {
			if p.Status.CurrentStepIndex != nil || p.Status.Canary != nil {
				t.Errorf("canary fields in a blue-green status: %+v", p.Status)
			}
		},
	}, {
		name:    "first deploy: every pod available, the active Service selects them",
		ro:      bg,
		obs:     observed(rs("demo:v1", 1, 3, 3)).with(map[string]string{"demo-active": "", "demo-preview": h1}),
		actions: []string{"SetServiceSelector demo-active hash=" + h1},
		check: func(t *testing.T, p Plan) {
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
			if p.Status.BlueGreen.ActiveSelector != h1 || p.Status.StableRS != h1 {
				t.Errorf("status %+v", p.Status.BlueGreen)
			}
		},
	}, {
		name:    "update: the new version comes up next to the active one, selected by the preview Service",
		ro:      midUpdate(bg, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3)).with(before),
		actions: []string{"CreateReplicaSet " + v2 + " replicas=3 revision=2", "SetServiceSelector demo-preview hash=" + h2},
		check: func(t *testing.T, p Plan) {
			if p.Status.BlueGreen.ActiveSelector != h1 || p.Status.BlueGreen.PreviewSelector != h2 {
				t.Errorf("selectors %+v", p.Status.BlueGreen)
			}
		},
	}, {
		name:    "previewReplicaCount: the preview runs fewer pods",
		ro:      midUpdate(preview, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3)).with(before),
		actions: []string{"CreateReplicaSet " + v2 + " replicas=1 revision=2", "SetServiceSelector demo-preview hash=" + h2},
	}, {
		name:    "autoPromotionEnabled false: the Rollout pauses once the preview is available",
		ro:      midUpdate(manual, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantPauses(t, p, v1alpha1.PauseReasonBlueGreenPause)
			wantPhase(t, p, v1alpha1.RolloutPhasePaused)
		},
	}, {
		name: "promote: the active Service switches, and the new version is stable in the same status write",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(manual, 0)
			ro.Status.ControllerPause = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: []string{"SetServiceSelector demo-active hash=" + h2},
		events:  []string{EventReasonSwitchActive, EventReasonCompleted},
		check: func(t *testing.T, p Plan) {
			wantPauses(t, p)
			if p.Status.BlueGreen.ActiveSelector != h2 || p.Status.StableRS != h2 {
				t.Errorf("active selector %s, stableRS %s; want both %s", p.Status.BlueGreen.ActiveSelector, p.Status.StableRS, h2)
			}
		},
	}, {
		name: "promote with previewReplicaCount: the preview is scaled to full size before the switch",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(preview, 0)
			ro.Status.ControllerPause = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 1, 1)).with(during),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=3"},
		check: func(t *testing.T, p Plan) {
			if !p.Status.BlueGreen.ScaleUpPreviewCheckPoint {
				t.Errorf("scaleUpPreviewCheckPoint not set")
			}
		},
	}, {
		name: "previewReplicaCount: at full size after the promote, the switch happens without pausing again",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(preview, 0)
			ro.Status.BlueGreen.ScaleUpPreviewCheckPoint = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: []string{"SetServiceSelector demo-active hash=" + h2},
	}, {
		name: "autoPromotionSeconds: waits, counted from the pause",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(bg, 0)
			ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 60
			return paused(ro, v1alpha1.PauseReasonBlueGreenPause, t0.Add(-20*time.Second))
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: nil,
		check:   func(t *testing.T, p Plan) { wantRequeue(t, p, 40*time.Second) },
	}, {
		name: "autoPromotionSeconds: over, the active Service switches",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(bg, 0)
			ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 60
			return paused(ro, v1alpha1.PauseReasonBlueGreenPause, t0.Add(-60*time.Second))
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: []string{"SetServiceSelector demo-active hash=" + h2},
	}, {
		name:    "prePromotionAnalysis: runs once the preview is available; no switch before it succeeds",
		ro:      midUpdate(pre, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during),
		actions: []string{"CreateAnalysisRun demo-" + h2 + "-2-pre kind=pre-promotion"},
	}, {
		name:    "prePromotionAnalysis: Successful, the active Service switches",
		ro:      midUpdate(pre, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during).runs(AnalysisRun{Name: "demo-" + h2 + "-2-pre", Phase: v1alpha1.AnalysisPhaseSuccessful}),
		actions: []string{"SetServiceSelector demo-active hash=" + h2},
	}, {
		name:    "prePromotionAnalysis: Failed aborts; the new version goes after abortScaleDownDelaySeconds",
		ro:      midUpdate(pre, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(during).runs(AnalysisRun{Name: "demo-" + h2 + "-2-pre", Phase: v1alpha1.AnalysisPhaseFailed}),
		actions: []string{"AnnotateReplicaSet " + v2 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second)},
		check: func(t *testing.T, p Plan) {
			wantCondition(t, p, v1alpha1.RolloutAborted, "True/AnalysisRunFailed")
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
		},
	}, {
		name:    "switched: the new version becomes stable, the old one gets its scale-down deadline",
		ro:      midUpdate(bg, 0),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(after),
		actions: []string{"AnnotateReplicaSet " + v1 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second)},
		events:  []string{EventReasonCompleted},
		check: func(t *testing.T, p Plan) {
			if p.Status.StableRS != h2 {
				t.Errorf("stableRS %s", p.Status.StableRS)
			}
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
		},
	}, {
		name: "abort after the switch: the active Service goes back to the old version, which kept its pods",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(bg, 0)
			ro.Status.Abort = true
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3)).with(after),
		actions: []string{
			"SetServiceSelector demo-active hash=" + h1,
			"AnnotateReplicaSet " + v2 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second),
		},
		check: func(t *testing.T, p Plan) {
			if p.Status.BlueGreen.ActiveSelector != h1 || p.Status.StableRS != h1 {
				t.Errorf("status %+v stable %s", p.Status.BlueGreen, p.Status.StableRS)
			}
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
		},
	}, {
		name: "rollback to a version still waiting for its scale-down: no pause, straight switch",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(manual, 0)
			ro.Spec.Template = podTemplate("demo:v1")
			ro.Status.StableRS = h2
			ro.Status.CurrentPodHash = h2
			return ro
		}(),
		obs: func() Observed {
			old := rs("demo:v1", 1, 3, 3)
			d := t0.Add(20 * time.Second)
			old.ScaleDownDeadline = &d
			return observed(old, rs("demo:v2", 2, 3, 3)).with(after)
		}(),
		actions: []string{
			"AnnotateReplicaSet " + v1 + " " + AnnotationRevision + "=3",
			"AnnotateReplicaSet " + v1 + " " + AnnotationScaleDownDeadline + "-",
			"SetServiceSelector demo-preview hash=" + h1,
			"SetServiceSelector demo-active hash=" + h1,
		},
		check: func(t *testing.T, p Plan) { wantPauses(t, p) },
	}, {
		name: "scaleDownDelayRevisionLimit: only the newest old versions wait for their deadline",
		ro: func() *v1alpha1.Rollout {
			ro := bg.DeepCopy()
			ro.Spec.Template = podTemplate("demo:v3")
			ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit = ptrInt32(1)
			ro.Status = v1alpha1.RolloutStatus{StableRS: hashOf("demo:v3"), CurrentPodHash: hashOf("demo:v3"), BlueGreen: &v1alpha1.BlueGreenStatus{}}
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 3, 3), rs("demo:v3", 3, 3, 3)).with(
			map[string]string{"demo-active": hashOf("demo:v3"), "demo-preview": hashOf("demo:v3")}),
		actions: []string{
			"AnnotateReplicaSet " + v2 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second),
			"ScaleReplicaSet " + v1 + " replicas=0",
		},
	}, {
		name: "aborted: the deadline passed, the new version is scaled down",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(bg, 0)
			ro.Status.Abort = true
			ro.Status.Conditions = []metav1.Condition{{Type: v1alpha1.RolloutAborted, Status: metav1.ConditionTrue, Reason: v1alpha1.RolloutReasonAbortedByUser}}
			return ro
		}(),
		obs: func() Observed {
			n := rs("demo:v2", 2, 3, 3)
			d := t0.Add(-time.Second)
			n.ScaleDownDeadline = &d
			return observed(rs("demo:v1", 1, 3, 3), n).with(during)
		}(),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=0"},
	}})
}
