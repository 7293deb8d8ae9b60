package v1alpha1

// This file holds the phases, condition types and condition reasons of AnalysisRuns and
// Experiments, in one place next to the types that use them.
//
// Conditions are the source of truth of both kinds' status; the phase is a one-word summary
// derived from them, kept because Argo Rollouts users, dashboards and `kubectl get` read it.

// AnalysisPhase is the phase of an AnalysisRun, of one of its metrics, of one measurement, or
// of an Experiment.
//
// +kubebuilder:validation:Enum=Pending;Running;Successful;Failed;Error;Inconclusive
type AnalysisPhase string

const (
	// AnalysisPhasePending means nothing has been measured yet.
	AnalysisPhasePending AnalysisPhase = "Pending"
	// AnalysisPhaseRunning means measurements are being taken.
	AnalysisPhaseRunning AnalysisPhase = "Running"
	// AnalysisPhaseSuccessful means the success criteria were met.
	AnalysisPhaseSuccessful AnalysisPhase = "Successful"
	// AnalysisPhaseFailed means more measurements failed than the failure limit allows.
	AnalysisPhaseFailed AnalysisPhase = "Failed"
	// AnalysisPhaseError means the measurements could not be taken: more consecutive errors
	// than the consecutive error limit allows, or a spec that cannot run.
	AnalysisPhaseError AnalysisPhase = "Error"
	// AnalysisPhaseInconclusive means the measurements met neither the success nor the
	// failure criteria; a person has to decide.
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// Completed reports whether the phase is final: Successful, Failed, Error or Inconclusive.
func (p AnalysisPhase) Completed() bool {
	switch p {
	case AnalysisPhaseSuccessful, AnalysisPhaseFailed, AnalysisPhaseError, AnalysisPhaseInconclusive:
		return true
	}
	return false
}

// Condition types of an AnalysisRun.
const (
	// AnalysisRunConditionRunning is True while the run takes measurements, False before it
	// starts and after it completes.
	AnalysisRunConditionRunning = "Running"
	// AnalysisRunConditionCompleted is True once the run reached a final phase. Its reason is
	// that phase (Successful, Failed, Error or Inconclusive); its message says which metric
	// decided it and why.
	AnalysisRunConditionCompleted = "Completed"
	// AnalysisRunConditionInvalidSpec is True when the run cannot start as written: an argument
	// without a value, a secret that cannot be read, a placeholder that resolves to a value
	// the schema could not check. The run then completes with phase Error.
	AnalysisRunConditionInvalidSpec = "InvalidSpec"
)

// Condition reasons of an AnalysisRun, besides the final phases used as reasons of Completed.
const (
	// AnalysisRunReasonTerminated: spec.terminate was set, so the run stopped early.
	AnalysisRunReasonTerminated = "Terminated"
	// AnalysisRunReasonMeasuring: at least one metric is still being measured.
	AnalysisRunReasonMeasuring = "Measuring"
	// AnalysisRunReasonWaiting: every remaining metric waits for its initialDelay.
	AnalysisRunReasonWaiting = "Waiting"
	// AnalysisRunReasonUnresolvedArgument: an argument has no value and no valueFrom.
	AnalysisRunReasonUnresolvedArgument = "UnresolvedArgument"
	// AnalysisRunReasonInvalidMetric: a metric is invalid once its arguments are resolved.
	AnalysisRunReasonInvalidMetric = "InvalidMetric"
)

// TemplateStatusCode is the state of the ReplicaSet behind one template of an Experiment.
//
// +kubebuilder:validation:Enum=Progressing;Running;Successful;Failed;Error
type TemplateStatusCode string

const (
	// TemplateStatusProgressing means the ReplicaSet is not yet available.
	TemplateStatusProgressing TemplateStatusCode = "Progressing"
	// TemplateStatusRunning means the ReplicaSet is available and the experiment runs.
	TemplateStatusRunning TemplateStatusCode = "Running"
	// TemplateStatusSuccessful means the experiment finished and the ReplicaSet did its part.
	TemplateStatusSuccessful TemplateStatusCode = "Successful"
	// TemplateStatusFailed means the ReplicaSet did not become available in time.
	TemplateStatusFailed TemplateStatusCode = "Failed"
	// TemplateStatusError means the ReplicaSet could not be created or updated.
	TemplateStatusError TemplateStatusCode = "Error"
)

// Completed reports whether the template reached a final state.
func (c TemplateStatusCode) Completed() bool {
	switch c {
	case TemplateStatusSuccessful, TemplateStatusFailed, TemplateStatusError:
		return true
	}
	return false
}

// Condition types of an Experiment.
const (
	// ExperimentConditionProgressing is True while the experiment's ReplicaSets are being
	// created or scaled and have not yet all become available; False with reason
	// ProgressDeadlineExceeded when progressDeadlineSeconds passed first.
	ExperimentConditionProgressing = "Progressing"
	// ExperimentConditionRunning is True from the time every template is available
	// (status.availableAt) until the duration has passed or the experiment is terminated.
	ExperimentConditionRunning = "Running"
	// ExperimentConditionCompleted is True once the experiment reached a final phase; its
	// reason is that phase.
	ExperimentConditionCompleted = "Completed"
	// ExperimentConditionReplicaFailure is True when a ReplicaSet of the experiment could
	// not create or delete pods.
	ExperimentConditionReplicaFailure = "ReplicaFailure"
	// ExperimentConditionInvalidSpec is True when the spec cannot run as written, for
	// example when a referenced analysis template does not exist.
	ExperimentConditionInvalidSpec = "InvalidSpec"
)

// Condition reasons of an Experiment, besides the final phases used as reasons of Completed.
const (
	// ExperimentReasonProgressDeadlineExceeded: the templates were not all available within
	// progressDeadlineSeconds.
	ExperimentReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ExperimentReasonTerminated: spec.terminate was set.
	ExperimentReasonTerminated = "Terminated"
	// ExperimentReasonAnalysisFailed: a required analysis failed, errored or was
	// inconclusive.
	ExperimentReasonAnalysisFailed = "AnalysisFailed"
	// ExperimentReasonTemplateNotFound: an analysis references a template that does not exist.
	ExperimentReasonTemplateNotFound = "AnalysisTemplateNotFound"
)
