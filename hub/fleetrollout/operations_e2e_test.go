/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package fleetrollout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestOperations drives a FleetRollout on a hub and three member clusters (full control planes,
// the spoke agent in each, the hub controllers on a single-node raft group) with the kubectl
// plugin, as a person would, and checks what the hub makes of each operation:
//   - fleet approve: the hub takes the FleetApproval (Accepted True, the approver journaled)
//     and the wave starts; an approval for a stage no wave asks for is refused (Accepted False,
//     ApprovalNotRequired);
//   - fleet pause / resume: journaled as Paused and Resumed; while paused, the approved wave
//     of revision 2 starts no cluster;
//   - fleet abort: journaled as Aborted, then every cluster that took revision 2 returns to
//     revision 1 (RollbackStarted, RollbackCompleted) and the FleetRollout is RolledBack, while
//     the clusters of the wave that had not started never get revision 2;
//   - fleet retry and removing spec.abortRevision afterwards change nothing (the abort holds),
//     and a new revision goes out through the waves.
func TestOperations(t *testing.T) {
	// The shared checkout FleetRollout with two waves, each waiting for an approval
	// before it starts, and no gates.
	ctx, f := startOperatedFleet(t, 170*time.Second,
		fleetv1alpha1.Wave{Name: "canary", ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": "us-east"}},
			Approval: &fleetv1alpha1.WaveApproval{Before: true}},
		fleetv1alpha1.Wave{Name: "rest", Approval: &fleetv1alpha1.WaveApproval{Before: true}})
	hub, byName, fro, key, kubectl, history := f.hub, f.byName, f.fro, f.key, f.kubectl, f.history
	journaled := func(typ journal.Type, rev int64) *journal.Entry {
		for _, e := range history() {
			if e.Type == typ && e.Revision == rev {
				return &e
			}
		}
		return nil
	}
	waiting := func(rev int64, wave string) func(*fleetv1alpha1.FleetRollout) bool {
		return func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.CurrentRevision == rev && f.Status.Phase == fleetv1alpha1.FleetRolloutWaitingForApproval &&
				f.Status.CurrentWave == wave && f.Status.ObservedGeneration == f.Generation
		}
	}

	// Revision 1: approve both waves as they come; an approval nobody asked for is refused.
	waitFleetRollout(ctx, t, hub.Client, key, "waiting for approval of canary", waiting(1, "canary"))
	kubectl("fleet", "approve", "checkout", "--comment", "first release")
	waitFleetRollout(ctx, t, hub.Client, key, "waiting for approval of rest", waiting(1, "rest"))
	kubectl("fleet", "approve", "checkout")
	kubectl("fleet", "approve", "checkout", "--wave", "canary", "--stage", "Before") // late: canary was approved already
	waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 1 && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
	})
	checkApprovals(ctx, t, hub.Client, history())

	// Revision 2 while paused: approved, but no cluster starts.
	kubectl("fleet", "pause", "checkout")
	jsonPatch(ctx, t, hub.Client, fro, `[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"}]`)
	waitFleetRollout(ctx, t, hub.Client, key, "waiting for approval of canary at revision 2", waiting(2, "canary"))
	kubectl("fleet", "approve", "checkout")
	waitFleetRollout(ctx, t, hub.Client, key, "paused at revision 2", func(f *fleetv1alpha1.FleetRollout) bool {
		c := meta.FindStatusCondition(f.Status.Conditions, fleetv1alpha1.ConditionPaused)
		return f.Status.CurrentRevision == 2 && f.Status.Phase == fleetv1alpha1.FleetRolloutPaused &&
			c != nil && c.Status == metav1.ConditionTrue && c.Reason == fleetv1alpha1.ReasonPausedByUser
	})
	// The pause is journaled under the revision current when the hub saw it: 1 or 2.
	pause := journaled(journal.Paused, 1)
	if pause == nil {
		pause = journaled(journal.Paused, 2)
	}
	if pause == nil || !strings.Contains(pause.Reason, "spec.paused") {
		t.Errorf("the journal has no Paused decision for the pause:\n%s", describe(history()))
	}
	if e := journaled(journal.WaveStarted, 2); e != nil {
		t.Errorf("a wave of revision 2 started while paused: %+v", e)
	}
	kubectl("fleet", "resume", "checkout")
	waitFleetRollout(ctx, t, hub.Client, key, "waiting for approval of rest at revision 2", waiting(2, "rest"))
	if journaled(journal.Resumed, 2) == nil {
		t.Errorf("the journal has no Resumed decision for revision 2:\n%s", describe(history()))
	}
	waitMemberImage(ctx, t, byName["us-east"], "2", "example.com/checkout:v2")

	// Abort revision 2: us-east returns to revision 1; eu-west never gets revision 2.
	kubectl("fleet", "abort", "checkout")
	got := waitFleetRollout(ctx, t, hub.Client, key, "RolledBack", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.Phase == fleetv1alpha1.FleetRolloutRolledBack && f.Status.ObservedGeneration == f.Generation
	})
	stalled := meta.FindStatusCondition(got.Status.Conditions, fleetv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Reason != fleetv1alpha1.ReasonRolledBack || !strings.Contains(stalled.Message, "revision 2 was aborted") {
		t.Errorf("Stalled condition %+v, want RolledBack naming the abort", stalled)
	}
	if got.Status.StableRevision != 1 || got.Status.Waves[0].Phase != fleetv1alpha1.WaveRolledBack || got.Status.Waves[1].Phase != fleetv1alpha1.WavePending {
		t.Errorf("stableRevision %d, waves %+v: want 1, RolledBack, Pending", got.Status.StableRevision, got.Status.Waves)
	}
	waitMemberImage(ctx, t, byName["us-east"], "1", "example.com/checkout:v1")
	for _, r := range []string{"eu-west", "ap-south"} {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := byName[r].Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err != nil ||
			ro.Annotations[federation.RevisionAnnotation] != "1" {
			t.Errorf("%s: %v, revision %q; want its Rollout still at revision 1", r, err, ro.Annotations[federation.RevisionAnnotation])
		}
	}
	var order []string
	for _, e := range history() {
		if e.Revision == 2 && (e.Type == journal.Aborted || e.Type == journal.RollbackStarted || e.Type == journal.RollbackCompleted) {
			order = append(order, string(e.Type))
			if e.Rollback != nil && (e.Rollback.Scope != journal.RollbackAll || e.Rollback.ToRevision != 1 ||
				strings.Join(e.Clusters, ",") != "us-east") {
				t.Errorf("%s: %+v clusters %v, want All to revision 1 for us-east", e.Type, e.Rollback, e.Clusters)
			}
		}
	}
	if strings.Join(order, " ") != "Aborted RollbackStarted RollbackCompleted" {
		t.Errorf("journal for the abort: %v, want Aborted, RollbackStarted, RollbackCompleted:\n%s", order, describe(history()))
	}
	out := kubectl("fleet", "get", "checkout")
	if !strings.Contains(out, "RolledBack") || !strings.Contains(out, "Abort:") {
		t.Errorf("fleet get after the abort:\n%s", out)
	}

	// A retry does not undo the abort: the hub takes the request and changes nothing.
	kubectl("fleet", "retry", "checkout")
	got = waitFleetRollout(ctx, t, hub.Client, key, "the retry handled", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.LastHandledRetryAt != "" && f.Status.LastHandledRetryAt == f.Annotations[fleetv1alpha1.AnnotationRetryRequestedAt]
	})
	if got.Status.Phase != fleetv1alpha1.FleetRolloutRolledBack || journaled(journal.Retried, 2) != nil {
		t.Errorf("after a retry of the aborted revision: phase %s, Retried %+v; want RolledBack and no Retried",
			got.Status.Phase, journaled(journal.Retried, 2))
	}

	// Removing spec.abortRevision does not send revision 2 out again: once the hub has seen the
	// change, the FleetRollout is still RolledBack and us-east still on revision 1.
	jsonPatch(ctx, t, hub.Client, fro, `[{"op":"remove","path":"/spec/abortRevision"}]`)
	got = waitFleetRollout(ctx, t, hub.Client, key, "seen without abortRevision", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Spec.AbortRevision == nil && f.Status.ObservedGeneration == f.Generation
	})
	if got.Status.Phase != fleetv1alpha1.FleetRolloutRolledBack || got.Status.CurrentRevision != 2 {
		t.Errorf("after removing abortRevision: phase %s at revision %d, want RolledBack at 2 (the abort holds)",
			got.Status.Phase, got.Status.CurrentRevision)
	}
	waitMemberImage(ctx, t, byName["us-east"], "1", "example.com/checkout:v1")
	// A new revision goes out through the waves; revision 2 stays aborted in the journal.
	jsonPatch(ctx, t, hub.Client, fro, `[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v3"}]`)
	waitFleetRollout(ctx, t, hub.Client, key, "waiting for approval of canary at revision 3", waiting(3, "canary"))
	kubectl("fleet", "approve", "checkout")
	waitMemberImage(ctx, t, byName["us-east"], "3", "example.com/checkout:v3")
	if journaled(journal.Aborted, 3) != nil || journaled(journal.Aborted, 2) == nil {
		t.Errorf("journal: want revision 2 aborted and revision 3 not:\n%s", describe(history()))
	}
}

// checkApprovals checks the hub's answer to each FleetApproval: the two that approved the
// waves of revision 1 are Accepted and journaled with their approver, the late one is refused.
func checkApprovals(ctx context.Context, t *testing.T, hub client.Client, history []journal.Entry) {
	t.Helper()
	by := map[string]journal.Approval{}
	for _, e := range history {
		if e.Type == journal.ApprovalGiven {
			by[e.Approval.ApprovalName] = *e.Approval
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := &fleetv1alpha1.FleetApprovalList{}
		if err := hub.List(ctx, list, client.InNamespace(appNamespace)); err != nil {
			t.Fatal(err)
		}
		var seen []string
		ok := len(list.Items) == 3
		for _, a := range list.Items {
			c := meta.FindStatusCondition(a.Status.Conditions, fleetv1alpha1.ConditionAccepted)
			if c == nil {
				ok = false
				seen = append(seen, a.Name+": no Accepted condition")
				continue
			}
			seen = append(seen, fmt.Sprintf("%s (%s): %s %s %s", a.Name, a.Spec.Wave, c.Status, c.Reason, c.Message))
			j, inJournal := by[a.Name]
			switch {
			case a.Spec.ApprovedBy == "":
				ok = false
			case inJournal && (c.Status != metav1.ConditionTrue || j.ApprovedBy != a.Spec.ApprovedBy):
				ok = false
			case !inJournal && (c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonApprovalNotRequired || a.Spec.Wave != "canary"):
				ok = false
			}
		}
		if ok && len(by) == 2 {
			t.Logf("approvals:\n  %s", strings.Join(seen, "\n  "))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("approvals not answered as expected (2 accepted and journaled, the late one refused); journaled %v; saw:\n  %s",
				by, strings.Join(seen, "\n  "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitMemberImage waits until a member's Rollout is Healthy at the fleet revision rev with the image.
func waitMemberImage(ctx context.Context, t *testing.T, m *harness.Cluster, rev, image string) {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err == nil &&
			ro.Annotations[federation.RevisionAnnotation] == rev && ro.Spec.Template.Spec.Containers[0].Image == image &&
			ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy && ro.Status.ObservedGeneration == ro.Generation {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s never Healthy at revision %s with %s: phase %s, annotations %v", m.Name, rev, image, ro.Status.Phase, ro.Annotations)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(entries []journal.Entry) string {
	var lines []string
	for _, e := range entries {
		lines = append(lines, fmt.Sprintf("  %d r%d %s %s %s %s", e.Index, e.Revision, e.Type, e.Wave, e.Cluster, e.Reason))
	}
	return strings.Join(lines, "\n")
}
