package engine

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestInvalidSpec: what the schema cannot check gives the InvalidSpec condition with a
// message, the Degraded phase and no action; never a panic.
func TestInvalidSpec(t *testing.T) {
	bad := func(mutate func(ro *v1alpha1.Rollout)) *v1alpha1.Rollout {
		ro := routedRollout(3, setWeight(20), pauseForever())
		mutate(ro)
		return ro
	}
	svcs := map[string]string{"demo-canary": "", "demo-stable": ""}
	for _, tc := range []struct {
		name   string
		ro     *v1alpha1.Rollout
		svcs   map[string]string
		reason string
		msg    string
	}{
		{"selector does not match the template", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}), svcs, "InvalidSpec", "does not match the template labels"},
		{"empty selector", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Selector = &metav1.LabelSelector{} }), svcs, "InvalidSpec", "must not be empty"},
		{"bad selector operator", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}), svcs, "InvalidSpec", "spec.selector"},
		{"no selector", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Selector = nil }), svcs, "InvalidSpec", "spec.selector is required"},
		{"no template", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Template = nil }), svcs, "InvalidSpec", "spec.template and spec.workloadRef"},
		{"workloadRef target missing", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Template = nil
			ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "demo"}
		}), svcs, "WorkloadNotFound", "Deployment demo"},
		{"pause duration that does not parse", bad(func(ro *v1alpha1.Rollout) {
			d := intstr.FromString("10 minutes")
			ro.Spec.Strategy.Canary.Steps[1].Pause.Duration = &d
		}), svcs, "InvalidSpec", `steps[1]: pause.duration "10 minutes"`},
		{"negative pause", bad(func(ro *v1alpha1.Rollout) {
			d := intstr.FromInt32(-5)
			ro.Spec.Strategy.Canary.Steps[1].Pause.Duration = &d
		}), svcs, "InvalidSpec", "must not be negative"},
		{"two actions in one step", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0].Pause = &v1alpha1.RolloutPause{} }), svcs, "InvalidSpec", "more than one"},
		{"empty step", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0] = v1alpha1.CanaryStep{} }), svcs, "InvalidSpec", "sets nothing"},
		{"weight above maxTrafficWeight", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps[0].SetWeight = ptrInt32(120) }), svcs, "InvalidSpec", "outside 0..100"},
		{"setCanaryScale without a router", func() *v1alpha1.Rollout {
			ro := canaryRollout(3, v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptrInt32(1)}})
			return ro
		}(), nil, "InvalidSpec", "setCanaryScale needs trafficRouting"},
		{"setCanaryScale with two fields", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[0].SetCanaryScale = &v1alpha1.SetCanaryScale{Replicas: ptrInt32(1), Weight: ptrInt32(5)}
		}), svcs, "InvalidSpec", "exactly one of weight, replicas"},
		{"header route not in managedRoutes", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "nope"}}
		}), svcs, "InvalidSpec", `setHeaderRoute "nope"`},
		{"analysis step without templates", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{}}
		}), svcs, "InvalidSpec", "at least one template"},
		{"experiment duration", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{Duration: "soon", Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "a", SpecRef: "canary"}}}}
		}), svcs, "InvalidSpec", `experiment.duration "soon"`},
		{"background analysis starting after the last step", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
				RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "x"}}}, StartingStep: ptrInt32(5)}
		}), svcs, "InvalidSpec", "startingStep 5"},
		{"plugin step", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.Steps[1] = v1alpha1.CanaryStep{Plugin: &v1alpha1.PluginStep{Name: "acme/step"}}
		}), svcs, "InvalidSpec", "step plugins are not supported"},
		{"pingPong", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.Canary.PingPong = &v1alpha1.PingPongSpec{PingService: "ping", PongService: "pong"}
		}), svcs, "InvalidSpec", "pingPong is not supported"},
		{"maxSurge and maxUnavailable both zero", func() *v1alpha1.Rollout {
			ro := canaryRollout(3, setWeight(20))
			zero := intstr.FromInt32(0)
			ro.Spec.Strategy.Canary.MaxSurge, ro.Spec.Strategy.Canary.MaxUnavailable = &zero, &zero
			return ro
		}(), nil, "InvalidSpec", "cannot both be zero"},
		{"both strategies", bad(func(ro *v1alpha1.Rollout) {
			ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "a"}
		}), svcs, "InvalidSpec", "exactly one of spec.strategy"},
		{"no strategy", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Strategy.Canary = nil }), svcs, "InvalidSpec", "exactly one of spec.strategy"},
		{"negative replicas", bad(func(ro *v1alpha1.Rollout) { ro.Spec.Replicas = ptrInt32(-1) }), svcs, "InvalidSpec", "negative"},
		{"deadline not above minReadySeconds", bad(func(ro *v1alpha1.Rollout) { ro.Spec.MinReadySeconds = 600 }), svcs, "InvalidSpec", "progressDeadlineSeconds"},
		{"missing Service", routedRollout(3, setWeight(20)), map[string]string{"demo-canary": ""}, "ServiceNotFound", "Service demo-stable not found"},
		{"blue-green active Service missing", blueGreenRollout(2), map[string]string{"demo-preview": ""}, "ServiceNotFound", "demo-active"},
		{"blue-green preview is the active Service", func() *v1alpha1.Rollout {
			ro := blueGreenRollout(2)
			ro.Spec.Strategy.BlueGreen.PreviewService = "demo-active"
			return ro
		}(), map[string]string{"demo-active": ""}, "InvalidSpec", "must differ"},
		{"blue-green scaleDownDelayRevisionLimit above the history", func() *v1alpha1.Rollout {
			ro := blueGreenRollout(2)
			ro.Spec.RevisionHistoryLimit = ptrInt32(1)
			ro.Spec.Strategy.BlueGreen.ScaleDownDelayRevisionLimit = ptrInt32(2)
			return ro
		}(), map[string]string{"demo-active": "", "demo-preview": ""}, "InvalidSpec", "scaleDownDelayRevisionLimit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := observed(rs("demo:v1", 1, 3, 3)).with(tc.svcs)
			p := Reconcile(tc.ro, obs)
			if got := actionStrings(p); len(got) != 0 {
				t.Errorf("actions on an invalid spec: %v", got)
			}
			c := findCondition(&p.Status, v1alpha1.RolloutInvalidSpec)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != tc.reason || !strings.Contains(c.Message, tc.msg) {
				t.Fatalf("InvalidSpec = %+v, want %s containing %q", c, tc.reason, tc.msg)
			}
			wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
			if !strings.Contains(p.Status.Message, tc.msg) {
				t.Errorf("message %q", p.Status.Message)
			}
			// The event is recorded once, not at every reconcile.
			tc.ro.Status = p.Status
			if again := Reconcile(tc.ro, obs); len(again.Actions) != 0 {
				t.Errorf("second reconcile: %v", again.Actions)
			}
		})
	}
}

// TestInvalidSpecFixed: once the spec is fixed, the condition goes and the Rollout moves.
func TestInvalidSpecFixed(t *testing.T) {
	ro := canaryRollout(3, setWeight(20))
	ro.Status.Conditions = []metav1.Condition{{Type: v1alpha1.RolloutInvalidSpec, Status: metav1.ConditionTrue, Reason: "InvalidSpec"}}
	p := Reconcile(ro, observed())
	if findCondition(&p.Status, v1alpha1.RolloutInvalidSpec) != nil || len(actionStrings(p)) == 0 {
		t.Errorf("still invalid: %+v %v", p.Status.Conditions, actionStrings(p))
	}
}

// TestWorkloadRef takes the template from the referenced workload.
func TestWorkloadRef(t *testing.T) {
	ro := canaryRollout(2, setWeight(50))
	ro.Spec.Template = nil
	ro.Spec.Selector = nil
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "demo"}
	obs := observed()
	obs.Template = podTemplate("demo:v1")
	p := Reconcile(ro, obs)
	if got := actionStrings(p); len(got) != 1 || got[0] != "CreateReplicaSet "+rsName("demo:v1")+" replicas=2 revision=1" {
		t.Fatalf("actions %v", got)
	}
	c := p.Actions[0].(CreateReplicaSet)
	if c.Selector.MatchLabels["app"] != "demo" || c.Selector.MatchLabels[LabelPodTemplateHash] != hashOf("demo:v1") {
		t.Errorf("selector %v", c.Selector)
	}
}
