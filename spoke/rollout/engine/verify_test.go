package engine

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestWeightVerification covers a router that can report what its data plane applies: a
// setWeight step completes only once the recorded weight is verified; while it is pending
// the step waits, says so, and the routers are asked again after VerifyWeightRetry (also
// outside a setWeight step, so that status stays true to the data plane); status records the
// answer in canary.weights.verified; routers that cannot tell do not hold the step.
func TestWeightVerification(t *testing.T) {
	h1, h2 := hashOf("demo:v1"), hashOf("demo:v2")
	ro := routedRollout(10, setWeight(20), pauseForever(), setWeight(60))
	svc := map[string]string{"demo-canary": h2, "demo-stable": h1}
	ready := observed(rs("demo:v1", 1, 10, 10), rs("demo:v2", 2, 2, 2)).with(svc)
	verified := func(v *bool, msg string) Observed {
		o := ready
		o.WeightsVerified, o.WeightsUnverified = v, msg
		return o
	}
	wantVerified := func(t *testing.T, p Plan, want *bool) {
		t.Helper()
		got := p.Status.Canary.Weights.Verified
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("status.canary.weights.verified = %v, want %v", fmtBool(got), fmtBool(want))
		}
	}
	runEngineCases(t, []engineCase{{
		name:    "a router that can tell: a new weight is recorded as not verified yet",
		ro:      midUpdate(ro, 0),
		obs:     verified(ptr.To(true), ""),
		actions: []string{"SetWeight 20"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantVerified(t, p, ptr.To(false))
			wantRequeue(t, p, VerifyWeightRetry)
		},
	}, {
		name:    "the weight is recorded but pending: the step waits, says why, and asks again after VerifyWeightRetry",
		ro:      withWeights(midUpdate(ro, 0), 20),
		obs:     verified(ptr.To(false), ""),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantVerified(t, p, ptr.To(false))
			wantRequeue(t, p, VerifyWeightRetry)
			wantPhase(t, p, v1alpha1.RolloutPhaseProgressing)
			if !strings.Contains(p.Status.Message, "waiting for weight verification") || !strings.Contains(p.Status.Message, "weight 20") {
				t.Errorf("status.message = %q, want it to say the step waits for weight verification of 20", p.Status.Message)
			}
		},
	}, {
		name:    "the router cannot be asked: pending with the reason, never verified",
		ro:      withWeights(midUpdate(ro, 0), 20),
		obs:     verified(ptr.To(false), "verifying the weight: asking Traefik's API: connection refused"),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantRequeue(t, p, VerifyWeightRetry)
			if !strings.Contains(p.Status.Message, "connection refused") {
				t.Errorf("status.message = %q, want the reason", p.Status.Message)
			}
		},
	}, {
		name:    "the router verified the weight: the step is done and status records it",
		ro:      withWeights(midUpdate(ro, 0), 20),
		obs:     verified(ptr.To(true), ""),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantVerified(t, p, ptr.To(true))
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
		},
	}, {
		name:    "no router can tell: the recorded weight completes the step, verified stays unset",
		ro:      withWeights(midUpdate(ro, 0), 20),
		obs:     verified(nil, ""),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantVerified(t, p, nil)
		},
	}, {
		name: "a pause step does not wait for verification",
		ro: func() *v1alpha1.Rollout {
			r := withWeights(midUpdate(ro, 1), 20)
			return paused(r, v1alpha1.PauseReasonCanaryPauseStep, t0)
		}(),
		obs:     verified(ptr.To(false), ""),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 1)
			wantPhase(t, p, v1alpha1.RolloutPhasePaused)
			if strings.Contains(p.Status.Message, "verification") {
				t.Errorf("status.message = %q: a pause step does not wait for verification", p.Status.Message)
			}
		},
	}, {
		name: "an abort does not wait for verification: weight 0 at once",
		ro: func() *v1alpha1.Rollout {
			r := withWeights(midUpdate(ro, 0), 20)
			r.Status.Abort = true
			return r
		}(),
		obs:      verified(ptr.To(false), ""),
		contains: []string{"SetWeight 0"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			wantVerified(t, p, ptr.To(false))
		},
	}})
}

func fmtBool(b *bool) string {
	if b == nil {
		return "unset"
	}
	if *b {
		return "true"
	}
	return "false"
}

// TestWeightVerificationSteady: with no update under way, weights the router has not
// applied yet are asked about again after VerifyWeightRetry; verified weights are not.
func TestWeightVerificationSteady(t *testing.T) {
	h1 := hashOf("demo:v1")
	ro := routedRollout(2, setWeight(20))
	ro.Spec.Template = podTemplate("demo:v1")
	n := int32(1)
	ro.Status = v1alpha1.RolloutStatus{StableRS: h1, CurrentPodHash: h1, CurrentStepIndex: &n,
		CurrentStepHash: StepsHash(ro.Spec.Strategy.Canary.Steps), Canary: &v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{
			Canary: v1alpha1.WeightDestination{ServiceName: "demo-canary", PodTemplateHash: h1},
			Stable: v1alpha1.WeightDestination{Weight: 100, ServiceName: "demo-stable", PodTemplateHash: h1},
		}}}
	obs := func(v bool) Observed {
		o := observed(rs("demo:v1", 1, 2, 2)).with(map[string]string{"demo-canary": h1, "demo-stable": h1})
		o.WeightsVerified = &v
		return o
	}
	runEngineCases(t, []engineCase{{
		name: "pending: healthy, verified false, asked again after VerifyWeightRetry",
		ro:   ro, obs: obs(false),
		check: func(t *testing.T, p Plan) {
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
			if v := p.Status.Canary.Weights.Verified; v == nil || *v {
				t.Errorf("verified = %s, want false", fmtBool(v))
			}
			wantRequeue(t, p, VerifyWeightRetry)
		},
	}, {
		name: "verified: no requeue",
		ro:   ro, obs: obs(true),
		check: func(t *testing.T, p Plan) {
			if v := p.Status.Canary.Weights.Verified; v == nil || !*v {
				t.Errorf("verified = %s, want true", fmtBool(v))
			}
			wantRequeue(t, p, 0)
		},
	}})
}
