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
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Finalizer holds a deleted FleetRollout until the hub has carried out its deletionPolicy: the
// objects it placed removed from every member cluster that got them (Delete), or left in place
// (Orphan), and the deletion journaled.
const Finalizer = "fleet.flotilla.dev/placed-objects"

// ensureFinalizer adds Finalizer to a FleetRollout that lacks it; fro is updated in place.
func (r *Reconciler) ensureFinalizer(ctx context.Context, fro *fleetv1alpha1.FleetRollout) error {
	if controllerutil.ContainsFinalizer(fro, Finalizer) {
		return nil
	}
	base := fro.DeepCopy()
	controllerutil.AddFinalizer(fro, Finalizer)
	if err := r.Client.Patch(ctx, fro, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer %s: %w", Finalizer, err)
	}
	return nil
}

// deletionPolicy is spec.deletionPolicy, Delete when empty (an object stored before the field
// had a default).
func deletionPolicy(fro *fleetv1alpha1.FleetRollout) fleetv1alpha1.DeletionPolicy {
	if fro.Spec.DeletionPolicy == fleetv1alpha1.DeletionOrphan {
		return fleetv1alpha1.DeletionOrphan
	}
	return fleetv1alpha1.DeletionDelete
}

// reconcileDelete carries out the deletion policy of a deleted FleetRollout. Delete removes the
// Rollout and companions from every cluster the journal says got them; a cluster that cannot be
// reached holds the FleetRollout (condition Deleting names it) until it can, which its
// MemberCluster's reachability or its watch coming back announces, or until its MemberCluster
// is deleted (its objects then stay, and the journal says so). Orphan touches no member. Either
// way the deletion is journaled (Deleted, with an event) before the finalizer goes.
func (r *Reconciler) reconcileDelete(ctx context.Context, fro *fleetv1alpha1.FleetRollout, term uint64) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(fro, Finalizer) {
		return ctrl.Result{}, nil
	}
	policy := deletionPolicy(fro)
	placed := placedClusters(r.Raft.Journal().History(fro.Namespace, fro.Name))
	d := journal.Decision{Type: journal.Deleted, Namespace: fro.Namespace, Name: fro.Name,
		Revision: fro.Status.CurrentRevision, Deletion: &journal.Deletion{Policy: policy, UID: string(fro.UID)}}
	if policy == fleetv1alpha1.DeletionOrphan {
		d.Clusters = placed
		d.Reason = "deletionPolicy Orphan: the Rollout and companions stay where they were placed"
	} else {
		res, err := r.removePlaced(ctx, fro, placed, term)
		if err != nil {
			return ctrl.Result{}, err
		}
		if len(res.waiting) > 0 {
			if err := r.writeDeleting(ctx, fro, res.waiting, res.failed == nil); err != nil {
				return ctrl.Result{}, err
			}
			// Unreachable clusters bring the next reconcile when they change; a request that
			// failed on a reachable one is retried with backoff.
			return ctrl.Result{}, res.failed
		}
		d.Clusters, d.Deletion.LeftOn = res.removed, res.left
		d.Reason = deletedReason(res.removed, res.left)
	}
	d.ID = d.NaturalID()
	rec, err := r.Raft.Propose(ctx, d)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !rec.Duplicate {
		logf.FromContext(ctx).Info("journaled", "decision", d.Type, "policy", policy, "clusters", d.Clusters, "index", rec.Index)
		r.recordDecision(fro, d)
	}
	base := fro.DeepCopy()
	controllerutil.RemoveFinalizer(fro, Finalizer)
	if err := r.Client.Patch(ctx, fro, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// deletedReason is the journal's sentence for a deletion under Delete.
func deletedReason(removed, left []string) string {
	msg := "deletionPolicy Delete: "
	switch {
	case len(removed) > 0:
		msg += "the Rollout and companions were removed from " + strings.Join(removed, ", ")
	case len(left) == 0:
		msg += "nothing was placed"
	default:
		msg += "removed from no cluster"
	}
	if len(left) > 0 {
		msg += "; they stay on " + strings.Join(left, ", ") + ", whose MemberCluster was deleted before the hub could reach it"
	}
	return msg
}

// placedClusters are the clusters the hub wrote to for the FleetRollout, from its journal
// since its last Deleted (an earlier FleetRollout of the same name): the hub journals every
// dispatch and catch-up before it writes, and a rollback writes only to dispatched clusters.
// Clusters that left the placement since are among them. Sorted.
func placedClusters(history []journal.Entry) []string {
	var out []string
	for _, e := range history {
		switch e.Type {
		case journal.Deleted:
			out = nil
		case journal.ClusterDispatched, journal.ClusterCaughtUp:
			if !slices.Contains(out, e.Cluster) {
				out = append(out, e.Cluster)
			}
		}
	}
	slices.Sort(out)
	return out
}

// removal is where the removal of a deleted FleetRollout's objects stands.
type removal struct {
	removed []string // clusters that hold none of its objects any more
	left    []string // clusters whose MemberCluster is gone: their objects stay
	waiting []string // clusters still holding objects, each with why ("us-east: not Reachable")
	failed  error    // the first request that failed on a reachable cluster
}

// removePlaced removes the FleetRollout's objects from each placed cluster it can reach.
func (r *Reconciler) removePlaced(ctx context.Context, fro *fleetv1alpha1.FleetRollout, placed []string, term uint64) (removal, error) {
	var res removal
	if len(placed) == 0 {
		return res, nil
	}
	list := &fleetv1alpha1.MemberClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		return res, err
	}
	mcs := map[string]*fleetv1alpha1.MemberCluster{}
	for i := range list.Items {
		mcs[list.Items[i].Name] = &list.Items[i]
	}
	objs, err := r.placedObjects(ctx, fro)
	if err != nil {
		return res, err
	}
	owner := fro.Namespace + "/" + fro.Name
	for _, c := range placed {
		mc := mcs[c]
		if mc == nil {
			res.left = append(res.left, c)
			continue
		}
		m, err := reachMember(ctx, r.Members, mc)
		if err == nil {
			err = removeObjects(ctx, m.Client, objs, owner, term)
			if err != nil && res.failed == nil {
				res.failed = fmt.Errorf("member %s: %w", c, err)
			}
		}
		if err != nil {
			res.waiting = append(res.waiting, c+" ("+err.Error()+")")
			continue
		}
		res.removed = append(res.removed, c)
	}
	return res, nil
}

// placedObject is one object the FleetRollout may have placed in a member.
type placedObject struct {
	gvk       schema.GroupVersionKind
	namespace string
	name      string
}

// placedObjects are the Rollout and companions of the current spec and of every revision still
// kept (a revision may have had other companions or another target namespace): the Rollouts
// first, then the companions in the reverse order of their placement.
func (r *Reconciler) placedObjects(ctx context.Context, fro *fleetv1alpha1.FleetRollout) ([]placedObject, error) {
	revs := []revisionData{{Companions: fro.Spec.Companions, TargetNamespace: targetNamespace(fro)}}
	list := &appsv1.ControllerRevisionList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(fro.Namespace),
		client.MatchingLabels{LabelFleetRollout: fro.Name}); err != nil {
		return nil, fmt.Errorf("listing revisions: %w", err)
	}
	for i := range list.Items {
		var data revisionData
		if metav1.IsControlledBy(&list.Items[i], fro) && json.Unmarshal(list.Items[i].Data.Raw, &data) == nil {
			revs = append(revs, data)
		}
	}
	return objectsOf(fro.Name, revs), nil
}

// objectsOf lists the objects the revisions place, each once: the Rollouts first, then the
// companions, the last placed first. A companion that does not parse was never placed.
func objectsOf(name string, revs []revisionData) []placedObject {
	rolloutGVK := rolloutsv1alpha1.GroupVersion.WithKind("Rollout")
	var rollouts, companions []placedObject
	add := func(to *[]placedObject, o placedObject) {
		if !slices.Contains(rollouts, o) && !slices.Contains(companions, o) {
			*to = append(*to, o)
		}
	}
	for _, rev := range revs {
		add(&rollouts, placedObject{gvk: rolloutGVK, namespace: rev.TargetNamespace, name: name})
		for i := len(rev.Companions) - 1; i >= 0; i-- {
			u := &unstructured.Unstructured{}
			if u.UnmarshalJSON(rev.Companions[i].Raw) != nil || u.GetKind() == "" || u.GetName() == "" {
				continue
			}
			add(&companions, placedObject{gvk: u.GroupVersionKind(), namespace: rev.TargetNamespace, name: u.GetName()})
		}
	}
	return append(rollouts, companions...)
}

// removeObjects deletes, directly in the member, each object the FleetRollout owner placed
// there. An object the hub did not place, or that another FleetRollout placed, is left alone.
//
// The deletion is fenced like every hub write, though the spoke's admission policy cannot
// judge a DELETE (the request carries no object, so no term): the hub reads the object, refuses
// to go on if a newer leader stamped it, and deletes it with preconditions on the UID and
// resourceVersion it read. Any write since (a newer leader's, which would carry a higher term)
// makes the deletion fail with a conflict, and the next reconcile reads again.
func removeObjects(ctx context.Context, c client.Client, objs []placedObject, owner string, term uint64) error {
	for _, o := range objs {
		u := &unstructured.Unstructured{} // unstructured reads go to the API server, not the cache
		u.SetGroupVersionKind(o.gvk)
		err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.name}, u)
		switch {
		case apierrors.IsNotFound(err), meta.IsNoMatchError(err):
			continue
		case err != nil:
			return fmt.Errorf("reading %s %s/%s: %w", o.gvk.Kind, o.namespace, o.name, err)
		}
		if err := mayRemove(u, owner, term); err != nil {
			return err
		}
		if u.GetLabels()[federation.PlacedLabel] == "" || u.GetAnnotations()[federation.FleetRolloutAnnotation] != owner ||
			u.GetDeletionTimestamp() != nil {
			continue
		}
		uid, rv := u.GetUID(), u.GetResourceVersion()
		err = c.Delete(ctx, u, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s %s/%s: %w", o.gvk.Kind, o.namespace, o.name, err)
		}
	}
	return nil
}

// mayRemove refuses to remove an object of owner that a leader of a newer term than term wrote:
// this leader has been deposed.
func mayRemove(u *unstructured.Unstructured, owner string, term uint64) error {
	if u.GetAnnotations()[federation.FleetRolloutAnnotation] != owner {
		return nil
	}
	// A term the hub did not write (absent or unreadable) is no newer leader's: it does not fence.
	t, ok, err := federation.TermOf(u)
	if newer := err == nil && ok && uint64(t) > term; !newer {
		return nil
	}
	return fmt.Errorf("%w: %s %s/%s was written in term %d, this leader's term is %d", federation.ErrStaleTerm,
		u.GetKind(), u.GetNamespace(), u.GetName(), t, term)
}

// writeDeleting records, in one status patch, that the deletion waits for clusters: clusters
// that cannot be reached (unreachable), or a removal that failed on a reachable one.
func (r *Reconciler) writeDeleting(ctx context.Context, fro *fleetv1alpha1.FleetRollout, waiting []string, unreachable bool) error {
	next := fro.DeepCopy()
	msg := "deleted: waiting to remove the Rollout and companions from " + strings.Join(waiting, "; ")
	reason := fleetv1alpha1.ReasonRemovingObjects
	if unreachable {
		reason = fleetv1alpha1.ReasonClustersUnreachable
	}
	for _, c := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{{fleetv1alpha1.ConditionDeleting, metav1.ConditionTrue}, {fleetv1alpha1.ConditionReady, metav1.ConditionFalse}} {
		meta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{Type: c.typ, Status: c.status, Reason: reason,
			Message: msg, ObservedGeneration: fro.Generation})
	}
	next.Status.Phase, next.Status.Message = fleetv1alpha1.FleetRolloutDeleting, msg
	if equality.Semantic.DeepEqual(fro.Status, next.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(fro, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// deletionStarted passes the update that marks a FleetRollout deleted.
type deletionStarted struct{ predicate.Funcs }

func (deletionStarted) Update(e event.UpdateEvent) bool {
	return e.ObjectOld != nil && e.ObjectNew != nil &&
		e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
}
