package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CanaryStep is one step of a canary update. It sets at least one of its fields, and at most
// one of setWeight, pause, analysis and experiment; setCanaryScale, setHeaderRoute,
// setMirrorRoute and plugin may accompany another action in the same step, as in Argo
// Rollouts (whose APISIX example scales the canary and adds a header route in one step).
//
// +kubebuilder:validation:XValidation:rule="has(self.setWeight) || has(self.pause) || has(self.analysis) || has(self.experiment) || has(self.setCanaryScale) || has(self.setHeaderRoute) || has(self.setMirrorRoute) || has(self.plugin)",message="each step in spec.strategy.canary.steps must set one of setWeight, pause, analysis, experiment, setCanaryScale, setHeaderRoute, setMirrorRoute and plugin"
// +kubebuilder:validation:XValidation:rule="[has(self.setWeight), has(self.pause), has(self.analysis), has(self.experiment)].filter(x, x).size() <= 1",message="a step in spec.strategy.canary.steps may set only one of setWeight, pause, analysis and experiment; use one step for each"
type CanaryStep struct {
	// setWeight is the percentage of traffic (of pods, without trafficRouting) the canary gets
	// from this step on. It ranges from 0 to trafficRouting.maxTrafficWeight (100 when unset).
	// +optional
	// +kubebuilder:validation:Minimum=0
	SetWeight *int32 `json:"setWeight,omitempty"`

	// pause stops the update, for a duration or, without one, until the Rollout is promoted.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`

	// experiment runs an Experiment and waits for it to finish.
	// +optional
	Experiment *RolloutExperimentStep `json:"experiment,omitempty"`

	// analysis runs an AnalysisRun and waits for its verdict; a failure aborts the update.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`

	// setCanaryScale sets the size of the canary ReplicaSet independently of the traffic
	// weight. It needs trafficRouting.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`

	// setHeaderRoute sends every request that matches the headers to the canary, through a
	// route listed in trafficRouting.managedRoutes.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`

	// setMirrorRoute copies a share of the matching requests to the canary, through a route
	// listed in trafficRouting.managedRoutes.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`

	// plugin runs a step plugin.
	// +optional
	Plugin *PluginStep `json:"plugin,omitempty"`
}

// RolloutPause is a pause step.
type RolloutPause struct {
	// duration is how long to pause: a number of seconds, or a string such as "30s", "5m" or
	// "1h30m". Without it the Rollout stays paused until it is promoted.
	//
	// For a string the schema checks that it starts with a digit and ends with a digit or a
	// unit (ns, us, µs, ms, s, m, h) after a digit. A full check would need a regular
	// expression, which the API server prices by the longest string a request could hold (it
	// cannot bound an int-or-string) times 256 steps, far over its budget. The spoke refuses
	// what slips through with the InvalidSpec condition.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) in [int] ? self >= 0 : ((self.startsWith('0') || self.startsWith('1') || self.startsWith('2') || self.startsWith('3') || self.startsWith('4') || self.startsWith('5') || self.startsWith('6') || self.startsWith('7') || self.startsWith('8') || self.startsWith('9')) && (self.endsWith('0') || self.endsWith('1') || self.endsWith('2') || self.endsWith('3') || self.endsWith('4') || self.endsWith('5') || self.endsWith('6') || self.endsWith('7') || self.endsWith('8') || self.endsWith('9') || self.endsWith('0s') || self.endsWith('1s') || self.endsWith('2s') || self.endsWith('3s') || self.endsWith('4s') || self.endsWith('5s') || self.endsWith('6s') || self.endsWith('7s') || self.endsWith('8s') || self.endsWith('9s') || self.endsWith('0m') || self.endsWith('1m') || self.endsWith('2m') || self.endsWith('3m') || self.endsWith('4m') || self.endsWith('5m') || self.endsWith('6m') || self.endsWith('7m') || self.endsWith('8m') || self.endsWith('9m') || self.endsWith('0h') || self.endsWith('1h') || self.endsWith('2h') || self.endsWith('3h') || self.endsWith('4h') || self.endsWith('5h') || self.endsWith('6h') || self.endsWith('7h') || self.endsWith('8h') || self.endsWith('9h') || self.endsWith('ms') || self.endsWith('ns') || self.endsWith('us') || self.endsWith('µs')))",message="pause.duration must be a non-negative number of seconds or a duration such as 30s, 5m or 1h"
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale sizes the canary ReplicaSet. Exactly one of its fields is set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.weight), has(self.replicas), has(self.matchTrafficWeight) && self.matchTrafficWeight].filter(x, x).size() == 1",message="setCanaryScale must set exactly one of weight, replicas and matchTrafficWeight: true"
type SetCanaryScale struct {
	// weight is the canary's size as a percentage of spec.replicas, from 0 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight *int32 `json:"weight,omitempty"`
	// replicas is the canary's size as a number of pods.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// matchTrafficWeight returns to sizing the canary after the current traffic weight,
	// undoing an earlier weight or replicas.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// SetHeaderRoute sends requests with matching headers to the canary.
type SetHeaderRoute struct {
	// name of the route; it must be listed in trafficRouting.managedRoutes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// match lists header conditions that must all hold. Without it, the route is removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch is one header condition.
type HeaderRoutingMatch struct {
	// headerName is the name of the request header.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	HeaderName string `json:"headerName"`
	// headerValue is how the header's value must match.
	// +required
	HeaderValue *StringMatch `json:"headerValue"`
}

// SetMirrorRoute copies matching requests to the canary.
type SetMirrorRoute struct {
	// name of the route; it must be listed in trafficRouting.managedRoutes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// match lists request conditions; a request that meets any one of them is mirrored.
	// Without it, the route is removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Match []RouteMatch `json:"match,omitempty"`
	// percentage of the matching requests that is mirrored, from 0 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch is a request condition; every field that is set must hold.
type RouteMatch struct {
	// method is how the HTTP method must match.
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// path is how the URL path must match.
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// headers maps header names to how their values must match.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// StringMatch matches a string one way. Exactly one of its fields is set.
//
// +kubebuilder:validation:XValidation:rule="[has(self.exact), has(self.prefix), has(self.regex)].filter(x, x).size() == 1",message="a string match must set exactly one of exact, prefix and regex"
type StringMatch struct {
	// exact matches the whole string.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Exact string `json:"exact,omitempty"`
	// prefix matches the start of the string.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
	// regex matches a regular expression (RE2 syntax, as the router understands it).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Regex string `json:"regex,omitempty"`
}

// PluginStep runs a step plugin.
type PluginStep struct {
	// name of the plugin, as the spoke agent's configuration registers it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// config is handed to the plugin as it is.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Config *runtime.RawExtension `json:"config,omitempty"`
}

// RolloutExperimentStep is the Experiment an experiment step creates.
type RolloutExperimentStep struct {
	// templates are the ReplicaSets the Experiment runs.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Templates []RolloutExperimentTemplate `json:"templates"`
	// duration is how long the Experiment runs, such as 30s, 5m or 1h. Without it, the
	// Experiment runs until its analyses finish.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// analyses run while the Experiment runs.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Analyses []RolloutExperimentStepAnalysisTemplateRef `json:"analyses,omitempty"`
	// dryRun lists metrics whose failures are recorded but do not fail the analyses.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	DryRun []DryRun `json:"dryRun,omitempty"`
	// analysisRunMetadata is added to the AnalysisRuns.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
	// scaleDownDelaySeconds is how long the Experiment's ReplicaSets keep running after it
	// finished.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
}

// ReplicaSetSpecRef says which version's pod template an experiment template copies.
// +kubebuilder:validation:Enum=canary;stable
type ReplicaSetSpecRef string

const (
	// CanarySpecRef copies the new version's pod template.
	CanarySpecRef ReplicaSetSpecRef = "canary"
	// StableSpecRef copies the stable version's pod template.
	StableSpecRef ReplicaSetSpecRef = "stable"
)

// RolloutExperimentTemplate is one ReplicaSet of an experiment step.
type RolloutExperimentTemplate struct {
	// name of the template, unique within the step.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// specRef says whose pod template to copy: canary or stable.
	// +required
	SpecRef ReplicaSetSpecRef `json:"specRef"`
	// replicas is the number of pods to run.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// metadata is added to the template's pods.
	// +optional
	Metadata PodTemplateMetadata `json:"metadata,omitempty"`
	// selector replaces the Rollout's selector for this template's ReplicaSet.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// weight is the percentage of traffic the template's pods get. It needs trafficRouting with
	// a router that supports it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Weight *int32 `json:"weight,omitempty"`
	// service, when set, creates a Service for the template's pods.
	// +optional
	Service *TemplateService `json:"service,omitempty"`
}

// RolloutExperimentStepAnalysisTemplateRef is an analysis that runs during an experiment step.
type RolloutExperimentStepAnalysisTemplateRef struct {
	// name of this analysis within the step.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// templateName is the AnalysisTemplate (or ClusterAnalysisTemplate) to run.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	TemplateName string `json:"templateName"`
	// clusterScope looks templateName up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`
	// args are passed to the AnalysisRun.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// requiredForCompletion keeps the Experiment running until this analysis has finished.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r *RolloutExperimentStepAnalysisTemplateRef) IsClusterScope() bool {
	return r.ClusterScope != nil && *r.ClusterScope
}

// RolloutAnalysis is the AnalysisRun an analysis step, a background analysis or a blue-green
// pre- or post-promotion analysis creates.
type RolloutAnalysis struct {
	// templates are merged into one AnalysisRun.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
	// args are passed to the AnalysisRun.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// dryRun lists metrics whose failures are recorded but do not fail the AnalysisRun.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	DryRun []DryRun `json:"dryRun,omitempty"`
	// measurementRetention says how many measurements of each metric are kept.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// analysisRunMetadata is added to the AnalysisRun.
	// +optional
	AnalysisRunMetadata *AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
}

// RolloutAnalysisBackground is an analysis that runs alongside the canary steps.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// startingStep is the index of the step at which the analysis starts; 0 when unset.
	// +optional
	// +kubebuilder:validation:Minimum=0
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate or a ClusterAnalysisTemplate.
type AnalysisTemplateRef struct {
	// templateName is the template's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	TemplateName string `json:"templateName"`
	// clusterScope looks templateName up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope *bool `json:"clusterScope,omitempty"`
}

// IsClusterScope reports whether the template is a ClusterAnalysisTemplate.
func (r *AnalysisTemplateRef) IsClusterScope() bool {
	return r.ClusterScope != nil && *r.ClusterScope
}

// AnalysisRunArgument is a value for one of an AnalysisTemplate's args. At most one of value
// and valueFrom is set; with neither, the value is the empty string, as in Argo Rollouts.
//
// +kubebuilder:validation:XValidation:rule="!has(self.value) || !has(self.valueFrom)",message="an analysis arg must not set both value and valueFrom"
type AnalysisRunArgument struct {
	// name of the arg.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// value of the arg.
	// +optional
	Value string `json:"value,omitempty"`
	// valueFrom takes the value from the Rollout.
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ValueFromPodTemplateHash says which ReplicaSet's pod-template hash to take.
// +kubebuilder:validation:Enum=Stable;Latest
type ValueFromPodTemplateHash string

const (
	// Stable takes the stable ReplicaSet's hash.
	Stable ValueFromPodTemplateHash = "Stable"
	// Latest takes the newest ReplicaSet's hash.
	Latest ValueFromPodTemplateHash = "Latest"
)

// ArgumentValueFrom says where an arg's value comes from. Exactly one of its fields is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.podTemplateHashValue) != has(self.fieldRef)",message="an analysis arg's valueFrom must set exactly one of podTemplateHashValue and fieldRef"
type ArgumentValueFrom struct {
	// podTemplateHashValue takes the pod-template hash of the Stable or the Latest ReplicaSet.
	// +optional
	PodTemplateHashValue *ValueFromPodTemplateHash `json:"podTemplateHashValue,omitempty"`
	// fieldRef takes the value of a field of the Rollout.
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// FieldRef points at a field of the owning object.
type FieldRef struct {
	// fieldPath is the path of the field, such as metadata.labels['app'] or
	// spec.template.spec.containers[0].image.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	FieldPath string `json:"fieldPath"`
}
