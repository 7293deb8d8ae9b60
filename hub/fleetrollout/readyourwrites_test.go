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
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft/rafttest"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestHubReadsItsOwnWrites runs the hub controllers against a hub and one member (API servers
// only; the test plays the spoke by writing the member Rollout's status) while the hub's watch
// of the member is held back (harness.WatchGate), so that the hub's member cache shows the
// state before each of the hub's writes for as long as the test likes. Each reconcile that runs
// meanwhile must decide on the hub's own write, not on that older state:
//   - dispatch: a reconcile after the revision was placed sees the member Rollout the hub
//     applied ("the spoke has not observed the directive yet") and does not place it again;
//   - pause: after a fleet pause set spec.paused on the member Rollout, a resume clears it
//     (the cache still shows the Rollout unpaused: read as such, the hub would leave it paused);
//   - retry: after a retry cleared status.abort, neither that reconcile nor the next fails the
//     cluster again (the cache still shows it Degraded and aborted).
func TestHubReadsItsOwnWrites(t *testing.T) {
	s := newScheme(t)
	hubEnv := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.HubCRDDir}})
	memberEnv := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.SpokeCRDDir}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	createNamespace(ctx, t, hubEnv.Client, systemNamespace)
	createNamespace(ctx, t, hubEnv.Client, appNamespace)
	createNamespace(ctx, t, memberEnv.Client, appNamespace)
	kubeconfig, err := harness.KubeconfigFromREST(memberEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	member := &harness.Cluster{Name: "m1", Config: memberEnv.Config, Kubeconfig: kubeconfig, Client: memberEnv.Client}
	register(ctx, t, hubEnv.Client, member, "us-east")
	node := rafttest.Start(t)
	defer memberWatches.Release()
	startHub(t, s, &harness.Cluster{Name: "hub", Config: hubEnv.Config}, node)
	hub := hubEnv.Client

	fro := &fleetv1alpha1.FleetRollout{}
	harness.ReadYAMLFile(t, harness.CheckoutFleetRollout, fro)
	fro.Spec.Waves = []fleetv1alpha1.Wave{{Name: "all"}}
	fro.Spec.Gates, fro.Spec.Companions = nil, nil
	key := client.ObjectKeyFromObject(fro)
	roKey := client.ObjectKey{Namespace: appNamespace, Name: fro.Name}
	cluster := func(f *fleetv1alpha1.FleetRollout) fleetv1alpha1.ClusterStatus {
		for _, c := range f.Status.Clusters {
			if c.Name == "m1" {
				return c
			}
		}
		return fleetv1alpha1.ClusterStatus{}
	}
	annotate := func(k, v string) {
		t.Helper()
		p := `{"metadata":{"annotations":{"` + k + `":"` + v + `"}}}`
		if err := hub.Patch(ctx, fro, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	memberRollout := func() *rolloutsv1alpha1.Rollout {
		t.Helper()
		ro := &rolloutsv1alpha1.Rollout{}
		if err := memberEnv.Client.Get(ctx, roKey, ro); err != nil {
			t.Fatal(err)
		}
		return ro
	}
	// spoke writes the member Rollout's status as the spoke would.
	spoke := func(status string) {
		t.Helper()
		ro := memberRollout()
		p := `{"status":{"observedGeneration":` + strconv.FormatInt(ro.Generation, 10) + `,` + status + `}}`
		statusPatch(ctx, t, memberEnv.Client, ro, p)
	}
	waitMember := func(what string, cond func(*rolloutsv1alpha1.Rollout) bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for ro := memberRollout(); !cond(ro); ro = memberRollout() {
			if time.Now().After(deadline) {
				t.Fatalf("member Rollout not %s in time: spec.paused %v, status %+v", what, ro.Spec.Paused, ro.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	waitFor := func(what string, cond func(*fleetv1alpha1.FleetRollout) bool) *fleetv1alpha1.FleetRollout {
		t.Helper()
		return waitFleetRollout(ctx, t, hub, key, what, cond)
	}
	// Revision 1 goes out with the watch working (the hub's cache lists the member first).
	if err := hub.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	waitFor("dispatched to m1", func(f *fleetv1alpha1.FleetRollout) bool {
		return cluster(f).Phase == fleetv1alpha1.ClusterProgressing
	})
	spoke(`"phase":"Healthy","currentPodHash":"a","stableRS":"a","message":""`)
	waitFor("Succeeded at revision 1", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 1 && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
	})

	// Dispatch of revision 2 while the cache shows revision 1 Healthy.
	memberWatches.Hold()
	memberRequests.take()
	jsonPatch(ctx, t, hub, fro, `[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"}]`)
	waitFor("revision 2 dispatched to m1", func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 2 && cluster(f).Revision == 2 && cluster(f).Phase == fleetv1alpha1.ClusterProgressing
	})
	annotate("test.flotilla.dev/nudge", "1") // a reconcile while the cache lags
	waitFor("reading the Rollout it placed", func(f *fleetv1alpha1.FleetRollout) bool {
		return cluster(f).Message == "the spoke has not observed the directive yet"
	})
	if n := memberRequests.take()["patch rollouts"]; n != 1 {
		t.Errorf("the hub applied the member Rollout %d times, want once: it placed it again on the lagging cache", n)
	}

	// Pause, then resume, while the cache shows neither.
	memberWatches.Release()
	spoke(`"phase":"Progressing","currentPodHash":"b","message":"at step 1"`)
	waitFor("Progressing at step 1", func(f *fleetv1alpha1.FleetRollout) bool { return cluster(f).Message == "at step 1" })
	memberWatches.Hold()
	jsonPatch(ctx, t, hub, fro, `[{"op":"add","path":"/spec/paused","value":true}]`)
	waitMember("paused by the hub", func(ro *rolloutsv1alpha1.Rollout) bool { return ro.Spec.Paused })
	jsonPatch(ctx, t, hub, fro, `[{"op":"replace","path":"/spec/paused","value":false}]`)
	waitMember("resumed by the hub", func(ro *rolloutsv1alpha1.Rollout) bool { return !ro.Spec.Paused })

	// Retry: the spoke aborts, the wave fails; the retry's reconcile and the next one run while
	// the cache still shows the Rollout aborted.
	memberWatches.Release()
	spoke(`"phase":"Degraded","abort":true,"message":"aborted","conditions":[{"type":"` + rolloutsv1alpha1.RolloutAborted +
		`","status":"True","reason":"AbortedByUser","message":"aborted","lastTransitionTime":"2026-11-26T00:00:00Z"}]`)
	waitFor("Failed", func(f *fleetv1alpha1.FleetRollout) bool { return f.Status.Phase == fleetv1alpha1.FleetRolloutFailed })
	memberWatches.Hold()
	for _, token := range []string{"retry-1", "retry-2"} {
		annotate(fleetv1alpha1.AnnotationRetryRequestedAt, token)
		got := waitFor("handling "+token, func(f *fleetv1alpha1.FleetRollout) bool { return f.Status.LastHandledRetryAt == token })
		if c := cluster(got); c.Phase != fleetv1alpha1.ClusterProgressing {
			t.Errorf("after %s, m1 is %s (%s), want Progressing: judged by the aborted Rollout the cache still shows", token, c.Phase, c.Message)
		}
		var failed []string
		for _, e := range node.Journal().History(appNamespace, fro.Name) {
			if e.Type == journal.ClusterFailed {
				failed = append(failed, e.ID)
			}
		}
		if len(failed) != 1 {
			t.Errorf("after %s, the journal records m1 failed %d times (%v), want once, before the retry", token, len(failed), failed)
		}
	}
	if ro := memberRollout(); ro.Status.Abort {
		t.Errorf("the retry did not clear status.abort on the member Rollout")
	}
}
