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
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	systemNamespace = "flotilla-system"
	kubeconfigLabel = "sigs.k8s.io/multicluster-runtime-kubeconfig"
	appNamespace    = "shop"
	bakeTime        = 2 * time.Second
)

// regions are the member clusters, one per wave, in wave order.
var regions = []string{"us-east", "eu-west", "ap-south"}

// TestWavesRunInOrder sends one FleetRollout through three waves, one region each, on a hub and
// three member clusters (full control planes, kwok nodes), with the spoke agent in each member
// (and the spoke chart's fencing policy in each member's API server) and the hub controllers
// leading a single-node raft group. It runs four revisions: the first release, then an image
// change that each member takes as a canary (setWeight 50, pause 1s); for each it proves that:
//   - the waves run strictly in order: a wave's cluster gets the revision only after every
//     cluster of the previous wave is Healthy at it and the bake time has passed (seen by the
//     test's own poller of the members, and by the journal's timestamps);
//   - every member ends with the Rollout Healthy at the revision, its companion ConfigMap
//     placed, both stamped with the leader's term, and the Rollout recording it (status.term);
//   - the FleetRollout ends Succeeded with the revision stable, and its status agrees with the
//     journal, in which no decision is recorded twice.
//
// Then revision 3 fails in the first wave under failurePolicy Pause (the fleet stops there,
// later waves keep revision 2), and revision 4 fails in the second wave under RollbackAll (both
// waves return to revision 2, the third wave is never touched), and revision 5 waits in the
// second wave while that member's API server is stopped in the middle of the wave (Unknown,
// never healthy, the gate not passed) and resumes when it is back; see failure_e2e_test.go.
func TestWavesRunInOrder(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	begin := time.Now()
	hub, byName, node, _ := startRegionFleet(t, begin)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	sightings, stopWatching := watchMembers(ctx, byName)
	defer stopWatching()

	fro := &fleetv1alpha1.FleetRollout{}
	harness.ReadYAMLFile(t, harness.CheckoutFleetRollout, fro)
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(fro)
	if !t.Run("revision 1 goes out wave by wave", func(t *testing.T) {
		runRevision(ctx, t, hub.Client, byName, node, key, 1, sightings)
		checkMembersHealthy(ctx, t, hub.Client)
	}) {
		return
	}
	if !t.Run("revision 2 goes out as a canary in each member, wave by wave", func(t *testing.T) {
		memberRequests.take()
		jsonPatch(ctx, t, hub.Client, fro, `[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"}]`)
		runRevision(ctx, t, hub.Client, byName, node, key, 2, sightings)
		// The hub reads member Rollouts from its watches: no GET or LIST of them per wave.
		got := memberRequests.take()
		t.Logf("hub requests to the members during revision 2 (three waves): %v", got)
		if n := got["get rollouts"] + got["list rollouts"]; n != 0 {
			t.Errorf("the hub read member Rollouts %d times directly during revision 2; want 0 (watches only)", n)
		}
	}) {
		return
	}
	if !t.Run("revision 3 fails in the first wave and the fleet stops there", func(t *testing.T) {
		failFirstWave(ctx, t, hub.Client, byName, node, fro)
	}) {
		return
	}
	if !t.Run("revision 4 fails in the second wave and RollbackAll returns both waves to revision 2", func(t *testing.T) {
		rollbackAll(ctx, t, hub.Client, byName, node, fro)
	}) {
		return
	}
	t.Run("revision 5 waits while a member is cut off in the middle of its wave and resumes when it is back", func(t *testing.T) {
		partition(ctx, t, hub.Client, byName, node, fro)
	})
}

// checkMembersHealthy checks the MemberCluster health the hub recorded: every member
// Reachable, AgentReady and Ready, with a last contact time and the API server's version.
func checkMembersHealthy(ctx context.Context, t *testing.T, hub client.Client) {
	t.Helper()
	list := &fleetv1alpha1.MemberClusterList{}
	if err := hub.List(ctx, list); err != nil {
		t.Fatal(err)
	}
	for _, mc := range list.Items {
		for _, typ := range []string{fleetv1alpha1.ConditionReachable, fleetv1alpha1.ConditionAgentReady, fleetv1alpha1.ConditionReady} {
			if !meta.IsStatusConditionTrue(mc.Status.Conditions, typ) {
				t.Errorf("MemberCluster %s: %s is not True: %+v", mc.Name, typ, mc.Status.Conditions)
			}
		}
		if mc.Status.LastContactTime == nil || mc.Status.KubernetesVersion == "" {
			t.Errorf("MemberCluster %s: lastContactTime %v kubernetesVersion %q", mc.Name, mc.Status.LastContactTime, mc.Status.KubernetesVersion)
		}
	}
}

// runRevision waits for the FleetRollout to succeed at rev and checks the order of the waves,
// the members and the journal.
func runRevision(ctx context.Context, t *testing.T, hub client.Client, byName map[string]*harness.Cluster, node *raft.Node,
	key client.ObjectKey, rev int64, sightings func() map[string]sighting) {
	t.Helper()
	start := time.Now()
	got := waitFleetRollout(ctx, t, hub, key, fmt.Sprintf("Succeeded at revision %d", rev), func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded && f.Status.ObservedGeneration == f.Generation &&
			f.Status.CurrentRevision == rev
	})
	t.Logf("revision %d: three waves in %s (bake %s each)", rev, time.Since(start).Round(100*time.Millisecond), bakeTime)
	seen := sightings()

	term, ok := leaderTerm(node)
	if !ok {
		t.Fatal("the raft node does not lead")
	}
	revs := strconv.FormatInt(rev, 10)

	// Strict order, as the members saw it: wave n+1's Rollout took the revision only after wave
	// n's was Healthy at it and baked. The poller sees Healthy up to one poll late: slack.
	const slack = 400 * time.Millisecond
	for i := 1; i < len(regions); i++ {
		prev, cur := seen[regions[i-1]+"@"+revs], seen[regions[i]+"@"+revs]
		if prev.firstHealthy.IsZero() || cur.firstSeen.IsZero() {
			t.Fatalf("revision %d: the poller missed a member: %s=%+v %s=%+v", rev, regions[i-1], prev, regions[i], cur)
		}
		gap := cur.firstSeen.Sub(prev.firstHealthy)
		t.Logf("revision %d: %s healthy -> %s got it %s later", rev, regions[i-1], regions[i], gap.Round(10*time.Millisecond))
		if gap < bakeTime-slack {
			t.Errorf("revision %d: %s got it %s after %s was Healthy, before the %s bake time ended", rev, regions[i], gap, regions[i-1], bakeTime)
		}
	}

	// Every member: Rollout Healthy at rev, stamped with the term, status.term recorded;
	// companion placed and stamped.
	for _, r := range regions {
		m := byName[r]
		ro := &rolloutsv1alpha1.Rollout{}
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err != nil {
			t.Fatal(err)
		}
		if ro.Status.Phase != rolloutsv1alpha1.RolloutPhaseHealthy {
			t.Errorf("%s: member Rollout is %s, want Healthy: %s", r, ro.Status.Phase, ro.Status.Message)
		}
		if img := ro.Spec.Template.Spec.Containers[0].Image; img != "example.com/checkout:v"+revs {
			t.Errorf("%s: member Rollout image %s, want v%d", r, img, rev)
		}
		if a := ro.Annotations[federation.TermAnnotation]; a != strconv.FormatUint(term, 10) {
			t.Errorf("%s: member Rollout term annotation %q, want %d", r, a, term)
		}
		if ro.Status.Term != int64(term) {
			t.Errorf("%s: member Rollout status.term %d, want %d", r, ro.Status.Term, term)
		}
		if ro.Annotations[federation.RevisionAnnotation] != revs || ro.Labels[federation.PlacedLabel] != "true" {
			t.Errorf("%s: member Rollout annotations %v labels %v: want revision %d and the placed label", r, ro.Annotations, ro.Labels, rev)
		}
		cm := &corev1.ConfigMap{}
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout-config"}, cm); err != nil {
			t.Errorf("%s: companion ConfigMap: %v", r, err)
		} else if cm.Annotations[federation.TermAnnotation] != strconv.FormatUint(term, 10) || cm.Annotations[federation.RevisionAnnotation] != revs {
			t.Errorf("%s: companion annotations %v, want term %d revision %d", r, cm.Annotations, term, rev)
		} else if cm.CreationTimestamp.After(ro.CreationTimestamp.Time) {
			t.Errorf("%s: the companion was created after the Rollout", r)
		}
	}

	checkJournal(t, node.Journal(), got, term, rev)
	checkEventsAndMetrics(ctx, t, hub, node.Journal(), got, rev)
}

// checkJournal checks that the journal and the FleetRollout's status tell the same story, that
// no decision was recorded twice, and that the journal's own times respect the bake time.
func checkJournal(t *testing.T, j *journal.FSM, fro *fleetv1alpha1.FleetRollout, term uint64, rev int64) {
	t.Helper()
	history := j.History(fro.Namespace, fro.Name)
	var lines []string
	ids := map[string]bool{}
	at := map[string]time.Time{}
	for _, e := range history {
		lines = append(lines, fmt.Sprintf("%d r%d %s %s %s %s", e.Index, e.Revision, e.Type, e.Wave, e.Cluster, gateOf(e)))
		if ids[e.ID] {
			t.Errorf("decision %s recorded twice", e.ID)
		}
		ids[e.ID] = true
		at[e.ID] = e.At
		if e.Term != term {
			t.Errorf("decision %s has term %d, want %d", e.ID, e.Term, term)
		}
	}
	t.Logf("journal:\n  %s", strings.Join(lines, "\n  "))

	st, ok := j.State(fro.Namespace, fro.Name)
	if !ok || st.Revision != fro.Status.CurrentRevision {
		t.Fatalf("journal revision %d, status currentRevision %d", st.Revision, fro.Status.CurrentRevision)
	}
	if st.Revision != rev || fro.Status.StableRevision != rev || fro.Status.Term != int64(term) {
		t.Errorf("journal revision %d, status stableRevision %d term %d, want %d, %d and %d", st.Revision,
			fro.Status.StableRevision, fro.Status.Term, rev, rev, term)
	}
	if got := st.StartedWaves(); strings.Join(got, ",") != "canary,europe,rest" {
		t.Errorf("journal started waves %v, want canary, europe, rest", got)
	}
	for i, ws := range fro.Status.Waves {
		js := st.Wave(ws.Name)
		if js == nil {
			t.Errorf("wave %s is in status but not in the journal", ws.Name)
			continue
		}
		if ws.Phase != fleetv1alpha1.WaveSucceeded || js.Outcome != fleetv1alpha1.WaveSucceeded {
			t.Errorf("wave %s: status %s, journal %q; want Succeeded in both", ws.Name, ws.Phase, js.Outcome)
		}
		if strings.Join(ws.Clusters, ",") != strings.Join(js.Clusters, ",") {
			t.Errorf("wave %s: status clusters %v, journal %v", ws.Name, ws.Clusters, js.Clusters)
		}
		if strings.Join(ws.Clusters, ",") != regions[i] {
			t.Errorf("wave %s: clusters %v, want [%s]", ws.Name, ws.Clusters, regions[i])
		}
		for _, g := range ws.Gates {
			jg, ok := js.Gates[g.Name]
			if !ok || jg.Verdict != g.Verdict || g.Verdict != fleetv1alpha1.GatePassed {
				t.Errorf("wave %s gate %s: status %s, journal %+v; want Passed in both", ws.Name, g.Name, g.Verdict, jg)
			}
		}
		for _, c := range js.MemberNames() {
			if js.Members[c].Progress != journal.ProgressPromoted {
				t.Errorf("wave %s cluster %s: journal %s, want Promoted", ws.Name, c, js.Members[c].Progress)
			}
		}
		// The journal's clock: the wave completed no earlier than the bake time after its last
		// promotion, and the next wave started after it completed.
		var lastPromoted time.Time
		for _, c := range js.MemberNames() {
			d := journal.Decision{Type: journal.ClusterPromoted, Namespace: fro.Namespace, Name: fro.Name, Revision: st.Revision, Wave: ws.Name, Cluster: c}
			if a := at[d.NaturalID()]; a.After(lastPromoted) {
				lastPromoted = a
			}
		}
		done := journal.Decision{Type: journal.WaveCompleted, Namespace: fro.Namespace, Name: fro.Name, Revision: st.Revision, Wave: ws.Name, Outcome: fleetv1alpha1.WaveSucceeded}
		// Status times are truncated to seconds; the journal keeps the full time.
		if completed := at[done.NaturalID()]; completed.Sub(lastPromoted) < bakeTime-time.Second {
			t.Errorf("wave %s completed %s after its last promotion, before the bake time", ws.Name, completed.Sub(lastPromoted))
		}
	}
	for _, c := range fro.Status.Clusters {
		p, ok := st.Cluster(c.Name)
		if c.Phase != fleetv1alpha1.ClusterHealthy || !ok || p.Progress != journal.ProgressPromoted {
			t.Errorf("cluster %s: status %s, journal %+v; want Healthy and Promoted", c.Name, c.Phase, p)
		}
		if c.Term != int64(term) || c.Revision != rev {
			t.Errorf("cluster %s: status term %d revision %d, want %d and %d", c.Name, c.Term, c.Revision, term, rev)
		}
	}
}
