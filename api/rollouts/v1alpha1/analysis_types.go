package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnalysisTemplate describes how to judge a release: which metrics to measure, how often,
// and which results count as success or failure. Rollouts and Experiments instantiate it as
// an AnalysisRun, passing values for its arguments.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysistemplates,shortName=at,categories=flotilla
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the metrics, arguments and options of the analysis.
	// +required
	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateList is a list of AnalysisTemplates.
//
// +kubebuilder:object:root=true
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// ClusterAnalysisTemplate is an AnalysisTemplate that is not namespaced, so that Rollouts and
// Experiments of every namespace can use it (with clusterScope: true in their reference).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=clusteranalysistemplates,shortName=cat,scope=Cluster,categories=flotilla
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the metrics, arguments and options of the analysis.
	// +required
	Spec AnalysisTemplateSpec `json:"spec"`
}

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
//
// +kubebuilder:object:root=true
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

func init() {
	register(&AnalysisTemplate{}, &AnalysisTemplateList{},
		&ClusterAnalysisTemplate{}, &ClusterAnalysisTemplateList{})
}

// AnalysisTemplateSpec is the content of an AnalysisTemplate or ClusterAnalysisTemplate.
//
// +kubebuilder:validation:XValidation:rule="(has(self.metrics) && size(self.metrics) > 0) || (has(self.templates) && size(self.templates) > 0)",message="a template needs at least one entry in metrics, or in templates to take metrics from"
type AnalysisTemplateSpec struct {
	// metrics are the measurements of the analysis. Metric names are unique; the metrics of
	// the templates listed in templates are added to these when a run is created.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Metrics []Metric `json:"metrics,omitempty"`

	// args are the parameters of the template, referenced in metrics as {{args.NAME}}. An
	// argument without value or valueFrom must be given a value by whoever creates the run.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Args []Argument `json:"args,omitempty"`

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

	// templates are other AnalysisTemplates or ClusterAnalysisTemplates whose metrics, args,
	// dryRun and measurementRetention are merged into this one. Metric names must stay
	// unique across all of them, and an argument defined twice must have the same value.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
}

// Metric is one measurement of an analysis: which provider to query, how often, and how to
// judge each result.
//
// count, failureLimit, inconclusiveLimit, consecutiveErrorLimit and consecutiveSuccessLimit
// accept an integer or a string. A string is normally an {{args.NAME}} placeholder; the
// schema checks integers only, and the controller checks the resolved values when the run
// starts.
//
// +kubebuilder:validation:XValidation:rule="!has(self.count) || type(self.count) != int || self.count <= 1 || has(self.interval)",message="interval is required when count is more than 1",fieldPath=".interval",reason="FieldValueRequired"
// +kubebuilder:validation:XValidation:rule="!has(self.failureLimit) || type(self.failureLimit) != int || self.failureLimit != -1 || (has(self.consecutiveSuccessLimit) && (type(self.consecutiveSuccessLimit) != int || self.consecutiveSuccessLimit > 0))",message="failureLimit -1 turns the failure limit off, so consecutiveSuccessLimit must be more than 0: at least one of them must apply",fieldPath=".failureLimit"
// +kubebuilder:validation:XValidation:rule="!has(self.count) || type(self.count) != int || self.count <= 0 || (has(self.failureLimit) && type(self.failureLimit) != int) || (has(self.consecutiveSuccessLimit) && type(self.consecutiveSuccessLimit) != int) || self.count - (has(self.failureLimit) && self.failureLimit > 0 ? self.failureLimit : 0) - (has(self.consecutiveSuccessLimit) ? self.consecutiveSuccessLimit : 0) >= 0",message="count must be at least failureLimit + consecutiveSuccessLimit, or the metric can never reach a verdict",fieldPath=".count"
// +kubebuilder:validation:XValidation:rule="!has(self.count) || type(self.count) != int || self.count <= 0 || !has(self.inconclusiveLimit) || type(self.inconclusiveLimit) != int || self.count - self.inconclusiveLimit >= 0",message="count must be at least inconclusiveLimit",fieldPath=".count"
// +kubebuilder:validation:XValidation:rule="!has(self.count) || type(self.count) != int || self.count >= 0",message="count must be 0 or more",fieldPath=".count"
// +kubebuilder:validation:XValidation:rule="!has(self.failureLimit) || type(self.failureLimit) != int || self.failureLimit >= -1",message="failureLimit must be -1 (no failure limit) or 0 or more",fieldPath=".failureLimit"
// +kubebuilder:validation:XValidation:rule="!has(self.inconclusiveLimit) || type(self.inconclusiveLimit) != int || self.inconclusiveLimit >= 0",message="inconclusiveLimit must be 0 or more",fieldPath=".inconclusiveLimit"
// +kubebuilder:validation:XValidation:rule="!has(self.consecutiveErrorLimit) || type(self.consecutiveErrorLimit) != int || self.consecutiveErrorLimit >= 0",message="consecutiveErrorLimit must be 0 or more",fieldPath=".consecutiveErrorLimit"
// +kubebuilder:validation:XValidation:rule="!has(self.consecutiveSuccessLimit) || type(self.consecutiveSuccessLimit) != int || self.consecutiveSuccessLimit >= 0",message="consecutiveSuccessLimit must be 0 or more",fieldPath=".consecutiveSuccessLimit"
type Metric struct {
	// name identifies the metric in the run's status; unique within the template.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// interval is the time between two measurements, such as 30s or 5m. Without it the
	// metric is measured once; with it and without count, the metric is measured until the
	// run is terminated or fails.
	// +optional
	Interval TemplatedDurationString `json:"interval,omitempty"`

	// initialDelay is how long to wait, after the run starts, before the first measurement.
	// +optional
	InitialDelay TemplatedDurationString `json:"initialDelay,omitempty"`

	// count is how many measurements to take. Without count and interval it is 1; without
	// count but with interval the metric runs until stopped. count above 1 needs interval.
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`

	// successCondition is an expression that decides whether a measurement succeeded; the
	// variable result holds the measured value (for example result[0] >= 0.95).
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`

	// failureCondition is an expression that decides whether a measurement failed. When both
	// conditions are set and neither holds, the measurement is Inconclusive.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`

	// failureLimit is how many failed measurements the metric tolerates before it fails
	// (default 0). -1 turns the limit off, which needs a consecutiveSuccessLimit.
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`

	// inconclusiveLimit is how many inconclusive measurements the metric tolerates before it
	// is Inconclusive (default 0).
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`

	// consecutiveErrorLimit is how many measurement errors in a row the metric tolerates
	// before it ends in Error (default 4).
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`

	// consecutiveSuccessLimit is how many successful measurements in a row make the metric
	// Successful (default 0: off, the metric succeeds when its count is done within the
	// failure limit).
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`

	// provider says where the measurement comes from; exactly one provider is set.
	// +required
	Provider MetricProvider `json:"provider"`
}

// EffectiveCount is the number of measurements the metric takes: count when it is set and
// not zero, 1 when neither count nor interval is set, and nil (no end) when only interval is.
func (m *Metric) EffectiveCount() *intstr.IntOrString {
	if m.Count == nil || m.Count.IntValue() == 0 {
		if m.Interval == "" {
			one := intstr.FromInt32(1)
			return &one
		}
		return nil
	}
	return m.Count
}

// TemplatedDurationString is a duration such as "30s", "5m" or "1h30m", or a string holding
// an {{args.NAME}} placeholder that becomes a duration when the AnalysisRun resolves its
// arguments. Metrics use it where Argo Rollouts allows a placeholder in place of a duration.
//
// +kubebuilder:validation:MaxLength=256
// +kubebuilder:validation:XValidation:rule="self.contains('{{') || self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')",message="must be a duration such as 30s, 5m or 1h30m (units: ns, us, ms, s, m, h), or an {{args.NAME}} placeholder"
type TemplatedDurationString string

// Duration parses the string. It fails while a placeholder is unresolved.
func (d TemplatedDurationString) Duration() (time.Duration, error) {
	return DurationString(d).Duration()
}

// Argument is a parameter of an analysis, referenced in metrics as {{args.NAME}}.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && has(self.valueFrom))",message="value and valueFrom are mutually exclusive: set one of them, or neither to have the caller supply the value"
type Argument struct {
	// name is the argument's name, as used in {{args.NAME}}.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// value is the argument's value, or its default in a template.
	// +optional
	Value *string `json:"value,omitempty"`

	// valueFrom reads the value from a Secret or from a field of the object that creates
	// the run.
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom is where an argument's value is read from.
//
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.fieldRef)",message="valueFrom needs exactly one of secretKeyRef or fieldRef"
type ValueFrom struct {
	// secretKeyRef reads the value from a key of a Secret in the run's namespace. The value
	// is used in queries but never written to the run's status.
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`

	// fieldRef reads the value from a field of the object that creates the run, such as
	// metadata.labels['env'].
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef selects one key of a Secret in the same namespace.
type SecretKeyRef struct {
	// name is the Secret's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key is the key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// DryRun marks metrics whose results are reported but do not decide the run's outcome.
type DryRun struct {
	// metricName is the metric's name, or a regular expression matching metric names
	// (".*" for all of them).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	MetricName string `json:"metricName"`
}

// MeasurementRetention sets how many measurements a run keeps for some metrics.
type MeasurementRetention struct {
	// metricName is the metric's name, or a regular expression matching metric names
	// (".*" for all of them).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	MetricName string `json:"metricName"`

	// limit is how many of the latest measurements to keep; 0 keeps the default of 10.
	// +required
	// +kubebuilder:validation:Minimum=0
	Limit int32 `json:"limit"`
}

// AnalysisRunMetadata holds labels and annotations to put on the AnalysisRuns that a Rollout
// or an Experiment creates.
type AnalysisRunMetadata struct {
	// labels are added to the AnalysisRun's labels.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the AnalysisRun's annotations.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
