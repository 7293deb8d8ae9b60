package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// This file holds the role metadata of pods, as in Argo Rollouts' ephemeral metadata:
// canaryMetadata and stableMetadata (canary), previewMetadata and activeMetadata
// (blue-green) are labels and annotations that the pods of a ReplicaSet carry only while it
// plays that role. The new ReplicaSet is created with its role's metadata in its pod
// template; when a ReplicaSet changes role (the canary becomes stable, the stable one
// becomes old) its template and its existing pods are changed in place, never restarted.
// What was applied is recorded on the ReplicaSet (AnnotationPodMetadata), so that the keys
// of the previous role are removed and nothing else is touched.

// AnnotationPodMetadata records, as JSON, the role metadata last applied to a ReplicaSet's
// template and pods.
const AnnotationPodMetadata = "rollout.flotilla.dev/pod-metadata"

// SyncPodMetadata gives a ReplicaSet's template and its existing pods the metadata of their
// role, in place: it sets New's labels and annotations and removes Old's keys that New does
// not have. The reconciler changes the template first (so that new pods are born right),
// then the pods, and records New in AnnotationPodMetadata last, so that an interrupted sync
// is done again.
type SyncPodMetadata struct {
	ReplicaSet      string
	PodTemplateHash string
	// Role names the role, for logs: canary, stable, preview, active or none.
	Role string
	// Old is the metadata applied before (AnnotationPodMetadata); New the role's, nil for none.
	Old, New *v1alpha1.PodTemplateMetadata
}

func (SyncPodMetadata) isAction() {}

func (a SyncPodMetadata) String() string {
	return fmt.Sprintf("SyncPodMetadata %s role=%s", a.ReplicaSet, a.Role)
}

// Roles a ReplicaSet's pods can have, for their metadata.
const (
	roleNone    = "none"
	roleCanary  = "canary"
	roleStable  = "stable"
	rolePreview = "preview"
	roleActive  = "active"
)

// roleMetadata is the metadata of the desired ReplicaSet (newer true) or of the stable one.
func (e *engine) roleMetadata(newer bool) (string, *v1alpha1.PodTemplateMetadata) {
	if c := e.ro.Spec.Strategy.Canary; c != nil {
		if newer {
			return roleCanary, c.CanaryMetadata
		}
		return roleStable, c.StableMetadata
	}
	if b := e.ro.Spec.Strategy.BlueGreen; b != nil {
		if newer {
			return rolePreview, b.PreviewMetadata
		}
		return roleActive, b.ActiveMetadata
	}
	return roleNone, nil
}

// newReplicaSetMetadata adds the role metadata to the template of a ReplicaSet about to be
// created: the canary's (preview's) during an update, the stable (active) one's when it is
// the first version or a rollback to a version that becomes stable at once.
func (e *engine) newReplicaSetMetadata(tmpl *corev1.PodTemplateSpec, annotations map[string]string) {
	_, md := e.roleMetadata(e.updating())
	if isEmptyMetadata(md) {
		return
	}
	addMetadata(&tmpl.Labels, md.Labels)
	addMetadata(&tmpl.Annotations, md.Annotations)
	annotations[AnnotationPodMetadata] = formatPodMetadata(md)
}

// syncPodMetadata plans the role changes of the existing ReplicaSets, once the plan decided
// which one is stable: the desired one gets the canary (preview) metadata, or the stable
// (active) metadata once it is stable; the stable one the stable (active) metadata; every
// other one none. The ReplicaSet gaining a role comes before the one losing it.
func (e *engine) syncPodMetadata() {
	var order []*ReplicaSet
	if e.newRS != nil {
		order = append(order, e.newRS)
	}
	if e.stableRS != nil && e.stableRS != e.newRS {
		order = append(order, e.stableRS)
	}
	for i := range e.obs.ReplicaSets {
		if rs := &e.obs.ReplicaSets[i]; rs != e.newRS && rs != e.stableRS {
			order = append(order, rs)
		}
	}
	for _, rs := range order {
		role, md := roleNone, (*v1alpha1.PodTemplateMetadata)(nil)
		switch {
		case rs.PodTemplateHash != "" && rs.PodTemplateHash == e.st.StableRS:
			role, md = e.roleMetadata(false)
		case rs == e.newRS:
			role, md = e.roleMetadata(true)
		}
		if sameMetadata(rs.PodMetadata, md) {
			continue
		}
		e.add(phaseTraffic, SyncPodMetadata{
			ReplicaSet: rs.Name, PodTemplateHash: rs.PodTemplateHash, Role: role,
			Old: rs.PodMetadata.DeepCopy(), New: md.DeepCopy(),
		})
	}
}

// MetadataChange is what SyncPodMetadata changes on one object's labels or annotations:
// the keys to set, and the keys to remove.
type MetadataChange struct {
	Set    map[string]string
	Remove []string
}

// Empty reports whether the change changes nothing.
func (c MetadataChange) Empty() bool { return len(c.Set) == 0 && len(c.Remove) == 0 }

// MetadataDiff is the change that takes current (an object's labels or annotations) from
// the old role's keys to the new role's: keys of wanted that differ are set, keys of old
// that wanted does not have and current holds are removed. Other keys are left alone.
func MetadataDiff(current, old, wanted map[string]string) MetadataChange {
	var c MetadataChange
	for k, v := range wanted {
		if cur, ok := current[k]; !ok || cur != v {
			if c.Set == nil {
				c.Set = map[string]string{}
			}
			c.Set[k] = v
		}
	}
	for k := range old {
		if _, keep := wanted[k]; keep {
			continue
		}
		if _, ok := current[k]; ok {
			c.Remove = append(c.Remove, k)
		}
	}
	sort.Strings(c.Remove)
	return c
}

// LabelsOf reads a possibly nil metadata's labels.
func LabelsOf(md *v1alpha1.PodTemplateMetadata) map[string]string {
	if md == nil {
		return nil
	}
	return md.Labels
}

// AnnotationsOf reads a possibly nil metadata's annotations.
func AnnotationsOf(md *v1alpha1.PodTemplateMetadata) map[string]string {
	if md == nil {
		return nil
	}
	return md.Annotations
}

// addMetadata sets the keys of wanted in *m, copying the map first.
func addMetadata(m *map[string]string, wanted map[string]string) {
	out := maps.Clone(*m)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, wanted)
	*m = out
}

func isEmptyMetadata(md *v1alpha1.PodTemplateMetadata) bool {
	return md == nil || (len(md.Labels) == 0 && len(md.Annotations) == 0)
}

func sameMetadata(a, b *v1alpha1.PodTemplateMetadata) bool {
	if isEmptyMetadata(a) || isEmptyMetadata(b) {
		return isEmptyMetadata(a) && isEmptyMetadata(b)
	}
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations)
}

// FormatPodMetadata writes role metadata the way AnnotationPodMetadata holds it.
func FormatPodMetadata(md *v1alpha1.PodTemplateMetadata) string { return formatPodMetadata(md) }

func formatPodMetadata(md *v1alpha1.PodTemplateMetadata) string {
	b, err := json.Marshal(md)
	if err != nil {
		// Two string maps always marshal.
		return ""
	}
	return string(b)
}

func parsePodMetadata(s string) *v1alpha1.PodTemplateMetadata {
	if s == "" {
		return nil
	}
	md := &v1alpha1.PodTemplateMetadata{}
	if err := json.Unmarshal([]byte(s), md); err != nil {
		return nil
	}
	return md
}

// withoutRoleMetadata is a ReplicaSet's template without the pod-template-hash label and
// the role metadata it carries: the template it was made from.
func withoutRoleMetadata(rs *ReplicaSet) *corev1.PodTemplateSpec {
	t := rs.Template.DeepCopy()
	delete(t.Labels, LabelPodTemplateHash)
	if md := rs.PodMetadata; md != nil {
		for k := range md.Labels {
			delete(t.Labels, k)
		}
		for k := range md.Annotations {
			delete(t.Annotations, k)
		}
	}
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	if len(t.Annotations) == 0 {
		t.Annotations = nil
	}
	return t
}

// validatePodMetadata checks the role metadata: label keys and values a pod can carry, and
// no label the selector or the pod-template hash uses, since changing one would take a pod
// away from its ReplicaSet.
func validatePodMetadata(ro *v1alpha1.Rollout, obs Observed) error {
	type field struct {
		path string
		md   *v1alpha1.PodTemplateMetadata
	}
	var fields []field
	if c := ro.Spec.Strategy.Canary; c != nil {
		fields = []field{{"spec.strategy.canary.canaryMetadata", c.CanaryMetadata}, {"spec.strategy.canary.stableMetadata", c.StableMetadata}}
	}
	if b := ro.Spec.Strategy.BlueGreen; b != nil {
		fields = append(fields, field{"spec.strategy.blueGreen.previewMetadata", b.PreviewMetadata}, field{"spec.strategy.blueGreen.activeMetadata", b.ActiveMetadata})
	}
	reserved := map[string]bool{LabelPodTemplateHash: true}
	if sel := ro.Spec.Selector; sel != nil {
		for k := range sel.MatchLabels {
			reserved[k] = true
		}
		for _, r := range sel.MatchExpressions {
			reserved[r.Key] = true
		}
	} else {
		tmpl := ro.Spec.Template
		if tmpl == nil {
			tmpl = obs.Template
		}
		if tmpl != nil {
			for k := range tmpl.Labels {
				reserved[k] = true
			}
		}
	}
	for _, f := range fields {
		if f.md == nil {
			continue
		}
		for _, k := range sortedKeys(f.md.Labels) {
			if reserved[k] {
				return fmt.Errorf("%s.labels: %q is a label the selector or the pod-template hash uses; a role may not change it", f.path, k)
			}
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return fmt.Errorf("%s.labels: key %q: %s", f.path, k, strings.Join(errs, "; "))
			}
			if errs := validation.IsValidLabelValue(f.md.Labels[k]); len(errs) > 0 {
				return fmt.Errorf("%s.labels[%s]: value %q: %s", f.path, k, f.md.Labels[k], strings.Join(errs, "; "))
			}
		}
		for _, k := range sortedKeys(f.md.Annotations) {
			if errs := validation.IsQualifiedName(strings.ToLower(k)); len(errs) > 0 {
				return fmt.Errorf("%s.annotations: key %q: %s", f.path, k, strings.Join(errs, "; "))
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SourceTemplate is the template a ReplicaSet was made from: its pod template without the
// pod-template-hash label and the role metadata it carries now. An undo copies it back.
func SourceTemplate(rs *appsv1.ReplicaSet) *corev1.PodTemplateSpec {
	r := ReplicaSetFrom(rs)
	return withoutRoleMetadata(&r)
}
