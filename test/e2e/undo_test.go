package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestUndoReturnsToTheFirstReplicaSet runs on a control plane of its own, apart from the
// acceptance flows of TestSpokeWithPlugin, because it fails today: see testUndo.
func TestUndoReturnsToTheFirstReplicaSet(t *testing.T) {
	testUndo(t, startMember(t))
}

// testUndo: after two revisions, `undo` puts the first revision's template back. As in Argo
// Rollouts (and `kubectl rollout undo` for Deployments), the update goes back to the first
// revision's ReplicaSet instead of creating a third one.
//
// It fails today, and the cause is in the engine, not in undo: undo can only copy the
// ReplicaSet's template, which the API server defaulted (imagePullPolicy,
// terminationMessagePath, dnsPolicy, schedulerName, ...), while the engine matches
// ReplicaSets by the hash of spec.template as the user wrote it (engine.resolveReplicaSets:
// rs.PodTemplateHash == PodTemplateHash(spec.template)). The defaulted template hashes
// differently, so the engine makes a third ReplicaSet with the same pods. Argo Rollouts
// compares the live and the desired templates semantically after applying the pod defaults
// to the desired one (PodTemplateEqualIgnoreHash) and so finds the old ReplicaSet.
func testUndo(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	manifest := strings.Replace(gettingStarted, `      - setWeight: 40
      - pause: {duration: 10}
      - setWeight: 60
      - pause: {duration: 10}
      - setWeight: 80
      - pause: {duration: 10}
`, "", 1)
	ro := m.createRollout(t, ns, manifest)
	key := client.ObjectKeyFromObject(ro)
	written, _ := json.Marshal(ro.Spec.Template.Spec.Containers[0])
	first := m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true)).Status.StableRS
	m.kubectlFlotilla(t, ns, "set", "image", key.Name, "rollouts-demo=argoproj/rollouts-demo:yellow")
	m.waitRollout(ctx, t, key, "paused at step 1", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.ObservedGeneration == ro.Generation
	})
	m.kubectlFlotilla(t, ns, "promote", key.Name, "--full")
	second := m.waitRollout(ctx, t, key, "the second revision Healthy", func(ro *v1alpha1.Rollout) bool {
		return healthyAt(true)(ro) && ro.Status.StableRS != first
	}).Status.StableRS

	m.kubectlFlotilla(t, ns, "undo", key.Name)
	got := m.waitRollout(ctx, t, key, "the undo observed", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.ObservedGeneration == ro.Generation && ro.Status.CurrentPodHash != second
	})
	rss := m.replicaSets(ctx, t, ns)
	if got.Status.CurrentPodHash != first || len(rss) != 2 {
		restored, _ := json.Marshal(got.Spec.Template.Spec.Containers[0])
		t.Fatalf("after undo the Rollout's current pod hash is %s, want the first revision's %s; ReplicaSets (desired, ready) by hash: %v\n"+
			"container as written:      %s\ncontainer as undo restored: %s",
			got.Status.CurrentPodHash, first, rss, written, restored)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "argoproj/rollouts-demo:blue" {
		t.Fatalf("after undo the template's image is %s", img)
	}
	t.Logf("undo went back to the first revision's ReplicaSet %s", first)
}
