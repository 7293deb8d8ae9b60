package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutStrategy holds exactly one of the two ways to replace pods.
//
// +kubebuilder:validation:XValidation:rule="has(self.canary) != has(self.blueGreen)",message="exactly one of spec.strategy.canary and spec.strategy.blueGreen must be set"
type RolloutStrategy struct {
	// blueGreen runs the new version next to the old one and switches the active Service to
	// it at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// canary moves pods, and traffic when a router is configured, to the new version in steps.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// BlueGreenStrategy switches a Service's selector from the old ReplicaSet to the new one.
//
// +kubebuilder:validation:XValidation:rule="!has(self.previewService) || self.previewService != self.activeService",message="spec.strategy.blueGreen.previewService must name a different Service than activeService",fieldPath=.previewService
type BlueGreenStrategy struct {
	// activeService is the Service that serves production traffic; at promotion its selector
	// is switched to the new ReplicaSet.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ActiveService string `json:"activeService"`

	// previewService, when set, selects the new ReplicaSet before promotion so the new version
	// can be reached without production traffic.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PreviewService string `json:"previewService,omitempty"`

	// previewReplicaCount is how many pods the new version runs before promotion; it is scaled
	// to the full count when the Rollout is promoted.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`

	// autoPromotionEnabled promotes the new version as soon as it is fully available. It
	// defaults to true; false pauses the Rollout before promotion.
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`

	// autoPromotionSeconds waits this long, counted from the moment the new version is fully
	// available, before promoting it. Ignored when autoPromotionEnabled is false.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`

	// maxUnavailable is how many pods may be unavailable during a restart: a count, or a
	// percentage of the replicas. It defaults to 25%.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) in [int] ? self >= 0 : self.matches('^[0-9]+%?$')",message="maxUnavailable and maxSurge must be a non-negative integer or a percentage such as 25%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// scaleDownDelaySeconds is how long the old ReplicaSet keeps running after promotion, so
	// that every node has picked up the new Service endpoints. It defaults to 30.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// scaleDownDelayRevisionLimit is how many old ReplicaSets may wait for their scale-down
	// delay at the same time; older ones are scaled down at once. It must not exceed
	// revisionHistoryLimit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`

	// prePromotionAnalysis runs before the active Service is switched; a failure aborts the
	// update.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`

	// antiAffinity keeps new pods off the nodes that run the old version's pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`

	// postPromotionAnalysis runs after the active Service is switched; a failure switches it
	// back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`

	// previewMetadata is added to the new version's pods while they are the preview (until
	// the new version is stable); the spoke changes the pods in place, never restarting them.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`

	// activeMetadata is added to the stable version's pods: the active ones once the update
	// is promoted. The spoke changes the pods in place, never restarting them.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`

	// abortScaleDownDelaySeconds is how long the preview ReplicaSet keeps running after an
	// abort. 0 keeps it running; it defaults to 30.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
}

// CanaryStrategy moves a share of the pods, and of the traffic when a router is configured,
// to the new version step by step.
//
// +kubebuilder:validation:XValidation:rule="!has(self.canaryService) || !has(self.stableService) || self.canaryService != self.stableService",message="spec.strategy.canary.canaryService and stableService must name two different Services",fieldPath=.stableService
// +kubebuilder:validation:XValidation:rule="!has(self.trafficRouting) || (has(self.canaryService) && has(self.stableService)) || !(has(self.trafficRouting.smi) || has(self.trafficRouting.apisix) || has(self.trafficRouting.ambassador) || has(self.trafficRouting.nginx) || has(self.trafficRouting.appMesh) || has(self.trafficRouting.traefik) || has(self.trafficRouting.gatewayAPI) || (has(self.trafficRouting.alb) && !has(self.pingPong)) || (has(self.trafficRouting.istio) && !has(self.trafficRouting.istio.destinationRule) && !has(self.pingPong)))",message="spec.strategy.canary.canaryService and stableService are both required with trafficRouting (except for istio with a destinationRule, alb or istio with pingPong, and plugins)"
// +kubebuilder:validation:XValidation:rule="has(self.trafficRouting) || !has(self.scaleDownDelaySeconds)",message="spec.strategy.canary.scaleDownDelaySeconds can only be set together with trafficRouting",fieldPath=.scaleDownDelaySeconds
// +kubebuilder:validation:XValidation:rule="has(self.trafficRouting) || !has(self.dynamicStableScale) || !self.dynamicStableScale",message="spec.strategy.canary.dynamicStableScale can only be set together with trafficRouting",fieldPath=.dynamicStableScale
// +kubebuilder:validation:XValidation:rule="!has(self.dynamicStableScale) || !self.dynamicStableScale || !has(self.scaleDownDelaySeconds)",message="spec.strategy.canary.dynamicStableScale and scaleDownDelaySeconds cannot be set together",fieldPath=.dynamicStableScale
// +kubebuilder:validation:XValidation:rule="!has(self.maxSurge) || !has(self.maxUnavailable) || !(type(self.maxSurge) in [int] ? self.maxSurge == 0 : self.maxSurge.matches('^0+%?$')) || !(type(self.maxUnavailable) in [int] ? self.maxUnavailable == 0 : self.maxUnavailable.matches('^0+%?$'))",message="spec.strategy.canary.maxSurge and maxUnavailable cannot both be zero",fieldPath=.maxSurge
// +kubebuilder:validation:XValidation:rule="!has(self.pingPong) || has(self.trafficRouting) && (has(self.trafficRouting.alb) || has(self.trafficRouting.istio) || has(self.trafficRouting.gatewayAPI) || (has(self.trafficRouting.plugins) && size(self.trafficRouting.plugins) > 0))",message="spec.strategy.canary.pingPong works only with the alb, istio, gatewayAPI or plugins traffic routers",fieldPath=.pingPong
// +kubebuilder:validation:XValidation:rule="!has(self.pingPong) || !has(self.trafficRouting) || !has(self.trafficRouting.alb) || has(self.trafficRouting.alb.rootService)",message="spec.strategy.canary.trafficRouting.alb.rootService is required when pingPong is set",fieldPath=.trafficRouting
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, (!has(s.setWeight) || s.setWeight <= (has(self.trafficRouting) && has(self.trafficRouting.maxTrafficWeight) ? self.trafficRouting.maxTrafficWeight : 100)) && (!has(s.experiment) || s.experiment.templates.all(t, !has(t.weight) || t.weight <= (has(self.trafficRouting) && has(self.trafficRouting.maxTrafficWeight) ? self.trafficRouting.maxTrafficWeight : 100))))",message="setWeight and experiment template weights in spec.strategy.canary.steps must not exceed trafficRouting.maxTrafficWeight (100 when unset)",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="has(self.trafficRouting) || !has(self.steps) || self.steps.all(s, !has(s.setCanaryScale))",message="setCanaryScale steps need spec.strategy.canary.trafficRouting",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, !has(s.setHeaderRoute)) || (has(self.trafficRouting) && (has(self.trafficRouting.istio) || has(self.trafficRouting.alb) || has(self.trafficRouting.apisix) || has(self.trafficRouting.nginx) || has(self.trafficRouting.gatewayAPI) || (has(self.trafficRouting.plugins) && size(self.trafficRouting.plugins) > 0)))",message="setHeaderRoute steps need spec.strategy.canary.trafficRouting with istio, alb, apisix, nginx, gatewayAPI or plugins",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, !has(s.setMirrorRoute)) || (has(self.trafficRouting) && (has(self.trafficRouting.istio) || has(self.trafficRouting.traefik) || has(self.trafficRouting.gatewayAPI) || (has(self.trafficRouting.plugins) && size(self.trafficRouting.plugins) > 0)))",message="setMirrorRoute steps need spec.strategy.canary.trafficRouting with istio, traefik, gatewayAPI or plugins",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, (!has(s.setHeaderRoute) || (has(self.trafficRouting) && has(self.trafficRouting.managedRoutes) && self.trafficRouting.managedRoutes.exists(r, r.name == s.setHeaderRoute.name))) && (!has(s.setMirrorRoute) || (has(self.trafficRouting) && has(self.trafficRouting.managedRoutes) && self.trafficRouting.managedRoutes.exists(r, r.name == s.setMirrorRoute.name))))",message="every setHeaderRoute and setMirrorRoute step must name a route listed in spec.strategy.canary.trafficRouting.managedRoutes",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="!has(self.trafficRouting) || !has(self.trafficRouting.alb) || !has(self.steps) || self.steps.all(s, !has(s.setHeaderRoute) || !has(s.setHeaderRoute.match) || s.setHeaderRoute.match.all(m, has(m.headerValue.exact) && !has(m.headerValue.prefix) && !has(m.headerValue.regex)))",message="with the alb traffic router, setHeaderRoute matches support only headerValue.exact",fieldPath=.steps
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, !has(s.experiment) || s.experiment.templates.all(t, !has(t.weight))) || (has(self.trafficRouting) && (has(self.trafficRouting.alb) || has(self.trafficRouting.smi) || has(self.trafficRouting.istio) || has(self.trafficRouting.gatewayAPI) || (has(self.trafficRouting.plugins) && size(self.trafficRouting.plugins) > 0)))",message="experiment template weights need spec.strategy.canary.trafficRouting with alb, smi, istio, gatewayAPI or plugins",fieldPath=.steps
type CanaryStrategy struct {
	// canaryService is a Service that the Rollout points at the new version's pods only. It is
	// required, with stableService, by most traffic routers.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	CanaryService string `json:"canaryService,omitempty"`

	// stableService is a Service that the Rollout points at the stable version's pods only.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StableService string `json:"stableService,omitempty"`

	// steps are run in order on every update. With no steps, the update goes straight to 100%.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Steps []CanaryStep `json:"steps,omitempty"`

	// trafficRouting shapes traffic through a mesh, an ingress or a gateway, so that the
	// canary gets the step's weight of the requests rather than of the pods.
	// +optional
	TrafficRouting *RolloutTrafficRouting `json:"trafficRouting,omitempty"`

	// maxUnavailable is how many pods may be unavailable during the update: a count, or a
	// percentage of the replicas (rounded down). It defaults to 25%. maxSurge and
	// maxUnavailable cannot both be zero.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) in [int] ? self >= 0 : self.matches('^[0-9]+%?$')",message="maxUnavailable and maxSurge must be a non-negative integer or a percentage such as 25%"
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxSurge is how many pods may run above the desired count during the update: a count, or
	// a percentage of the replicas (rounded up). It defaults to 25%.
	// +optional
	// +kubebuilder:validation:XValidation:rule="type(self) in [int] ? self >= 0 : self.matches('^[0-9]+%?$')",message="maxUnavailable and maxSurge must be a non-negative integer or a percentage such as 25%"
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// analysis runs in the background, from startingStep until the update completes; a
	// failure aborts the update.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`

	// antiAffinity keeps canary pods off the nodes that run stable pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`

	// canaryMetadata is added to the new version's pods while they are the canary; the spoke
	// changes the pods in place, never restarting them.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`

	// stableMetadata is added to the stable version's pods. When the canary becomes stable,
	// its pods take stableMetadata and lose canaryMetadata in place.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`

	// scaleDownDelaySeconds is how long the previous stable ReplicaSet keeps running after the
	// stable Service moved to the new version, so that the router can catch up. It defaults
	// to 30 and needs trafficRouting.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`

	// scaleDownDelayRevisionLimit is how many old ReplicaSets may wait for their scale-down
	// delay at the same time; older ones are scaled down at once.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`

	// abortScaleDownDelaySeconds is how long the canary pods keep running after an abort, with
	// trafficRouting. 0 keeps them running; it defaults to 30.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`

	// dynamicStableScale scales the stable ReplicaSet down as traffic moves to the canary,
	// instead of keeping it at full size for an instant abort. It needs trafficRouting and
	// excludes scaleDownDelaySeconds.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`

	// pingPong alternates two Services between the stable and the canary role, instead of
	// canaryService and stableService.
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`

	// minPodsPerReplicaSet is, with trafficRouting, the fewest pods a canary or stable
	// ReplicaSet that is not scaled to zero runs, for availability.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`

	// replicaProgressThreshold is how many of a step's pods must be available before the next
	// step may start. It defaults to all of them.
	// +optional
	ReplicaProgressThreshold *ReplicaProgressThreshold `json:"replicaProgressThreshold,omitempty"`
}

// PingPongSpec names the two Services that take turns as stable and canary.
//
// +kubebuilder:validation:XValidation:rule="self.pingService != self.pongService",message="spec.strategy.canary.pingPong.pingService and pongService must name two different Services"
type PingPongSpec struct {
	// pingService is the first of the two Services.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	PingService string `json:"pingService"`
	// pongService is the second of the two Services.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	PongService string `json:"pongService"`
}

// ProgressType is the unit of a ReplicaProgressThreshold.
// +kubebuilder:validation:Enum=Percent;Pods
type ProgressType string

const (
	// ProgressTypePercentage counts a percentage of the step's pods.
	ProgressTypePercentage ProgressType = "Percent"
	// ProgressTypePods counts pods.
	ProgressTypePods ProgressType = "Pods"
)

// ReplicaProgressThreshold is a number or a percentage of pods.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'Percent' || self.value <= 100",message="spec.strategy.canary.replicaProgressThreshold.value must be at most 100 when type is Percent",fieldPath=.value
type ReplicaProgressThreshold struct {
	// type is Percent or Pods.
	// +required
	Type ProgressType `json:"type"`
	// value is the threshold, greater than 0.
	// +required
	// +kubebuilder:validation:Minimum=1
	Value int32 `json:"value"`
}

// AntiAffinity adds an inter-pod anti-affinity rule against the other version's pods. Exactly
// one of its fields is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.preferredDuringSchedulingIgnoredDuringExecution) != has(self.requiredDuringSchedulingIgnoredDuringExecution)",message="antiAffinity must set exactly one of preferredDuringSchedulingIgnoredDuringExecution and requiredDuringSchedulingIgnoredDuringExecution"
type AntiAffinity struct {
	// preferredDuringSchedulingIgnoredDuringExecution makes the rule a preference with a
	// weight.
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// requiredDuringSchedulingIgnoredDuringExecution makes the rule a hard requirement.
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredDuringSchedulingIgnoredDuringExecution `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredDuringSchedulingIgnoredDuringExecution is a weighted anti-affinity preference.
type PreferredDuringSchedulingIgnoredDuringExecution struct {
	// weight of the preference, from 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
}

// RequiredDuringSchedulingIgnoredDuringExecution is a hard anti-affinity rule; it has no
// fields.
type RequiredDuringSchedulingIgnoredDuringExecution struct{}
