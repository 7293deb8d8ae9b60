package analysisrun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mccontroller "sigs.k8s.io/multicluster-runtime/pkg/controller"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/percluster"
)

// ProviderSet finds the provider that serves a metric; *providers.Registry is one.
type ProviderSet interface {
	Lookup(m v1alpha1.Metric) (analysis.Provider, error)
}

// Reconciler reconciles AnalysisRuns.
type Reconciler struct {
	// Client reads runs, Rollouts and Experiments from the manager's cache, and writes.
	Client client.Client
	// APIReader reads the API server directly: Secrets (never cached), and a run whose
	// cached copy predates the controller's last write.
	APIReader client.Reader
	// Recorder records an event for every phase change of a run or of one of its metrics.
	Recorder events.EventRecorder
	// Providers serves the metrics' providers.
	Providers ProviderSet
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxConcurrentReconciles bounds the runs reconciled at once.
	MaxConcurrentReconciles int

	written writeTracker
}

// immediately is the RequeueAfter of work due now: the shortest delay the work queue takes.
const immediately = time.Nanosecond

// SetupWithManager registers the controller. Only spec changes (generation) and creations
// wake a run up: the controller's own status writes do not, as it requeues itself exactly
// when the next measurement is due.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("analysisrun").
		For(&v1alpha1.AnalysisRun{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Complete(r)
}

// SetupMulticluster registers the controller with a multicluster manager, over the clusters
// of its provider: one Reconciler per cluster, built by newFor from that cluster, with the
// watch SetupWithManager sets up.
func SetupMulticluster(mgr mcmanager.Manager, newFor func(cluster.Cluster) *Reconciler, workers int) error {
	return mcbuilder.ControllerManagedBy(mgr).
		Named("analysisrun").
		For(&v1alpha1.AnalysisRun{}, mcbuilder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(mccontroller.Options{MaxConcurrentReconciles: max(workers, 1)}).
		Complete(&percluster.Reconcilers[*Reconciler]{Manager: mgr, New: newFor})
}

// Reconcile takes the measurements of one run that are due and writes what they decided.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	run, err := r.get(ctx, req.NamespacedName)
	if apierrors.IsNotFound(err) {
		forgetRun(req.Namespace, req.Name)
		r.written.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if !run.DeletionTimestamp.IsZero() {
		// The Jobs the run started are owned by it: the garbage collector removes them.
		return reconcile.Result{}, nil
	}
	if run.Status.Phase.Completed() {
		observeRun(run, &run.Status)
		return r.expire(ctx, run)
	}

	args, spec, err := r.resolve(ctx, run)
	if ise := analysis.AsInvalidSpec(err); ise != nil {
		return r.commitInvalid(ctx, run, args, ise)
	}
	if err != nil {
		return reconcile.Result{}, redactError(args, fmt.Errorf("resolving the run's arguments: %w", err))
	}
	p, err := r.measure(ctx, run, &spec, args)
	if ise := analysis.AsInvalidSpec(err); ise != nil {
		return r.commitInvalid(ctx, run, args, ise)
	}
	if err != nil {
		return reconcile.Result{}, redactError(args, err)
	}
	st := withConditions(run, p.Status, p.Reason, nil, r.now())
	if err := r.commit(ctx, run, args, st, p.Changes); err != nil {
		return reconcile.Result{}, err
	}
	r.release(ctx, run, &spec, args, p.Dropped)
	switch {
	case st.Phase.Completed():
		return r.expiry(run, &st), nil
	case p.Requeue:
		return reconcile.Result{RequeueAfter: max(p.RequeueAfter, immediately)}, nil
	}
	return reconcile.Result{}, nil
}

// commitInvalid ends a run that cannot run as written: phase Error, condition InvalidSpec.
func (r *Reconciler) commitInvalid(ctx context.Context, run *v1alpha1.AnalysisRun, args *analysis.Args, ise *analysis.InvalidSpecError) (reconcile.Result, error) {
	if msg := ise.Error(); args.Redact(msg) != msg {
		// The message quotes a secret argument (a condition that does not compile once it is
		// resolved). Redaction hides the value, but a parser's message may also quote a
		// fragment of it: keep only what is wrong where.
		ise = &analysis.InvalidSpecError{Reason: ise.Reason, Field: ise.Field,
			Message: "is invalid once its arguments are resolved; the details are withheld because they quote a secret argument"}
	}
	st, changes := invalidSpec(run, ise, r.now())
	if err := r.commit(ctx, run, args, st, changes); err != nil {
		return reconcile.Result{}, err
	}
	reason := ise.Reason
	if reason == "" {
		reason = v1alpha1.AnalysisRunConditionInvalidSpec
	}
	r.record(run, args, event{eventType: corev1.EventTypeWarning, reason: reason, action: "Validate", note: ise.Error()})
	return r.expiry(run, &st), nil
}

// commit writes st, redacted, as the run's status, then records an event and a log line for
// every phase change and updates the run's metrics.
func (r *Reconciler) commit(ctx context.Context, run *v1alpha1.AnalysisRun, args *analysis.Args, st v1alpha1.AnalysisRunStatus, changes []analysis.PhaseChange) error {
	args.RedactStatus(&st)
	if err := r.patchStatus(ctx, run, st); err != nil {
		return redactError(args, err)
	}
	log := logf.FromContext(ctx)
	for _, c := range changes {
		if c.From == "" {
			c.From = v1alpha1.AnalysisPhasePending // a new run
		}
		log.Info("phase changed", "metric", c.Metric, "from", c.From, "to", c.To, "message", args.Redact(c.Message))
		r.record(run, args, phaseEvent(c))
	}
	observeRun(run, &st)
	return nil
}

// record records e on run, its note redacted, then shortened to what the API accepts.
func (r *Reconciler) record(run *v1alpha1.AnalysisRun, args *analysis.Args, e event) {
	r.Recorder.Eventf(run, nil, e.eventType, e.reason, e.action, "%s", shorten(args.Redact(e.note), maxEventNote))
}

// expiry is the result for a run that just completed: look again when its ttlStrategy
// expires, if it has one.
func (r *Reconciler) expiry(run *v1alpha1.AnalysisRun, st *v1alpha1.AnalysisRunStatus) reconcile.Result {
	at, ok := analysis.ExpiresAt(&run.Spec, st)
	if !ok {
		return reconcile.Result{}
	}
	return reconcile.Result{RequeueAfter: max(at.Sub(r.now()), immediately)}
}

// expire deletes a completed run once its ttlStrategy expires, or says when to look again.
func (r *Reconciler) expire(ctx context.Context, run *v1alpha1.AnalysisRun) (reconcile.Result, error) {
	at, ok := analysis.ExpiresAt(&run.Spec, &run.Status)
	if !ok {
		return reconcile.Result{}, nil
	}
	if wait := at.Sub(r.now()); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	err := r.Client.Delete(ctx, run, client.Preconditions{UID: &run.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("deleting the run after its ttlStrategy expired: %w", err)
	}
	logf.FromContext(ctx).Info("deleted the run: its ttlStrategy expired", "phase", run.Status.Phase, "expiredAt", at)
	return reconcile.Result{}, nil
}

// get reads the run from the cache, or from the API server when the cached copy is the one
// the controller's last status write replaced: measuring again from an outdated status would
// repeat measurements.
func (r *Reconciler) get(ctx context.Context, key types.NamespacedName) (*v1alpha1.AnalysisRun, error) {
	run := &v1alpha1.AnalysisRun{}
	if err := r.Client.Get(ctx, key, run); err != nil {
		return nil, err
	}
	if r.written.stale(key, run.ResourceVersion) {
		if err := r.APIReader.Get(ctx, key, run); err != nil {
			return nil, err
		}
	}
	return run, nil
}

// patchStatus writes st as the run's status with a merge patch that holds the run's
// resourceVersion: if the run changed since it was read (spec.terminate was set), the write
// fails with a conflict and the next reconcile starts from the new spec. Nothing is written
// when nothing changed.
func (r *Reconciler) patchStatus(ctx context.Context, run *v1alpha1.AnalysisRun, st v1alpha1.AnalysisRunStatus) error {
	if equality.Semantic.DeepEqual(run.Status, st) {
		return nil
	}
	next := run.DeepCopy()
	next.Status = st
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(run, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patching status: %w", err)
	}
	r.written.wrote(client.ObjectKeyFromObject(run), run.ResourceVersion)
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// redactError returns err with the run's secret values hidden in its message (controller-
// runtime logs the errors a reconcile returns).
func redactError(args *analysis.Args, err error) error {
	if err == nil {
		return nil
	}
	if msg := args.Redact(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// writeTracker remembers, per run, the resourceVersion that the controller's last status
// write replaced, so that a cached copy that still has it is known to be outdated.
type writeTracker struct {
	mu       sync.Mutex
	replaced map[types.NamespacedName]string
}

func (w *writeTracker) wrote(key types.NamespacedName, replacedVersion string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.replaced == nil {
		w.replaced = map[types.NamespacedName]string{}
	}
	w.replaced[key] = replacedVersion
}

// stale reports whether a copy of the run at version predates the last write. Any other
// version is the write or a later one: the entry is no longer needed.
func (w *writeTracker) stale(key types.NamespacedName, version string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	replaced, ok := w.replaced[key]
	if ok && replaced == version {
		return true
	}
	delete(w.replaced, key)
	return false
}

func (w *writeTracker) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.replaced, key)
}
