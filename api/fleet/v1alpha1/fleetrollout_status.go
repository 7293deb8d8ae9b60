package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// FleetRolloutPhase summarizes a FleetRollout's conditions in one word for people and printer
// columns. Controllers decide on conditions, never on the phase.
// +kubebuilder:validation:Enum=Pending;Progressing;Paused;WaitingForApproval;Succeeded;Failed;RollingBack;RolledBack;Deleting
type FleetRolloutPhase string

const (
	// FleetRolloutPending means the hub has not started the current revision yet.
	FleetRolloutPending FleetRolloutPhase = "Pending"
	// FleetRolloutProgressing means a wave is running, baking or evaluating its gates.
	FleetRolloutProgressing FleetRolloutPhase = "Progressing"
	// FleetRolloutPaused means spec.paused is true, or a gate was inconclusive.
	FleetRolloutPaused FleetRolloutPhase = "Paused"
	// FleetRolloutWaitingForApproval means a wave waits for a FleetApproval.
	FleetRolloutWaitingForApproval FleetRolloutPhase = "WaitingForApproval"
	// FleetRolloutSucceeded means every wave passed; the current revision is the stable one.
	FleetRolloutSucceeded FleetRolloutPhase = "Succeeded"
	// FleetRolloutFailed means a wave failed and the failure policy (Pause or RollbackWave) left the
	// FleetRollout stopped.
	FleetRolloutFailed FleetRolloutPhase = "Failed"
	// FleetRolloutRollingBack means clusters are being returned to the stable revision.
	FleetRolloutRollingBack FleetRolloutPhase = "RollingBack"
	// FleetRolloutRolledBack means an abort or RollbackAll returned every cluster to the stable
	// revision.
	FleetRolloutRolledBack FleetRolloutPhase = "RolledBack"
	// FleetRolloutDeleting means the FleetRollout was deleted and the hub is still removing what
	// it placed (deletionPolicy Delete).
	FleetRolloutDeleting FleetRolloutPhase = "Deleting"
)

// FleetRolloutStatus is the observed state of a FleetRollout, written by the hub leader only.
type FleetRolloutStatus struct {
	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Progressing, Stalled, Paused, Invalid and, once deleted, Deleting (see
	// conditions.go).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase summarizes the conditions.
	// +optional
	Phase FleetRolloutPhase `json:"phase,omitempty"`

	// message says in one sentence what the FleetRollout is doing or waiting for.
	// +optional
	Message string `json:"message,omitempty"`

	// currentRevision is the revision going out (or gone out) to the fleet.
	// +optional
	CurrentRevision int64 `json:"currentRevision,omitempty"`

	// stableRevision is the last revision that completed every wave; rollbacks return to it.
	// Zero until a first revision completed.
	// +optional
	StableRevision int64 `json:"stableRevision,omitempty"`

	// currentWave is the name of the wave in progress, or of the last wave that ran.
	// +optional
	CurrentWave string `json:"currentWave,omitempty"`

	// waves is the state of each wave for the current revision, in spec order.
	// +optional
	// +listType=map
	// +listMapKey=name
	Waves []WaveStatus `json:"waves,omitempty"`

	// clusters is the state of each placed cluster, sorted by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	Clusters []ClusterStatus `json:"clusters,omitempty"`

	// term is the raft term of the hub leader that last wrote this status. A status with a
	// lower term than the newest a reader has seen comes from a deposed leader.
	// +optional
	Term int64 `json:"term,omitempty"`

	// lastHandledRetryAt is the value of the annotation fleet.flotilla.dev/retry-requested-at
	// the hub last acted on.
	// +optional
	LastHandledRetryAt string `json:"lastHandledRetryAt,omitempty"`
}

// WavePhase is the state of one wave.
// +kubebuilder:validation:Enum=Pending;WaitingForApproval;Progressing;Baking;EvaluatingGates;Succeeded;Failed;RollingBack;RolledBack
type WavePhase string

const (
	// WavePending means the wave has not started.
	WavePending WavePhase = "Pending"
	// WaveWaitingForApproval means the wave waits for a FleetApproval (stage Before or After).
	WaveWaitingForApproval WavePhase = "WaitingForApproval"
	// WaveProgressing means clusters of the wave are taking the new revision.
	WaveProgressing WavePhase = "Progressing"
	// WaveBaking means every cluster finished; the bake time runs.
	WaveBaking WavePhase = "Baking"
	// WaveEvaluatingGates means the hub evaluates the gates.
	WaveEvaluatingGates WavePhase = "EvaluatingGates"
	// WaveSucceeded means the wave passed every gate and approval.
	WaveSucceeded WavePhase = "Succeeded"
	// WaveFailed means too many clusters or a gate failed.
	WaveFailed WavePhase = "Failed"
	// WaveRollingBack means the wave's clusters are returning to the stable revision.
	WaveRollingBack WavePhase = "RollingBack"
	// WaveRolledBack means the wave's clusters are back on the stable revision.
	WaveRolledBack WavePhase = "RolledBack"
)

// WaveStatus is the state of one wave for the current revision.
type WaveStatus struct {
	// name is the wave's name in spec.waves.
	// +required
	Name string `json:"name"`

	// phase is where the wave is.
	// +optional
	Phase WavePhase `json:"phase,omitempty"`

	// clusters are the names of the wave's clusters, fixed when the wave started (before that,
	// the clusters it would take now).
	// +optional
	// +listType=atomic
	Clusters []string `json:"clusters,omitempty"`

	// startedAt is when the first cluster of the wave got the new revision.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// finishedAt is when the wave succeeded or failed.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// bakeUntil is when the bake time ends.
	// +optional
	BakeUntil *metav1.Time `json:"bakeUntil,omitempty"`

	// approval is the state of the wave's approvals.
	// +optional
	Approval *WaveApprovalStatus `json:"approval,omitempty"`

	// gates are the verdicts of the wave's gates and of the fleet-level gates evaluated after it.
	// +optional
	// +listType=map
	// +listMapKey=name
	Gates []GateStatus `json:"gates,omitempty"`
}

// ApprovalState is the state of one approval stage of a wave.
// +kubebuilder:validation:Enum=NotRequired;Pending;Approved
type ApprovalState string

const (
	// ApprovalNotRequired means the wave does not ask for approval at this stage.
	ApprovalNotRequired ApprovalState = "NotRequired"
	// ApprovalPending means the wave waits, or will wait, for a FleetApproval.
	ApprovalPending ApprovalState = "Pending"
	// ApprovalApproved means a FleetApproval was accepted.
	ApprovalApproved ApprovalState = "Approved"
)

// WaveApprovalStatus is the state of a wave's approvals.
type WaveApprovalStatus struct {
	// before is the approval before the wave starts.
	// +optional
	Before *StageApprovalStatus `json:"before,omitempty"`

	// after is the approval after the wave passed its gates.
	// +optional
	After *StageApprovalStatus `json:"after,omitempty"`
}

// StageApprovalStatus is the state of one approval stage.
type StageApprovalStatus struct {
	// state is NotRequired, Pending or Approved.
	// +optional
	State ApprovalState `json:"state,omitempty"`

	// approvalName is the FleetApproval that was accepted.
	// +optional
	ApprovalName string `json:"approvalName,omitempty"`

	// approvedBy is the approver recorded in that FleetApproval.
	// +optional
	ApprovedBy string `json:"approvedBy,omitempty"`

	// approvedAt is when the hub accepted the approval.
	// +optional
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// GateVerdict is the result of a gate.
// +kubebuilder:validation:Enum=Pending;Running;Passed;Failed;Inconclusive;Error
type GateVerdict string

const (
	// GatePending means the gate has not been evaluated yet.
	GatePending GateVerdict = "Pending"
	// GateRunning means the gate's measurements are being taken.
	GateRunning GateVerdict = "Running"
	// GatePassed means the gate passed.
	GatePassed GateVerdict = "Passed"
	// GateFailed means the gate failed; the failure policy applies.
	GateFailed GateVerdict = "Failed"
	// GateInconclusive means the gate could not decide; the FleetRollout waits for a person.
	GateInconclusive GateVerdict = "Inconclusive"
	// GateError means the gate could not be evaluated (a query failed); handled like Inconclusive.
	GateError GateVerdict = "Error"
)

// GateStatus is the verdict of one gate after one wave.
type GateStatus struct {
	// name is the gate's name.
	// +required
	Name string `json:"name"`

	// fleet is true for a fleet-level gate (spec.gates), false for a gate of the wave.
	// +optional
	Fleet bool `json:"fleet,omitempty"`

	// verdict is the gate's result.
	// +optional
	Verdict GateVerdict `json:"verdict,omitempty"`

	// message explains the verdict, naming failed or outlying clusters.
	// +optional
	Message string `json:"message,omitempty"`

	// measurements are the values the verdict was computed from, as the hub journaled them.
	// +optional
	// +listType=atomic
	Measurements []GateMeasurement `json:"measurements,omitempty"`

	// lastTransitionTime is when the verdict last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// analysis is the state of an analysis or outlier gate's measurements, in the form of an
	// AnalysisRun's status: the hub takes them on its own schedule (initialDelay, interval,
	// count) and keeps that schedule here, so that a new hub leader resumes the measurements
	// where the last one stopped. For an outlier gate each metric is named after the cluster
	// it measures.
	// +optional
	Analysis *rolloutsv1alpha1.AnalysisRunStatus `json:"analysis,omitempty"`
}

// GateMeasurement is one value a gate measured or computed, kept as a string so that numbers
// keep the exact form the provider returned.
type GateMeasurement struct {
	// name says what was measured: "healthy", "failed", "successPercent" for aggregate gates,
	// the metric name for analysis gates, "median", "mad" or a cluster's name for outlier gates.
	// +required
	Name string `json:"name"`

	// value is the measured or computed value.
	// +optional
	Value string `json:"value,omitempty"`
}

// ClusterPhase is the state of the current revision in one member cluster.
// +kubebuilder:validation:Enum=Pending;Progressing;Paused;Healthy;Degraded;Failed;RollingBack;RolledBack;Skipped;Unknown
type ClusterPhase string

const (
	// ClusterPending means the cluster's wave has not reached it yet.
	ClusterPending ClusterPhase = "Pending"
	// ClusterProgressing means the member Rollout is going through its steps.
	ClusterProgressing ClusterPhase = "Progressing"
	// ClusterPaused means the member Rollout is paused (a pause step or the fleet is paused).
	ClusterPaused ClusterPhase = "Paused"
	// ClusterHealthy means the member Rollout is fully promoted and healthy at the current revision.
	ClusterHealthy ClusterPhase = "Healthy"
	// ClusterDegraded means the member Rollout is degraded or aborted its canary.
	ClusterDegraded ClusterPhase = "Degraded"
	// ClusterFailed means the cluster counts as failed (degraded, deadline passed, apply refused).
	ClusterFailed ClusterPhase = "Failed"
	// ClusterRollingBack means the cluster is returning to the stable revision.
	ClusterRollingBack ClusterPhase = "RollingBack"
	// ClusterRolledBack means the cluster is back on the stable revision.
	ClusterRolledBack ClusterPhase = "RolledBack"
	// ClusterSkipped means the cluster was left out (maintenance, or no wave selects it).
	ClusterSkipped ClusterPhase = "Skipped"
	// ClusterUnknown means the hub cannot reach the cluster; it never counts as healthy.
	ClusterUnknown ClusterPhase = "Unknown"
)

// ClusterStatus is the state of the FleetRollout in one member cluster, as the hub last read it.
type ClusterStatus struct {
	// name is the MemberCluster's name.
	// +required
	Name string `json:"name"`

	// wave is the name of the wave the cluster belongs to; empty when no wave selects it.
	// +optional
	Wave string `json:"wave,omitempty"`

	// phase is where the cluster is.
	// +optional
	Phase ClusterPhase `json:"phase,omitempty"`

	// revision is the fleet revision the cluster's Rollout was last given.
	// +optional
	Revision int64 `json:"revision,omitempty"`

	// step is the index of the member Rollout's current canary step.
	// +optional
	Step *int32 `json:"step,omitempty"`

	// weight is the share of traffic, in percent, the member Rollout sends to the new revision.
	// +optional
	Weight *int32 `json:"weight,omitempty"`

	// analysis summarizes the member Rollout's AnalysisRuns for the current revision.
	// +optional
	Analysis *ClusterAnalysisSummary `json:"analysis,omitempty"`

	// term is the raft term stamped on the last directive the hub wrote to this cluster.
	// +optional
	Term int64 `json:"term,omitempty"`

	// lastTransitionTime is when phase last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// message explains the phase (the member Rollout's message, or why it is unreachable).
	// +optional
	Message string `json:"message,omitempty"`
}

// ClusterAnalysisSummary counts a member cluster's AnalysisRuns for the current revision.
type ClusterAnalysisSummary struct {
	// phase is the phase of the latest AnalysisRun: Pending, Running, Successful, Failed,
	// Inconclusive or Error.
	// +optional
	Phase string `json:"phase,omitempty"`

	// successful counts the AnalysisRuns that ended Successful.
	// +optional
	Successful int32 `json:"successful,omitempty"`

	// failed counts the AnalysisRuns that ended Failed or Error.
	// +optional
	Failed int32 `json:"failed,omitempty"`

	// inconclusive counts the AnalysisRuns that ended Inconclusive.
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`

	// message is the latest AnalysisRun's message, if any.
	// +optional
	Message string `json:"message,omitempty"`
}
