// Package v1alpha1 holds the member-cluster API of Flotilla, group rollouts.flotilla.dev.
//
// The spec of every kind here is field-compatible with Argo Rollouts' argoproj.io/v1alpha1:
// the same field names with the same meaning, so an Argo Rollouts manifest works after its
// apiVersion is changed. Status follows Kubernetes conventions instead (metav1.Condition,
// an integer observedGeneration), so it is not a copy of Argo's.
//
// +kubebuilder:object:generate=true
// +groupName=rollouts.flotilla.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "rollouts.flotilla.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// knownTypes collects the kinds of this package; each kind's file registers itself in init.
var knownTypes []runtime.Object

func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
