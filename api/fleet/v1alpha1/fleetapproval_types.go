package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetApproval records that a person approved one wave of one revision of a FleetRollout,
// before the wave starts or after it passed its gates. `kubectl flotilla fleet approve NAME
// --wave WAVE` creates one. The hub accepts it (condition Accepted) when it matches a wave that
// asks for approval at that stage, and records it, approver included, in its journal.
//
// Approvals are objects of their own, rather than a field of the FleetRollout, so that RBAC
// can let approvers create FleetApprovals without letting them change FleetRollouts, and so
// that each approval is an audit record. The spec cannot change after creation. The hub chart
// ships a ValidatingAdmissionPolicy that refuses a FleetApproval whose spec.approvedBy is not
// the user making the request, so no one can approve in someone else's name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=fapr,categories=flotilla
// +kubebuilder:printcolumn:name="FleetRollout",type=string,JSONPath=`.spec.fleetRollout`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Wave",type=string,JSONPath=`.spec.wave`
// +kubebuilder:printcolumn:name="Stage",type=string,JSONPath=`.spec.stage`
// +kubebuilder:printcolumn:name="Approved by",type=string,JSONPath=`.spec.approvedBy`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetApproval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what was approved and by whom; immutable.
	// +required
	Spec FleetApprovalSpec `json:"spec"`

	// status says whether the hub accepted the approval.
	// +optional
	Status FleetApprovalStatus `json:"status,omitempty"`
}

// ApprovalStage is when, relative to its wave, an approval applies.
// +kubebuilder:validation:Enum=Before;After
type ApprovalStage string

const (
	// ApprovalStageBefore approves starting the wave.
	ApprovalStageBefore ApprovalStage = "Before"
	// ApprovalStageAfter approves the wave's result, letting the next wave start.
	ApprovalStageAfter ApprovalStage = "After"
)

// FleetApprovalSpec is what was approved and by whom.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new FleetApproval instead"
type FleetApprovalSpec struct {
	// fleetRollout is the name of the FleetRollout, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	FleetRollout string `json:"fleetRollout"`

	// revision is the FleetRollout revision approved (its status.currentRevision). An approval
	// never carries over to another revision.
	// +required
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// wave is the name of the wave approved.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave"`

	// stage is Before (start the wave) or After (accept its result).
	// +required
	Stage ApprovalStage `json:"stage"`

	// approvedBy is the user who approves, as the API server knows them (their username).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy"`

	// comment says why, for the audit trail.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`
}

// FleetApprovalStatus is the hub's answer to a FleetApproval.
type FleetApprovalStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Accepted (see conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// FleetApprovalList is a list of FleetApprovals.
//
// +kubebuilder:object:root=true
type FleetApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetApproval `json:"items"`
}

func init() {
	register(&FleetApproval{}, &FleetApprovalList{})
}
