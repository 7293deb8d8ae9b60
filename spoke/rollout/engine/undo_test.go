package engine

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestUndoFindsTheReplicaSetItCopied: an undo copies a ReplicaSet's template back into the
// Rollout, defaults filled in by the API server included, so it hashes differently from the
// template that made the ReplicaSet. The engine must still go back to that ReplicaSet, not
// create a new one.
func TestUndoFindsTheReplicaSetItCopied(t *testing.T) {
	old := rs("demo:v1", 1, 0, 0)
	old.Template.Spec.Containers[0].TerminationMessagePath = corev1.TerminationMessagePathDefault
	old.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	old.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	cur := rs("demo:v2", 2, 5, 5)

	ro := canaryRollout(5, setWeight(20), pauseForever())
	ro.Status.StableRS = cur.PodTemplateHash
	ro.Status.CurrentPodHash = cur.PodTemplateHash
	undone := old.Template.DeepCopy()
	delete(undone.Labels, LabelPodTemplateHash)
	ro.Spec.Template = undone
	if PodTemplateHash(undone, nil) == old.PodTemplateHash {
		t.Fatal("the test needs a copied template that hashes differently")
	}

	p := Reconcile(ro, observed(old, cur))
	for _, a := range p.Actions {
		if _, ok := a.(CreateReplicaSet); ok {
			t.Fatalf("undo created a new ReplicaSet: %v", actionStrings(p))
		}
	}
	if p.Status.CurrentPodHash != old.PodTemplateHash {
		t.Errorf("currentPodHash = %q, want the old ReplicaSet's %q", p.Status.CurrentPodHash, old.PodTemplateHash)
	}
	if !strings.Contains(strings.Join(actionStrings(p), "\n"), "ScaleReplicaSet "+old.Name) {
		t.Errorf("the old ReplicaSet is not scaled up: %v", actionStrings(p))
	}
}
