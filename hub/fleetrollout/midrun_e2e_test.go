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
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestMidRun runs a FleetRollout whose first wave, "pair", has two clusters (us-east, eu-west)
// and whose second, "rest", has ap-south, on a hub and three member clusters (full control
// planes, the spoke agent in each, the hub controllers on a single-node raft group). From
// revision 2 on each member Rollout holds at an indefinite pause step until the test promotes
// it in the member, as a person would. It checks, revision by revision:
//   - 2, maxFailures 1: fleet pause sets spec.paused on both member Rollouts mid-update and
//     fleet resume clears it; then eu-west's canary is aborted in the member and the wave goes
//     on (one failure allowed): the wave gate (maxFailures 1) passes, the wave succeeds, and
//     the revision goes out to ap-south;
//   - 3, maxFailures 0: the same abort fails the wave and stops the FleetRollout (Failed,
//     failurePolicy Pause); fleet retry journals Retried, clears status.abort on eu-west's
//     Rollout (the spoke runs the update again) and the revision completes;
//   - 4, membership: eu-west is in maintenance when "pair" starts, so only us-east takes
//     revision 4; eu-west leaves maintenance while ap-south holds in "rest", and it stays on
//     the stable revision 3, not 4; ap-south then leaves the placement (label env removed) and
//     is dropped from the wave (ClusterDeparted) with its Rollout left where it was; the wave
//     and the revision complete, and eu-west is brought to revision 4, now the stable one
//     (ClusterCaughtUp), fast-tracked: it reaches Healthy without stopping at revision 4's
//     indefinite pause step, which nobody promotes there.
func TestMidRun(t *testing.T) {
	one := intstr.FromInt32(1)
	ctx, f := startOperatedFleet(t, 300*time.Second,
		fleetv1alpha1.Wave{Name: "pair", ClusterSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "region", Operator: metav1.LabelSelectorOpIn, Values: []string{"us-east", "eu-west"}}}},
			MaxFailures: &one,
			Gates:       []fleetv1alpha1.Gate{{Name: "mostly-healthy", Aggregate: &fleetv1alpha1.AggregateGate{MaxFailures: &one}}}},
		fleetv1alpha1.Wave{Name: "rest"})
	hub, node, fro, key, kubectl, history := f.hub, f.node, f.fro, f.key, f.kubectl, f.history
	east, west, south := f.byName["us-east"], f.byName["eu-west"], f.byName["ap-south"]
	succeeded := func(rev int64) func(*fleetv1alpha1.FleetRollout) bool {
		return func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.CurrentRevision == rev && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
		}
	}
	waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1", succeeded(1))
	promote := func(m *harness.Cluster, rev string) {
		t.Helper()
		ro := waitMemberPaused(ctx, t, m, rev)
		statusPatch(ctx, t, m.Client, ro, `{"status":{"pauseConditions":null}}`)
	}
	abort := func(m *harness.Cluster, rev string) {
		t.Helper()
		ro := waitMemberPaused(ctx, t, m, rev)
		statusPatch(ctx, t, m.Client, ro, `{"status":{"abort":true}}`)
	}

	// Revision 2, maxFailures 1.
	jsonPatch(ctx, t, hub.Client, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"},`+
		`{"op":"replace","path":"/spec/template/spec/strategy/canary/steps","value":[{"setWeight":50},{"pause":{}}]}]`)
	waitMemberPaused(ctx, t, east, "2")
	waitMemberPaused(ctx, t, west, "2")
	kubectl("fleet", "pause", "checkout")
	for _, m := range []*harness.Cluster{east, west} {
		waitMemberSpecPaused(ctx, t, m, true)
	}
	kubectl("fleet", "resume", "checkout")
	for _, m := range []*harness.Cluster{east, west} {
		waitMemberSpecPaused(ctx, t, m, false)
	}
	abort(west, "2")
	promote(east, "2")
	promote(south, "2")
	got := waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 2 with eu-west failed", succeeded(2))
	if g := got.Status.Waves[0].Gates; len(g) != 1 || g[0].Verdict != fleetv1alpha1.GatePassed {
		t.Errorf("pair's gates %+v, want mostly-healthy Passed with one failure allowed", g)
	}
	if p := clusterPhase(got, "eu-west"); p != fleetv1alpha1.ClusterDegraded && p != fleetv1alpha1.ClusterFailed {
		t.Errorf("eu-west is %s at revision 2, want Degraded or Failed", p)
	}
	st, _ := node.Journal().State(appNamespace, "checkout")
	if w := st.Wave("pair"); w == nil || w.Outcome != fleetv1alpha1.WaveSucceeded || w.Members["eu-west"].Progress != journal.ProgressFailed {
		t.Errorf("journal of revision 2: pair %+v, want Succeeded with eu-west Failed", w)
	}

	// Revision 3, maxFailures 0: the wave fails, and a retry runs it again.
	jsonPatch(ctx, t, hub.Client, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v3"},`+
		`{"op":"replace","path":"/spec/waves/0/maxFailures","value":0}]`)
	abort(west, "3")
	got = waitFleetRollout(ctx, t, hub.Client, key, "Failed at revision 3", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 3 && f.Status.Phase == fleetv1alpha1.FleetRolloutFailed
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, fleetv1alpha1.ConditionStalled); c == nil || c.Reason != fleetv1alpha1.ReasonClusterFailed {
		t.Errorf("Stalled %+v, want reason ClusterFailed", c)
	}
	kubectl("fleet", "retry", "checkout")
	got = waitFleetRollout(ctx, t, hub.Client, key, "the retry handled", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.LastHandledRetryAt != "" && f.Status.LastHandledRetryAt == f.Annotations[fleetv1alpha1.AnnotationRetryRequestedAt]
	})
	if got.Status.Phase == fleetv1alpha1.FleetRolloutFailed {
		t.Errorf("after the retry the FleetRollout is still Failed: %s", got.Status.Message)
	}
	promote(west, "3") // the spoke ran the update again: it holds at the pause step
	promote(east, "3")
	promote(south, "3")
	waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 3 after the retry", succeeded(3))
	var retried *journal.Entry
	for _, e := range history() {
		if e.Type == journal.Retried && e.Revision == 3 {
			retried = &e
		}
	}
	if retried == nil || retried.Wave != "pair" || strings.Join(retried.Clusters, ",") != "eu-west" {
		t.Errorf("journal: Retried %+v, want wave pair with eu-west:\n%s", retried, describe(history()))
	}

	// Revision 4: eu-west in maintenance when the wave starts, back while the run is under way;
	// ap-south leaves the placement in the middle of its wave.
	mcPatch := func(name, patch string) {
		t.Helper()
		patchMemberCluster(ctx, t, hub.Client, name, patch)
	}
	mcPatch("eu-west", `{"spec":{"maintenance":true}}`)
	jsonPatch(ctx, t, hub.Client, fro, `[`+
		`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v4"}]`)
	promote(east, "4")
	waitMemberPaused(ctx, t, south, "4")
	mcPatch("eu-west", `{"spec":{"maintenance":false}}`)
	waitFleetRollout(ctx, t, hub.Client, key, "eu-west shown on the stable revision 3", func(f *fleetv1alpha1.FleetRollout) bool {
		for _, c := range f.Status.Clusters {
			if c.Name == "eu-west" {
				return c.Phase == fleetv1alpha1.ClusterSkipped && c.Revision == 3
			}
		}
		return false
	})
	if rev := memberRevisionOf(ctx, t, west); rev != "3" {
		t.Errorf("eu-west left maintenance while revision 4 was going out and got revision %s, want the stable 3", rev)
	}
	mcPatch("ap-south", `{"metadata":{"labels":{"env":null}}}`)
	got = waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 4 without ap-south", succeeded(4))
	for _, c := range got.Status.Clusters {
		if c.Name == "ap-south" {
			t.Errorf("ap-south left the placement but is still in status: %+v", c)
		}
	}
	// Revision 4's steps end in an indefinite pause that nobody promotes in eu-west: the
	// fast-track directive is what brings it to Healthy.
	caught := waitMemberHealthy(ctx, t, west, "4")
	if ft := caught.Annotations[federation.FastTrackAnnotation]; ft != "4" {
		t.Errorf("eu-west's caught-up Rollout carries %s=%q, want 4", federation.FastTrackAnnotation, ft)
	}
	waitMemberEvent(ctx, t, west, "SkipSteps", federation.FastTrackAnnotation+"=4")
	waitFleetRollout(ctx, t, hub.Client, key, "eu-west shown on the stable revision 4", func(f *fleetv1alpha1.FleetRollout) bool {
		for _, c := range f.Status.Clusters {
			if c.Name == "eu-west" {
				return c.Revision == 4 && strings.Contains(c.Message, "on the stable revision 4")
			}
		}
		return false
	})
	if rev := memberRevisionOf(ctx, t, south); rev != "4" {
		t.Errorf("ap-south's Rollout at revision %s after it left, want it left in place at 4", rev)
	}
	var types []string
	for _, e := range history() {
		if e.Revision == 4 && (e.Type == journal.ClusterDeparted || e.Type == journal.ClusterCaughtUp) {
			types = append(types, string(e.Type)+" "+e.Cluster)
			if e.Type == journal.ClusterCaughtUp && (e.Rollback == nil || e.Rollback.ToRevision != 4) {
				t.Errorf("ClusterCaughtUp %+v, want to revision 4", e.Rollback)
			}
		}
	}
	if !slices.Equal(types, []string{"ClusterDeparted ap-south", "ClusterCaughtUp eu-west"}) {
		t.Errorf("journal of revision 4: %v, want ap-south departed then eu-west caught up:\n%s", types, describe(history()))
	}
}

// memberRevisionOf is the fleet revision stamped on a member's Rollout.
func memberRevisionOf(ctx context.Context, t *testing.T, m *harness.Cluster) string {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err != nil {
		t.Fatal(err)
	}
	return ro.Annotations[federation.RevisionAnnotation]
}

// waitMemberHealthy waits until a member's Rollout is Healthy on its stable ReplicaSet at the
// fleet revision rev.
func waitMemberHealthy(ctx context.Context, t *testing.T, m *harness.Cluster, rev string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err == nil &&
			ro.Annotations[federation.RevisionAnnotation] == rev && ro.Status.ObservedGeneration == ro.Generation &&
			ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash {
			return ro
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s never Healthy at revision %s: revision %s, phase %s, step %v, message %q", m.Name, rev,
				ro.Annotations[federation.RevisionAnnotation], ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitMemberEvent waits for an event of reason on a member's Rollout whose note contains text.
func waitMemberEvent(ctx context.Context, t *testing.T, m *harness.Cluster, reason, text string) {
	t.Helper()
	err := harness.WaitFor(ctx, m.Name+": a "+reason+" event naming "+text, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		list := &eventsv1.EventList{}
		if err := m.Client.List(ctx, list, client.InNamespace(appNamespace)); err != nil {
			return false, "", err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.Regarding.Name == "checkout" && ev.Reason == reason && strings.Contains(ev.Note, text) {
				return true, "", nil
			}
			seen = append(seen, ev.Reason+": "+ev.Note)
		}
		return false, fmt.Sprintf("events: %q", seen), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitMemberSpecPaused waits until a member's Rollout has spec.paused as wanted.
func waitMemberSpecPaused(ctx context.Context, t *testing.T, m *harness.Cluster, want bool) {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err == nil && ro.Spec.Paused == want {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: member Rollout spec.paused %v, want %v", m.Name, ro.Spec.Paused, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
