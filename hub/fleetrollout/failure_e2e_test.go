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
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/test/harness"
)

// rollbackAll sends revision 4 under failurePolicy RollbackAll: the first wave's canary is
// promoted by hand, the second wave's is aborted, and the hub must return both clusters to the
// stable revision 2 (ending RolledBack), never touching the third wave's cluster. The returns
// carry the fast-track directive, and the first cluster's, a real rollback from a completed
// revision, skips the steps.
func rollbackAll(ctx context.Context, t *testing.T, hub client.Client, byName map[string]*harness.Cluster, node *raft.Node,
	fro *fleetv1alpha1.FleetRollout) {
	jsonPatch(ctx, t, hub, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v4"},`+
		`{"op":"replace","path":"/spec/failurePolicy","value":{"action":"RollbackAll"}}]`)
	first, second := byName[regions[0]], byName[regions[1]]
	ro := waitMemberPaused(ctx, t, first, "4")
	statusPatch(ctx, t, first.Client, ro, `{"status":{"pauseConditions":null}}`) // promote
	ro = waitMemberPaused(ctx, t, second, "4")
	failedAt := time.Now()
	statusPatch(ctx, t, second.Client, ro, `{"status":{"abort":true}}`)

	got := waitFleetRollout(ctx, t, hub, client.ObjectKeyFromObject(fro), "RolledBack at revision 4", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 4 && f.Status.Phase == fleetv1alpha1.FleetRolloutRolledBack
	})
	t.Logf("abort in %s -> both waves back on revision 2: %s; %s", second.Name, time.Since(failedAt).Round(100*time.Millisecond), got.Status.Message)
	for _, r := range regions {
		m := &rolloutsv1alpha1.Rollout{}
		if err := byName[r].Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, m); err != nil {
			t.Fatal(err)
		}
		if rev, img := m.Annotations[federation.RevisionAnnotation], m.Spec.Template.Spec.Containers[0].Image; rev != "2" || img != "example.com/checkout:v2" {
			t.Errorf("%s: member Rollout at revision %s image %s, want 2 and v2", r, rev, img)
		}
		if m.Status.Phase != rolloutsv1alpha1.RolloutPhaseHealthy || m.Status.StableRS != m.Status.CurrentPodHash {
			t.Errorf("%s: member Rollout %s (stable %s, current %s), want Healthy on the stable ReplicaSet", r, m.Status.Phase,
				m.Status.StableRS, m.Status.CurrentPodHash)
		}
		if ft := m.Annotations[federation.FastTrackAnnotation]; r != regions[2] && ft != "2" {
			t.Errorf("%s: returned to revision 2 with %s=%q, want 2", r, federation.FastTrackAnnotation, ft)
		}
	}
	// The first wave's cluster had completed revision 4, its revision-2 ReplicaSet scaled to
	// zero and no rollbackWindow: only the hub's directive skips the steps of its return.
	waitMemberEvent(ctx, t, first, "SkipSteps", federation.FastTrackAnnotation+"=2")
	if w := got.Status.Waves; w[0].Phase != fleetv1alpha1.WaveRolledBack || w[1].Phase != fleetv1alpha1.WaveRolledBack ||
		w[2].Phase != fleetv1alpha1.WavePending {
		t.Errorf("waves %+v: want RolledBack, RolledBack, Pending", w)
	}
	if got.Status.StableRevision != 2 {
		t.Errorf("stableRevision %d, want 2", got.Status.StableRevision)
	}
	st, _ := node.Journal().State(fro.Namespace, fro.Name)
	if rb := st.Rollback; rb == nil || !rb.Completed || rb.Scope != journal.RollbackAll || rb.ToRevision != 2 ||
		strings.Join(rb.Clusters, ",") != "eu-west,us-east" {
		t.Errorf("journal rollback %+v: want All to revision 2 of eu-west, us-east, completed", rb)
	}
	for _, c := range got.Status.Clusters {
		want := fleetv1alpha1.ClusterRolledBack
		if c.Name == regions[2] {
			want = fleetv1alpha1.ClusterPending
		}
		if c.Phase != want {
			t.Errorf("cluster %s: %s, want %s", c.Name, c.Phase, want)
		}
	}
}

// failFirstWave sends revision 3 with an indefinite pause step, aborts the canary in the first
// wave's member, and checks the failure policy Pause: the wave fails, the FleetRollout stops
// (Failed, Stalled) with revision 2 still stable, the later waves never get revision 3, and
// the journal records the failed cluster and wave.
func failFirstWave(ctx context.Context, t *testing.T, hub client.Client, byName map[string]*harness.Cluster, node *raft.Node,
	fro *fleetv1alpha1.FleetRollout) {
	jsonPatch(ctx, t, hub, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v3"},`+
		`{"op":"replace","path":"/spec/template/spec/strategy/canary/steps","value":[{"setWeight":50},{"pause":{}}]}]`)
	first := byName[regions[0]]
	ro := &rolloutsv1alpha1.Rollout{}
	roKey := client.ObjectKey{Namespace: appNamespace, Name: "checkout"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := first.Client.Get(ctx, roKey, ro); err == nil && ro.Annotations[federation.RevisionAnnotation] == "3" &&
			ro.Status.Phase == rolloutsv1alpha1.RolloutPhasePaused && ro.Status.ObservedGeneration == ro.Generation {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never paused at revision 3: phase %s, annotations %v", first.Name, ro.Status.Phase, ro.Annotations)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// kubectl flotilla abort, in the member: the canary goes back and the Rollout is Degraded.
	if err := first.Client.Status().Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(`{"status":{"abort":true}}`))); err != nil {
		t.Fatal(err)
	}
	got := waitFleetRollout(ctx, t, hub, client.ObjectKeyFromObject(fro), "Failed at revision 3", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 3 && f.Status.Phase == fleetv1alpha1.FleetRolloutFailed
	})
	stalled := meta.FindStatusCondition(got.Status.Conditions, fleetv1alpha1.ConditionStalled)
	if stalled == nil || stalled.Status != metav1.ConditionTrue || stalled.Reason != fleetv1alpha1.ReasonClusterFailed {
		t.Errorf("Stalled condition %+v, want True with reason ClusterFailed", stalled)
	}
	if got.Status.StableRevision != 2 || got.Status.Waves[0].Phase != fleetv1alpha1.WaveFailed ||
		got.Status.Waves[1].Phase != fleetv1alpha1.WavePending || got.Status.Waves[2].Phase != fleetv1alpha1.WavePending {
		t.Errorf("stableRevision %d, waves %+v: want 2, Failed, Pending, Pending", got.Status.StableRevision, got.Status.Waves)
	}
	t.Logf("status message: %s", got.Status.Message)
	// Give a wrongly started next wave the time to show, then check the later members.
	time.Sleep(2 * bakeTime)
	for _, r := range regions[1:] {
		other := &rolloutsv1alpha1.Rollout{}
		if err := byName[r].Client.Get(ctx, roKey, other); err != nil {
			t.Fatal(err)
		}
		if rev := other.Annotations[federation.RevisionAnnotation]; rev != "2" {
			t.Errorf("%s: member Rollout at revision %s after the first wave failed, want 2", r, rev)
		}
	}
	st, _ := node.Journal().State(fro.Namespace, fro.Name)
	ws := st.Wave("canary")
	if st.Revision != 3 || ws == nil || ws.Outcome != fleetv1alpha1.WaveFailed || ws.Members[regions[0]].Progress != journal.ProgressFailed {
		t.Errorf("journal for revision 3: %+v, want canary Failed with %s Failed", st, regions[0])
	}
	if len(st.StartedWaves()) != 1 {
		t.Errorf("journal started waves %v, want only canary", st.StartedWaves())
	}
	if c := got.Status.Clusters; len(c) != 3 || c[2].Name != regions[0] || (c[2].Phase != fleetv1alpha1.ClusterDegraded && c[2].Phase != fleetv1alpha1.ClusterFailed) {
		t.Errorf("status clusters %+v: want %s Degraded or Failed", c, regions[0])
	}
}

// clusterPhase is the phase of a cluster in a FleetRollout's status, "" if absent.
func clusterPhase(f *fleetv1alpha1.FleetRollout, name string) fleetv1alpha1.ClusterPhase {
	for _, c := range f.Status.Clusters {
		if c.Name == name {
			return c.Phase
		}
	}
	return ""
}

// partition cuts the second wave's member off in the middle of its wave: revision 5 has an
// indefinite pause step, so each member's Rollout holds Paused at the canary until the test
// promotes it (kubectl flotilla promote, in the member). The first wave is promoted and passes;
// once the second wave's member holds Paused at revision 5 (dispatched, not promoted), its API
// server is stopped. The test checks that the cluster becomes Unknown, the MemberCluster
// unreachable, and that the wave waits: it stays Progressing, its gate does not pass (no
// verdict in status or journal), the journal neither promotes nor fails the cluster (there is
// no progress deadline to count it as failed), and the third wave's member never gets the
// revision. When the API server is back, the hub reads the cluster again (Paused, no longer
// Unknown) and the run resumes: with the member promoted, the wave passes its gate and the run succeeds.
func partition(ctx context.Context, t *testing.T, hub client.Client, byName map[string]*harness.Cluster, node *raft.Node,
	fro *fleetv1alpha1.FleetRollout) {
	first, cut, last := byName[regions[0]], byName[regions[1]], byName[regions[2]]
	jsonPatch(ctx, t, hub, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v5"},`+
		`{"op":"replace","path":"/spec/template/spec/strategy/canary/steps","value":[{"setWeight":50},{"pause":{}}]},`+
		`{"op":"replace","path":"/spec/failurePolicy","value":{"action":"Pause"}}]`)
	ro := waitMemberPaused(ctx, t, first, "5")
	statusPatch(ctx, t, first.Client, ro, `{"status":{"pauseConditions":null}}`) // promote
	waitMemberPaused(ctx, t, cut, "5")
	if err := cut.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = cut.StartAPIServer(context.WithoutCancel(ctx))
		}
	}()
	key := client.ObjectKeyFromObject(fro)
	waitFleetRollout(ctx, t, hub, key, cut.Name+" Unknown in the middle of the second wave", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 5 && f.Status.CurrentWave == "europe" && clusterPhase(f, cut.Name) == fleetv1alpha1.ClusterUnknown
	})
	waitMemberUnreachable(ctx, t, hub, cut.Name)
	// The wave waits: a few more seconds change nothing.
	time.Sleep(3 * time.Second)
	got := &fleetv1alpha1.FleetRollout{}
	if err := hub.Get(ctx, key, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != fleetv1alpha1.FleetRolloutProgressing || got.Status.Waves[1].Phase != fleetv1alpha1.WaveProgressing ||
		clusterPhase(got, cut.Name) != fleetv1alpha1.ClusterUnknown {
		t.Errorf("while %s is cut off: phase %s, waves %+v, %s %s; want Progressing, europe Progressing, Unknown",
			cut.Name, got.Status.Phase, got.Status.Waves, cut.Name, clusterPhase(got, cut.Name))
	}
	for _, g := range got.Status.Waves[1].Gates {
		if g.Verdict == fleetv1alpha1.GatePassed {
			t.Errorf("while %s is cut off: gate %s Passed", cut.Name, g.Name)
		}
	}
	st, _ := node.Journal().State(fro.Namespace, fro.Name)
	if ws := st.Wave("europe"); ws == nil || len(ws.Gates) > 0 || ws.Outcome != "" || ws.Members[cut.Name].Progress != journal.ProgressDispatched {
		t.Errorf("journal while %s is cut off: europe %+v; want it dispatched, no gate verdict, no outcome", cut.Name, ws)
	}
	if started := st.StartedWaves(); strings.Join(started, ",") != "canary,europe" {
		t.Errorf("journal while %s is cut off: started waves %v, want canary, europe", cut.Name, started)
	}
	ro = &rolloutsv1alpha1.Rollout{}
	if err := last.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err != nil {
		t.Fatal(err)
	}
	if rev := ro.Annotations[federation.RevisionAnnotation]; rev == "5" {
		t.Errorf("%s got revision 5 while %s was unreachable", last.Name, cut.Name)
	}

	back := time.Now()
	if err := cut.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFleetRollout(ctx, t, hub, key, cut.Name+" read again: Paused at its canary step, no longer Unknown", func(f *fleetv1alpha1.FleetRollout) bool {
		return clusterPhase(f, cut.Name) == fleetv1alpha1.ClusterPaused
	})
	t.Logf("%s back -> the hub reads it again: %s", cut.Name, time.Since(back).Round(100*time.Millisecond))
	ro = waitMemberPaused(ctx, t, cut, "5")
	statusPatch(ctx, t, cut.Client, ro, `{"status":{"pauseConditions":null}}`)
	ro = waitMemberPaused(ctx, t, last, "5")
	statusPatch(ctx, t, last.Client, ro, `{"status":{"pauseConditions":null}}`)
	waitFleetRollout(ctx, t, hub, key, "Succeeded at revision 5", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 5 && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
	})
	t.Logf("%s back -> revision 5 everywhere: %s", cut.Name, time.Since(back).Round(100*time.Millisecond))
	st, _ = node.Journal().State(fro.Namespace, fro.Name)
	if p, _ := st.Cluster(cut.Name); p.Progress != journal.ProgressPromoted {
		t.Errorf("journal: %s is %s in revision 5, want Promoted (never failed)", cut.Name, p.Progress)
	}
	if ws := st.Wave("europe"); ws == nil || ws.Gates["europe-healthy"].Verdict != fleetv1alpha1.GatePassed ||
		ws.Outcome != fleetv1alpha1.WaveSucceeded {
		t.Errorf("journal: europe %+v, want gate europe-healthy Passed and the wave Succeeded", ws)
	}
}
