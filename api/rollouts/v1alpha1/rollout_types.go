package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rollout replaces the pods of one workload with a new version step by step, as a canary or
// as a blue-green release, shifting traffic and running analysis along the way. Its spec
// reads like the spec of an Argo Rollouts Rollout; its status follows Kubernetes
// conventions.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=rollouts,shortName=ro,categories=flotilla
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`,description="Number of pods the Rollout asks for"
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.replicas`,description="Pods that exist, of every version"
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`,description="Pods that run the desired template"
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`,description="Pods ready for at least minReadySeconds"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,description="Summary of the conditions"
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.currentStepIndex`,description="Index of the canary step being run"
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.canary.weights.canary.weight`,description="Traffic weight of the canary",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Rollout struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the Rollout should run and how a new version replaces the old one.
	// +required
	Spec RolloutSpec `json:"spec"`

	// status is what the spoke agent last observed and did.
	// +optional
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
//
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the list's standard metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Rollouts.
	Items []Rollout `json:"items"`
}

func init() {
	register(&Rollout{}, &RolloutList{})
}

// RolloutSpec is the desired state of a Rollout. Every field has the name and the meaning it
// has in Argo Rollouts' argoproj.io/v1alpha1 Rollout.
//
// +kubebuilder:validation:XValidation:rule="has(self.template) != has(self.workloadRef)",message="exactly one of spec.template and spec.workloadRef must be set"
// +kubebuilder:validation:XValidation:rule="has(self.workloadRef) || has(self.selector)",message="spec.selector is required unless spec.workloadRef is set",fieldPath=.selector
// +kubebuilder:validation:XValidation:rule="(has(self.progressDeadlineSeconds) ? self.progressDeadlineSeconds : 600) > (has(self.minReadySeconds) ? self.minReadySeconds : 0)",message="spec.progressDeadlineSeconds (600 when unset) must be greater than spec.minReadySeconds",fieldPath=.progressDeadlineSeconds
// +kubebuilder:validation:XValidation:rule="!has(self.strategy) || !has(self.strategy.blueGreen) || !has(self.strategy.blueGreen.scaleDownDelayRevisionLimit) || self.strategy.blueGreen.scaleDownDelayRevisionLimit <= (has(self.revisionHistoryLimit) ? self.revisionHistoryLimit : 10)",message="spec.strategy.blueGreen.scaleDownDelayRevisionLimit must not be greater than spec.revisionHistoryLimit (10 when unset)",fieldPath=.strategy.blueGreen.scaleDownDelayRevisionLimit
type RolloutSpec struct {
	// replicas is the number of pods wanted. It defaults to 1; a HorizontalPodAutoscaler may
	// own it through the scale subresource.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// selector picks the pods that belong to this Rollout; it must match the labels of the
	// template. It is required unless workloadRef is set, in which case the referenced
	// workload's selector is used. The spoke, not the schema, checks that it matches the
	// template's labels: a CEL rule would iterate over label maps that have no size bound,
	// which the API server's cost budget does not allow.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="spec.selector must not be empty: set matchLabels or matchExpressions"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// template describes the pods to run. Exactly one of template and workloadRef is set.
	// +optional
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`

	// workloadRef takes the pod template from another workload (a Deployment, say) instead of
	// template. Exactly one of template and workloadRef is set.
	// +optional
	WorkloadRef *ObjectRef `json:"workloadRef,omitempty"`

	// minReadySeconds is how long a new pod must be ready, with no container crashing, before it
	// counts as available. It defaults to 0: available as soon as ready.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// rollbackWindow lets a rollback to one of the last few revisions skip the steps and
	// analysis and go straight to full promotion.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`

	// strategy says how the new version replaces the old one: canary or blueGreen.
	// +required
	Strategy RolloutStrategy `json:"strategy"`

	// revisionHistoryLimit is how many old ReplicaSets are kept for rollback. It defaults to 10.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// paused stops the Rollout at its current step until it is set back to false.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// progressDeadlineSeconds is how long an update may go without progress before the
	// Progressing condition turns False with reason ProgressDeadlineExceeded. Time spent paused
	// does not count. It defaults to 600 and must be greater than minReadySeconds.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// progressDeadlineAbort aborts the update, instead of only reporting it, when
	// progressDeadlineSeconds is exceeded.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`

	// restartAt asks for every pod to be restarted once the time is reached; pods created
	// before it are replaced, a few at a time.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`

	// analysis limits how many finished AnalysisRuns and Experiments are kept.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`
}

// WorkloadRefScaleDown says what happens to the referenced workload's own pods.
// +kubebuilder:validation:Enum=never;onsuccess;progressively
type WorkloadRefScaleDown string

const (
	// ScaleDownNever leaves the referenced workload as it is.
	ScaleDownNever WorkloadRefScaleDown = "never"
	// ScaleDownOnSuccess scales the referenced workload to zero once the Rollout is healthy.
	ScaleDownOnSuccess WorkloadRefScaleDown = "onsuccess"
	// ScaleDownProgressively scales the referenced workload down as the Rollout's pods become
	// available.
	ScaleDownProgressively WorkloadRefScaleDown = "progressively"
)

// ObjectRef points at a workload in the Rollout's namespace whose pod template the Rollout
// uses.
type ObjectRef struct {
	// apiVersion of the workload, such as apps/v1.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion,omitempty"`
	// kind of the workload, such as Deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind,omitempty"`
	// name of the workload.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// scaleDown says whether and when the workload's own pods are scaled down: never (the
	// default), onsuccess, or progressively.
	// +optional
	ScaleDown WorkloadRefScaleDown `json:"scaleDown,omitempty"`
}

// RollbackWindowSpec bounds the fast-tracked rollbacks.
type RollbackWindowSpec struct {
	// revisions is how many of the most recent revisions a rollback may return to without
	// running steps and analysis again.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Revisions int32 `json:"revisions,omitempty"`
}

// AnalysisRunStrategy limits the AnalysisRuns and Experiments kept after they finish.
type AnalysisRunStrategy struct {
	// successfulRunHistoryLimit is how many successful AnalysisRuns and Experiments are kept.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// unsuccessfulRunHistoryLimit is how many Failed, Error or Inconclusive AnalysisRuns and
	// Experiments are kept.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// PodTemplateMetadata holds labels and annotations added to some pods for as long as they
// play a role (canary, stable, active, preview), or to an experiment's ReplicaSet.
type PodTemplateMetadata struct {
	// labels to add.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations to add.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
