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

package fleetrollout

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// TestRenderRollout checks what the hub applies to a member: no nulls (a container without
// resources must not become resources: null, which the schema refuses), no status, and the
// hub's stamp: placed label, term, revision and FleetRollout (name and UID) annotations, and
// the fast-track directive only on a return to the stable revision.
func TestRenderRollout(t *testing.T) {
	fro := &fleetv1alpha1.FleetRollout{}
	fro.Namespace, fro.Name, fro.UID = "shop", "checkout", "uid-1"
	tmpl := &fleetv1alpha1.RolloutTemplate{
		Metadata: fleetv1alpha1.TemplateMetadata{Labels: map[string]string{"team": "pay"},
			// A template cannot ask for the fast-track itself: a normal dispatch drops it.
			Annotations: map[string]string{federation.FastTrackAnnotation: "3"}},
		Spec: rolloutsv1alpha1.RolloutSpec{Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "app:v2"}}}}},
	}
	u, err := renderRollout(fro, tmpl, 3, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := u.GetAnnotations()[federation.FastTrackAnnotation]; ok {
		t.Errorf("a normal dispatch carries the fast-track directive %q", v)
	}
	back, err := renderRollout(fro, tmpl, 3, 7, true)
	if err != nil {
		t.Fatal(err)
	}
	if v := back.GetAnnotations()[federation.FastTrackAnnotation]; v != "3" {
		t.Errorf("a return to the stable revision 3 carries the fast-track directive %q, want 3", v)
	}
	var nulls []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			nulls = append(nulls, path)
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("", u.Object)
	if len(nulls) > 0 {
		t.Errorf("rendered Rollout has nulls at %v", nulls)
	}
	if _, ok := u.Object["status"]; ok {
		t.Error("rendered Rollout has a status")
	}
	if u.GetNamespace() != "shop" || u.GetName() != "checkout" || u.GetKind() != "Rollout" {
		t.Errorf("rendered %s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
	}
	ann := u.GetAnnotations()
	if ann[federation.TermAnnotation] != "7" || ann[federation.RevisionAnnotation] != "3" ||
		ann[federation.FleetRolloutAnnotation] != "shop/checkout" || ann[federation.FleetRolloutUIDAnnotation] != "uid-1" ||
		u.GetLabels()[federation.PlacedLabel] != "true" ||
		u.GetLabels()["team"] != "pay" {
		t.Errorf("rendered metadata: labels %v annotations %v", u.GetLabels(), ann)
	}
	img, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if len(img) != 1 {
		t.Errorf("containers %v", img)
	}
}

// TestViewOf maps member Rollouts to the scheduler's and the status's cluster phases.
func TestViewOf(t *testing.T) {
	ro := func(rev string, gen, observed int64, phase rolloutsv1alpha1.RolloutPhase, current, stable string) *rolloutsv1alpha1.Rollout {
		r := &rolloutsv1alpha1.Rollout{}
		r.Annotations = map[string]string{federation.RevisionAnnotation: rev}
		r.Generation, r.Status.ObservedGeneration, r.Status.Phase = gen, observed, phase
		r.Status.CurrentPodHash, r.Status.StableRS = current, stable
		return r
	}
	for _, tc := range []struct {
		name  string
		obs   observation
		sched plan.ClusterPhase
		phase fleetv1alpha1.ClusterPhase
	}{
		{"unreachable", observation{}, plan.Unknown, fleetv1alpha1.ClusterUnknown},
		{"the hub's write not shown yet", observation{Pending: true}, plan.Dispatched, fleetv1alpha1.ClusterProgressing},
		{"not there yet", observation{Reachable: true}, plan.Dispatched, fleetv1alpha1.ClusterProgressing},
		{"older revision", observation{Reachable: true, Rollout: ro("1", 1, 1, "Healthy", "a", "a")}, plan.Dispatched, fleetv1alpha1.ClusterProgressing},
		{"not observed", observation{Reachable: true, Rollout: ro("2", 2, 1, "Healthy", "a", "a")}, plan.Dispatched, fleetv1alpha1.ClusterProgressing},
		{"healthy", observation{Reachable: true, Rollout: ro("2", 2, 2, "Healthy", "b", "b")}, plan.Healthy, fleetv1alpha1.ClusterHealthy},
		{"healthy but not promoted", observation{Reachable: true, Rollout: ro("2", 2, 2, "Healthy", "b", "a")}, plan.Progressing, fleetv1alpha1.ClusterProgressing},
		{"paused", observation{Reachable: true, Rollout: ro("2", 2, 2, "Paused", "b", "a")}, plan.Progressing, fleetv1alpha1.ClusterPaused},
		{"degraded", observation{Reachable: true, Rollout: ro("2", 2, 2, "Degraded", "b", "a")}, plan.Failed, fleetv1alpha1.ClusterDegraded},
		{"aborted", observation{Reachable: true, Rollout: aborted(ro("2", 2, 2, "Degraded", "b", "a"), true)}, plan.Failed, fleetv1alpha1.ClusterDegraded},
		{"retried, the spoke not there yet", observation{Reachable: true, Rollout: aborted(ro("2", 2, 2, "Degraded", "b", "a"), false)},
			plan.Dispatched, fleetv1alpha1.ClusterProgressing},
	} {
		v := viewOf(tc.obs, 2)
		if v.Sched != tc.sched || v.Phase != tc.phase {
			t.Errorf("%s: got %s/%s, want %s/%s", tc.name, v.Sched, v.Phase, tc.sched, tc.phase)
		}
	}
}

// aborted marks a Rollout aborted by the spoke (the Aborted condition), with status.abort as
// given: false is a retry the spoke has not taken up yet.
func aborted(ro *rolloutsv1alpha1.Rollout, abort bool) *rolloutsv1alpha1.Rollout {
	ro.Status.Abort = abort
	ro.Status.Conditions = []metav1.Condition{{Type: rolloutsv1alpha1.RolloutAborted, Status: metav1.ConditionTrue, Reason: "AbortedByUser"}}
	return ro
}

// TestPauseOutOfStep: the hub pauses a member Rollout that is not paused, and unpauses only one
// whose spec.paused it owns (a person who paused it in the member is left alone).
func TestPauseOutOfStep(t *testing.T) {
	owned := func(fields string) []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{{Manager: federation.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}}
	}
	ro := func(paused bool, mf []metav1.ManagedFieldsEntry) *rolloutsv1alpha1.Rollout {
		r := &rolloutsv1alpha1.Rollout{}
		r.Spec.Paused, r.ManagedFields = paused, mf
		return r
	}
	for _, tc := range []struct {
		name string
		ro   *rolloutsv1alpha1.Rollout
		want bool
		out  bool
	}{
		{"pause a running Rollout", ro(false, nil), true, true},
		{"already paused", ro(true, nil), true, false},
		{"running, not to pause", ro(false, nil), false, false},
		{"paused by the hub, resumed", ro(true, owned(`{"f:spec":{"f:paused":{},"f:replicas":{}}}`)), false, true},
		{"paused by a person in the member", ro(true, owned(`{"f:spec":{"f:replicas":{}}}`)), false, false},
	} {
		if got := pauseOutOfStep(tc.ro, tc.want); got != tc.out {
			t.Errorf("%s: pauseOutOfStep = %v, want %v", tc.name, got, tc.out)
		}
	}
}
