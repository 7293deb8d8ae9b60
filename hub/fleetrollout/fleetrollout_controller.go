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

// Package fleetrollout is the hub's FleetRollout controller: the wave scheduler. It acts only
// while this hub replica leads the raft group (leader.Gate), journals every decision before
// acting on it (ClusterDispatched before the member write, WaveStarted, GateEvaluated,
// WaveCompleted...), places the companions and the Rollout on each member with server-side
// apply stamped with the leader's raft term, reads each member Rollout back, and writes the
// FleetRollout's status once per reconcile.
//
// A reconcile reads top to bottom: the FleetRollout; its revision (ControllerRevisions keep
// each revision's content and number); the plan (plan.Compute) from the MemberClusters and the
// journal's started waves; the members' Rollouts; then the waves in order, each decided by
// plan.Decide, until one is still running, waiting or failed; then one status patch and a
// requeue at the next bake end, deadline or gate measurement. Nothing polls: the member
// Rollouts the hub placed are watched through multicluster-runtime (package members), and each
// of their events, a member joining or leaving, or its watch failing, enqueues the
// FleetRollout. A member write that failed is retried with backoff after the status write.
//
// Failure policies: Pause stops the FleetRollout at the failed wave; RollbackWave and
// RollbackAll journal RollbackStarted, place the stable revision (kept in its
// ControllerRevision) again on the failed wave's clusters or on every cluster that took the
// revision, and journal RollbackCompleted once they are Healthy on it.
//
// Analysis and outlier gates are measured by the hub itself (fleetrollout_gates.go): their
// measurement state lives in status and the reconcile requeues when the next one is due.
//
// Operations (fleetrollout_operations.go): a change of spec.paused is journaled (Paused,
// Resumed), and the member Rollouts that are mid-update get spec.paused through the hub's
// stamped server-side apply (released on resume); spec.abortRevision naming the current
// revision is journaled (Aborted) and returns every cluster that took it to the stable revision
// as RollbackAll does, and the journal keeps the abort in force: removing the field does not
// send the revision out again, a new revision does. ApprovalReconciler
// (fleetapproval_controller.go) sets each FleetApproval's Accepted condition from the journal.
//
// A run under way (fleetrollout_midrun.go): each new value of the retry annotation is journaled
// (Retried) and re-runs the failed or inconclusive wave, its failed clusters dispatched again and
// their member Rollouts' status.abort cleared (the spoke's retry); decisions a retry may take
// again carry the run's attempt in their ID. A dispatched cluster that leaves the placement is
// journaled (ClusterDeparted) and no longer read, counted or written; a cluster that joins after
// its wave ran (or leaves maintenance after it) is brought to the stable revision
// (ClusterCaughtUp).
//
// Every decision journaled for the first time also becomes an event on the FleetRollout
// (metrics.go), and Collector reports FleetRollouts and members from the cache at scrape time.
//
// Deletion (fleetrollout_deletion.go): the hub adds a finalizer to every FleetRollout; once it
// is deleted, deletionPolicy Delete removes the Rollout and companions from every cluster the
// journal says got them (fenced by preconditions on what the hub read), waiting, with condition
// Deleting naming them, for clusters that cannot be reached unless their MemberCluster is
// deleted; Orphan leaves them. The deletion is journaled (Deleted) before the finalizer goes.
package fleetrollout

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/leader"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/hub/raft"
)

// Journal is what the controller needs of the raft node: proposing decisions and reading the
// replicated journal (*raft.Node).
type Journal interface {
	Propose(ctx context.Context, d journal.Decision) (raft.Receipt, error)
	Journal() *journal.FSM
}

// Reconciler reconciles FleetRollouts.
type Reconciler struct {
	// Client reads the hub from the manager's cache and writes to it.
	Client client.Client
	// APIReader reads the hub directly (ControllerRevisions).
	APIReader client.Reader
	// Raft proposes decisions and holds the journal.
	Raft Journal
	// Gate hands out the leadership; the controller does nothing without it.
	Gate *leader.Gate
	// Members gives the engaged member clusters: cached reads of the placed Rollouts that show
	// the hub's own writes (read-your-writes), direct writes, and the events that enqueue
	// FleetRollouts.
	Members *members.Registry
	// Providers measures the metrics of analysis and outlier gates (*providers.Registry);
	// nil leaves such gates unable to run (the Invalid condition says so).
	Providers Providers
	// Recorder records an event on the FleetRollout for each decision journaled; nil records
	// none.
	Recorder events.EventRecorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// approvalIndex indexes FleetApprovals by the FleetRollout they name.
const approvalIndex = ".spec.fleetRollout"

// SetupWithManager registers the controller and its index.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1alpha1.FleetApproval{}, approvalIndex,
		func(o client.Object) []string { return []string{o.(*fleetv1alpha1.FleetApproval).Spec.FleetRollout} }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("fleetrollout").
		For(&fleetv1alpha1.FleetRollout{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted{}))).
		Watches(&fleetv1alpha1.FleetApproval{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				a := o.(*fleetv1alpha1.FleetApproval)
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: a.Namespace, Name: a.Spec.FleetRollout}}}
			})).
		Watches(&fleetv1alpha1.FleetAnalysisTemplate{}, handler.EnqueueRequestsFromMapFunc(r.fleetRolloutsIn),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&fleetv1alpha1.MemberCluster{}, handler.EnqueueRequestsFromMapFunc(r.allFleetRollouts),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{},
				reachabilityChanged{}))).
		WatchesRawSource(r.Members.FleetRolloutSource(func(ctx context.Context) []reconcile.Request {
			return r.allFleetRollouts(ctx, nil)
		})).
		WatchesRawSource(r.Gate.Source(func(ctx context.Context) ([]client.Object, error) {
			reqs := r.allFleetRollouts(ctx, nil)
			out := make([]client.Object, 0, len(reqs))
			for _, q := range reqs {
				fro := &fleetv1alpha1.FleetRollout{}
				fro.Namespace, fro.Name = q.Namespace, q.Name
				out = append(out, fro)
			}
			return out, nil
		})).
		Complete(r)
}

func (r *Reconciler) allFleetRollouts(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &fleetv1alpha1.FleetRolloutList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// Reconcile moves one FleetRollout forward, if this replica leads.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	lctx, release, term, ok := r.Gate.Acquire(ctx)
	defer release()
	if !ok {
		return ctrl.Result{}, nil // a follower: the leader reconciles
	}
	if !r.Members.Warm() {
		return ctrl.Result{}, nil // the member caches are warming up: enqueued when they are warm
	}
	ctx = logf.IntoContext(lctx, log.WithValues("term", term))

	fro := &fleetv1alpha1.FleetRollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, fro); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !fro.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, fro, term) // ControllerRevisions go with the owner
	}
	if err := r.ensureFinalizer(ctx, fro); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := newRun(r, fro, term)
	requeue, err := run.reconcile(ctx)
	if err != nil {
		// A proposal or a hub read failed: this leadership may be over, write nothing more.
		return ctrl.Result{}, err
	}
	if equality.Semantic.DeepEqual(fro.Status, run.next.Status) {
		return result(requeue, run.writeFailed)
	}
	// A status read from a lagging cache would rewind what the last write recorded (a gate's
	// measurements, carried from status): refuse it, and retry once the cache caught up. Member
	// events can bring a reconcile right after the previous status write, so every write locks
	// (run.measured marks the runs that took measurements).
	patch := client.MergeFromWithOptions(fro, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, run.next, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
	}
	return result(requeue, run.writeFailed)
}

// result requeues at the timer, or, when a member write failed, with the controller's backoff.
func result(requeue time.Duration, writeFailed error) (ctrl.Result, error) {
	if writeFailed != nil {
		return ctrl.Result{}, writeFailed
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
