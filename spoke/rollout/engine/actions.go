package engine

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Action is one change the reconciler makes to the cluster. A Plan lists them in the order
// they must be applied: the reconciler applies them one by one and stops at the first error,
// so a later action never runs when an earlier one failed (the canary is never scaled down
// when setting the weight to 0 failed, say).
//
// The set of actions is closed: the reconciler switches on the concrete types below.
type Action interface {
	// String describes the action in one line, for logs and tests.
	String() string
	isAction()
}

// CreateReplicaSet creates the ReplicaSet of a new pod-template hash. Template and Selector
// already carry the pod-template-hash label; the reconciler adds the namespace and the
// controller reference to the Rollout.
type CreateReplicaSet struct {
	Name            string
	PodTemplateHash string
	Revision        int64
	Replicas        int32
	MinReadySeconds int32
	Selector        *metav1.LabelSelector
	Template        corev1.PodTemplateSpec
	// Labels go on the ReplicaSet itself: the template's, without role metadata.
	Labels map[string]string
	// Annotations go on the ReplicaSet itself (the revision, among others).
	Annotations map[string]string
}

// ScaleReplicaSet sets spec.replicas of a ReplicaSet.
type ScaleReplicaSet struct {
	Name     string
	Replicas int32
}

// AnnotateReplicaSet sets and removes annotations of a ReplicaSet: the revision, or the
// scale-down deadline.
type AnnotateReplicaSet struct {
	Name   string
	Set    map[string]string
	Remove []string
}

// DeleteReplicaSet deletes an old ReplicaSet that revisionHistoryLimit no longer keeps.
type DeleteReplicaSet struct {
	Name string
}

// SetServiceSelector points a Service at the pods of one pod-template hash, by setting the
// LabelPodTemplateHash key of its selector (the rest of the selector is left alone).
type SetServiceSelector struct {
	Service         string
	PodTemplateHash string
}

// UpdateRouterHash tells the traffic router which pod-template hashes are canary and stable
// (trafficrouting.Router.UpdateHash). It comes before any SetWeight that relies on it.
type UpdateRouterHash struct {
	CanaryHash string
	StableHash string
}

// SetWeight sends Weight (out of the maxTrafficWeight) to the canary through the traffic
// router, each additional destination its own weight, and the rest to the stable version.
type SetWeight struct {
	Weight     int32
	Additional []v1alpha1.WeightDestination
}

// SetHeaderRoute adds or replaces a managed header route (trafficrouting.Router.SetHeaderRoute).
type SetHeaderRoute struct {
	Route v1alpha1.SetHeaderRoute
}

// SetMirrorRoute adds or replaces a managed mirror route (trafficrouting.Router.SetMirrorRoute).
type SetMirrorRoute struct {
	Route v1alpha1.SetMirrorRoute
}

// RemoveManagedRoutes removes every header and mirror route the steps added.
type RemoveManagedRoutes struct{}

// AnalysisKind says why an AnalysisRun was created.
type AnalysisKind string

// The kinds of AnalysisRun a Rollout creates.
const (
	AnalysisKindStep          AnalysisKind = "step"
	AnalysisKindBackground    AnalysisKind = "background"
	AnalysisKindPrePromotion  AnalysisKind = "pre-promotion"
	AnalysisKindPostPromotion AnalysisKind = "post-promotion"
)

// CreateAnalysisRun creates an AnalysisRun. The reconciler resolves Templates into metrics
// (the templates live in the cluster) and adds the controller reference. Args already have
// their podTemplateHashValue resolved; a fieldRef is passed on for the AnalysisRun
// controller to read from the Rollout.
type CreateAnalysisRun struct {
	Name                 string
	Kind                 AnalysisKind
	StepIndex            *int32
	Templates            []v1alpha1.AnalysisTemplateRef
	Args                 []v1alpha1.Argument
	DryRun               []v1alpha1.DryRun
	MeasurementRetention []v1alpha1.MeasurementRetention
	Labels               map[string]string
	Annotations          map[string]string
}

// TerminateAnalysisRun sets spec.terminate on an AnalysisRun that is no longer wanted.
type TerminateAnalysisRun struct {
	Name string
}

// CreateExperiment creates the Experiment of an experiment step; the reconciler adds the
// controller reference.
type CreateExperiment struct {
	Name      string
	StepIndex int32
	Labels    map[string]string
	Spec      v1alpha1.ExperimentSpec
}

// TerminateExperiment sets spec.terminate on an Experiment that is no longer wanted.
type TerminateExperiment struct {
	Name string
}

// EvictPod evicts (or deletes) one pod for spec.restartAt.
type EvictPod struct {
	Name string
}

// Event records a Kubernetes Event on the Rollout. Type is corev1.EventTypeNormal or
// corev1.EventTypeWarning.
type Event struct {
	Type    string
	Reason  string
	Message string
}

func (CreateReplicaSet) isAction()     {}
func (ScaleReplicaSet) isAction()      {}
func (AnnotateReplicaSet) isAction()   {}
func (DeleteReplicaSet) isAction()     {}
func (SetServiceSelector) isAction()   {}
func (UpdateRouterHash) isAction()     {}
func (SetWeight) isAction()            {}
func (SetHeaderRoute) isAction()       {}
func (SetMirrorRoute) isAction()       {}
func (RemoveManagedRoutes) isAction()  {}
func (CreateAnalysisRun) isAction()    {}
func (TerminateAnalysisRun) isAction() {}
func (CreateExperiment) isAction()     {}
func (TerminateExperiment) isAction()  {}
func (EvictPod) isAction()             {}
func (Event) isAction()                {}

func (a CreateReplicaSet) String() string {
	return fmt.Sprintf("CreateReplicaSet %s replicas=%d revision=%d", a.Name, a.Replicas, a.Revision)
}

func (a ScaleReplicaSet) String() string {
	return fmt.Sprintf("ScaleReplicaSet %s replicas=%d", a.Name, a.Replicas)
}

func (a AnnotateReplicaSet) String() string {
	keys := make([]string, 0, len(a.Set))
	for k := range a.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+len(a.Remove))
	for _, k := range keys {
		parts = append(parts, k+"="+a.Set[k])
	}
	for _, k := range a.Remove {
		parts = append(parts, k+"-")
	}
	return fmt.Sprintf("AnnotateReplicaSet %s %s", a.Name, strings.Join(parts, " "))
}

func (a DeleteReplicaSet) String() string { return "DeleteReplicaSet " + a.Name }

func (a SetServiceSelector) String() string {
	return fmt.Sprintf("SetServiceSelector %s hash=%s", a.Service, a.PodTemplateHash)
}

func (a UpdateRouterHash) String() string {
	return fmt.Sprintf("UpdateRouterHash canary=%s stable=%s", a.CanaryHash, a.StableHash)
}

func (a SetWeight) String() string {
	s := fmt.Sprintf("SetWeight %d", a.Weight)
	for _, d := range a.Additional {
		s += fmt.Sprintf(" %s=%d", d.ServiceName, d.Weight)
	}
	return s
}

func (a SetHeaderRoute) String() string { return "SetHeaderRoute " + a.Route.Name }

func (a SetMirrorRoute) String() string { return "SetMirrorRoute " + a.Route.Name }

func (RemoveManagedRoutes) String() string { return "RemoveManagedRoutes" }

func (a CreateAnalysisRun) String() string {
	return fmt.Sprintf("CreateAnalysisRun %s kind=%s", a.Name, a.Kind)
}

func (a TerminateAnalysisRun) String() string { return "TerminateAnalysisRun " + a.Name }

func (a CreateExperiment) String() string { return "CreateExperiment " + a.Name }

func (a TerminateExperiment) String() string { return "TerminateExperiment " + a.Name }

func (a EvictPod) String() string { return "EvictPod " + a.Name }

func (a Event) String() string { return fmt.Sprintf("Event %s %s: %s", a.Type, a.Reason, a.Message) }

// Event reasons the engine records. Condition reasons live in the API package.
const (
	EventReasonNewRevision        = "RolloutUpdated"
	EventReasonStepCompleted      = "RolloutStepCompleted"
	EventReasonPaused             = "RolloutPaused"
	EventReasonResumed            = "RolloutResumed"
	EventReasonAborted            = "RolloutAborted"
	EventReasonRetried            = "RolloutRetried"
	EventReasonAbortIgnored       = "AbortIgnored"
	EventReasonCompleted          = "RolloutCompleted"
	EventReasonSkipSteps          = "SkipSteps"
	EventReasonScaled             = "ScalingReplicaSet"
	EventReasonAnalysisCreated    = "AnalysisRunCreated"
	EventReasonAnalysisDone       = "AnalysisRunCompleted"
	EventReasonExperimentCreated  = "ExperimentCreated"
	EventReasonSwitchActive       = "SwitchActiveService"
	EventReasonDeadlineExceeded   = "ProgressDeadlineExceeded"
	EventReasonInvalidSpec        = "InvalidSpec"
	EventReasonRestartedPods      = "RestartingPods"
	EventReasonRestartFinished    = "RestartCompleted"
	EventReasonTrafficWeightMoved = "TrafficWeightUpdated"
)
