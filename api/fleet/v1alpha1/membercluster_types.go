package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MemberCluster registers one member cluster with the hub. Its labels are what placements,
// waves and overrides select on (for example region=eu-west, env=prod); its name is the
// cluster's name everywhere in Flotilla (clusterNames, status, metric queries through
// `{{args.cluster}}`), so it must be a DNS-1123 label.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=mc,categories=flotilla
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Region",type=string,JSONPath=`.metadata.labels.region`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.agentVersion`
// +kubebuilder:printcolumn:name="Last contact",type=date,JSONPath=`.status.lastContactTime`
// +kubebuilder:printcolumn:name="Maintenance",type=boolean,JSONPath=`.spec.maintenance`,priority=1
// +kubebuilder:printcolumn:name="Kubernetes",type=string,JSONPath=`.status.kubernetesVersion`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: a MemberCluster name must be a DNS-1123 label (at most 63 lowercase letters, digits and '-')"
type MemberCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the cluster and whether new waves may use it.
	// +required
	Spec MemberClusterSpec `json:"spec"`

	// status is what the hub last observed of the cluster.
	// +optional
	Status MemberClusterStatus `json:"status,omitempty"`
}

// MemberClusterSpec is the desired state of a MemberCluster.
type MemberClusterSpec struct {
	// kubeconfigSecretRef points to the kubeconfig the hub uses to reach the cluster. A hub
	// with the kubeconfig provider (the default) needs it; a hub with the namespace provider
	// (large simulations) does not read it: the cluster is the namespace of the
	// MemberCluster's name.
	// +optional
	KubeconfigSecretRef SecretKeyRef `json:"kubeconfigSecretRef,omitzero"`

	// maintenance, when true, leaves the cluster out of every wave that has not started yet
	// and out of clusters not yet started in a running wave; a cluster already progressing
	// finishes. Such a cluster counts neither as healthy nor as failed. When maintenance ends,
	// the hub brings the cluster to the stable revision of each FleetRollout that places it.
	// +optional
	Maintenance bool `json:"maintenance,omitempty"`
}

// SecretKeyRef names one key of a Secret on the hub.
type SecretKeyRef struct {
	// namespace of the Secret; the hub needs read access to Secrets there.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data that holds the kubeconfig: "kubeconfig", the default and the
	// only key the hub's kubeconfig provider reads; another key is refused.
	// +optional
	// +kubebuilder:default=kubeconfig
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == 'kubeconfig'",message="kubeconfigSecretRef.key must be kubeconfig (the default): the hub reads a member's kubeconfig from that key of the Secret only; store it there or leave key out"
	Key string `json:"key,omitempty"`
}

// MemberClusterStatus is the observed state of a MemberCluster.
type MemberClusterStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reachable and AgentReady (see conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// kubernetesVersion is the member API server's version (for example v1.36.3).
	// +optional
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`

	// agentVersion is the version the member's spoke agent reports.
	// +optional
	AgentVersion string `json:"agentVersion,omitempty"`

	// lastContactTime is when the hub last talked to the member's API server successfully.
	// +optional
	LastContactTime *metav1.Time `json:"lastContactTime,omitempty"`

	// lastTerm is the newest raft term the hub has stamped on a directive to this cluster; a
	// member refuses directives carrying an older term.
	// +optional
	LastTerm int64 `json:"lastTerm,omitempty"`
}

// MemberClusterList is a list of MemberClusters.
//
// +kubebuilder:object:root=true
type MemberClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberCluster `json:"items"`
}

func init() {
	register(&MemberCluster{}, &MemberClusterList{})
}
