package engine

import (
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestWorkloadScaleDown: workloadRef.scaleDown never leaves the Deployment alone, onsuccess
// scales it to 0 once the Rollout is Healthy, progressively follows the Rollout's available
// pods during the first revision.
func TestWorkloadScaleDown(t *testing.T) {
	ref := func(mode v1alpha1.WorkloadRefScaleDown, replicas int32) *v1alpha1.Rollout {
		ro := canaryRollout(replicas, setWeight(50))
		ro.Spec.Template, ro.Spec.Selector = nil, nil
		ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", ScaleDown: mode}
		ro.Status.StableRS, ro.Status.CurrentPodHash = hashOf("demo:v1"), hashOf("demo:v1")
		ro.Status.CurrentStepIndex = new(int32)
		*ro.Status.CurrentStepIndex = 1
		ro.Status.CurrentStepHash = StepsHash(ro.Spec.Strategy.Canary.Steps)
		return ro
	}
	obs := func(deployment int32, r ...ReplicaSet) Observed {
		o := observed(r...)
		o.Template = podTemplate("demo:v1")
		o.Workload = &Workload{Replicas: deployment, Generation: 7}
		return o
	}
	generation := func(t *testing.T, p Plan) {
		if p.Status.WorkloadObservedGeneration != 7 {
			t.Errorf("workloadObservedGeneration = %d, want 7", p.Status.WorkloadObservedGeneration)
		}
	}
	runEngineCases(t, []engineCase{{
		name: "never: a Healthy Rollout leaves the Deployment's pods", ro: ref(v1alpha1.ScaleDownNever, 4),
		obs: obs(4, rs("demo:v1", 1, 4, 4)), actions: nil, check: generation,
	}, {
		name: "onsuccess: nothing while the Rollout's pods come up", ro: ref(v1alpha1.ScaleDownOnSuccess, 4),
		obs: obs(4, rs("demo:v1", 1, 4, 2)), actions: nil,
	}, {
		name: "onsuccess: to 0 once Healthy", ro: ref(v1alpha1.ScaleDownOnSuccess, 4),
		obs: obs(4, rs("demo:v1", 1, 4, 4)), actions: []string{"ScaleWorkload Deployment/web replicas=0"},
		events: []string{EventReasonWorkloadScaled},
	}, {
		name: "progressively: nothing before a Rollout pod is available", ro: ref(v1alpha1.ScaleDownProgressively, 4),
		obs: obs(4, rs("demo:v1", 1, 4, 0)), actions: nil,
	}, {
		name: "progressively: one Deployment pod fewer per available Rollout pod", ro: ref(v1alpha1.ScaleDownProgressively, 4),
		obs: obs(4, rs("demo:v1", 1, 4, 3)), actions: []string{"ScaleWorkload Deployment/web replicas=1"},
	}, {
		name: "progressively: back up when the Rollout loses pods", ro: ref(v1alpha1.ScaleDownProgressively, 4),
		obs: obs(1, rs("demo:v1", 1, 4, 2)), actions: []string{"ScaleWorkload Deployment/web replicas=2"},
	}, {
		name: "progressively: to 0 once Healthy", ro: ref(v1alpha1.ScaleDownProgressively, 4),
		obs: obs(1, rs("demo:v1", 1, 4, 4)), actions: []string{"ScaleWorkload Deployment/web replicas=0"},
	}, {
		name: "progressively: a later update leaves a Deployment at 0 alone while its pods move",
		ro: func() *v1alpha1.Rollout {
			ro := midUpdate(ref(v1alpha1.ScaleDownProgressively, 4), 0)
			ro.Spec.Template = nil
			return ro
		}(),
		obs: func() Observed {
			o := obs(0, rs("demo:v1", 1, 4, 3), rs("demo:v2", 2, 1, 0))
			o.Template = podTemplate("demo:v2")
			return o
		}(),
		contains: []string{},
		check: func(t *testing.T, p Plan) {
			for _, a := range actionStrings(p) {
				if strings.HasPrefix(a, "ScaleWorkload") {
					t.Errorf("the Deployment is scaled during a later update: %s", a)
				}
			}
		},
	}})
}

// TestWorkloadScaleDownNeedsADeployment: a PodTemplate has no pods to scale down.
func TestWorkloadScaleDownNeedsADeployment(t *testing.T) {
	ro := canaryRollout(2, setWeight(50))
	ro.Spec.Template, ro.Spec.Selector = nil, nil
	ro.Spec.WorkloadRef = &v1alpha1.ObjectRef{APIVersion: "v1", Kind: "PodTemplate", Name: "web", ScaleDown: v1alpha1.ScaleDownOnSuccess}
	obs := observed()
	obs.Template = podTemplate("demo:v1")
	p := Reconcile(ro, obs)
	c := findCondition(&p.Status, v1alpha1.RolloutInvalidSpec)
	if c == nil || !strings.Contains(c.Message, "spec.workloadRef.scaleDown onsuccess needs an apps/v1 Deployment") {
		t.Fatalf("InvalidSpec %+v", c)
	}
}
