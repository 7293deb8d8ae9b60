package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// syncPodMetadata gives a ReplicaSet's template and its pods the metadata of their role, in
// place (see engine.SyncPodMetadata): the template first, so that pods created from now on
// carry it; then every existing pod, read live; and the record of what was applied last,
// so that an interrupted sync is done again by the next reconcile.
func (r *Reconciler) syncPodMetadata(ctx context.Context, ro *v1alpha1.Rollout, a engine.SyncPodMetadata) error {
	rs := &appsv1.ReplicaSet{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: a.ReplicaSet}, rs); err != nil {
		return client.IgnoreNotFound(err)
	}
	tmpl := rs.Spec.Template.ObjectMeta
	if patch := metadataPatch(tmpl.Labels, tmpl.Annotations, a.Old, a.New); patch != nil {
		if err := r.mergePatch(ctx, &appsv1.ReplicaSet{}, ro.Namespace, a.ReplicaSet, map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": patch}}}); err != nil {
			return err
		}
	}

	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(ro.Namespace), client.MatchingLabels{engine.LabelPodTemplateHash: a.PodTemplateHash}); err != nil {
		return fmt.Errorf("listing the pods of ReplicaSet %s: %w", a.ReplicaSet, err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !ownedByReplicaSet(pod, rs) || pod.DeletionTimestamp != nil {
			continue
		}
		patch := metadataPatch(pod.Labels, pod.Annotations, a.Old, a.New)
		if patch == nil {
			continue
		}
		if err := r.mergePatch(ctx, &corev1.Pod{}, ro.Namespace, pod.Name, map[string]any{"metadata": patch}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("pod %s: %w", pod.Name, err)
		}
	}

	var record any // null removes the annotation
	if a.New != nil && (len(a.New.Labels) > 0 || len(a.New.Annotations) > 0) {
		record = engine.FormatPodMetadata(a.New)
	}
	return r.mergePatch(ctx, &appsv1.ReplicaSet{}, ro.Namespace, a.ReplicaSet,
		map[string]any{"metadata": map[string]any{"annotations": map[string]any{engine.AnnotationPodMetadata: record}}})
}

// metadataPatch is the merge patch of an object's metadata that moves its labels and
// annotations from the old role to the new one; nil when there is nothing to change.
func metadataPatch(labels, annotations map[string]string, old, wanted *v1alpha1.PodTemplateMetadata) map[string]any {
	patch := map[string]any{}
	for key, c := range map[string]engine.MetadataChange{
		"labels":      engine.MetadataDiff(labels, engine.LabelsOf(old), engine.LabelsOf(wanted)),
		"annotations": engine.MetadataDiff(annotations, engine.AnnotationsOf(old), engine.AnnotationsOf(wanted)),
	} {
		if c.Empty() {
			continue
		}
		m := map[string]any{}
		for k, v := range c.Set {
			m[k] = v
		}
		for _, k := range c.Remove {
			m[k] = nil
		}
		patch[key] = m
	}
	if len(patch) == 0 {
		return nil
	}
	return patch
}

func ownedByReplicaSet(pod *corev1.Pod, rs *appsv1.ReplicaSet) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.UID == rs.UID {
			return true
		}
	}
	return false
}
