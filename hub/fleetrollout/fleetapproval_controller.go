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
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/leader"
)

// ApprovalReconciler answers FleetApprovals: it sets their Accepted condition from what the
// FleetRollout controller journaled. True (Approved) once an ApprovalGiven decision names the
// approval; False when it can never be taken: the FleetRollout does not exist, the revision is
// not the current one any more, the wave does not exist or asks for no approval at that stage,
// or another approval was taken for that stage first. An approval that may still be taken (its
// wave has not reached that stage) has no condition yet. Like the FleetRollout controller it
// acts only on the leader, and writes one status per reconcile, only when it changes.
type ApprovalReconciler struct {
	// Client reads the hub from the manager's cache and writes to it.
	Client client.Client
	// Raft holds the journal.
	Raft Journal
	// Gate hands out the leadership.
	Gate *leader.Gate
}

// SetupWithManager registers the controller. A FleetRollout's status changes when the hub
// takes an approval, so a change of it re-reads that FleetRollout's approvals.
func (r *ApprovalReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("fleetapproval").
		For(&fleetv1alpha1.FleetApproval{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&fleetv1alpha1.FleetRollout{}, handler.EnqueueRequestsFromMapFunc(r.approvalsOf)).
		WatchesRawSource(r.Gate.Source(func(ctx context.Context) ([]client.Object, error) {
			list := &fleetv1alpha1.FleetApprovalList{}
			if err := r.Client.List(ctx, list); err != nil {
				return nil, err
			}
			out := make([]client.Object, 0, len(list.Items))
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			return out, nil
		})).
		Complete(r)
}

// approvalsOf lists the approvals that name the FleetRollout o.
func (r *ApprovalReconciler) approvalsOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &fleetv1alpha1.FleetApprovalList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if a := &list.Items[i]; a.Spec.FleetRollout == o.GetName() && !accepted(a) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(a)})
		}
	}
	return out
}

// accepted is true once the hub took the approval: nothing can change that any more.
func accepted(a *fleetv1alpha1.FleetApproval) bool {
	return meta.IsStatusConditionTrue(a.Status.Conditions, fleetv1alpha1.ConditionAccepted)
}

// Reconcile sets one FleetApproval's Accepted condition, if this replica leads.
func (r *ApprovalReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lctx, release, _, ok := r.Gate.Acquire(ctx)
	defer release()
	if !ok {
		return ctrl.Result{}, nil
	}
	a := &fleetv1alpha1.FleetApproval{}
	if err := r.Client.Get(lctx, req.NamespacedName, a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if accepted(a) || !a.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	fro := &fleetv1alpha1.FleetRollout{}
	err := r.Client.Get(lctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.FleetRollout}, fro)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if apierrors.IsNotFound(err) {
		fro = nil
	}
	cond := ApprovalVerdict(a, fro, r.Raft.Journal().History(a.Namespace, a.Spec.FleetRollout))
	if cond == nil {
		return ctrl.Result{}, nil // it may still be taken
	}
	next := a.DeepCopy()
	next.Status.ObservedGeneration = a.Generation
	cond.ObservedGeneration = a.Generation
	meta.SetStatusCondition(&next.Status.Conditions, *cond)
	if equality.Semantic.DeepEqual(a.Status, next.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(lctx, next, client.MergeFrom(a)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

// ApprovalVerdict is the Accepted condition of approval a, given its FleetRollout (nil when it
// does not exist) and the FleetRollout's journal; nil while the approval may still be taken.
func ApprovalVerdict(a *fleetv1alpha1.FleetApproval, fro *fleetv1alpha1.FleetRollout, history []journal.Entry) *metav1.Condition {
	cond := func(ok bool, reason, format string, args ...any) *metav1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return &metav1.Condition{Type: fleetv1alpha1.ConditionAccepted, Status: s, Reason: reason, Message: fmt.Sprintf(format, args...)}
	}
	var taken *journal.Entry
	for i := range history {
		e := &history[i]
		if e.Type != journal.ApprovalGiven || e.Revision != a.Spec.Revision || e.Wave != a.Spec.Wave || e.Approval.Stage != a.Spec.Stage {
			continue
		}
		if e.Approval.ApprovalName == a.Name {
			return cond(true, fleetv1alpha1.ReasonApproved, "revision %d, wave %s (%s) approved by %s; recorded in the hub journal at index %d",
				a.Spec.Revision, a.Spec.Wave, a.Spec.Stage, a.Spec.ApprovedBy, e.Index)
		}
		taken = e
	}
	if fro == nil {
		return cond(false, fleetv1alpha1.ReasonFleetRolloutNotFound, "spec.fleetRollout: no FleetRollout %q in namespace %s",
			a.Spec.FleetRollout, a.Namespace)
	}
	if taken != nil {
		return cond(false, fleetv1alpha1.ReasonApprovalNotRequired, "wave %s (%s) of revision %d was already approved by %s (FleetApproval %s)",
			a.Spec.Wave, a.Spec.Stage, a.Spec.Revision, taken.Approval.ApprovedBy, taken.Approval.ApprovalName)
	}
	if cur := fro.Status.CurrentRevision; a.Spec.Revision < cur {
		return cond(false, fleetv1alpha1.ReasonRevisionMismatch, "spec.revision %d: the FleetRollout's current revision is %d; approve that one",
			a.Spec.Revision, cur)
	}
	var names []string
	for i := range fro.Spec.Waves {
		w := &fro.Spec.Waves[i]
		names = append(names, w.Name)
		if w.Name != a.Spec.Wave {
			continue
		}
		ask := w.Approval
		if ask == nil || (a.Spec.Stage == fleetv1alpha1.ApprovalStageBefore && !ask.Before) ||
			(a.Spec.Stage == fleetv1alpha1.ApprovalStageAfter && !ask.After) {
			return cond(false, fleetv1alpha1.ReasonApprovalNotRequired, "spec.stage: wave %s asks for no approval %s (spec.waves[%s].approval)",
				w.Name, a.Spec.Stage, w.Name)
		}
		return nil
	}
	return cond(false, fleetv1alpha1.ReasonWaveNotFound, "spec.wave: FleetRollout %s has no wave %q (waves: %s)", fro.Name, a.Spec.Wave,
		strings.Join(names, ", "))
}
