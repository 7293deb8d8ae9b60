package nginx

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// upToDate reports whether applying desired would leave current as it is: every annotation
// desired sets has its value, no annotation the router applied before is dropped, the spec
// fields the router sets (rules, TLS, ingress class) are desired's, and the Rollout is the
// controller. Fields that others set are not compared: the apply would leave them anyway.
func upToDate(current, desired *networkingv1.Ingress) bool {
	for k, v := range desired.Annotations {
		if have, ok := current.Annotations[k]; !ok || have != v {
			return false
		}
	}
	for _, k := range trafficrouting.AppliedAnnotations(current) {
		if _, ok := desired.Annotations[k]; !ok {
			return false
		}
	}
	for _, ref := range desired.OwnerReferences {
		if !slices.ContainsFunc(current.OwnerReferences, func(have metav1.OwnerReference) bool {
			return have.UID == ref.UID && have.Controller != nil && *have.Controller
		}) {
			return false
		}
	}
	if desired.Spec.IngressClassName != nil && !equality.Semantic.DeepEqual(current.Spec.IngressClassName, desired.Spec.IngressClassName) {
		return false
	}
	return equality.Semantic.DeepEqual(current.Spec.Rules, desired.Spec.Rules) &&
		equality.Semantic.DeepEqual(current.Spec.TLS, desired.Spec.TLS)
}

// apply writes desired with server-side apply: the fields it sets become the router's, the
// ones it no longer sets are dropped if the router set them, and what others own stays.
func (r *Router) apply(ctx context.Context, desired *networkingv1.Ingress) error {
	spec, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&desired.Spec)
	if err != nil {
		return err
	}
	owners := make([]any, 0, len(desired.OwnerReferences))
	for i := range desired.OwnerReferences {
		ref, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&desired.OwnerReferences[i])
		if err != nil {
			return err
		}
		owners = append(owners, ref)
	}
	annotations := make(map[string]any, len(desired.Annotations))
	for k, v := range desired.Annotations {
		annotations[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": desired.APIVersion,
		"kind":       desired.Kind,
		"metadata": map[string]any{
			"name":            desired.Name,
			"namespace":       desired.Namespace,
			"annotations":     annotations,
			"ownerReferences": owners,
		},
		"spec": spec,
	}}
	err = r.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(trafficrouting.FieldManager), client.ForceOwnership)
	if err != nil {
		return fmt.Errorf("applying canary Ingress %s/%s: %w", desired.Namespace, desired.Name, err)
	}
	return nil
}
