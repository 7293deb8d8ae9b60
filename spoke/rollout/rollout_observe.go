package rollout

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// observe reads what the engine needs of ro's world. Owned objects come from the cache by
// the owner index; pods are read live, and only while a restart is pending.
func (r *Reconciler) observe(ctx context.Context, ro *v1alpha1.Rollout) (engine.Observed, error) {
	obs := engine.Observed{Now: r.now(), Services: map[string]engine.Service{}}
	owned := []client.ListOption{client.InNamespace(ro.Namespace), client.MatchingFields{ownerIndex: ro.Name}}

	rsList := &appsv1.ReplicaSetList{}
	if err := r.Client.List(ctx, rsList, owned...); err != nil {
		return obs, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	for i := range rsList.Items {
		if ownedBy(&rsList.Items[i], ro) {
			obs.ReplicaSets = append(obs.ReplicaSets, engine.ReplicaSetFrom(&rsList.Items[i]))
		}
	}
	arList := &v1alpha1.AnalysisRunList{}
	if err := r.Client.List(ctx, arList, owned...); err != nil {
		return obs, fmt.Errorf("listing AnalysisRuns: %w", err)
	}
	for i := range arList.Items {
		if ownedBy(&arList.Items[i], ro) {
			obs.AnalysisRuns = append(obs.AnalysisRuns, engine.AnalysisRunFrom(&arList.Items[i]))
		}
	}
	exList := &v1alpha1.ExperimentList{}
	if err := r.Client.List(ctx, exList, owned...); err != nil {
		return obs, fmt.Errorf("listing Experiments: %w", err)
	}
	for i := range exList.Items {
		if ownedBy(&exList.Items[i], ro) {
			obs.Experiments = append(obs.Experiments, engine.ExperimentFrom(&exList.Items[i]))
		}
	}

	for _, name := range serviceNames(ro) {
		svc := &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ro.Namespace, Name: name}, svc)
		switch {
		case apierrors.IsNotFound(err):
			// The engine reports a missing Service; it is not an error of the read.
		case err != nil:
			return obs, fmt.Errorf("reading Service %s: %w", name, err)
		default:
			obs.Services[name] = engine.ServiceFrom(svc)
		}
	}

	if ref := ro.Spec.WorkloadRef; ref != nil && ro.Spec.Template == nil {
		tmpl, workload, err := r.workload(ctx, ro.Namespace, ref)
		if err != nil {
			return obs, err
		}
		obs.Template, obs.Workload = tmpl, workload
	}

	if restartPending(ro) {
		pods := &corev1.PodList{}
		sel, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
		if err != nil {
			return obs, fmt.Errorf("spec.selector: %w", err)
		}
		if err := r.APIReader.List(ctx, pods, client.InNamespace(ro.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return obs, fmt.Errorf("listing pods for the restart: %w", err)
		}
		for i := range pods.Items {
			obs.Pods = append(obs.Pods, engine.PodFrom(&pods.Items[i]))
		}
	}
	return obs, nil
}

// workload reads the pod template of spec.workloadRef, and for a Deployment its replicas;
// nil when the workload does not exist (the engine reports that). Deployments come from the
// cache, which the controller's watch on them keeps.
func (r *Reconciler) workload(ctx context.Context, ns string, ref *v1alpha1.ObjectRef) (*corev1.PodTemplateSpec, *engine.Workload, error) {
	key := client.ObjectKey{Namespace: ns, Name: ref.Name}
	switch ref.Kind {
	case "Deployment":
		d := &appsv1.Deployment{}
		if err := r.Client.Get(ctx, key, d); err != nil {
			return nil, nil, client.IgnoreNotFound(err)
		}
		w := &engine.Workload{Replicas: 1, Generation: d.Generation}
		if d.Spec.Replicas != nil {
			w.Replicas = *d.Spec.Replicas
		}
		return &d.Spec.Template, w, nil
	case "PodTemplate":
		pt := &corev1.PodTemplate{}
		if err := r.APIReader.Get(ctx, key, pt); err != nil {
			return nil, nil, client.IgnoreNotFound(err)
		}
		return &pt.Template, nil, nil
	default:
		return nil, nil, nil
	}
}

// restartPending is whether spec.restartAt asks for pods to be replaced and has not been
// carried out yet.
func restartPending(ro *v1alpha1.Rollout) bool {
	at := ro.Spec.RestartAt
	if at == nil {
		return false
	}
	return ro.Status.RestartedAt == nil || ro.Status.RestartedAt.Before(at)
}

func ownedBy(obj metav1.Object, ro *v1alpha1.Rollout) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == ro.UID
}

// serviceNames are the Services ro's strategy names.
func serviceNames(ro *v1alpha1.Rollout) []string {
	var names []string
	add := func(n string) {
		if n != "" {
			names = append(names, n)
		}
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		add(c.CanaryService)
		add(c.StableService)
		if c.PingPong != nil {
			add(c.PingPong.PingService)
			add(c.PingPong.PongService)
		}
	}
	if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		add(bg.ActiveService)
		add(bg.PreviewService)
	}
	return names
}

// workloadIndex indexes Rollouts by the Deployment their workloadRef names.
const workloadIndex = ".spec.workloadRef.deployment"

func workloadOfRollout(obj client.Object) []string {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok || ro.Spec.WorkloadRef == nil || ro.Spec.WorkloadRef.Kind != "Deployment" {
		return nil
	}
	return []string{ro.Spec.WorkloadRef.Name}
}

// rolloutsOfWorkload maps a Deployment to the Rollouts whose workloadRef names it.
func (r *Reconciler) rolloutsOfWorkload(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.rolloutsIndexed(ctx, workloadIndex, obj)
}
