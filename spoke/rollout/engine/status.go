package engine

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Condition reasons the API package does not define (yet); they belong next to the others in
// rollout_conditions.go.
const (
	// ReasonRetried: the Aborted condition turned False because the update was retried.
	ReasonRetried = "Retried"
	// ReasonPaused: Progressing is Unknown while the Rollout is paused; the progress deadline
	// does not run meanwhile.
	ReasonPaused = "Paused"
	// ReasonAborted: Progressing is False because the update was aborted.
	ReasonAborted = "RolloutAborted"
)

func findCondition(st *v1alpha1.RolloutStatus, t string) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, t)
}

func removeCondition(st *v1alpha1.RolloutStatus, t string) {
	meta.RemoveStatusCondition(&st.Conditions, t)
}

func conditionTrue(st *v1alpha1.RolloutStatus, t string) bool {
	return meta.IsStatusConditionTrue(st.Conditions, t)
}

// setCondition sets a condition; its lastTransitionTime changes only with its status.
func (e *engine) setCondition(t string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&e.st.Conditions, metav1.Condition{
		Type: t, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: e.ro.Generation, LastTransitionTime: e.stamp(),
	})
}

// touchCondition sets a condition and its lastTransitionTime to now. Only Progressing is
// touched: metav1.Condition has no lastUpdateTime, so Progressing's lastTransitionTime is
// the time of the last progress, from which the progress deadline counts (as a
// Deployment's lastUpdateTime).
func (e *engine) touchCondition(t string, status metav1.ConditionStatus, reason, msg string) {
	removeCondition(&e.st, t)
	e.setCondition(t, status, reason, msg)
}

// observedProgress reports whether the pod counts moved since the last status.
func (e *engine) observedProgress() bool {
	var current, ready, available int32
	for _, rs := range e.obs.ReplicaSets {
		current += rs.CurrentReplicas
		ready += rs.ReadyReplicas
		available += rs.AvailableReplicas
	}
	var updated int32
	if e.newRS != nil {
		updated = e.newRS.CurrentReplicas
	}
	p := e.prev
	return p.Replicas != current || p.ReadyReplicas != ready || p.AvailableReplicas != available || p.UpdatedReplicas != updated
}

// completed reports whether the desired version is the stable one (and, for blue-green,
// the active one).
func (e *engine) completed() bool {
	if e.newRS == nil || e.st.StableRS != e.hash {
		return false
	}
	if e.ro.Spec.Strategy.BlueGreen != nil {
		return e.st.BlueGreen != nil && e.st.BlueGreen.ActiveSelector == e.hash
	}
	return true
}

// healthy reports whether no update is under way and every desired pod is up to date and
// available, with no old pod left but those waiting for their scale-down deadline.
func (e *engine) healthy() bool {
	if !e.completed() || e.st.Abort || e.halted || len(e.st.PauseConditions) > 0 {
		return false
	}
	if e.newRS.Replicas != e.replicas || e.newRS.AvailableReplicas < e.replicas {
		return false
	}
	for _, rs := range e.olds {
		if rs.ScaleDownDeadline == nil && (rs.Replicas > 0 || rs.CurrentReplicas > 0) {
			return false
		}
	}
	return true
}

// finishStatus fills in the counts and conditions, and derives the phase. It returns true
// when the progress deadline passed and the spec asks to abort for it.
func (e *engine) finishStatus() bool {
	activeRS, maxUnavailable := e.activeRS, e.maxUnavailable
	var current, ready, available int32
	for _, rs := range e.obs.ReplicaSets {
		current += rs.CurrentReplicas
		ready += rs.ReadyReplicas
		available += rs.AvailableReplicas
	}
	e.st.Replicas, e.st.ReadyReplicas, e.st.AvailableReplicas, e.st.HPAReplicas = current, ready, available, current
	e.st.UpdatedReplicas = 0
	if e.newRS != nil {
		e.st.UpdatedReplicas = e.newRS.CurrentReplicas
	}
	sel := e.selector()
	serving := available
	if activeRS != nil {
		e.st.HPAReplicas, e.st.AvailableReplicas, e.st.ReadyReplicas = activeRS.CurrentReplicas, activeRS.AvailableReplicas, activeRS.ReadyReplicas
		serving = activeRS.AvailableReplicas
		if sel != nil {
			sel.MatchLabels = withLabel(sel.MatchLabels, LabelPodTemplateHash, activeRS.PodTemplateHash)
		}
	}
	e.st.Selector = ""
	if sel != nil {
		e.st.Selector = metav1.FormatLabelSelector(sel)
	}

	// ReplicaFailure.
	failure := ""
	for _, rs := range e.obs.ReplicaSets {
		if rs.FailureMessage != "" {
			failure = fmt.Sprintf("ReplicaSet %s: %s", rs.Name, rs.FailureMessage)
			break
		}
	}
	if failure != "" {
		e.setCondition(v1alpha1.RolloutReplicaFailure, metav1.ConditionTrue, v1alpha1.RolloutReasonFailedCreate, failure)
	} else {
		removeCondition(&e.st, v1alpha1.RolloutReplicaFailure)
	}

	// Available.
	if serving >= e.replicas-maxUnavailable {
		e.setCondition(v1alpha1.RolloutAvailable, metav1.ConditionTrue, v1alpha1.RolloutReasonMinimumReplicasAvailable,
			fmt.Sprintf("%d of %d pods are available", serving, e.replicas))
	} else {
		e.setCondition(v1alpha1.RolloutAvailable, metav1.ConditionFalse, v1alpha1.RolloutReasonMinimumReplicasUnavailable,
			fmt.Sprintf("%d of %d pods are available, fewer than the %d needed", serving, e.replicas, e.replicas-maxUnavailable))
	}

	// Paused.
	e.st.ControllerPause = len(e.st.PauseConditions) > 0 || (e.halted && e.prev.ControllerPause)
	switch {
	case e.halted:
		e.setCondition(v1alpha1.RolloutPaused, metav1.ConditionTrue, v1alpha1.RolloutReasonPausedBySpec, "spec.paused is true")
	case len(e.st.PauseConditions) > 0:
		pc := e.st.PauseConditions[0]
		e.setCondition(v1alpha1.RolloutPaused, metav1.ConditionTrue, string(pc.Reason), pauseMessage(pc.Reason))
	case conditionTrue(e.prev, v1alpha1.RolloutPaused):
		e.setCondition(v1alpha1.RolloutPaused, metav1.ConditionFalse, v1alpha1.RolloutReasonResumed, "the Rollout was resumed")
		if len(e.stepsDone) == 0 { // else the step transition's event tells
			e.event(corev1.EventTypeNormal, EventReasonResumed, "Rollout resumed")
		}
	case findCondition(&e.st, v1alpha1.RolloutPaused) != nil:
		e.setCondition(v1alpha1.RolloutPaused, metav1.ConditionFalse, v1alpha1.RolloutReasonResumed, "the Rollout was resumed")
	}

	// Completed and Healthy.
	completed, healthy := e.completed(), e.healthy()
	if completed {
		e.setCondition(v1alpha1.RolloutCompleted, metav1.ConditionTrue, v1alpha1.RolloutReasonNewReplicaSetAvailable,
			fmt.Sprintf("revision %d (%s) is stable", e.revision, e.hash))
	} else {
		e.setCondition(v1alpha1.RolloutCompleted, metav1.ConditionFalse, v1alpha1.RolloutReasonUpdateInProgress,
			fmt.Sprintf("updating to revision %d (%s)", e.revision, e.hash))
	}
	if healthy {
		e.setCondition(v1alpha1.RolloutHealthy, metav1.ConditionTrue, v1alpha1.RolloutReasonAllReplicasHealthy,
			fmt.Sprintf("all %d pods run revision %d and are available", e.replicas, e.revision))
	} else {
		reason := v1alpha1.RolloutReasonUpdateInProgress
		if completed {
			reason = v1alpha1.RolloutReasonMinimumReplicasUnavailable
		}
		e.setCondition(v1alpha1.RolloutHealthy, metav1.ConditionFalse, reason, e.notHealthyMessage(completed))
	}

	abortForDeadline := e.progressCondition(completed && healthy, e.waitingForPods)
	e.st.Phase, e.st.Message = derivePhase(&e.st)
	e.holdCounts()
	return abortForDeadline
}

// holdCounts keeps the pod counts people read (replicas, updatedReplicas, readyReplicas,
// availableReplicas) of the status the engine was called with while an update waits for the
// pods of a step and nothing but those counts changed: each pod becoming ready would
// otherwise cost a status write. The counts are written with the next transition (the step
// completing, which is when its pods are there), whenever the Available condition flips, and
// at least every tenth of progressDeadlineSeconds while pods keep coming, so that the
// progress deadline, which counts from the last recorded progress, is never early and at
// most that much late. HPAReplicas is never held: the scale subresource reports it, and a
// HorizontalPodAutoscaler divides Object and External metrics by it. Outside an update the
// counts are written as they change: then no step transition would carry them.
func (e *engine) holdCounts() {
	if !e.updating() || !e.waitingForPods || e.st.Abort || e.halted {
		return
	}
	prog := findCondition(e.prev, v1alpha1.RolloutProgressing)
	if prog == nil || prog.Status != metav1.ConditionTrue {
		return
	}
	refresh := prog.LastTransitionTime.Add(time.Duration(progressDeadline(e.ro)) * time.Second / 10)
	if !e.now.Before(refresh) {
		return
	}
	held := *e.st.DeepCopy()
	p := e.prev
	held.Replicas, held.ReadyReplicas, held.AvailableReplicas, held.UpdatedReplicas =
		p.Replicas, p.ReadyReplicas, p.AvailableReplicas, p.UpdatedReplicas
	for _, t := range []string{v1alpha1.RolloutAvailable, v1alpha1.RolloutProgressing} {
		was, now := findCondition(p, t), findCondition(&held, t)
		if was == nil || now == nil || was.Status != now.Status || was.Reason != now.Reason {
			return
		}
		if t == v1alpha1.RolloutProgressing && was.Message != now.Message {
			return
		}
		*now = *was // the Available message counts pods; Progressing's time is the progress clock
	}
	held.Phase, held.Message = derivePhase(&held)
	if !equality.Semantic.DeepEqual(held, *p) {
		return // something else changed: write it all
	}
	if !equality.Semantic.DeepEqual(e.st, held) {
		e.requeueAt(refresh)
	}
	e.st = held
}

func (e *engine) notHealthyMessage(completed bool) string {
	switch {
	case e.waiting != "":
		return e.waiting
	case completed:
		return "waiting for every pod to be available and the old ones to go"
	default:
		return "an update is under way"
	}
}

func pauseMessage(r v1alpha1.PauseReason) string {
	switch r {
	case v1alpha1.PauseReasonCanaryPauseStep:
		return "a pause step is running"
	case v1alpha1.PauseReasonBlueGreenPause:
		return "the new version waits for promotion"
	case v1alpha1.PauseReasonInconclusiveAnalysis:
		return "an AnalysisRun was inconclusive: promote to run it again, or abort"
	case v1alpha1.PauseReasonInconclusiveExperiment:
		return "an Experiment was inconclusive: promote to run it again, or abort"
	}
	return string(r)
}

// progressCondition sets Progressing and runs the progress deadline. The deadline only
// counts while the update waits for pods: not while paused, aborted, or waiting for an
// analysis or an experiment, which have limits of their own. It returns true when the
// deadline passed and spec.progressDeadlineAbort asks to abort.
func (e *engine) progressCondition(done, waitingForPods bool) bool {
	prog := findCondition(&e.st, v1alpha1.RolloutProgressing)
	moved := e.progressed || e.observedProgress()
	msg := e.waiting
	if msg == "" {
		msg = "the update is under way"
	}
	switch {
	case e.st.Abort:
		c := findCondition(&e.st, v1alpha1.RolloutAborted)
		reason, m := ReasonAborted, "the update was aborted"
		if c != nil && c.Reason == v1alpha1.RolloutReasonProgressDeadlineExceeded {
			reason = v1alpha1.RolloutReasonProgressDeadlineExceeded
		}
		if c != nil {
			m = c.Message
		}
		e.setCondition(v1alpha1.RolloutProgressing, metav1.ConditionFalse, reason, m)
		return false
	case done:
		e.setCondition(v1alpha1.RolloutProgressing, metav1.ConditionTrue, v1alpha1.RolloutReasonNewReplicaSetAvailable,
			fmt.Sprintf("ReplicaSet %s is stable and available", e.newRS.Name))
		return false
	case e.halted || len(e.st.PauseConditions) > 0:
		e.setCondition(v1alpha1.RolloutProgressing, metav1.ConditionUnknown, ReasonPaused, "the update is paused; the progress deadline does not run")
		return false
	case prog != nil && prog.Status == metav1.ConditionFalse && prog.Reason == v1alpha1.RolloutReasonProgressDeadlineExceeded && !moved:
		return false
	case moved || prog == nil || prog.Status != metav1.ConditionTrue:
		e.touchCondition(v1alpha1.RolloutProgressing, metav1.ConditionTrue, v1alpha1.RolloutReasonReplicaSetUpdated, msg)
		prog = findCondition(&e.st, v1alpha1.RolloutProgressing)
	default:
		prog.Message = msg
	}
	if !waitingForPods {
		return false
	}
	pds := progressDeadline(e.ro)
	deadline := prog.LastTransitionTime.Add(time.Duration(pds) * time.Second)
	if e.now.Before(deadline) {
		e.requeueAt(deadline)
		return false
	}
	m := fmt.Sprintf("no progress for %ds: %s", pds, msg)
	e.setCondition(v1alpha1.RolloutProgressing, metav1.ConditionFalse, v1alpha1.RolloutReasonProgressDeadlineExceeded, m)
	e.event(corev1.EventTypeWarning, EventReasonDeadlineExceeded, "%s", m)
	return e.ro.Spec.ProgressDeadlineAbort && e.updating()
}

// derivePhase sums the conditions up into a phase and a message.
func derivePhase(st *v1alpha1.RolloutStatus) (v1alpha1.RolloutPhase, string) {
	for _, t := range []string{v1alpha1.RolloutInvalidSpec, v1alpha1.RolloutAborted, v1alpha1.RolloutReplicaFailure} {
		if c := meta.FindStatusCondition(st.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			return v1alpha1.RolloutPhaseDegraded, c.Reason + ": " + c.Message
		}
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.RolloutProgressing); c != nil && c.Status == metav1.ConditionFalse {
		return v1alpha1.RolloutPhaseDegraded, c.Reason + ": " + c.Message
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.RolloutPaused); c != nil && c.Status == metav1.ConditionTrue {
		return v1alpha1.RolloutPhasePaused, c.Reason + ": " + c.Message
	}
	if meta.IsStatusConditionTrue(st.Conditions, v1alpha1.RolloutHealthy) {
		return v1alpha1.RolloutPhaseHealthy, ""
	}
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.RolloutHealthy); c != nil {
		return v1alpha1.RolloutPhaseProgressing, c.Message
	}
	return v1alpha1.RolloutPhaseProgressing, ""
}
