package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnalysisRun is one execution of an analysis: the metrics of one or more AnalysisTemplates
// with their arguments resolved. Like a Job, it runs until it completes; its phase
// (Successful, Failed, Error or Inconclusive) lets a Rollout continue, abort or pause.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=analysisruns,shortName=ar,categories=flotilla
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase",description="Summary of the run's state"
// +kubebuilder:printcolumn:name="Started",type="date",JSONPath=".status.startedAt",description="When the first measurement started"
// +kubebuilder:printcolumn:name="Message",type="string",JSONPath=".status.message",priority=1,description="Why the run is in its phase"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to measure and how to judge it.
	// +required
	Spec AnalysisRunSpec `json:"spec"`

	// status is the progress and results of the run.
	// +optional
	Status AnalysisRunStatus `json:"status,omitempty"`
}

// AnalysisRunList is a list of AnalysisRuns.
//
// +kubebuilder:object:root=true
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

func init() {
	register(&AnalysisRun{}, &AnalysisRunList{})
}

// AnalysisRunSpec is the spec of an AnalysisRun.
type AnalysisRunSpec struct {
	// metrics are the measurements of the run; names are unique.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	Metrics []Metric `json:"metrics"`

	// args are the values for the {{args.NAME}} placeholders in metrics.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Args []Argument `json:"args,omitempty"`

	// terminate stops the run early, for example when the Rollout that started it is
	// complete. A terminated run is Successful unless a metric already failed.
	// +optional
	Terminate bool `json:"terminate,omitempty"`

	// dryRun lists the metrics that are measured and reported but do not decide the run's
	// outcome.
	// +optional
	// +listType=map
	// +listMapKey=metricName
	// +kubebuilder:validation:MaxItems=100
	DryRun []DryRun `json:"dryRun,omitempty"`

	// measurementRetention sets how many measurements the run keeps per metric (10 when
	// not set).
	// +optional
	// +listType=map
	// +listMapKey=metricName
	// +kubebuilder:validation:MaxItems=100
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`

	// ttlStrategy deletes the run some time after it completes. Without it, completed runs
	// are kept until their owner's history limits remove them.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy says how long a completed AnalysisRun is kept. When the specific limit for
// the outcome (success or failure) is set, it wins over secondsAfterCompletion.
type TTLStrategy struct {
	// secondsAfterCompletion is how long to keep the run after it completes, whatever the
	// outcome.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`

	// secondsAfterFailure is how long to keep the run after it completes unsuccessfully
	// (Failed, Error or Inconclusive).
	// +optional
	// +kubebuilder:validation:Minimum=0
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`

	// secondsAfterSuccess is how long to keep the run after it completes successfully.
	// +optional
	// +kubebuilder:validation:Minimum=0
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// AnalysisRunStatus is the observed state of an AnalysisRun.
type AnalysisRunStatus struct {
	// phase summarizes the run: Pending, Running, Successful, Failed, Error or Inconclusive.
	// It is derived from the conditions.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`

	// message explains the phase, for example which metric failed and why.
	// +optional
	Message string `json:"message,omitempty"`

	// metricResults holds, per metric, the latest measurements and the counters that decide
	// the metric's phase.
	// +optional
	// +listType=map
	// +listMapKey=name
	MetricResults []MetricResult `json:"metricResults,omitempty"`

	// startedAt is when the run started measuring.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the run reached a final phase.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// runSummary counts the metrics (not in dry-run) by phase.
	// +optional
	RunSummary RunSummary `json:"runSummary,omitzero"`

	// dryRunSummary counts the dry-run metrics by phase.
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`

	// observedGeneration is the metadata.generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are Running, Completed and InvalidSpec (see analysis_conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// RunSummary counts metrics by phase.
type RunSummary struct {
	// count is the number of metrics counted.
	// +optional
	Count int32 `json:"count,omitempty"`

	// successful is the number of Successful metrics.
	// +optional
	Successful int32 `json:"successful,omitempty"`

	// failed is the number of Failed metrics.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// inconclusive is the number of Inconclusive metrics.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`

	// error is the number of metrics that ended in Error.
	// +optional
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the state of one metric of a run.
type MetricResult struct {
	// name is the metric's name.
	// +required
	Name string `json:"name"`

	// phase is the metric's verdict so far.
	// +required
	Phase AnalysisPhase `json:"phase"`

	// measurements are the latest measurements, oldest first, as many as the retention
	// allows (10 by default).
	// +optional
	// +listType=atomic
	Measurements []Measurement `json:"measurements,omitempty"`

	// message explains the phase, such as the last measurement error.
	// +optional
	Message string `json:"message,omitempty"`

	// count is the number of measurements taken without error
	// (successful + failed + inconclusive).
	// +optional
	Count int32 `json:"count,omitempty"`

	// successful is the number of successful measurements.
	// +optional
	Successful int32 `json:"successful,omitempty"`

	// failed is the number of failed measurements.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// inconclusive is the number of inconclusive measurements.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`

	// error is the number of measurements that ended in error.
	// +optional
	Error int32 `json:"error,omitempty"`

	// consecutiveError is the number of errors in a row, reset by any measurement without
	// error.
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`

	// consecutiveSuccess is the number of successes in a row, reset by any other outcome.
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`

	// dryRun is true when the metric runs in dry-run mode and does not decide the outcome.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// metadata is provider data about the metric as a whole, such as the resolved query.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Measurement is one measured value of a metric and its verdict.
type Measurement struct {
	// phase is the verdict of this measurement.
	// +required
	Phase AnalysisPhase `json:"phase"`

	// message explains the phase, such as a provider error.
	// +optional
	Message string `json:"message,omitempty"`

	// startedAt is when the measurement started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when the value was collected.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// value is the measured value, as text (a number, or JSON for structured results).
	// +optional
	Value string `json:"value,omitempty"`

	// metadata is provider data about the measurement, such as a Job name or a Kayenta
	// judgement ID.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`

	// resumeAt is when to look again at a measurement that is still in progress (a Job or a
	// Kayenta judgement).
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
