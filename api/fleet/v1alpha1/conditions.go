package v1alpha1

// Condition types and reasons of the fleet API. Every condition is a metav1.Condition; the
// phase fields in status are summaries derived from these conditions, never the other way.

// Condition types of a FleetRollout.
const (
	// ConditionReady is True when the current revision runs healthy in every placed cluster
	// (the FleetRollout succeeded) and False while it is on its way or after a failure.
	ConditionReady = "Ready"

	// ConditionProgressing is True while the hub moves the current revision through the waves,
	// rolls clusters back, or waits for a bake time or a gate.
	ConditionProgressing = "Progressing"

	// ConditionStalled is True when the FleetRollout cannot go on without a person: a gate or
	// cluster failed under failurePolicy Pause, a gate was inconclusive, or a deadline passed.
	ConditionStalled = "Stalled"

	// ConditionPaused is True while spec.paused is set or the hub waits for a FleetApproval.
	ConditionPaused = "Paused"

	// ConditionInvalid is True when the spec passed the schema but cannot be carried out: a
	// missing FleetAnalysisTemplate, a wave that names an unknown cluster, a patch that does not
	// apply to the template.
	ConditionInvalid = "Invalid"

	// ConditionDeleting is True once the FleetRollout is deleted while the hub removes the
	// Rollout and companions it placed (deletionPolicy Delete); its message names the clusters
	// that still hold them.
	ConditionDeleting = "Deleting"
)

// Condition types of a MemberCluster.
const (
	// ConditionReachable is True when the hub reached the member's API server with the
	// credentials of spec.kubeconfigSecretRef at status.lastContactTime.
	ConditionReachable = "Reachable"

	// ConditionAgentReady is True when the spoke agent in the member reports itself ready and
	// speaks a version the hub supports.
	ConditionAgentReady = "AgentReady"

	// ConditionReady (shared with FleetRollout) is True on a MemberCluster that is Reachable,
	// AgentReady and not in maintenance, so new waves may use it.
)

// Condition types of a FleetApproval.
const (
	// ConditionAccepted is True when the hub matched the approval to a wave of the named
	// FleetRollout and recorded it in its journal; False (with a reason) when it does not match
	// any approval the FleetRollout waits or waited for.
	ConditionAccepted = "Accepted"
)

// Reasons of FleetRollout conditions.
const (
	// ReasonSucceeded: the current revision completed every wave and is now the stable one.
	ReasonSucceeded = "Succeeded"

	// ReasonWaveProgressing: clusters of the current wave are taking the new revision.
	ReasonWaveProgressing = "WaveProgressing"

	// ReasonBaking: the current wave finished and its bake time has not yet passed.
	ReasonBaking = "Baking"

	// ReasonEvaluatingGates: the hub is evaluating the gates after the current wave.
	ReasonEvaluatingGates = "EvaluatingGates"

	// ReasonWaitingForApproval: a wave needs a FleetApproval before it starts or after it ends.
	ReasonWaitingForApproval = "WaitingForApproval"

	// ReasonPausedByUser: spec.paused is true.
	ReasonPausedByUser = "PausedByUser"

	// ReasonGateFailed: a gate's verdict was Failed; the failure policy was applied.
	ReasonGateFailed = "GateFailed"

	// ReasonGateInconclusive: a gate could not decide (Inconclusive or Error); the hub waits for
	// a retry or an abort.
	ReasonGateInconclusive = "GateInconclusive"

	// ReasonClusterFailed: more clusters failed in a wave than its maxFailures allows.
	ReasonClusterFailed = "ClusterFailed"

	// ReasonProgressDeadlineExceeded: a cluster did not finish within progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"

	// ReasonAborted: spec.abortRevision names the current revision.
	ReasonAborted = "Aborted"

	// ReasonRollingBack: clusters are being returned to the stable revision.
	ReasonRollingBack = "RollingBack"

	// ReasonRolledBack: every affected cluster is back on the stable revision.
	ReasonRolledBack = "RolledBack"

	// ReasonNoClusters: placement selects no cluster that may take part.
	ReasonNoClusters = "NoClusters"

	// ReasonTemplateNotFound: an analysis gate names a template that does not exist on the hub.
	ReasonTemplateNotFound = "TemplateNotFound"

	// ReasonInvalidSpec: the spec cannot be carried out; the message says why.
	ReasonInvalidSpec = "InvalidSpec"

	// ReasonRemovingObjects: the FleetRollout was deleted and the hub is removing the objects
	// it placed from the member clusters.
	ReasonRemovingObjects = "RemovingObjects"

	// ReasonClustersUnreachable: the FleetRollout was deleted, and member clusters that hold
	// objects it placed cannot be reached; it stays until they can, or until their
	// MemberCluster is deleted.
	ReasonClustersUnreachable = "ClustersUnreachable"
)

// Reasons of MemberCluster conditions.
const (
	// ReasonConnected: the hub reached the member's API server.
	ReasonConnected = "Connected"

	// ReasonKubeconfigNotFound: the Secret or key of spec.kubeconfigSecretRef does not exist.
	ReasonKubeconfigNotFound = "KubeconfigNotFound"

	// ReasonNamespaceNotFound: the hub runs the namespace provider (large simulations) and the
	// namespace named like the MemberCluster does not exist or is not labelled
	// fleet.flotilla.dev/simulated-member=true.
	ReasonNamespaceNotFound = "NamespaceNotFound"

	// ReasonUnreachable: the member's API server did not answer or refused the credentials.
	ReasonUnreachable = "Unreachable"

	// ReasonAgentNotFound: no spoke agent reported from the member.
	ReasonAgentNotFound = "AgentNotFound"

	// ReasonAgentVersionUnsupported: the spoke agent's version is outside what the hub supports.
	ReasonAgentVersionUnsupported = "AgentVersionUnsupported"

	// ReasonMaintenance: spec.maintenance is true; new waves leave the cluster out.
	ReasonMaintenance = "Maintenance"
)

// Reasons of FleetApproval conditions.
const (
	// ReasonApproved: the approval matched a wave and was recorded in the hub journal.
	ReasonApproved = "Approved"

	// ReasonFleetRolloutNotFound: spec.fleetRollout names no FleetRollout in the namespace.
	ReasonFleetRolloutNotFound = "FleetRolloutNotFound"

	// ReasonRevisionMismatch: spec.revision is not the FleetRollout's current revision.
	ReasonRevisionMismatch = "RevisionMismatch"

	// ReasonApprovalNotRequired: the named wave requires no approval at the given stage.
	ReasonApprovalNotRequired = "ApprovalNotRequired"

	// ReasonWaveNotFound: the FleetRollout has no wave with the name in spec.wave.
	ReasonWaveNotFound = "WaveNotFound"
)

// Annotations the hub reads on a FleetRollout.
const (
	// AnnotationRetryRequestedAt asks the hub to retry the failed or inconclusive clusters and
	// gates of the current revision. Its value is an opaque token (usually the time of the
	// request, RFC 3339); the hub acts once per new value and copies it to
	// status.lastHandledRetryAt. `kubectl flotilla fleet retry` sets it.
	AnnotationRetryRequestedAt = "fleet.flotilla.dev/retry-requested-at"
)
