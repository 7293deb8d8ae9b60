package v1alpha1

// Condition types of a Rollout (metav1.Condition.Type). status.phase is derived from them.
const (
	// RolloutProgressing is True while an update moves forward, and False with reason
	// ProgressDeadlineExceeded when it made no progress for progressDeadlineSeconds.
	RolloutProgressing = "Progressing"
	// RolloutAvailable is True when at least the desired replicas minus maxUnavailable pods
	// are available and, for blue-green, the active Service selects them.
	RolloutAvailable = "Available"
	// RolloutPaused is True while the Rollout is paused, by a step, by spec.paused or by an
	// inconclusive analysis.
	RolloutPaused = "Paused"
	// RolloutHealthy is True when no update is under way and every desired pod is up to date
	// and available.
	RolloutHealthy = "Healthy"
	// RolloutInvalidSpec is True when the spec cannot be acted on (a missing workloadRef
	// target or Service, say); the Rollout makes no progress until it is fixed.
	RolloutInvalidSpec = "InvalidSpec"
	// RolloutReplicaFailure is True when a ReplicaSet could not create or delete pods.
	RolloutReplicaFailure = "ReplicaFailure"
	// RolloutCompleted is True when the last update reached the desired revision, and False
	// while one is under way.
	RolloutCompleted = "Completed"
	// RolloutAborted is True after the update was aborted (by a user, the hub, a failed
	// analysis or the progress deadline) until a new revision or a retry starts.
	RolloutAborted = "Aborted"
	// RolloutTrafficRouted is True when the traffic router carries the weights the current
	// step asks for, and False with the router's error when it could not set them.
	RolloutTrafficRouted = "TrafficRouted"
)

// Condition reasons of a Rollout (metav1.Condition.Reason).
const (
	// RolloutReasonNewReplicaSetCreated: the ReplicaSet of a new revision was created.
	RolloutReasonNewReplicaSetCreated = "NewReplicaSetCreated"
	// RolloutReasonReplicaSetUpdated: ReplicaSets were scaled toward the current step.
	RolloutReasonReplicaSetUpdated = "ReplicaSetUpdated"
	// RolloutReasonStepCompleted: a step finished and the next one started.
	RolloutReasonStepCompleted = "StepCompleted"
	// RolloutReasonNewReplicaSetAvailable: the new revision is fully available and stable.
	RolloutReasonNewReplicaSetAvailable = "NewReplicaSetAvailable"
	// RolloutReasonProgressDeadlineExceeded: no progress for progressDeadlineSeconds.
	RolloutReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// RolloutReasonMinimumReplicasAvailable: enough pods are available.
	RolloutReasonMinimumReplicasAvailable = "MinimumReplicasAvailable"
	// RolloutReasonMinimumReplicasUnavailable: too few pods are available.
	RolloutReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	// RolloutReasonAllReplicasHealthy: every desired pod is up to date and available.
	RolloutReasonAllReplicasHealthy = "AllReplicasHealthy"
	// RolloutReasonUpdateInProgress: a new revision is being rolled out.
	RolloutReasonUpdateInProgress = "UpdateInProgress"
	// RolloutReasonPausedBySpec: spec.paused is true.
	RolloutReasonPausedBySpec = "PausedBySpec"
	// RolloutReasonResumed: the Rollout was promoted or unpaused.
	RolloutReasonResumed = "Resumed"
	// RolloutReasonAbortedByUser: status.abort was set by a user or by the hub.
	RolloutReasonAbortedByUser = "AbortedByUser"
	// RolloutReasonAnalysisRunFailed: an AnalysisRun failed or errored, which aborts.
	RolloutReasonAnalysisRunFailed = "AnalysisRunFailed"
	// RolloutReasonExperimentFailed: an Experiment failed or errored, which aborts.
	RolloutReasonExperimentFailed = "ExperimentFailed"
	// RolloutReasonInvalidSpec: the spec cannot be acted on; the message says why.
	RolloutReasonInvalidSpec = "InvalidSpec"
	// RolloutReasonWorkloadNotFound: the workloadRef target does not exist.
	RolloutReasonWorkloadNotFound = "WorkloadNotFound"
	// RolloutReasonServiceNotFound: a Service the strategy names does not exist.
	RolloutReasonServiceNotFound = "ServiceNotFound"
	// RolloutReasonFailedCreate: a ReplicaSet could not create pods.
	RolloutReasonFailedCreate = "FailedCreate"
	// RolloutReasonTrafficRouterError: the traffic router refused or failed an update.
	RolloutReasonTrafficRouterError = "TrafficRouterError"
	// RolloutReasonWeightsSet: the traffic router carries the desired weights.
	RolloutReasonWeightsSet = "WeightsSet"
	// RolloutReasonStaleTerm: a directive from the hub carried a raft term lower than
	// status.term and was refused.
	RolloutReasonStaleTerm = "StaleTerm"
)
