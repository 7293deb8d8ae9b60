package engine

import (
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Labels and annotations the engine reads and writes on the objects it manages.
const (
	// LabelPodTemplateHash is the label that tells the ReplicaSets of a Rollout apart; the
	// Rollout's Services select on it. The key is Argo Rollouts', so that Services and
	// dashboards written for Argo keep working.
	LabelPodTemplateHash = "rollouts-pod-template-hash"
	// AnnotationRevision is the revision of a ReplicaSet, 1 for the first one; a ReplicaSet
	// that becomes the desired one again gets the next revision.
	AnnotationRevision = "rollout.flotilla.dev/revision"
	// AnnotationScaleDownDeadline is when an old ReplicaSet is scaled to zero (RFC 3339).
	AnnotationScaleDownDeadline = "rollout.flotilla.dev/scale-down-deadline"
	// LabelAnalysisKind says why an AnalysisRun was created (see AnalysisKind).
	LabelAnalysisKind = "rollout.flotilla.dev/analysis"
	// LabelStepIndex is the canary step index of an AnalysisRun or Experiment.
	LabelStepIndex = "rollout.flotilla.dev/step-index"
)

// Observed is what the reconciler read from the cluster for one Rollout. The engine reads
// nothing else, and never the clock: Now is an input.
type Observed struct {
	// Now is the time of this reconcile.
	Now time.Time
	// Template is the pod template taken from spec.workloadRef; nil when the referenced
	// workload was not found. Ignored when spec.template is set.
	Template *corev1.PodTemplateSpec
	// ReplicaSets are the ReplicaSets the Rollout owns.
	ReplicaSets []ReplicaSet
	// AnalysisRuns are the AnalysisRuns the Rollout owns.
	AnalysisRuns []AnalysisRun
	// Experiments are the Experiments the Rollout owns.
	Experiments []Experiment
	// Services are the Services the strategy names, by name; a missing name means the
	// Service does not exist.
	Services map[string]Service
	// Pods are the Rollout's pods; only spec.restartAt needs them.
	Pods []Pod
	// WeightsVerified is what the traffic routers said about the weights that
	// status.canary.weights records: nil when no router can tell (or none was asked), false
	// while one has not applied them yet, true once every router that can tell has.
	WeightsVerified *bool
	// WeightsUnverified says why the weights are not verified yet (what a router answered,
	// or why it could not be asked), for status.message; empty when it has nothing to add.
	WeightsUnverified string
	// Workload is the Deployment spec.workloadRef names, nil when there is none (or the
	// reference is to another kind); workloadRef.scaleDown scales it.
	Workload *Workload
}

// ReplicaSet is what the engine needs of one ReplicaSet.
type ReplicaSet struct {
	Name            string
	PodTemplateHash string
	// Revision is the AnnotationRevision annotation, 0 when absent.
	Revision int64
	// Replicas is spec.replicas.
	Replicas int32
	// CurrentReplicas is status.replicas: the pods that exist.
	CurrentReplicas   int32
	ReadyReplicas     int32
	AvailableReplicas int32
	CreationTimestamp time.Time
	// ScaleDownDeadline is the AnnotationScaleDownDeadline annotation, nil when absent.
	ScaleDownDeadline *time.Time
	// Template is the ReplicaSet's pod template; experiments copy the stable one.
	Template *corev1.PodTemplateSpec
	// FailureMessage is the message of the ReplicaSet's ReplicaFailure condition, if True.
	FailureMessage string
	// PodMetadata is the role metadata (canaryMetadata, stableMetadata, ...) last applied
	// to the ReplicaSet and its pods: the AnnotationPodMetadata annotation, nil when absent
	// or unreadable.
	PodMetadata *v1alpha1.PodTemplateMetadata
	// TemplateDigest is the AnnotationTemplateDigest annotation: the digest of the template
	// the ReplicaSet was made from, "" when absent.
	TemplateDigest string
}

// AnalysisRun is what the engine needs of one AnalysisRun.
type AnalysisRun struct {
	Name    string
	Phase   v1alpha1.AnalysisPhase
	Message string
	// Terminating is spec.terminate.
	Terminating bool
	// PodTemplateHash is the LabelPodTemplateHash label: the ReplicaSet it was run for.
	PodTemplateHash   string
	CreationTimestamp time.Time
}

// Experiment is what the engine needs of one Experiment.
type Experiment struct {
	Name    string
	Phase   v1alpha1.AnalysisPhase
	Message string
	// Terminating is spec.terminate.
	Terminating bool
	// Templates are status.templateStatuses: the Services and hashes of the templates.
	Templates []v1alpha1.TemplateStatus
	// PodTemplateHash is the LabelPodTemplateHash label: the ReplicaSet it was run for.
	PodTemplateHash   string
	CreationTimestamp time.Time
}

// Service is what the engine needs of one Service.
type Service struct {
	Name string
	// Selector is the value of LabelPodTemplateHash in the Service's selector, "" when the
	// selector does not have that key.
	Selector string
}

// Pod is what spec.restartAt needs of one pod.
type Pod struct {
	Name              string
	PodTemplateHash   string
	CreationTimestamp time.Time
	Available         bool
	Terminating       bool
}

// ReplicaSetFrom summarises a ReplicaSet for the engine.
func ReplicaSetFrom(rs *appsv1.ReplicaSet) ReplicaSet {
	out := ReplicaSet{
		Name:              rs.Name,
		PodTemplateHash:   rs.Labels[LabelPodTemplateHash],
		Replicas:          1,
		CurrentReplicas:   rs.Status.Replicas,
		ReadyReplicas:     rs.Status.ReadyReplicas,
		AvailableReplicas: rs.Status.AvailableReplicas,
		CreationTimestamp: rs.CreationTimestamp.Time,
		Template:          rs.Spec.Template.DeepCopy(),
	}
	if rs.Spec.Replicas != nil {
		out.Replicas = *rs.Spec.Replicas
	}
	if v, err := strconv.ParseInt(rs.Annotations[AnnotationRevision], 10, 64); err == nil {
		out.Revision = v
	}
	if v, ok := rs.Annotations[AnnotationScaleDownDeadline]; ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			out.ScaleDownDeadline = &t
		}
	}
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
			out.FailureMessage = c.Message
		}
	}
	out.PodMetadata = parsePodMetadata(rs.Annotations[AnnotationPodMetadata])
	out.TemplateDigest = rs.Annotations[AnnotationTemplateDigest]
	return out
}

// AnalysisRunFrom summarises an AnalysisRun for the engine.
func AnalysisRunFrom(ar *v1alpha1.AnalysisRun) AnalysisRun {
	return AnalysisRun{
		Name: ar.Name, Phase: ar.Status.Phase, Message: ar.Status.Message, Terminating: ar.Spec.Terminate,
		PodTemplateHash: ar.Labels[LabelPodTemplateHash], CreationTimestamp: ar.CreationTimestamp.Time,
	}
}

// ExperimentFrom summarises an Experiment for the engine.
func ExperimentFrom(ex *v1alpha1.Experiment) Experiment {
	return Experiment{
		Name:        ex.Name,
		Phase:       ex.Status.Phase,
		Message:     ex.Status.Message,
		Terminating: ex.Spec.Terminate,
		Templates:   ex.Status.TemplateStatuses,

		PodTemplateHash:   ex.Labels[LabelPodTemplateHash],
		CreationTimestamp: ex.CreationTimestamp.Time,
	}
}

// ServiceFrom summarises a Service for the engine.
func ServiceFrom(svc *corev1.Service) Service {
	return Service{Name: svc.Name, Selector: svc.Spec.Selector[LabelPodTemplateHash]}
}

// PodFrom summarises a pod for the engine. A pod counts as available when it is Ready; the
// reconciler may apply minReadySeconds before calling it.
func PodFrom(pod *corev1.Pod) Pod {
	p := Pod{
		Name:              pod.Name,
		PodTemplateHash:   pod.Labels[LabelPodTemplateHash],
		CreationTimestamp: pod.CreationTimestamp.Time,
		Terminating:       pod.DeletionTimestamp != nil,
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			p.Available = true
		}
	}
	return p
}

// FormatDeadline writes a scale-down deadline the way AnnotationScaleDownDeadline holds it.
func FormatDeadline(t time.Time) string { return t.UTC().Format(time.RFC3339) }
