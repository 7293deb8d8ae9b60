package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Experiment runs one or more ReplicaSets side by side for a limited time, usually a
// baseline and a canary, together with AnalysisRuns that compare them. A Rollout's experiment
// step creates one; it can also be created on its own.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=experiments,shortName=exp,categories=flotilla
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase",description="Summary of the experiment's state"
// +kubebuilder:printcolumn:name="Duration",type="string",JSONPath=".spec.duration",description="How long the experiment runs once available"
// +kubebuilder:printcolumn:name="Available",type="date",JSONPath=".status.availableAt",description="When every template became available"
// +kubebuilder:printcolumn:name="Message",type="string",JSONPath=".status.message",priority=1,description="Why the experiment is in its phase"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the ReplicaSets and analyses of the experiment.
	// +required
	Spec ExperimentSpec `json:"spec"`

	// status is the progress of the experiment.
	// +optional
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
//
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

func init() {
	register(&Experiment{}, &ExperimentList{})
}

// ExperimentSpec is the spec of an Experiment.
//
// +kubebuilder:validation:XValidation:rule="self.templates.all(t, !has(t.minReadySeconds) || t.minReadySeconds <= (has(self.progressDeadlineSeconds) ? self.progressDeadlineSeconds : 600))",message="templates[].minReadySeconds must not be more than progressDeadlineSeconds (600 when not set)"
type ExperimentSpec struct {
	// templates are the ReplicaSets to run; names are unique.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Templates []TemplateSpec `json:"templates"`

	// duration is how long the experiment runs once every template is available, such as
	// 1h. Without it the experiment runs until it is terminated or a required analysis
	// completes or fails.
	// +optional
	Duration DurationString `json:"duration,omitempty"`

	// progressDeadlineSeconds is how long the templates may take to become available before
	// the experiment fails (default 600).
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// terminate stops the experiment early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`

	// analyses are the AnalysisRuns to start for the experiment; names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Analyses []ExperimentAnalysisTemplateRef `json:"analyses,omitempty"`

	// scaleDownDelaySeconds is how long to wait after the experiment ends before its
	// ReplicaSets are scaled down (default 30), so that traffic routes can drain first.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// dryRun lists the metrics of the analyses that are measured and reported but do not
	// decide their outcome.
	// +optional
	// +listType=map
	// +listMapKey=metricName
	// +kubebuilder:validation:MaxItems=100
	DryRun []DryRun `json:"dryRun,omitempty"`

	// measurementRetention sets how many measurements the analyses keep per metric.
	// +optional
	// +listType=map
	// +listMapKey=metricName
	// +kubebuilder:validation:MaxItems=100
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`

	// analysisRunMetadata holds labels and annotations to put on the AnalysisRuns.
	// +optional
	AnalysisRunMetadata *AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// TemplateSpec describes one ReplicaSet of an Experiment.
//
// +kubebuilder:validation:XValidation:rule="has(self.selector) && ((has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0))",message="selector must not be empty: an empty selector would select every pod in the namespace",fieldPath=".selector"
type TemplateSpec struct {
	// name identifies the template; the ReplicaSet and Service names are derived from it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// replicas is the number of pods to run (default 1).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// minReadySeconds is how long a new pod must be ready, without a container crashing,
	// before it counts as available (default 0).
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// selector selects the template's pods. It must match the pod template's labels and
	// differ from the other templates' selectors.
	// +required
	Selector *metav1.LabelSelector `json:"selector"`

	// template is the pod template of the ReplicaSet.
	// +required
	Template corev1.PodTemplateSpec `json:"template"`

	// service, when set, creates a Service in front of the template's pods.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// TemplateService describes the Service created for an Experiment template.
type TemplateService struct {
	// name is the Service's name; by default it is derived from the experiment and
	// template names.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
}

// ExperimentAnalysisTemplateRef is an analysis to run during an Experiment.
type ExperimentAnalysisTemplateRef struct {
	// name identifies the analysis within the experiment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// templateName is the AnalysisTemplate (or ClusterAnalysisTemplate) to run.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	TemplateName string `json:"templateName"`

	// clusterScope looks templateName up among ClusterAnalysisTemplates instead of the
	// experiment's namespace.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`

	// args are the values for the template's arguments.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Args []Argument `json:"args,omitempty"`

	// requiredForCompletion keeps the experiment running until this analysis completes;
	// the experiment then ends with it, even before its duration.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r *ExperimentAnalysisTemplateRef) IsClusterScope() bool {
	return r.ClusterScope != nil && *r.ClusterScope
}

// ExperimentStatus is the observed state of an Experiment.
type ExperimentStatus struct {
	// phase summarizes the experiment: Pending, Running, Successful, Failed, Error or
	// Inconclusive. It is derived from the conditions.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`

	// message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`

	// templateStatuses holds the state of each template's ReplicaSet.
	// +optional
	// +listType=map
	// +listMapKey=name
	TemplateStatuses []TemplateStatus `json:"templateStatuses,omitempty"`

	// analysisRuns holds the state of each analysis' AnalysisRun.
	// +optional
	// +listType=map
	// +listMapKey=name
	AnalysisRuns []ExperimentAnalysisRunStatus `json:"analysisRuns,omitempty"`

	// availableAt is when every template became available; the duration counts from here.
	// +optional
	AvailableAt *metav1.Time `json:"availableAt,omitempty"`

	// observedGeneration is the metadata.generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Progressing, Running, Completed, ReplicaFailure and InvalidSpec (see
	// analysis_conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// TemplateStatus is the state of the ReplicaSet behind one Experiment template.
type TemplateStatus struct {
	// name is the template's name.
	// +required
	Name string `json:"name"`

	// replicas is the number of pods the ReplicaSet has.
	// +optional
	Replicas int32 `json:"replicas"`

	// updatedReplicas is the number of pods with the template's current spec.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas"`

	// readyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// availableReplicas is the number of pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas"`

	// collisionCount counts pod-template hash collisions; it is mixed into the hash of the
	// ReplicaSet's name to make it unique.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// status is the ReplicaSet's state: Progressing, Running, Successful, Failed or Error.
	// +optional
	Status TemplateStatusCode `json:"status,omitempty"`

	// message explains the status.
	// +optional
	Message string `json:"message,omitempty"`

	// lastTransitionTime is when status last changed; the progress deadline counts from it.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// serviceName is the name of the Service created for the template, if any.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// podTemplateHash is the pod-template hash of the template's ReplicaSet.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// ExperimentAnalysisRunStatus is the state of the AnalysisRun behind one analysis of an
// Experiment.
type ExperimentAnalysisRunStatus struct {
	// name is the analysis' name.
	// +required
	Name string `json:"name"`

	// analysisRun is the name of the AnalysisRun.
	// +optional
	AnalysisRun string `json:"analysisRun,omitempty"`

	// phase is the AnalysisRun's phase.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`

	// message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
}
