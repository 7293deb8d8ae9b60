package engine

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// This file holds spec.workloadRef.scaleDown: what happens to the pods of the Deployment a
// Rollout takes its template from, as in Argo Rollouts. The Deployment is the workload a
// team migrates from: the Rollout runs its own pods next to it, and
//   - never (the default) leaves the Deployment alone;
//   - onsuccess scales it to zero once the Rollout is Healthy;
//   - progressively scales it down as the Rollout's pods become available, spec.replicas
//     minus the Rollout's available pods, and back up if the Rollout loses pods, while the
//     Rollout runs its first revision; to zero once the Rollout is Healthy.
// A Deployment a user scales up again after that is scaled down again once the Rollout is
// Healthy; during a later update it is left alone, so that it never runs pods of a
// template the update has not shown safe.

// Workload is what the engine needs of the Deployment spec.workloadRef names.
type Workload struct {
	// Replicas is spec.replicas (1 when unset).
	Replicas int32
	// Generation is metadata.generation, recorded in status.workloadObservedGeneration.
	Generation int64
}

// ScaleWorkload sets spec.replicas of the Deployment spec.workloadRef names.
type ScaleWorkload struct {
	Kind, Name string
	Replicas   int32
}

func (ScaleWorkload) isAction() {}

func (a ScaleWorkload) String() string {
	return fmt.Sprintf("ScaleWorkload %s/%s replicas=%d", a.Kind, a.Name, a.Replicas)
}

// EventReasonWorkloadScaled is the event recorded when the referenced Deployment is scaled.
const EventReasonWorkloadScaled = "ScalingWorkload"

// scaleDownWorkload plans workloadRef.scaleDown, once the status says whether the Rollout is
// Healthy and how many of its pods are available.
func (e *engine) scaleDownWorkload() {
	ref := e.ro.Spec.WorkloadRef
	w := e.obs.Workload
	if ref == nil || e.ro.Spec.Template != nil || w == nil {
		return
	}
	e.st.WorkloadObservedGeneration = w.Generation
	healthy := e.st.Phase == v1alpha1.RolloutPhaseHealthy
	target := w.Replicas
	switch ref.ScaleDown {
	case v1alpha1.ScaleDownOnSuccess:
		if healthy {
			target = 0
		}
	case v1alpha1.ScaleDownProgressively:
		switch {
		case healthy:
			target = 0
		case e.newRS != nil && e.newRS.Revision <= 1 && !e.updating():
			target = max(0, e.replicas-e.st.AvailableReplicas)
			// Not one of the Rollout's pods is available yet: take nothing away.
			if e.st.AvailableReplicas == 0 && target < w.Replicas {
				target = w.Replicas
			}
		}
	}
	if target == w.Replicas {
		return
	}
	e.add(phaseScaleDown, ScaleWorkload{Kind: ref.Kind, Name: ref.Name, Replicas: target})
	e.event(corev1.EventTypeNormal, EventReasonWorkloadScaled, "Scaled %s %s from %d to %d (workloadRef.scaleDown %s; %d of %d Rollout pods available)",
		ref.Kind, ref.Name, w.Replicas, target, ref.ScaleDown, e.st.AvailableReplicas, e.replicas)
}

// validateWorkloadRef checks what the schema cannot: only a Deployment can be scaled down.
func validateWorkloadRef(ro *v1alpha1.Rollout) error {
	ref := ro.Spec.WorkloadRef
	if ref == nil || ref.ScaleDown == "" || ref.ScaleDown == v1alpha1.ScaleDownNever {
		return nil
	}
	if ref.Kind != "Deployment" || (ref.APIVersion != "apps/v1" && ref.APIVersion != "apps/v1beta1" && ref.APIVersion != "apps/v1beta2") {
		return fmt.Errorf("spec.workloadRef.scaleDown %s needs an apps/v1 Deployment; %s %s cannot be scaled down", ref.ScaleDown, ref.APIVersion, ref.Kind)
	}
	return nil
}
