package engine

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func withWeights(ro *v1alpha1.Rollout, w int32) *v1alpha1.Rollout {
	ro.Status.Canary.Weights = weights(w)
	return ro
}

func deadlineIn(d time.Duration) string { return FormatDeadline(t0.Add(d)) }

// TestRoutedCanary covers a canary with a traffic router: pods first, then weight; the
// step waits for the weight to be recorded; an abort sets the weight to 0 first; a
// promotion moves the stable Service before the weight drops; the old stable waits for
// scaleDownDelaySeconds.
func TestRoutedCanary(t *testing.T) {
	v1, v2 := rsName("demo:v1"), rsName("demo:v2")
	h1, h2 := hashOf("demo:v1"), hashOf("demo:v2")
	ro := routedRollout(10, setWeight(20), pauseForever(), setWeight(60), pauseFor("1m"))
	svc := map[string]string{"demo-canary": h2, "demo-stable": h1}
	dyn := ro.DeepCopy()
	dyn.Spec.Strategy.Canary.DynamicStableScale = true
	runEngineCases(t, []engineCase{{
		name: "update starts: the canary Service and the router point at the new hash, weight 0",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(ro, 0)
			ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
				Canary: v1alpha1.WeightDestination{ServiceName: "demo-canary", PodTemplateHash: h1},
				Stable: v1alpha1.WeightDestination{Weight: 100, ServiceName: "demo-stable", PodTemplateHash: h1},
			}
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 10, 10)).with(map[string]string{"demo-canary": h1, "demo-stable": h1}),
		actions: []string{
			"CreateReplicaSet " + v2 + " replicas=2 revision=2",
			"SetServiceSelector demo-canary hash=" + h2,
			"UpdateRouterHash canary=" + h2 + " stable=" + h1,
		},
		check: func(t *testing.T, p Plan) {
			if w := p.Status.Canary.Weights; w.Canary.Weight != 0 || w.Canary.PodTemplateHash != h2 || w.Stable.Weight != 100 {
				t.Errorf("weights %+v", w)
			}
			wantCondition(t, p, v1alpha1.RolloutTrafficRouted, "False/UpdateInProgress")
		},
	}, {
		name:    "setWeight: no weight before the canary pods are available",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 2, 1)).with(svc),
		actions: nil,
	}, {
		name:    "setWeight: the canary is available, the weight is set; the step waits to see it recorded",
		ro:      midUpdate(ro, 0),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 2, 2)).with(svc),
		actions: []string{"SetWeight 20"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			if w := p.Status.Canary.Weights; w.Canary.Weight != 20 || w.Stable.Weight != 80 {
				t.Errorf("weights %+v", w)
			}
			wantCondition(t, p, v1alpha1.RolloutTrafficRouted, "True/WeightsSet")
		},
	}, {
		name:    "setWeight: the weight is recorded, the step is done",
		ro:      withWeights(midUpdate(ro, 0), 20),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 2, 2)).with(svc),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
		},
	}, {
		name: "setWeight 60 after a promote: pods first, the weight stays at 20",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 2), 20)
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 2, 2)).with(svc),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=6"},
	}, {
		name: "abort: the weight goes to 0 first, the managed routes go, the canary keeps its pods for 30s",
		ro: func() *v1alpha1.Rollout {
			ro := paused(withWeights(midUpdate(ro, 3), 60), v1alpha1.PauseReasonCanaryPauseStep, t0)
			ro.Status.Abort = true
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 6, 6)).with(svc),
		actions: []string{
			"SetWeight 0",
			"RemoveManagedRoutes",
			"AnnotateReplicaSet " + v2 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second),
		},
		check: func(t *testing.T, p Plan) {
			wantRequeue(t, p, 30*time.Second)
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			wantCondition(t, p, v1alpha1.RolloutTrafficRouted, "True/WeightsSet")
		},
	}, {
		name: "abort: the canary is scaled down once its deadline passed",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 0), 0)
			ro.Status.Abort = true
			ro.Status.Conditions = []metav1.Condition{{Type: v1alpha1.RolloutAborted, Status: metav1.ConditionTrue, Reason: v1alpha1.RolloutReasonAbortedByUser}}
			return ro
		}(),
		obs: func() Observed {
			canary := rs("demo:v2", 2, 6, 6)
			d := t0.Add(-time.Second)
			canary.ScaleDownDeadline = &d
			return observed(rs("demo:v1", 1, 10, 10), canary).with(svc)
		}(),
		actions: []string{"ScaleReplicaSet " + v2 + " replicas=0"},
	}, {
		name: "abortScaleDownDelaySeconds 0 keeps the canary",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 2), 60)
			ro.Spec.Strategy.Canary.AbortScaleDownDelaySeconds = ptrInt32(0)
			ro.Status.Abort = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 6, 6)).with(svc),
		actions: []string{"SetWeight 0", "RemoveManagedRoutes"},
	}, {
		name: "promotion: the stable Service moves to the new pods before the canary weight drops",
		ro:   withWeights(midUpdate(ro, 4), 60),
		obs:  observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 10, 10)).with(svc),
		actions: []string{
			"SetServiceSelector demo-stable hash=" + h2,
			"UpdateRouterHash canary=" + h2 + " stable=" + h2,
			"SetWeight 0",
			"RemoveManagedRoutes",
		},
		events: []string{EventReasonCompleted},
		check: func(t *testing.T, p Plan) {
			if p.Status.StableRS != h2 {
				t.Errorf("stableRS %s", p.Status.StableRS)
			}
			if w := p.Status.Canary.Weights; w.Canary.Weight != 0 || w.Stable.Weight != 100 || w.Stable.PodTemplateHash != h2 {
				t.Errorf("weights %+v", w)
			}
		},
	}, {
		name: "after the promotion the old stable gets its scale-down deadline",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(ro, 4)
			ro.Status.StableRS = h2
			ro.Status.Canary.Weights = &v1alpha1.TrafficWeights{
				Canary: v1alpha1.WeightDestination{ServiceName: "demo-canary", PodTemplateHash: h2},
				Stable: v1alpha1.WeightDestination{Weight: 100, ServiceName: "demo-stable", PodTemplateHash: h2},
			}
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 10, 10)).with(map[string]string{"demo-canary": h2, "demo-stable": h2}),
		actions: []string{"AnnotateReplicaSet " + v1 + " " + AnnotationScaleDownDeadline + "=" + deadlineIn(30*time.Second)},
		check: func(t *testing.T, p Plan) {
			wantRequeue(t, p, 30*time.Second)
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
		},
	}, {
		name: "dynamicStableScale: the stable shrinks as traffic leaves it, one reconcile behind the weight",
		ro:   withWeights(midUpdate(dyn, 2), 60),
		obs:  observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 6, 6)).with(svc),
		actions: []string{
			"ScaleReplicaSet " + v1 + " replicas=4",
		},
	}, {
		name: "dynamicStableScale abort: the stable refills, the weight comes down as fast as the stable can take it",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(dyn, 3), 60)
			ro.Status.Abort = true
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 6, 6)).with(svc),
		actions: []string{"ScaleReplicaSet " + v1 + " replicas=10", "RemoveManagedRoutes"},
	}, {
		name: "dynamicStableScale abort, later: weight 30 with 7 stable pods available, the canary follows",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(dyn, 0), 60)
			ro.Status.Abort = true
			ro.Status.Conditions = []metav1.Condition{{Type: v1alpha1.RolloutAborted, Status: metav1.ConditionTrue, Reason: v1alpha1.RolloutReasonAbortedByUser}}
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 10, 7), rs("demo:v2", 2, 6, 6)).with(svc),
		actions: []string{"SetWeight 30"},
	}, {
		name: "a new revision during a routed update: the weight drops to 0 before the canary Service moves",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 3), 60)
			ro.Spec.Template = podTemplate("demo:v3")
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 6, 6)).with(svc),
		check: func(t *testing.T, p Plan) {
			acts := actionStrings(p)
			w := slices.Index(acts, "SetWeight 0")
			s := slices.Index(acts, "SetServiceSelector demo-canary hash="+hashOf("demo:v3"))
			if w < 0 || s < 0 || w > s {
				t.Errorf("want SetWeight 0 before the canary Service switch: %q", acts)
			}
			if slices.Contains(acts, "ScaleReplicaSet "+v2+" replicas=0") {
				t.Errorf("the old canary went while the router may still send it traffic: %q", acts)
			}
		},
		contains: []string{"CreateReplicaSet " + rsName("demo:v3") + " replicas=2 revision=3", "RemoveManagedRoutes"},
	}})
}

// TestRoutedExperimentAndStepChanges covers experiment template weights and a change of the
// steps in the middle of an update.
func TestRoutedExperimentAndStepChanges(t *testing.T) {
	h2 := hashOf("demo:v2")
	ro := routedRollout(10, setWeight(10), v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{
		Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "baseline", SpecRef: v1alpha1.StableSpecRef, Weight: ptrInt32(5)}},
	}}, pauseForever())
	svc := map[string]string{"demo-canary": h2, "demo-stable": hashOf("demo:v1")}
	exp := "demo-" + h2 + "-2-1"
	runEngineCases(t, []engineCase{{
		name: "experiment step: its weighted template gets its share once available",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 1), 10)
			ro.Status.Canary.CurrentExperiment = exp
			return ro
		}(),
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 1, 1)).with(svc)
			o.Experiments = []Experiment{{Name: exp, Phase: v1alpha1.AnalysisPhaseRunning, Templates: []v1alpha1.TemplateStatus{
				{Name: "baseline", ServiceName: exp + "-baseline", PodTemplateHash: "abc", AvailableReplicas: 1}}}}
			return o
		}(),
		actions: []string{"SetWeight 10 " + exp + "-baseline=5"},
		check: func(t *testing.T, p Plan) {
			w := p.Status.Canary.Weights
			if len(w.Additional) != 1 || w.Stable.Weight != 85 {
				t.Errorf("weights %+v", w)
			}
		},
	}, {
		name: "the steps changed in the middle of an update: back to the first step (already met here)",
		ro: func() *v1alpha1.Rollout {
			ro := withWeights(midUpdate(ro, 2), 10)
			ro.Status.CurrentStepHash = "older"
			return ro
		}(),
		obs:      observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 1, 1)).with(svc),
		contains: []string{"RemoveManagedRoutes"},
		events:   []string{EventReasonNewRevision, EventReasonStepCompleted},
		check:    func(t *testing.T, p Plan) { wantStep(t, p, 1) },
	}})
}
