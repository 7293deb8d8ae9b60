package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mccontroller "sigs.k8s.io/multicluster-runtime/pkg/controller"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/spoke/percluster"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// RouterBuilder builds the traffic router of a Rollout that has trafficRouting. When a
// Rollout names several routers, the builder returns one Router that drives them all.
type RouterBuilder func(c client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error)

// Reconciler reconciles Rollouts.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads the API server directly: pods, which are not cached.
	APIReader client.Reader
	// Recorder records the engine's events on the Rollout.
	Recorder events.EventRecorder
	// Routers builds the traffic router of a Rollout; nil means none is available, and a
	// Rollout with trafficRouting reports that as a condition.
	Routers RouterBuilder
	// RouterErrorRetry is how long a Rollout waits before it tries again after a router
	// error a person must fix (a missing object, route or CRD); zero means 30s.
	RouterErrorRetry time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxConcurrentReconciles bounds the Rollouts reconciled at once.
	MaxConcurrentReconciles int

	// expect holds our writes that the cache does not show yet.
	expect expectations
}

// ownerIndex indexes the objects a Rollout owns by the Rollout's name.
const ownerIndex = ".metadata.controller.rollout"

// serviceIndex indexes Rollouts by the Services their strategy names.
const serviceIndex = ".spec.strategy.services"

// SetupWithManager registers the controller and the cache indexes it lists by.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := indexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("rollout").
		// Every change of a Rollout is reconciled, its own status writes included: a step's
		// pods move only once status shows the step, so the status write that records a
		// transition is what brings the next one. A reconcile with nothing to do writes
		// nothing.
		For(&v1alpha1.Rollout{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Owns(&v1alpha1.Experiment{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsOfService)).
		// A change of the Deployment a workloadRef names (its template, or its replicas for
		// workloadRef.scaleDown) is a change of the Rollout.
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.rolloutsOfWorkload)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Complete(r)
}

// indexFields adds the cache indexes the controller lists by.
func indexFields(ctx context.Context, idx client.FieldIndexer) error {
	for _, obj := range []client.Object{&appsv1.ReplicaSet{}, &v1alpha1.AnalysisRun{}, &v1alpha1.Experiment{}} {
		if err := idx.IndexField(ctx, obj, ownerIndex, rolloutOwner); err != nil {
			return fmt.Errorf("indexing %T by owner: %w", obj, err)
		}
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, serviceIndex, func(obj client.Object) []string {
		ro, ok := obj.(*v1alpha1.Rollout)
		if !ok {
			return nil
		}
		return serviceNames(ro)
	}); err != nil {
		return fmt.Errorf("indexing Rollouts by Service: %w", err)
	}
	if err := idx.IndexField(ctx, &v1alpha1.Rollout{}, workloadIndex, workloadOfRollout); err != nil {
		return fmt.Errorf("indexing Rollouts by workload: %w", err)
	}
	return nil
}

// SetupMulticluster registers the controller with a multicluster manager, over the clusters
// of its provider (the namespace-clusters of a simulation): one Reconciler per cluster, built
// by newFor from that cluster, runs the requests of that cluster. The watches are the ones
// SetupWithManager sets up; the indexes are the provider's.
func SetupMulticluster(ctx context.Context, mgr mcmanager.Manager, newFor func(cluster.Cluster) *Reconciler, workers int) error {
	if err := indexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	rs := &percluster.Reconcilers[*Reconciler]{Manager: mgr, New: newFor}
	return mcbuilder.ControllerManagedBy(mgr).
		Named("rollout").
		For(&v1alpha1.Rollout{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&v1alpha1.AnalysisRun{}).
		Owns(&v1alpha1.Experiment{}).
		Watches(&corev1.Service{}, rs.MapFunc(func(r *Reconciler) handler.MapFunc { return r.rolloutsOfService })).
		Watches(&appsv1.Deployment{}, rs.MapFunc(func(r *Reconciler) handler.MapFunc { return r.rolloutsOfWorkload })).
		WithOptions(mccontroller.Options{MaxConcurrentReconciles: max(workers, 1)}).
		Complete(rs)
}

func rolloutOwner(obj client.Object) []string {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "Rollout" || ref.APIVersion != v1alpha1.GroupVersion.String() {
		return nil
	}
	return []string{ref.Name}
}

// Reconcile moves one Rollout forward.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	ro := &v1alpha1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.expect.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !ro.DeletionTimestamp.IsZero() {
		// Everything the Rollout created is owned by it: the garbage collector removes it.
		return reconcile.Result{}, nil
	}
	start := r.now()
	defer func() { observeReconcile(ro, r.now().Sub(start)) }()

	// Fencing, second line: a spec stamped by a deposed hub leader is not acted on.
	term, err := federation.CheckTerm(ro, ro.Status.Term)
	if err != nil {
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, v1alpha1.RolloutReasonStaleTerm, "Fence", "%s", err.Error())
		return reconcile.Result{}, r.patchStatus(ctx, ro, func(st *v1alpha1.RolloutStatus) {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{
				Type: v1alpha1.RolloutInvalidSpec, Status: metav1.ConditionTrue,
				Reason: v1alpha1.RolloutReasonStaleTerm, Message: err.Error(), ObservedGeneration: ro.Generation,
			})
		})
	}

	obs, err := r.observe(ctx, ro)
	if err != nil {
		return reconcile.Result{}, err
	}
	if behind, giveUp := r.expect.behind(req.NamespacedName, ro, obs.ReplicaSets, r.now()); behind {
		// The watch event of our own write enqueues the Rollout again once the cache has it.
		log.V(1).Info("the cache does not show our last writes yet; waiting for them")
		return reconcile.Result{RequeueAfter: giveUp}, nil
	}
	routerFor := r.lazyRouter(ro)
	verifyWeights(ctx, ro, &obs, routerFor)
	plan := engine.Reconcile(ro, obs)
	plan.Status.Term = term

	applied, applyErr := r.apply(ctx, ro, plan.Actions, routerFor)
	if applyErr != nil {
		log.Error(applyErr, "applying the plan", "applied", applied, "of", len(plan.Actions))
		reason := "ActionFailed"
		if rr := trafficrouting.Reason(applyErr); rr != "" {
			reason = rr
		}
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, reason, "Apply", "%s", applyErr.Error())
		// Keep the status the engine started from: its steps are not done. Say why.
		if err := r.patchStatus(ctx, ro, func(st *v1alpha1.RolloutStatus) {
			st.Term = term
			bumpCollisionCount(st, applyErr)
			types := []string{v1alpha1.RolloutProgressing}
			if reason != "ActionFailed" {
				// The router's own condition says so too.
				types = append(types, v1alpha1.RolloutTrafficRouted)
			}
			for _, typ := range types {
				meta.SetStatusCondition(&st.Conditions, metav1.Condition{
					Type: typ, Status: metav1.ConditionFalse,
					Reason: reason, Message: applyErr.Error(), ObservedGeneration: ro.Generation,
				})
			}
		}); err != nil {
			return reconcile.Result{}, errors.Join(applyErr, err)
		}
		if reason != "ActionFailed" {
			// A router problem a person must fix: look again later, without hammering.
			return reconcile.Result{RequeueAfter: r.routerErrorRetry()}, nil
		}
		return reconcile.Result{}, applyErr
	}
	countTransitions(ro, &plan.Status)
	if err := r.patchStatus(ctx, ro, func(st *v1alpha1.RolloutStatus) { *st = plan.Status }); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// patchStatus writes the status once, as a merge patch against the Rollout that was read,
// with its resourceVersion as an optimistic lock: a plan computed from a Rollout that
// changed meanwhile (a person promoted it, or the cache lagged our last write) is never
// written, and the reconcile that the change brings plans again. Nothing is written when
// nothing changed.
func (r *Reconciler) patchStatus(ctx context.Context, ro *v1alpha1.Rollout, mutate func(*v1alpha1.RolloutStatus)) error {
	next := ro.DeepCopy()
	mutate(&next.Status)
	if equality.Semantic.DeepEqual(ro.Status, next.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(ro, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.expect.statusWritten(client.ObjectKeyFromObject(ro), ro.ResourceVersion, r.now())
	return nil
}

func (r *Reconciler) routerErrorRetry() time.Duration {
	if r.RouterErrorRetry > 0 {
		return r.RouterErrorRetry
	}
	return 30 * time.Second
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// rolloutsOfService maps a Service to the Rollouts whose strategy names it, through the
// cache's index rather than a scan of every Rollout of the namespace.
func (r *Reconciler) rolloutsOfService(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.rolloutsIndexed(ctx, serviceIndex, obj)
}

// rolloutsIndexed lists the Rollouts of obj's namespace whose index entry is obj's name.
func (r *Reconciler) rolloutsIndexed(ctx context.Context, index string, obj client.Object) []reconcile.Request {
	list := &v1alpha1.RolloutList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}
