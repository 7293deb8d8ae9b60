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
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// targetNamespace is the member namespace of the Rollout and companions.
func targetNamespace(fro *fleetv1alpha1.FleetRollout) string {
	if fro.Spec.TargetNamespace != "" {
		return fro.Spec.TargetNamespace
	}
	return fro.Namespace
}

// stamp marks a member object as placed by the leader of term for revision rev of fro.
func stamp(obj *unstructured.Unstructured, fro *fleetv1alpha1.FleetRollout, rev int64, term uint64) {
	federation.StampTerm(obj, term)
	ann := obj.GetAnnotations()
	ann[federation.RevisionAnnotation] = strconv.FormatInt(rev, 10)
	ann[federation.FleetRolloutAnnotation] = fro.Namespace + "/" + fro.Name
	if fro.UID != "" {
		ann[federation.FleetRolloutUIDAnnotation] = string(fro.UID)
	}
	obj.SetAnnotations(ann)
}

// renderRollout is the member Rollout of one cluster, unstructured and stamped, ready for
// server-side apply. With fastTrack it carries the fast-track directive for rev (the spoke
// skips the update's steps); without, it carries none, even if the template's own
// annotations name one: only the hub's return to a stable revision may skip steps.
func renderRollout(fro *fleetv1alpha1.FleetRollout, tmpl *fleetv1alpha1.RolloutTemplate, rev int64, term uint64,
	fastTrack bool) (*unstructured.Unstructured, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	ro.APIVersion, ro.Kind = rolloutsv1alpha1.GroupVersion.String(), "Rollout"
	ro.Name, ro.Namespace = fro.Name, targetNamespace(fro)
	ro.Labels = maps.Clone(tmpl.Metadata.Labels)
	ro.Annotations = maps.Clone(tmpl.Metadata.Annotations)
	delete(ro.Annotations, federation.FastTrackAnnotation)
	if fastTrack {
		federation.StampFastTrack(ro, rev)
	}
	ro.Spec = *tmpl.Spec.DeepCopy()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ro)
	if err != nil {
		return nil, err
	}
	dropNulls(obj)
	u := &unstructured.Unstructured{Object: obj}
	delete(u.Object, "status")
	stamp(u, fro, rev, term)
	return u, nil
}

// dropNulls removes the null values the typed-to-unstructured conversion leaves for empty
// structs (resources: null), which the schema refuses and which server-side apply would
// otherwise take as fields the hub owns.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			dropNulls(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropNulls(em)
				}
			}
		}
	}
}

// applyCluster server-side applies, under the hub's field manager, the companions (in order)
// and then the Rollout of one cluster, every object stamped with term and revision. The
// target namespace must exist in the member: Flotilla does not create namespaces. It is a
// normal dispatch: the Rollout carries no fast-track directive.
func applyCluster(ctx context.Context, c client.Client, fro *fleetv1alpha1.FleetRollout, tmpl *fleetv1alpha1.RolloutTemplate,
	rev int64, term uint64) error {
	return place(ctx, c, fro, tmpl, rev, term, false)
}

// place is applyCluster, the Rollout carrying the fast-track directive when fastTrack is set.
func place(ctx context.Context, c client.Client, fro *fleetv1alpha1.FleetRollout, tmpl *fleetv1alpha1.RolloutTemplate,
	rev int64, term uint64, fastTrack bool) error {
	ns := targetNamespace(fro)
	opts := []client.ApplyOption{client.FieldOwner(federation.FieldManager), client.ForceOwnership}
	for i, raw := range fro.Spec.Companions {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			return fmt.Errorf("spec.companions[%d]: %w", i, err)
		}
		u.SetNamespace(ns)
		stamp(u, fro, rev, term)
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), opts...); err != nil {
			return fmt.Errorf("applying companion %s %s/%s: %w", u.GetKind(), ns, u.GetName(), err)
		}
	}
	ro, err := renderRollout(fro, tmpl, rev, term, fastTrack)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(ro), opts...); err != nil {
		return fmt.Errorf("applying Rollout %s/%s: %w", ns, fro.Name, err)
	}
	return nil
}

// observation is what the hub read of one member's Rollout.
type observation struct {
	// Reachable is false when the member's Rollouts cannot be trusted (not engaged, its cache
	// has not listed, or its watch fails), or when the cache does not show a write of the hub
	// yet (Pending).
	Reachable bool
	// Pending is set when the member's cache does not show the hub's last write of the
	// Rollout yet and the write's answer cannot stand in for it: nothing is decided on the
	// cluster until the watch event or Until.
	Pending bool
	// Rollout is the member Rollout, nil when it does not exist.
	Rollout *rolloutsv1alpha1.Rollout
	// Until, when set, is when the read stops relying on a write of the hub that the cache does
	// not show yet: the reconcile runs again at the latest then.
	Until time.Time
	// Err says why the member is not reachable.
	Err error
	// Client is the member's client (cached Rollout reads with the hub's own writes, direct
	// writes) when it is Reachable.
	Client client.Client
}

// reachMember is the engaged member of mc, or why its Rollouts cannot be trusted: its
// MemberCluster reports it unreachable (the heartbeat), it is not engaged, or its cache has not
// listed or its watch fails (the cache may hold a stale Healthy).
func reachMember(ctx context.Context, reg *members.Registry, mc *fleetv1alpha1.MemberCluster) (*members.Member, error) {
	if mc == nil {
		return nil, errors.New("no MemberCluster")
	}
	if c := meta.FindStatusCondition(mc.Status.Conditions, fleetv1alpha1.ConditionReachable); c != nil && c.Status == metav1.ConditionFalse {
		return nil, fmt.Errorf("MemberCluster %s is not Reachable: %s", mc.Name, c.Message)
	}
	m, err := reg.Get(ctx, mc)
	if err != nil {
		return nil, err
	}
	if err := m.Observable(); err != nil {
		return nil, err
	}
	return m, nil
}

// observeMember reads the member Rollout of fro from the cache of mc's cluster, with the
// hub's own writes (members.Member.GetRollout), if the member can be reached (reachMember).
func observeMember(ctx context.Context, reg *members.Registry, mc *fleetv1alpha1.MemberCluster, fro *fleetv1alpha1.FleetRollout) observation {
	m, err := reachMember(ctx, reg, mc)
	if err != nil {
		return observation{Err: err}
	}
	ro, until, err := m.GetRollout(ctx, client.ObjectKey{Namespace: targetNamespace(fro), Name: fro.Name})
	var notYet *members.NotObservedError
	switch {
	case errors.As(err, &notYet):
		return observation{Pending: true, Until: notYet.Until, Err: err}
	case apierrors.IsNotFound(err):
		return observation{Reachable: true, Until: until, Client: m.Client}
	case err != nil:
		return observation{Err: err}
	}
	return observation{Reachable: true, Rollout: ro, Until: until, Client: m.Client}
}

// memberRevision is the fleet revision stamped on a member Rollout, 0 if none.
func memberRevision(ro *rolloutsv1alpha1.Rollout) int64 {
	n, _ := strconv.ParseInt(ro.Annotations[federation.RevisionAnnotation], 10, 64)
	return n
}

// clusterView is one dispatched cluster as the hub sees it: its scheduler phase and its status
// phase, with the member Rollout's step, weight, term and message.
type clusterView struct {
	Sched   plan.ClusterPhase
	Phase   fleetv1alpha1.ClusterPhase
	Message string
	Step    *int32
	Weight  *int32
	Term    int64
}

// viewOf maps what was read of a dispatched cluster to its phases.
func viewOf(obs observation, rev int64) clusterView {
	if obs.Pending {
		return clusterView{Sched: plan.Dispatched, Phase: fleetv1alpha1.ClusterProgressing,
			Message: "waiting for the member's watch to show the hub's last write"}
	}
	if !obs.Reachable {
		msg := "the member cannot be reached"
		if obs.Err != nil {
			msg += ": " + obs.Err.Error()
		}
		return clusterView{Sched: plan.Unknown, Phase: fleetv1alpha1.ClusterUnknown, Message: msg}
	}
	ro := obs.Rollout
	if ro == nil {
		return clusterView{Sched: plan.Dispatched, Phase: fleetv1alpha1.ClusterProgressing,
			Message: "the member Rollout does not exist yet"}
	}
	v := clusterView{Step: ro.Status.CurrentStepIndex, Term: ro.Status.Term, Message: ro.Status.Message}
	if ro.Status.Canary != nil && ro.Status.Canary.Weights != nil {
		w := ro.Status.Canary.Weights.Canary.Weight
		v.Weight = &w
	}
	switch {
	case memberRevision(ro) != rev:
		v.Sched, v.Phase = plan.Dispatched, fleetv1alpha1.ClusterProgressing
		v.Message = fmt.Sprintf("the member Rollout is at revision %d, not %d yet", memberRevision(ro), rev)
	case ro.Status.ObservedGeneration != ro.Generation:
		v.Sched, v.Phase = plan.Dispatched, fleetv1alpha1.ClusterProgressing
		v.Message = "the spoke has not observed the directive yet"
	case ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy && ro.Status.CurrentPodHash != "" &&
		ro.Status.StableRS == ro.Status.CurrentPodHash:
		v.Sched, v.Phase = plan.Healthy, fleetv1alpha1.ClusterHealthy
	case ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseDegraded && !ro.Status.Abort &&
		meta.IsStatusConditionTrue(ro.Status.Conditions, rolloutsv1alpha1.RolloutAborted):
		// status.abort was cleared (a retry) and the spoke has not taken it up yet.
		v.Sched, v.Phase = plan.Dispatched, fleetv1alpha1.ClusterProgressing
		v.Message = "retried: the spoke has not started the update again yet"
	case ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseDegraded:
		v.Sched, v.Phase = plan.Failed, fleetv1alpha1.ClusterDegraded
	case ro.Status.Phase == rolloutsv1alpha1.RolloutPhasePaused:
		v.Sched, v.Phase = plan.Progressing, fleetv1alpha1.ClusterPaused
	default:
		v.Sched, v.Phase = plan.Progressing, fleetv1alpha1.ClusterProgressing
	}
	return v
}
