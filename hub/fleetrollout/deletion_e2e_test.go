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
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestDeletionPolicies deletes FleetRollouts on a hub with three member clusters (full control
// planes, the spoke agent and the fencing policy in each):
//   - deletionPolicy Delete (the default), after ap-south left the placement and while
//     eu-west's API server is stopped: the FleetRollout stays, with condition Deleting naming
//     eu-west, while the Rollout and its companion ConfigMap are removed from us-east and
//     ap-south (and the ReplicaSets with them, by the member's garbage collector); once eu-west
//     is back its objects go too and the FleetRollout disappears; the journal and
//     `kubectl flotilla fleet history` show one Deleted decision naming the three clusters;
//   - a FleetRollout created again with the same name starts afresh (revision 1 goes out and
//     succeeds, although the journal holds the first one's decisions);
//   - deletionPolicy Orphan (on us-east and ap-south): the FleetRollout disappears and the
//     member Rollouts and ConfigMaps stay, Healthy, untouched;
//   - Delete again while ap-south is cut off, then ap-south's MemberCluster deleted: the
//     FleetRollout goes without it, the journal names ap-south as where the objects stay, and
//     they are still there when its API server is back.
func TestDeletionPolicies(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	hub, byName, node, _ := startRegionFleet(t, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	east, west, south := byName["us-east"], byName["eu-west"], byName["ap-south"]
	history := func() []journal.Entry { return node.Journal().History(appNamespace, "checkout") }
	succeeded := func(f *fleetv1alpha1.FleetRollout) bool {
		return f.Status.CurrentRevision == 1 && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
	}

	fro := newCheckout(t, "")
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(fro)
	got := waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1", succeeded)
	if !slices.Contains(got.Finalizers, fleetrollout.Finalizer) {
		t.Errorf("finalizers %v, want %s", got.Finalizers, fleetrollout.Finalizer)
	}
	if got.Spec.DeletionPolicy != fleetv1alpha1.DeletionDelete {
		t.Errorf("spec.deletionPolicy defaulted to %q, want Delete", got.Spec.DeletionPolicy)
	}
	patchMemberCluster(ctx, t, hub.Client, south.Name, `{"metadata":{"labels":{"env":null}}}`)
	waitFleetRollout(ctx, t, hub.Client, key, "without ap-south", func(f *fleetv1alpha1.FleetRollout) bool {
		return clusterPhase(f, south.Name) == ""
	})
	memberObjectsThere(ctx, t, south) // it left the placement: its objects stay until the deletion

	cut := west
	if err := cut.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = cut.StartAPIServer(context.WithoutCancel(ctx))
		}
	}()
	waitMemberUnreachable(ctx, t, hub.Client, west.Name)
	if err := hub.Client.Delete(ctx, fro); err != nil {
		t.Fatal(err)
	}
	held := waitFleetRollout(ctx, t, hub.Client, key, "Deleting, waiting for eu-west", func(f *fleetv1alpha1.FleetRollout) bool {
		c := meta.FindStatusCondition(f.Status.Conditions, fleetv1alpha1.ConditionDeleting)
		return c != nil && c.Status == "True" && c.Reason == fleetv1alpha1.ReasonClustersUnreachable
	})
	c := meta.FindStatusCondition(held.Status.Conditions, fleetv1alpha1.ConditionDeleting)
	if !strings.Contains(c.Message, west.Name) || strings.Contains(c.Message, east.Name) || strings.Contains(c.Message, south.Name) {
		t.Errorf("condition Deleting says %q; want it to name eu-west only", c.Message)
	}
	if held.Status.Phase != fleetv1alpha1.FleetRolloutDeleting {
		t.Errorf("phase %s while waiting, want Deleting", held.Status.Phase)
	}
	waitMemberObjectsGone(ctx, t, east)
	waitMemberObjectsGone(ctx, t, south)
	// eu-west is still unreachable: the FleetRollout stays, and nothing is journaled yet.
	time.Sleep(3 * time.Second)
	if err := hub.Client.Get(ctx, key, &fleetv1alpha1.FleetRollout{}); err != nil {
		t.Fatalf("the FleetRollout went while eu-west was unreachable: %v", err)
	}
	if deletedEntries(history()) != nil {
		t.Fatalf("Deleted journaled while eu-west was unreachable:\n%s", describe(history()))
	}

	back := time.Now()
	if err := west.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitFleetRolloutGone(ctx, t, hub.Client, key)
	t.Logf("eu-west back -> FleetRollout gone: %s", time.Since(back).Round(100*time.Millisecond))
	waitMemberObjectsGone(ctx, t, west)
	del := deletedEntries(history())
	if len(del) != 1 || del[0].Deletion.Policy != fleetv1alpha1.DeletionDelete || len(del[0].Deletion.LeftOn) != 0 ||
		strings.Join(del[0].Clusters, ",") != "ap-south,eu-west,us-east" {
		t.Errorf("journal: Deleted %+v, want one, Delete, from ap-south, eu-west and us-east:\n%s", del, describe(history()))
	}
	var out bytes.Buffer
	plugin.RenderHistory(&out, history())
	if !strings.Contains(out.String(), "Deleted") || !strings.Contains(out.String(), "policy Delete") {
		t.Errorf("fleet history does not show the deletion:\n%s", out.String())
	}

	// Created again with the same name, deletionPolicy Orphan, on us-east and ap-south: a member
	// whose API server was restarted does not bring new pods up (its controller manager's
	// informers stay behind), so eu-west and its wave take no more part.
	patchMemberCluster(ctx, t, hub.Client, west.Name, `{"metadata":{"labels":{"env":null}}}`)
	patchMemberCluster(ctx, t, hub.Client, south.Name, `{"metadata":{"labels":{"env":"prod"}}}`)
	fro = newCheckout(t, fleetv1alpha1.DeletionOrphan)
	fro.Spec.Waves = slices.DeleteFunc(fro.Spec.Waves, func(w fleetv1alpha1.Wave) bool { return w.Name == "europe" })
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1 once created again", succeeded)
	before := map[string]string{}
	for _, m := range []*harness.Cluster{east, south} {
		before[m.Name] = string(memberObjectsThere(ctx, t, m).UID)
	}
	if err := hub.Client.Delete(ctx, fro); err != nil {
		t.Fatal(err)
	}
	waitFleetRolloutGone(ctx, t, hub.Client, key)
	for _, m := range []*harness.Cluster{east, south} {
		ro := memberObjectsThere(ctx, t, m)
		if string(ro.GetUID()) != before[m.Name] || ro.Labels[federation.PlacedLabel] != "true" {
			t.Errorf("%s: the orphaned Rollout was replaced or changed: uid %s (was %s), labels %v", m.Name, ro.UID, before[m.Name], ro.Labels)
		}
		if ro.Status.Phase != rolloutsv1alpha1.RolloutPhaseHealthy {
			t.Errorf("%s: the orphaned Rollout is %s, want Healthy", m.Name, ro.Status.Phase)
		}
	}
	del = deletedEntries(history())
	if len(del) != 2 || del[1].Deletion.Policy != fleetv1alpha1.DeletionOrphan || strings.Join(del[1].Clusters, ",") != "ap-south,us-east" {
		t.Errorf("journal: Deleted %+v, want a second one, Orphan, on ap-south and us-east:\n%s", del, describe(history()))
	}

	// Created a third time, Delete: it takes the orphans over. ap-south is cut off, and its
	// MemberCluster deleted: the deletion no longer waits for it, and says that its objects stay
	// there.
	fro = newCheckout(t, "")
	fro.Spec.Waves = slices.DeleteFunc(fro.Spec.Waves, func(w fleetv1alpha1.Wave) bool { return w.Name == "europe" })
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1 the third time", succeeded)
	cut = south
	if err := cut.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = false
	waitMemberUnreachable(ctx, t, hub.Client, south.Name)
	if err := hub.Client.Delete(ctx, fro); err != nil {
		t.Fatal(err)
	}
	waitFleetRollout(ctx, t, hub.Client, key, "Deleting, waiting for ap-south", func(f *fleetv1alpha1.FleetRollout) bool {
		c := meta.FindStatusCondition(f.Status.Conditions, fleetv1alpha1.ConditionDeleting)
		return c != nil && c.Status == "True" && strings.Contains(c.Message, south.Name)
	})
	waitMemberObjectsGone(ctx, t, east)
	if err := hub.Client.Delete(ctx, &fleetv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: south.Name}}); err != nil {
		t.Fatal(err)
	}
	waitFleetRolloutGone(ctx, t, hub.Client, key)
	del = deletedEntries(history())
	if len(del) != 3 || strings.Join(del[2].Clusters, ",") != "us-east" || strings.Join(del[2].Deletion.LeftOn, ",") != "ap-south" {
		t.Errorf("journal: Deleted %+v, want a third one, removed from us-east, left on ap-south:\n%s", del, describe(history()))
	}
	if err := cut.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	memberObjectsThere(ctx, t, south) // left behind, as the journal says
}

// newCheckout is the test's FleetRollout without gates or bake time, with the deletion policy.
func newCheckout(t *testing.T, policy fleetv1alpha1.DeletionPolicy) *fleetv1alpha1.FleetRollout {
	t.Helper()
	fro := &fleetv1alpha1.FleetRollout{}
	harness.ReadYAMLFile(t, harness.CheckoutFleetRollout, fro)
	fro.Spec.Gates = nil
	for i := range fro.Spec.Waves {
		fro.Spec.Waves[i].Gates, fro.Spec.Waves[i].BakeTime = nil, ""
	}
	fro.Spec.DeletionPolicy = policy
	return fro
}

func deletedEntries(h []journal.Entry) []journal.Entry {
	var out []journal.Entry
	for _, e := range h {
		if e.Type == journal.Deleted {
			out = append(out, e)
		}
	}
	return out
}

// memberObjectsThere checks that the member holds the Rollout and the companion ConfigMap, and
// returns the Rollout.
func memberObjectsThere(ctx context.Context, t *testing.T, m *harness.Cluster) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	errRO := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro)
	errCM := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout-config"}, &corev1.ConfigMap{})
	if errRO != nil || errCM != nil {
		t.Fatalf("%s: want the Rollout and the ConfigMap there: %v, %v", m.Name, errRO, errCM)
	}
	return ro
}

// waitMemberObjectsGone waits until the member holds neither the Rollout nor the ConfigMap, nor
// any ReplicaSet of the Rollout.
func waitMemberObjectsGone(ctx context.Context, t *testing.T, m *harness.Cluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var left []string
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, &rolloutsv1alpha1.Rollout{}); !apierrors.IsNotFound(err) {
			left = append(left, "Rollout")
		}
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout-config"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
			left = append(left, "ConfigMap")
		}
		rss := &appsv1.ReplicaSetList{}
		if err := m.Client.List(ctx, rss, client.InNamespace(appNamespace), client.MatchingLabels{"app": "checkout"}); err != nil || len(rss.Items) > 0 {
			left = append(left, "ReplicaSets")
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s still holds %v", m.Name, left)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func waitFleetRolloutGone(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey) {
	t.Helper()
	for {
		f := &fleetv1alpha1.FleetRollout{}
		err := c.Get(ctx, key, f)
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("FleetRollout %s not gone in time: finalizers %v, phase %s, message %q (%v)", key, f.Finalizers,
				f.Status.Phase, f.Status.Message, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
