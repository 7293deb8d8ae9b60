package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// FleetAnalysisTemplate holds metrics that the hub itself runs for the analysis gates of
// FleetRollouts in the same namespace. It has the spec of a member-cluster AnalysisTemplate;
// its queries usually span a wave's clusters (one Prometheus or Thanos query, say) and may use
// the `{{fleet.*}}` values that the hub fills in (see AnalysisGate).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=fleetat,categories=flotilla
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the arguments and metrics.
	// +required
	Spec rolloutsv1alpha1.AnalysisTemplateSpec `json:"spec"`
}

// FleetAnalysisTemplateList is a list of FleetAnalysisTemplates.
//
// +kubebuilder:object:root=true
type FleetAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetAnalysisTemplate `json:"items"`
}

func init() {
	register(&FleetAnalysisTemplate{}, &FleetAnalysisTemplateList{})
}
