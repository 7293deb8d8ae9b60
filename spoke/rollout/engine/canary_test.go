package engine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestCanarySteps walks the getting-started canary (5 replicas; setWeight 20, pause {},
// setWeight 40, pause 10s, ... setWeight 80, pause 10s) through every transition, without a
// traffic router: the weight is the share of pods.
func TestCanarySteps(t *testing.T) {
	v1, v2 := rsName("demo:v1"), rsName("demo:v2")
	gs := gettingStarted()
	cond := func(ro *v1alpha1.Rollout, typ string, status metav1.ConditionStatus, reason string, at time.Time) *v1alpha1.Rollout {
		ro.Status.Conditions = append(ro.Status.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(at)})
		return ro
	}
	runEngineCases(t, []engineCase{{
		name:    "first deploy: one ReplicaSet with every replica, stable at once",
		ro:      gs,
		obs:     observed(),
		actions: []string{"CreateReplicaSet " + v1 + " replicas=5 revision=1"},
		events:  []string{v1alpha1.RolloutReasonNewReplicaSetCreated},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 8)
			wantPhase(t, p, v1alpha1.RolloutPhaseProgressing)
			if p.Status.StableRS != hashOf("demo:v1") || p.Status.CurrentPodHash != hashOf("demo:v1") {
				t.Errorf("stable %s current %s", p.Status.StableRS, p.Status.CurrentPodHash)
			}
		},
	}, {
		name:    "setWeight 20: the canary is created and the stable shrinks, within maxSurge and maxUnavailable",
		ro:      midUpdate(gs, 0),
		obs:     observed(rs("demo:v1", 1, 5, 5)),
		actions: []string{"CreateReplicaSet " + v2 + " replicas=1 revision=2", "ScaleReplicaSet " + v1 + " replicas=4"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantPhase(t, p, v1alpha1.RolloutPhaseProgressing)
			wantCondition(t, p, v1alpha1.RolloutProgressing, "True/ReplicaSetUpdated")
			wantCondition(t, p, v1alpha1.RolloutCompleted, "False/UpdateInProgress")
		},
	}, {
		name:    "setWeight 20: waits while the canary pod is not available",
		ro:      midUpdate(gs, 0),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 0)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantRequeue(t, p, 600*time.Second) // the progress deadline
		},
	}, {
		name:    "setWeight 20 done: 1 canary and 4 stable pods; the pause {} begins",
		ro:      midUpdate(gs, 0),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: nil,
		events:  []string{EventReasonStepCompleted},
		check: func(t *testing.T, p Plan) {
			wantOneEvent(t, p, "Step 1/8 completed: setWeight 20; paused at step 2/8: pause")
			wantStep(t, p, 1)
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
			wantPhase(t, p, v1alpha1.RolloutPhasePaused)
			wantCondition(t, p, v1alpha1.RolloutPaused, "True/CanaryPauseStep")
			wantCondition(t, p, v1alpha1.RolloutProgressing, "Unknown/Paused")
			wantRequeue(t, p, 0)
		},
	}, {
		name:    "pause {}: waits for a promote, however long",
		ro:      paused(midUpdate(gs, 1), v1alpha1.PauseReasonCanaryPauseStep, t0.Add(-24*time.Hour)),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
			wantRequeue(t, p, 0)
		},
	}, {
		name: "promote: a user cleared the pause conditions; the pause step is done",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 1)
			ro.Status.ControllerPause = true
			return cond(ro, v1alpha1.RolloutPaused, metav1.ConditionTrue, "CanaryPauseStep", t0.Add(-time.Hour))
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: nil, // setWeight 40 gets its pods once status shows it
		events:  []string{EventReasonStepCompleted},
		check: func(t *testing.T, p Plan) {
			wantOneEvent(t, p, "Step 2/8 completed: pause; now at step 3/8: setWeight 40")
			wantStep(t, p, 2)
			wantPauses(t, p)
			wantCondition(t, p, v1alpha1.RolloutPaused, "False/Resumed")
			wantPhase(t, p, v1alpha1.RolloutPhaseProgressing)
		},
	}, {
		name:    "setWeight 40: one more canary pod, one less stable pod",
		ro:      midUpdate(gs, 2),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=2", "ScaleReplicaSet " + v1 + " replicas=3"},
	}, {
		name:    "setWeight 40 done: the 10s pause begins and asks to be called back in 10s",
		ro:      midUpdate(gs, 2),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 2, 2)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 3)
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
			wantRequeue(t, p, 10*time.Second)
			if got := p.Status.PauseConditions[0].StartTime.Time; !got.Equal(t0) {
				t.Errorf("pause started at %s, want now", got)
			}
		},
	}, {
		name:    "pause 10s: 4s in, 6s to go",
		ro:      paused(midUpdate(gs, 3), v1alpha1.PauseReasonCanaryPauseStep, t0.Add(-4*time.Second)),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 2, 2)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 3)
			wantRequeue(t, p, 6*time.Second)
		},
	}, {
		name:    "pause 10s: over",
		ro:      paused(midUpdate(gs, 3), v1alpha1.PauseReasonCanaryPauseStep, t0.Add(-10*time.Second)),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 2, 2)),
		actions: nil,
		events:  []string{EventReasonStepCompleted},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 4)
			wantPauses(t, p)
		},
	}, {
		name:    "after the last step: the canary goes to 100%",
		ro:      midUpdate(gs, 8),
		obs:     observed(rs("demo:v1", 1, 1, 1), rs("demo:v2", 2, 4, 4)),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=5", "ScaleReplicaSet " + v1 + " replicas=0"},
	}, {
		name:    "after the last step: every new pod available, the new ReplicaSet is promoted to stable",
		ro:      midUpdate(gs, 8),
		obs:     observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 5, 5)),
		actions: nil,
		events:  []string{EventReasonCompleted},
		check: func(t *testing.T, p Plan) {
			if p.Status.StableRS != hashOf("demo:v2") {
				t.Errorf("stableRS = %s", p.Status.StableRS)
			}
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
			wantCondition(t, p, v1alpha1.RolloutHealthy, "True/AllReplicasHealthy")
			wantCondition(t, p, v1alpha1.RolloutCompleted, "True/NewReplicaSetAvailable")
			wantCondition(t, p, v1alpha1.RolloutProgressing, "True/NewReplicaSetAvailable")
		},
	}, {
		name: "spec.paused: nothing moves, the deadline does not run",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 0)
			ro.Spec.Paused = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 5, 5)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantPhase(t, p, v1alpha1.RolloutPhasePaused)
			wantCondition(t, p, v1alpha1.RolloutPaused, "True/PausedBySpec")
			wantCondition(t, p, v1alpha1.RolloutProgressing, "Unknown/Paused")
			wantRequeue(t, p, 0)
		},
	}, {
		name: "full promote: the remaining steps are skipped",
		ro: func() *v1alpha1.Rollout {
			ro := paused(midUpdate(gs, 1), v1alpha1.PauseReasonCanaryPauseStep, t0)
			ro.Status.PromoteFull = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=3", "ScaleReplicaSet " + v1 + " replicas=3"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 8)
			wantPauses(t, p)
			if !p.Status.PromoteFull {
				t.Errorf("promoteFull cleared before the promotion")
			}
		},
	}, {
		name: "full promote: cleared by the promotion",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 8)
			ro.Status.PromoteFull = true
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 5, 5)),
		check: func(t *testing.T, p Plan) {
			if p.Status.PromoteFull || p.Status.StableRS != hashOf("demo:v2") {
				t.Errorf("promoteFull %v, stableRS %s", p.Status.PromoteFull, p.Status.StableRS)
			}
		},
	}, {
		name: "abort: the stable version refills first, then the canary goes; Degraded",
		ro: func() *v1alpha1.Rollout {
			ro := paused(midUpdate(gs, 1), v1alpha1.PauseReasonCanaryPauseStep, t0)
			ro.Status.Abort = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		actions: []string{"ScaleReplicaSet " + v1 + " replicas=5", "ScaleReplicaSet " + v2 + " replicas=0"},
		events:  []string{EventReasonAborted},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantPauses(t, p)
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			wantCondition(t, p, v1alpha1.RolloutAborted, "True/AbortedByUser")
			wantCondition(t, p, v1alpha1.RolloutProgressing, "False/RolloutAborted")
			if p.Status.AbortedAt == nil || !p.Status.AbortedAt.Time.Equal(t0) {
				t.Errorf("abortedAt = %v", p.Status.AbortedAt)
			}
		},
	}, {
		name: "aborted: stays Degraded, nothing more to do",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 0)
			ro.Status.Abort = true
			ro.Status.AbortedAt = &metav1.Time{Time: t0.Add(-time.Minute)}
			return cond(ro, v1alpha1.RolloutAborted, metav1.ConditionTrue, v1alpha1.RolloutReasonAbortedByUser, t0.Add(-time.Minute))
		}(),
		obs:     observed(rs("demo:v1", 1, 5, 5), rs("demo:v2", 2, 0, 0)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			if !p.Status.AbortedAt.Time.Equal(t0.Add(-time.Minute)) {
				t.Errorf("abortedAt moved to %s", p.Status.AbortedAt)
			}
		},
	}, {
		name: "retry: a user cleared status.abort; the steps start again from the first",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 0)
			ro.Status.AbortedAt = &metav1.Time{Time: t0.Add(-time.Minute)}
			return cond(ro, v1alpha1.RolloutAborted, metav1.ConditionTrue, v1alpha1.RolloutReasonAbortedByUser, t0.Add(-time.Minute))
		}(),
		obs:     observed(rs("demo:v1", 1, 5, 5), rs("demo:v2", 2, 0, 0)),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=1", "ScaleReplicaSet " + v1 + " replicas=4"},
		events:  []string{EventReasonRetried},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantCondition(t, p, v1alpha1.RolloutAborted, "False/Retried")
			wantPhase(t, p, v1alpha1.RolloutPhaseProgressing)
			if p.Status.AbortedAt == nil {
				t.Errorf("abortedAt must stay: it names the attempt")
			}
		},
	}, {
		name: "abort with no update under way is ignored",
		ro: func() *v1alpha1.Rollout {
			ro := gs.DeepCopy()
			ro.Status = v1alpha1.RolloutStatus{StableRS: hashOf("demo:v1"), CurrentPodHash: hashOf("demo:v1"), CurrentStepHash: StepsHash(gs.Spec.Strategy.Canary.Steps), CurrentStepIndex: ptrInt32(8), Abort: true}
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 5, 5)),
		actions: nil,
		events:  []string{EventReasonAbortIgnored},
		check: func(t *testing.T, p Plan) {
			if p.Status.Abort {
				t.Errorf("abort kept")
			}
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
		},
	}, {
		name: "a new revision in the middle of an update starts over at step 0; the old canary drains first",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 5)
			ro.Spec.Template = podTemplate("demo:v3")
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 2, 2), rs("demo:v2", 2, 3, 3)),
		actions: []string{
			"CreateReplicaSet " + rsName("demo:v3") + " replicas=0 revision=3",
			"ScaleReplicaSet " + v1 + " replicas=4",
			"ScaleReplicaSet " + v2 + " replicas=2",
		},
		events: []string{EventReasonNewRevision},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			if p.Status.CurrentPodHash != hashOf("demo:v3") {
				t.Errorf("currentPodHash = %s", p.Status.CurrentPodHash)
			}
		},
	}, {
		name: "back to the stable template in the middle of an update: the steps are skipped, the canary goes",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 3)
			ro.Spec.Template = podTemplate("demo:v1")
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 3, 3), rs("demo:v2", 2, 2, 2)),
		actions: []string{"AnnotateReplicaSet " + v1 + " " + AnnotationRevision + "=3", "ScaleReplicaSet " + v1 + " replicas=5", "ScaleReplicaSet " + v2 + " replicas=1"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 8)
			wantCondition(t, p, v1alpha1.RolloutCompleted, "True/NewReplicaSetAvailable")
		},
	}, {
		name: "progress deadline: no progress for 600s while waiting for pods",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 0)
			ro.Status.Replicas, ro.Status.UpdatedReplicas = 5, 1
			ro.Status.ReadyReplicas, ro.Status.AvailableReplicas = 4, 4
			return cond(ro, v1alpha1.RolloutProgressing, metav1.ConditionTrue, v1alpha1.RolloutReasonReplicaSetUpdated, t0.Add(-601*time.Second))
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 0)),
		actions: nil,
		events:  []string{EventReasonDeadlineExceeded},
		check: func(t *testing.T, p Plan) {
			wantCondition(t, p, v1alpha1.RolloutProgressing, "False/ProgressDeadlineExceeded")
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			if p.Status.Abort {
				t.Errorf("aborted without progressDeadlineAbort")
			}
		},
	}, {
		name: "progressDeadlineAbort: the deadline aborts the update, in the same plan",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 0)
			ro.Spec.ProgressDeadlineAbort = true
			ro.Status.Replicas, ro.Status.UpdatedReplicas = 5, 1
			ro.Status.ReadyReplicas, ro.Status.AvailableReplicas = 4, 4
			return cond(ro, v1alpha1.RolloutProgressing, metav1.ConditionTrue, v1alpha1.RolloutReasonReplicaSetUpdated, t0.Add(-601*time.Second))
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 0)),
		actions: []string{"ScaleReplicaSet " + v1 + " replicas=5", "ScaleReplicaSet " + v2 + " replicas=0"},
		check: func(t *testing.T, p Plan) {
			wantCondition(t, p, v1alpha1.RolloutAborted, "True/ProgressDeadlineExceeded")
			wantCondition(t, p, v1alpha1.RolloutProgressing, "False/ProgressDeadlineExceeded")
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			if !p.Status.Abort {
				t.Errorf("status.abort not set")
			}
		},
	}, {
		name: "progress deadline: progress in the pod counts restarts it",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(gs, 2)
			ro.Status.Replicas, ro.Status.UpdatedReplicas = 6, 2
			ro.Status.ReadyReplicas, ro.Status.AvailableReplicas = 4, 4
			return cond(ro, v1alpha1.RolloutProgressing, metav1.ConditionTrue, v1alpha1.RolloutReasonReplicaSetUpdated, t0.Add(-601*time.Second))
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 2, 1)),
		actions: []string{"ScaleReplicaSet " + v1 + " replicas=3"},
		check: func(t *testing.T, p Plan) {
			wantCondition(t, p, v1alpha1.RolloutProgressing, "True/ReplicaSetUpdated")
			if c := findCondition(&p.Status, v1alpha1.RolloutProgressing); !c.LastTransitionTime.Time.Equal(t0) {
				t.Errorf("progress time = %s, want now", c.LastTransitionTime)
			}
		},
	}})
}
