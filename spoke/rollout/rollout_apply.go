package rollout

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// apply carries out the plan's actions in order and stops at the first error. It returns
// how many were applied. Every action is idempotent: an object that already exists (the
// cache lagging our own write) counts as created.
func (r *Reconciler) apply(ctx context.Context, ro *v1alpha1.Rollout, actions []engine.Action, routerFor func() (trafficrouting.Router, error)) (int, error) {
	for i, a := range actions {
		if err := r.applyOne(ctx, ro, a, routerFor); err != nil {
			return i, fmt.Errorf("%s: %w", a, err)
		}
	}
	return len(actions), nil
}

// lazyRouter returns a function that builds ro's router on first use and then returns the
// same one, so that one reconcile builds it at most once and only when it needs it.
func (r *Reconciler) lazyRouter(ro *v1alpha1.Rollout) func() (trafficrouting.Router, error) {
	var (
		router trafficrouting.Router
		err    error
		built  bool
	)
	return func() (trafficrouting.Router, error) {
		if built {
			return router, err
		}
		built = true
		if r.Routers == nil {
			err = trafficrouting.Invalid("trafficRouting", "this agent was started without traffic routers")
			return nil, err
		}
		router, err = r.Routers(r.Client, ro)
		return router, err
	}
}

// verifyWeights asks the routers whether their data plane applies the weights that
// status.canary.weights records, and puts the answer in obs for the engine. Weights already
// verified are not asked about again. A router that cannot be built or asked counts as not
// verified: an unreachable data plane never lets a step complete.
func verifyWeights(ctx context.Context, ro *v1alpha1.Rollout, obs *engine.Observed, routerFor func() (trafficrouting.Router, error)) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil || ro.Status.Canary == nil || ro.Status.Canary.Weights == nil {
		return
	}
	w := ro.Status.Canary.Weights
	if w.Verified != nil && *w.Verified {
		obs.WeightsVerified = w.Verified
		return
	}
	unverified := func(msg string) {
		obs.WeightsVerified = ptr.To(false)
		obs.WeightsUnverified = msg
	}
	rt, err := routerFor()
	if err != nil {
		unverified(err.Error())
		return
	}
	v, err := rt.VerifyWeight(ctx, w.Canary.Weight, w.Additional...)
	switch {
	case err != nil:
		unverified("verifying the weight: " + err.Error())
	case v == trafficrouting.VerificationVerified:
		obs.WeightsVerified = ptr.To(true)
	case v == trafficrouting.VerificationPending:
		unverified("")
	}
}

func (r *Reconciler) applyOne(ctx context.Context, ro *v1alpha1.Rollout, a engine.Action, routerFor func() (trafficrouting.Router, error)) error {
	switch a := a.(type) {
	case engine.CreateReplicaSet:
		if err := r.createReplicaSet(ctx, ro, a); err != nil {
			return err
		}
		r.expect.replicaSet(client.ObjectKeyFromObject(ro), a.Name, anyReplicas, r.now())
		return nil
	case engine.ScaleReplicaSet:
		if err := r.mergePatch(ctx, &appsv1.ReplicaSet{}, ro.Namespace, a.Name, map[string]any{"spec": map[string]any{"replicas": a.Replicas}}); err != nil {
			return err
		}
		r.expect.replicaSet(client.ObjectKeyFromObject(ro), a.Name, a.Replicas, r.now())
		return nil
	case engine.AnnotateReplicaSet:
		ann := map[string]any{}
		for k, v := range a.Set {
			ann[k] = v
		}
		for _, k := range a.Remove {
			ann[k] = nil
		}
		return r.mergePatch(ctx, &appsv1.ReplicaSet{}, ro.Namespace, a.Name, map[string]any{"metadata": map[string]any{"annotations": ann}})
	case engine.DeleteReplicaSet:
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name}}
		return client.IgnoreNotFound(r.Client.Delete(ctx, rs, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	case engine.SetServiceSelector:
		return r.mergePatch(ctx, &corev1.Service{}, ro.Namespace, a.Service,
			map[string]any{"spec": map[string]any{"selector": map[string]any{engine.LabelPodTemplateHash: a.PodTemplateHash}}})
	case engine.UpdateRouterHash:
		rt, err := routerFor()
		if err != nil {
			return err
		}
		return rt.UpdateHash(ctx, a.CanaryHash, a.StableHash)
	case engine.SetWeight:
		rt, err := routerFor()
		if err != nil {
			return err
		}
		return rt.SetWeight(ctx, a.Weight, a.Additional...)
	case engine.SetHeaderRoute:
		rt, err := routerFor()
		if err != nil {
			return err
		}
		return rt.SetHeaderRoute(ctx, &a.Route)
	case engine.SetMirrorRoute:
		rt, err := routerFor()
		if err != nil {
			return err
		}
		return rt.SetMirrorRoute(ctx, &a.Route)
	case engine.RemoveManagedRoutes:
		rt, err := routerFor()
		if err != nil {
			return err
		}
		return rt.RemoveManagedRoutes(ctx)
	case engine.CreateAnalysisRun:
		return r.createAnalysisRun(ctx, ro, a)
	case engine.TerminateAnalysisRun:
		return r.mergePatch(ctx, &v1alpha1.AnalysisRun{}, ro.Namespace, a.Name, map[string]any{"spec": map[string]any{"terminate": true}})
	case engine.CreateExperiment:
		ex := &v1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name, Labels: a.Labels},
			Spec:       a.Spec,
		}
		return r.create(ctx, ro, ex)
	case engine.TerminateExperiment:
		return r.mergePatch(ctx, &v1alpha1.Experiment{}, ro.Namespace, a.Name, map[string]any{"spec": map[string]any{"terminate": true}})
	case engine.SyncPodMetadata:
		return r.syncPodMetadata(ctx, ro, a)
	case engine.ScaleWorkload:
		return r.mergePatch(ctx, &appsv1.Deployment{}, ro.Namespace, a.Name, map[string]any{"spec": map[string]any{"replicas": a.Replicas}})
	case engine.DeleteAnalysisRun:
		ar := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name}}
		return client.IgnoreNotFound(r.Client.Delete(ctx, ar, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	case engine.DeleteExperiment:
		ex := &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name}}
		return client.IgnoreNotFound(r.Client.Delete(ctx, ex, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	case engine.EvictPod:
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name}}
		err := r.Client.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{})
		return client.IgnoreNotFound(err)
	case engine.Event:
		r.Recorder.Eventf(ro, nil, a.Type, a.Reason, "Reconcile", "%s", a.Message)
		return nil
	default:
		return fmt.Errorf("unknown action %T", a)
	}
}

func (r *Reconciler) createReplicaSet(ctx context.Context, ro *v1alpha1.Rollout, a engine.CreateReplicaSet) error {
	replicas := a.Replicas
	labels := a.Labels
	if labels == nil {
		labels = a.Template.Labels
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ro.Namespace,
			Name:        a.Name,
			Labels:      labels,
			Annotations: a.Annotations,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &replicas,
			MinReadySeconds: a.MinReadySeconds,
			Selector:        a.Selector,
			Template:        a.Template,
		},
	}
	if err := controllerutil.SetControllerReference(ro, rs, r.Client.Scheme()); err != nil {
		return err
	}
	err := r.Client.Create(ctx, rs)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	return r.checkCollision(ctx, ro, rs)
}

func (r *Reconciler) createAnalysisRun(ctx context.Context, ro *v1alpha1.Rollout, a engine.CreateAnalysisRun) error {
	spec, err := analysis.ComposeRunSpec(ctx, templateGetter{c: r.Client, namespace: ro.Namespace}, analysis.RunSource{
		Templates:            a.Templates,
		Args:                 a.Args,
		DryRun:               a.DryRun,
		MeasurementRetention: a.MeasurementRetention,
	})
	if err != nil {
		return err
	}
	ar := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: a.Name, Labels: a.Labels, Annotations: a.Annotations},
		Spec:       spec,
	}
	return r.create(ctx, ro, ar)
}

// create creates obj with ro as its controller; an object of that name that ro already
// owns counts as created.
func (r *Reconciler) create(ctx context.Context, ro *v1alpha1.Rollout, obj client.Object) error {
	if err := controllerutil.SetControllerReference(ro, obj, r.Client.Scheme()); err != nil {
		return err
	}
	err := r.Client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		existing := obj.DeepCopyObject().(client.Object)
		if getErr := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing); getErr != nil {
			return getErr
		}
		if !ownedBy(existing, ro) {
			return fmt.Errorf("%s %s exists and is not owned by this Rollout", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
		}
		return nil
	}
	return err
}

// mergePatch sends a JSON merge patch; a missing object is an error the plan stops at.
func (r *Reconciler) mergePatch(ctx context.Context, obj client.Object, ns, name string, patch map[string]any) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	obj.SetNamespace(ns)
	obj.SetName(name)
	return r.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, raw))
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
