// Package experiment is the spoke's Experiment controller, with Argo Rollouts' semantics:
// one ReplicaSet per template (and a Service when the template asks for one), run for the
// spec's duration counted from the time every template is available, AnalysisRuns for the
// spec's analyses, and an end when the duration passes, the analyses required for
// completion end, an analysis fails, a template does not become available in time, or
// spec.terminate is set. When it ends, its running AnalysisRuns are terminated and its
// ReplicaSets are scaled to 0 after scaleDownDelaySeconds.
//
// Each reconcile reads the Experiment and its objects, computes the next status with the
// pure computeStatus (experiment_status.go), creates, scales or terminates what differs, and
// patches the status once with an optimistic lock. Objects have deterministic names
// (<experiment>-<template>, <experiment>-<analysis>), so an agent killed between its writes
// and its status patch finds them again and never creates them twice.
package experiment

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mcbuilder "sigs.k8s.io/multicluster-runtime/pkg/builder"
	mccontroller "sigs.k8s.io/multicluster-runtime/pkg/controller"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/percluster"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

const (
	// LabelPodTemplateHash is the label of a template's ReplicaSet and pods, as for Rollouts.
	LabelPodTemplateHash = engine.LabelPodTemplateHash
	// AnnotationTemplate names the template a ReplicaSet or Service belongs to.
	AnnotationTemplate = "experiment.rollouts.flotilla.dev/template"
	// AnnotationScaleDownDeadline is when a ReplicaSet of an ended experiment is scaled to 0
	// (RFC 3339 with nanoseconds).
	AnnotationScaleDownDeadline = "experiment.rollouts.flotilla.dev/scale-down-deadline"
)

// Reconciler runs Experiments.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// MaxConcurrentReconciles bounds how many Experiments are reconciled at once; 0 means 1.
	MaxConcurrentReconciles int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager registers the controller: Experiments, and the ReplicaSets, Services and
// AnalysisRuns they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("experiment").
		For(&v1alpha1.Experiment{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&v1alpha1.AnalysisRun{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.MaxConcurrentReconciles, 1)}).
		Complete(r)
}

// SetupMulticluster registers the controller with a multicluster manager, over the clusters
// of its provider: one Reconciler per cluster, built by newFor from that cluster, with the
// watches SetupWithManager sets up.
func SetupMulticluster(mgr mcmanager.Manager, newFor func(cluster.Cluster) *Reconciler, workers int) error {
	return mcbuilder.ControllerManagedBy(mgr).
		Named("experiment").
		For(&v1alpha1.Experiment{}).
		Owns(&appsv1.ReplicaSet{}).
		Owns(&corev1.Service{}).
		Owns(&v1alpha1.AnalysisRun{}).
		WithOptions(mccontroller.Options{MaxConcurrentReconciles: max(workers, 1)}).
		Complete(&percluster.Reconcilers[*Reconciler]{Manager: mgr, New: newFor})
}

// Reconcile moves one Experiment forward.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ex := &v1alpha1.Experiment{}
	if err := r.Client.Get(ctx, req.NamespacedName, ex); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !ex.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil // the garbage collector removes what it owns
	}
	now := r.now()
	obs, err := r.observe(ctx, ex, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	d := computeStatus(ex, obs)

	scaleDownIn, applyErr := r.apply(ctx, ex, obs, d)
	if applyErr != nil {
		logf.FromContext(ctx).Error(applyErr, "applying the experiment")
		r.Recorder.Eventf(ex, nil, corev1.EventTypeWarning, "ApplyFailed", "Reconcile", "%s", applyErr.Error())
		return reconcile.Result{}, applyErr
	}
	written, err := r.patchStatus(ctx, ex, d.status)
	if err != nil {
		return reconcile.Result{}, err
	}
	if written {
		r.recordTransitions(ex, &d.status)
	}
	requeue := d.requeueAfter
	if scaleDownIn > 0 && (requeue == 0 || scaleDownIn < requeue) {
		requeue = scaleDownIn
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// recordTransitions records an event for every template whose state changed and for a
// change of the experiment's phase, after the status that shows them was written.
func (r *Reconciler) recordTransitions(ex *v1alpha1.Experiment, next *v1alpha1.ExperimentStatus) {
	for _, ts := range next.TemplateStatuses {
		var prev v1alpha1.TemplateStatusCode
		for _, p := range ex.Status.TemplateStatuses {
			if p.Name == ts.Name {
				prev = p.Status
			}
		}
		if prev == ts.Status {
			continue
		}
		typ := corev1.EventTypeNormal
		if ts.Status == v1alpha1.TemplateStatusFailed || ts.Status == v1alpha1.TemplateStatusError {
			typ = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(ex, nil, typ, "Template"+string(ts.Status), "Reconcile", "template %s is %s %s", ts.Name, ts.Status, ts.Message)
	}
	if next.Phase == ex.Status.Phase {
		return
	}
	typ := corev1.EventTypeNormal
	if next.Phase.Completed() && next.Phase != v1alpha1.AnalysisPhaseSuccessful {
		typ = corev1.EventTypeWarning
	}
	msg := fmt.Sprintf("experiment is %s", next.Phase)
	if next.Message != "" {
		msg += ": " + next.Message
	}
	r.Recorder.Eventf(ex, nil, typ, "Experiment"+string(next.Phase), "Reconcile", "%s", msg)
}

// observe reads the Experiment's ReplicaSets and AnalysisRuns, and checks that the analysis
// templates exist.
func (r *Reconciler) observe(ctx context.Context, ex *v1alpha1.Experiment, now time.Time) (observed, error) {
	obs := observed{now: now, replicaSets: map[string]*appsv1.ReplicaSet{}, runs: map[string]*v1alpha1.AnalysisRun{}}
	for _, t := range ex.Spec.Templates {
		rs := &appsv1.ReplicaSet{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ex.Namespace, Name: replicaSetName(ex, t.Name)}, rs)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return obs, err
		case metav1.IsControlledBy(rs, ex):
			obs.replicaSets[t.Name] = rs
		default:
			obs.invalid = fmt.Sprintf("ReplicaSet %s exists and is not owned by the experiment", rs.Name)
		}
	}
	g := templateGetter{c: r.Client, namespace: ex.Namespace}
	for _, a := range ex.Spec.Analyses {
		run := &v1alpha1.AnalysisRun{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ex.Namespace, Name: runName(ex, a.Name)}, run)
		switch {
		case err == nil && metav1.IsControlledBy(run, ex):
			obs.runs[a.Name] = run
			continue
		case err == nil:
			obs.invalid = fmt.Sprintf("AnalysisRun %s exists and is not owned by the experiment", run.Name)
			continue
		case !apierrors.IsNotFound(err):
			return obs, err
		}
		var terr error
		if a.IsClusterScope() {
			_, terr = g.ClusterAnalysisTemplate(ctx, a.TemplateName)
		} else {
			_, terr = g.AnalysisTemplate(ctx, a.TemplateName)
		}
		if apierrors.IsNotFound(terr) {
			obs.invalid = fmt.Sprintf("analysis %s: template %s not found", a.Name, a.TemplateName)
		} else if terr != nil {
			return obs, terr
		}
	}
	return obs, nil
}

// apply makes the objects match the decision: ReplicaSets created or scaled (down only
// after the scale-down delay), Services created while their template runs and deleted once
// its pods are gone, AnalysisRuns created while the experiment runs and terminated when it
// ends. It returns the time until the next scale-down deadline.
func (r *Reconciler) apply(ctx context.Context, ex *v1alpha1.Experiment, obs observed, d decision) (time.Duration, error) {
	var next time.Duration
	var errs []error
	for i := range ex.Spec.Templates {
		t := &ex.Spec.Templates[i]
		want := d.replicas[t.Name]
		rs := obs.replicaSets[t.Name]
		if rs == nil {
			if want == 0 {
				continue
			}
			errs = append(errs, r.createReplicaSet(ctx, ex, t, want))
			continue
		}
		if in, err := r.scale(ctx, ex, rs, want, obs.now); err != nil {
			errs = append(errs, err)
		} else if in > 0 && (next == 0 || in < next) {
			next = in
		}
		if t.Service != nil {
			errs = append(errs, r.syncService(ctx, ex, t, rs, want))
		}
	}
	for _, a := range ex.Spec.Analyses {
		run := obs.runs[a.Name]
		switch {
		case run == nil && d.runAnalyses:
			errs = append(errs, r.createRun(ctx, ex, a, obs))
		case run != nil && d.terminateRuns && !run.Status.Phase.Completed() && !run.Spec.Terminate:
			errs = append(errs, r.Client.Patch(ctx, run, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"terminate":true}}`))))
		}
	}
	return next, errors.Join(errs...)
}

func (r *Reconciler) createReplicaSet(ctx context.Context, ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, replicas int32) error {
	tmpl := t.Template.DeepCopy()
	hash := engine.PodTemplateHash(tmpl, nil)
	tmpl.Labels = withEntry(tmpl.Labels, LabelPodTemplateHash, hash)
	sel := &metav1.LabelSelector{}
	if t.Selector != nil {
		sel = t.Selector.DeepCopy()
	}
	sel.MatchLabels = withEntry(sel.MatchLabels, LabelPodTemplateHash, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ex.Namespace, Name: replicaSetName(ex, t.Name),
			Labels:      withEntry(copyMap(tmpl.Labels), LabelPodTemplateHash, hash),
			Annotations: map[string]string{AnnotationTemplate: t.Name},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas, MinReadySeconds: t.MinReadySeconds, Selector: sel, Template: *tmpl,
		},
	}
	return r.create(ctx, ex, rs)
}

// scale sets the ReplicaSet's replicas. Scaling to 0 waits for scaleDownDelaySeconds,
// recorded as a deadline on the ReplicaSet so that a restarted agent keeps it; it returns
// the time left until that deadline.
func (r *Reconciler) scale(ctx context.Context, ex *v1alpha1.Experiment, rs *appsv1.ReplicaSet, want int32, now time.Time) (time.Duration, error) {
	if rs.Spec.Replicas != nil && *rs.Spec.Replicas == want {
		return 0, nil
	}
	if want == 0 {
		delay := time.Duration(defaultScaleDownDelaySeconds) * time.Second
		if ex.Spec.ScaleDownDelaySeconds != nil {
			delay = time.Duration(*ex.Spec.ScaleDownDelaySeconds) * time.Second
		}
		if delay > 0 {
			deadline, err := time.Parse(time.RFC3339Nano, rs.Annotations[AnnotationScaleDownDeadline])
			if err != nil {
				deadline = now.Add(delay)
				patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationScaleDownDeadline, deadline.UTC().Format(time.RFC3339Nano))
				return delay, r.Client.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch)))
			}
			if left := deadline.Sub(now); left > 0 {
				return left, nil
			}
		}
	}
	patch := `{"spec":{"replicas":` + strconv.Itoa(int(want)) + `}}`
	return 0, r.Client.Patch(ctx, rs, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// syncService keeps the template's Service while the template should have pods, and
// deletes it once the ReplicaSet is scaled to 0 and no pod is available.
func (r *Reconciler) syncService(ctx context.Context, ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec, rs *appsv1.ReplicaSet, want int32) error {
	name := serviceName(ex, t)
	if want == 0 {
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 && rs.Status.AvailableReplicas == 0 {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: name}}
			return client.IgnoreNotFound(r.Client.Delete(ctx, svc))
		}
		return nil
	}
	var ports []corev1.ServicePort
	for _, c := range t.Template.Spec.Containers {
		for _, p := range c.Ports {
			ports = append(ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.ContainerPort})
		}
	}
	if len(ports) == 0 {
		return nil // a Service needs a port; the API server would refuse it
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: name, Annotations: map[string]string{AnnotationTemplate: t.Name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelPodTemplateHash: rs.Labels[LabelPodTemplateHash]},
			Ports:    ports,
		},
	}
	return r.create(ctx, ex, svc)
}

func (r *Reconciler) createRun(ctx context.Context, ex *v1alpha1.Experiment, a v1alpha1.ExperimentAnalysisTemplateRef, obs observed) error {
	spec, err := analysis.ComposeRunSpec(ctx, templateGetter{c: r.Client, namespace: ex.Namespace}, analysis.RunSource{
		Templates:            []v1alpha1.AnalysisTemplateRef{{TemplateName: a.TemplateName, ClusterScope: a.ClusterScope}},
		Args:                 resolveArgs(ex, a.Args, obs),
		DryRun:               ex.Spec.DryRun,
		MeasurementRetention: ex.Spec.MeasurementRetention,
	})
	if err != nil {
		return fmt.Errorf("analysis %s: %w", a.Name, err)
	}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ex.Namespace, Name: runName(ex, a.Name)},
		Spec:       spec,
	}
	if m := ex.Spec.AnalysisRunMetadata; m != nil {
		run.Labels, run.Annotations = copyMap(m.Labels), copyMap(m.Annotations)
	}
	return r.create(ctx, ex, run)
}

// resolveArgs fills in the {{templates.<name>.podTemplateHash}} and
// {{templates.<name>.replicaset.name}} placeholders of the analysis' argument values.
func resolveArgs(ex *v1alpha1.Experiment, args []v1alpha1.Argument, obs observed) []v1alpha1.Argument {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		a = *a.DeepCopy()
		if a.Value != nil {
			v := *a.Value
			for _, t := range ex.Spec.Templates {
				hash := ""
				if rs := obs.replicaSets[t.Name]; rs != nil {
					hash = rs.Labels[LabelPodTemplateHash]
				}
				v = strings.ReplaceAll(v, "{{templates."+t.Name+".podTemplateHash}}", hash)
				v = strings.ReplaceAll(v, "{{templates."+t.Name+".replicaset.name}}", replicaSetName(ex, t.Name))
			}
			a.Value = &v
		}
		out = append(out, a)
	}
	return out
}

// create creates obj with ex as its controller; an object of that name that ex already
// controls counts as created.
func (r *Reconciler) create(ctx context.Context, ex *v1alpha1.Experiment, obj client.Object) error {
	if err := controllerutil.SetControllerReference(ex, obj, r.Client.Scheme()); err != nil {
		return err
	}
	err := r.Client.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := obj.DeepCopyObject().(client.Object)
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, ex) {
		return fmt.Errorf("%s %s exists and is not owned by experiment %s", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), ex.Name)
	}
	return nil
}

// patchStatus writes the status once, as a merge patch against the Experiment that was read
// with its resourceVersion as an optimistic lock; a conflict means the Experiment changed,
// and the reconcile that change brings computes again. It reports whether it wrote.
func (r *Reconciler) patchStatus(ctx context.Context, ex *v1alpha1.Experiment, st v1alpha1.ExperimentStatus) (bool, error) {
	if equality.Semantic.DeepEqual(ex.Status, st) {
		return false, nil
	}
	next := ex.DeepCopy()
	next.Status = st
	if err := r.Client.Status().Patch(ctx, next, client.MergeFromWithOptions(ex, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("patching status: %w", err)
	}
	return true, nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func replicaSetName(ex *v1alpha1.Experiment, template string) string { return ex.Name + "-" + template }

func runName(ex *v1alpha1.Experiment, analysis string) string { return ex.Name + "-" + analysis }

func serviceName(ex *v1alpha1.Experiment, t *v1alpha1.TemplateSpec) string {
	if t.Service != nil && t.Service.Name != "" {
		return t.Service.Name
	}
	return replicaSetName(ex, t.Name)
}

func withEntry(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// templateGetter reads AnalysisTemplates of one namespace and ClusterAnalysisTemplates.
type templateGetter struct {
	c         client.Client
	namespace string
}

func (g templateGetter) AnalysisTemplate(ctx context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error) {
	t := &v1alpha1.AnalysisTemplate{}
	if err := g.c.Get(ctx, client.ObjectKey{Namespace: g.namespace, Name: name}, t); err != nil {
		return nil, err
	}
	return &t.Spec, nil
}

func (g templateGetter) ClusterAnalysisTemplate(ctx context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error) {
	t := &v1alpha1.ClusterAnalysisTemplate{}
	if err := g.c.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, err
	}
	return &t.Spec, nil
}
