package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// RolloutStatus is what the spoke agent last observed of a Rollout and did to it. Unlike the
// spec, it follows Kubernetes conventions rather than Argo Rollouts' status.
type RolloutStatus struct {
	// observedGeneration is the metadata.generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are the Rollout's conditions; the types are listed in rollout_conditions.go.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase sums up the conditions: Progressing, Paused, Healthy or Degraded. Only trust it
	// when observedGeneration equals metadata.generation.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`

	// message says why the Rollout is in its phase.
	// +optional
	Message string `json:"message,omitempty"`

	// replicas is the number of pods, of every version, that the selector matches.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// updatedReplicas is the number of pods that run the desired template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`

	// readyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// availableReplicas is the number of pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// HPAReplicas is the number of pods that receive live traffic; the scale subresource
	// reports it to a HorizontalPodAutoscaler. The capitalised name is Argo Rollouts'.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`

	// selector is the label selector, in string form, of the pods that receive live traffic;
	// the scale subresource reports it.
	// +optional
	Selector string `json:"selector,omitempty"`

	// currentPodHash is the pod-template hash of the desired template.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`

	// stableRS is the pod-template hash of the ReplicaSet that last completed an update.
	// +optional
	StableRS string `json:"stableRS,omitempty"`

	// currentStepIndex is the index of the canary step being run; it equals the number of
	// steps once all of them are done.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`

	// currentStepHash is a hash of the canary steps, to notice that they changed.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`

	// collisionCount counts pod-template hash collisions; it is mixed into the hash of the next
	// ReplicaSet's name.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`

	// pauseConditions are the reasons the agent paused the Rollout. Promoting the Rollout
	// clears them.
	// +optional
	// +listType=map
	// +listMapKey=reason
	// +kubebuilder:validation:MaxItems=8
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`

	// controllerPause is true once the agent has paused the Rollout; together with empty
	// pauseConditions it means a user resumed it.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`

	// abort, set by a user or by the hub through the status subresource, stops the update and
	// returns all traffic and pods to the stable version.
	// +optional
	Abort bool `json:"abort,omitempty"`

	// abortedAt is when the agent acted on an abort.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`

	// promoteFull, set by a user or by the hub, skips the remaining steps, pauses and analysis
	// and promotes the new version at once.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`

	// restartedAt is when the last restart asked for by spec.restartAt finished.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`

	// canary is the state of a canary update.
	// +optional
	Canary *CanaryStatus `json:"canary,omitempty"`

	// blueGreen is the state of a blue-green update.
	// +optional
	BlueGreen *BlueGreenStatus `json:"blueGreen,omitempty"`

	// workloadObservedGeneration is the metadata.generation of the workloadRef target that
	// the template was last taken from.
	// +optional
	WorkloadObservedGeneration int64 `json:"workloadObservedGeneration,omitempty"`

	// term is the highest hub raft term this Rollout has accepted a directive from. The spoke
	// sets it and refuses directives stamped with a lower term, so that a deposed hub leader
	// cannot move the Rollout.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Term int64 `json:"term,omitempty"`
}

// RolloutPhase sums up a Rollout's conditions.
// +kubebuilder:validation:Enum=Progressing;Paused;Healthy;Degraded
type RolloutPhase string

const (
	// RolloutPhaseProgressing means an update is under way and making progress.
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	// RolloutPhasePaused means an update waits for a pause to end or for a promotion.
	RolloutPhasePaused RolloutPhase = "Paused"
	// RolloutPhaseHealthy means no update is under way and every desired pod is available.
	RolloutPhaseHealthy RolloutPhase = "Healthy"
	// RolloutPhaseDegraded means the update was aborted, exceeded its deadline, or the spec is
	// invalid, or pods are missing.
	RolloutPhaseDegraded RolloutPhase = "Degraded"
)

// PauseReason says why the agent paused a Rollout.
// +kubebuilder:validation:Enum=CanaryPauseStep;BlueGreenPause;InconclusiveAnalysisRun;InconclusiveExperiment
type PauseReason string

const (
	// PauseReasonCanaryPauseStep means a canary pause step is running.
	PauseReasonCanaryPauseStep PauseReason = "CanaryPauseStep"
	// PauseReasonBlueGreenPause means a blue-green update waits for promotion.
	PauseReasonBlueGreenPause PauseReason = "BlueGreenPause"
	// PauseReasonInconclusiveAnalysis means an AnalysisRun ended Inconclusive.
	PauseReasonInconclusiveAnalysis PauseReason = "InconclusiveAnalysisRun"
	// PauseReasonInconclusiveExperiment means an Experiment ended Inconclusive.
	PauseReasonInconclusiveExperiment PauseReason = "InconclusiveExperiment"
)

// PauseCondition is one reason for a pause and when it began.
type PauseCondition struct {
	// reason for the pause.
	// +required
	Reason PauseReason `json:"reason"`
	// startTime is when the pause began.
	// +required
	StartTime metav1.Time `json:"startTime"`
}

// PingPongType names the Service of a ping-pong pair.
// +kubebuilder:validation:Enum=ping;pong
type PingPongType string

const (
	// PPPing is pingPong.pingService.
	PPPing PingPongType = "ping"
	// PPPong is pingPong.pongService.
	PPPong PingPongType = "pong"
)

// CanaryStatus is the state of a canary update.
type CanaryStatus struct {
	// currentStepAnalysisRunStatus is the AnalysisRun of the analysis step being run.
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// currentBackgroundAnalysisRunStatus is the background AnalysisRun.
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// currentExperiment is the name of the Experiment of the experiment step being run.
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// weights are the weights last set on the traffic router.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// stablePingPong is the Service of the ping-pong pair that serves the stable version.
	// +optional
	StablePingPong PingPongType `json:"stablePingPong,omitempty"`
	// stepPluginStatuses are the results of the plugin steps run so far.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1024
	StepPluginStatuses []StepPluginStatus `json:"stepPluginStatuses,omitempty"`
}

// BlueGreenStatus is the state of a blue-green update.
type BlueGreenStatus struct {
	// activeSelector is the pod-template hash the active Service selects.
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// previewSelector is the pod-template hash the preview Service selects.
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// scaleUpPreviewCheckPoint is true once the preview ReplicaSet may be scaled to the full
	// count, after the Rollout was resumed.
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// prePromotionAnalysisRunStatus is the AnalysisRun of prePromotionAnalysis.
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// postPromotionAnalysisRunStatus is the AnalysisRun of postPromotionAnalysis.
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}

// TrafficWeights is how traffic is split among the versions.
type TrafficWeights struct {
	// canary is the new version's share.
	// +required
	Canary WeightDestination `json:"canary"`
	// stable is the stable version's share.
	// +required
	Stable WeightDestination `json:"stable"`
	// additional are the shares of other ReplicaSets, such as an experiment's.
	// +optional
	// +listType=atomic
	Additional []WeightDestination `json:"additional,omitempty"`
	// verified is true once the router was seen to apply the weights, for routers that can
	// tell.
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is one version's share of the traffic.
type WeightDestination struct {
	// weight is the share, out of trafficRouting.maxTrafficWeight.
	// +required
	Weight int32 `json:"weight"`
	// serviceName is the Service the share goes to.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// podTemplateHash is the pod-template hash of the ReplicaSet behind it.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// RolloutAnalysisRunStatus is the state of an AnalysisRun the Rollout created.
type RolloutAnalysisRunStatus struct {
	// name of the AnalysisRun.
	// +required
	Name string `json:"name"`
	// status is the AnalysisRun's phase.
	// +required
	Status AnalysisPhase `json:"status"`
	// message is the AnalysisRun's message.
	// +optional
	Message string `json:"message,omitempty"`
}

// StepPluginOperation is what a plugin step was asked to do.
// +kubebuilder:validation:Enum=Run;Terminate;Abort
type StepPluginOperation string

const (
	// StepPluginOperationRun runs the step.
	StepPluginOperationRun StepPluginOperation = "Run"
	// StepPluginOperationTerminate stops a running step.
	StepPluginOperationTerminate StepPluginOperation = "Terminate"
	// StepPluginOperationAbort undoes the step after the update was aborted.
	StepPluginOperationAbort StepPluginOperation = "Abort"
)

// StepPluginPhase is the state of a plugin step's operation.
// +kubebuilder:validation:Enum=Running;Successful;Failed;Error
type StepPluginPhase string

const (
	// StepPluginPhaseRunning means the operation has not finished.
	StepPluginPhaseRunning StepPluginPhase = "Running"
	// StepPluginPhaseSuccessful means the operation succeeded.
	StepPluginPhaseSuccessful StepPluginPhase = "Successful"
	// StepPluginPhaseFailed means the operation failed.
	StepPluginPhaseFailed StepPluginPhase = "Failed"
	// StepPluginPhaseError means the operation could not be carried out.
	StepPluginPhaseError StepPluginPhase = "Error"
)

// StepPluginStatus is the result of one operation of a plugin step.
type StepPluginStatus struct {
	// index of the step.
	// +required
	Index int32 `json:"index"`
	// name of the plugin.
	// +required
	Name string `json:"name"`
	// operation the plugin was asked to do.
	// +required
	Operation StepPluginOperation `json:"operation"`
	// phase of the operation.
	// +optional
	Phase StepPluginPhase `json:"phase,omitempty"`
	// message from the plugin.
	// +optional
	Message string `json:"message,omitempty"`
	// startedAt is when the plugin was first called for the operation.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// updatedAt is when the plugin was last called for the operation.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// finishedAt is when the operation finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// backoff is how long to wait before calling the plugin again.
	// +optional
	Backoff DurationString `json:"backoff,omitempty"`
	// executions counts the calls made for the operation.
	// +optional
	Executions int32 `json:"executions,omitempty"`
	// disabled is true when the plugin is turned off in the agent's configuration.
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// status is the plugin's own state, kept as it is.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	Status *runtime.RawExtension `json:"status,omitempty"`
}
