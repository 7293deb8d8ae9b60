package engine

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// blueGreen runs the blue-green strategy. The new version comes up next to the active one
// (at previewReplicaCount pods when set), selected by the preview Service; once it is
// available, prePromotionAnalysis runs, then the Rollout pauses unless it promotes itself,
// then the new version is scaled to full size and the active Service switched to it;
// postPromotionAnalysis runs; the new version becomes stable and the old one is scaled down
// after scaleDownDelaySeconds. Until then the old version keeps every pod, so that an abort
// switches the active Service straight back.
func (e *engine) blueGreen() {
	b := e.ro.Spec.Strategy.BlueGreen
	e.maxUnavailable = blueGreenMaxUnavailable(b.MaxUnavailable, e.replicas)
	if e.st.BlueGreen == nil {
		e.st.BlueGreen = &v1alpha1.BlueGreenStatus{}
	}
	e.st.CurrentStepIndex = nil
	e.st.Canary = nil
	defer e.blueGreenStatus()

	if !e.updating() {
		e.blueGreenSteady()
		return
	}
	aborted := e.handleAbortAndRetry()
	if aborted {
		e.blueGreenAbort()
		return
	}
	if e.halted {
		e.wait("spec.paused is true")
		return
	}
	e.removeDeadline(e.stableRS)
	e.scale(e.stableRS, e.replicas, "")
	e.blueGreenUpdate()
	if e.abortReason != "" {
		e.handleAbortAndRetry()
		e.blueGreenAbort()
		return
	}
	e.keepReferenced()
	e.scaleDownOlds(true, e.blueGreenDelay())
}

func blueGreenMaxUnavailable(v *intstr.IntOrString, replicas int32) int32 {
	if v == nil {
		def := intstr.FromString("25%")
		v = &def
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(v, int(replicas), false)
	if err != nil {
		return 0
	}
	return int32(u)
}

// blueGreenSteady runs a Rollout with no update under way: the first deploy, or a steady
// state after a promotion or a rollback to the stable version.
func (e *engine) blueGreenSteady() {
	b := e.ro.Spec.Strategy.BlueGreen
	if e.st.Abort {
		e.st.Abort = false
		e.event(corev1.EventTypeNormal, EventReasonAbortIgnored, "status.abort ignored: no update is under way")
	}
	e.st.StableRS = e.hash
	e.stableRS = e.newRS
	e.removeDeadline(e.newRS)
	e.ensureNewRS(e.replicas)
	e.setSelector(b.PreviewService, e.hash)
	if e.serviceSelects(b.ActiveService) != e.hash {
		if e.newRS != nil && e.newRS.AvailableReplicas >= e.replicas {
			e.switchActive()
		} else {
			e.waitingForPods = true
			e.wait("waiting for %d available pods before the active Service selects them", e.replicas)
		}
	} else if e.newRS == nil || e.newRS.AvailableReplicas < e.replicas {
		e.waitingForPods = true
		e.wait("waiting for %d available pods of revision %d", e.replicas, e.revision)
	}
	e.st.BlueGreen.ScaleUpPreviewCheckPoint = false
	e.keepReferenced()
	e.scaleDownOlds(true, e.blueGreenDelay())
}

func (e *engine) blueGreenDelay() time.Duration {
	b := e.ro.Spec.Strategy.BlueGreen
	d := int32(defaultScaleDownDelaySeconds)
	if b.ScaleDownDelaySeconds != nil {
		d = *b.ScaleDownDelaySeconds
	}
	return time.Duration(d) * time.Second
}

// switchActive points the active Service at the new version.
func (e *engine) switchActive() {
	b := e.ro.Spec.Strategy.BlueGreen
	e.setSelector(b.ActiveService, e.hash)
	e.activeAfter = e.hash
	e.removePause(v1alpha1.PauseReasonBlueGreenPause)
	e.event(corev1.EventTypeNormal, EventReasonSwitchActive, "Switched Service %s to ReplicaSet %s (revision %d)", b.ActiveService, e.newRS.Name, e.revision)
	e.progressed = true
}

// blueGreenUpdate moves an update forward.
func (e *engine) blueGreenUpdate() {
	b := e.ro.Spec.Strategy.BlueGreen
	active := e.serviceSelects(b.ActiveService)
	fast := e.fastTrack || e.st.PromoteFull || active == ""
	newDesired := e.replicas
	if b.PreviewReplicaCount != nil && !e.st.BlueGreen.ScaleUpPreviewCheckPoint && !fast && active != e.hash {
		newDesired = min(*b.PreviewReplicaCount, e.replicas)
	}
	e.removeDeadline(e.newRS)
	e.ensureNewRS(newDesired)
	e.setSelector(b.PreviewService, e.hash)
	newReady := e.newRS != nil && e.newRS.Replicas == newDesired && e.newRS.AvailableReplicas >= newDesired
	if !newReady {
		e.waitingForPods = true
		e.wait("waiting for %d available pods of the new version", newDesired)
		return
	}

	if active != e.hash {
		if !fast && !e.prePromotionDone() {
			return
		}
		if !fast && !e.blueGreenPauseDone() {
			return
		}
		if newDesired < e.replicas {
			// Promoted with a smaller preview: bring it to full size first.
			e.st.BlueGreen.ScaleUpPreviewCheckPoint = true
			e.removePause(v1alpha1.PauseReasonBlueGreenPause)
			e.scale(e.newRS, e.replicas, " (promoted)")
			e.waitingForPods = true
			e.wait("waiting for %d available pods before switching the active Service", e.replicas)
			return
		}
		e.switchActive()
		if fast || b.PostPromotionAnalysis == nil {
			// Nothing is left to observe before the promotion: it goes in the same status
			// write as the switch. A crash before that write finds the active Service
			// switched, and promotes then.
			e.promoteBlueGreen()
		}
		return
	}

	// The active Service selects the new version.
	if !fast && b.PostPromotionAnalysis != nil {
		var prev *v1alpha1.RolloutAnalysisRunStatus
		if e.prev.BlueGreen != nil {
			prev = e.prev.BlueGreen.PostPromotionAnalysisRunStatus
		}
		if e.runAnalysis(AnalysisKindPostPromotion, nil, b.PostPromotionAnalysis, prev, &e.st.BlueGreen.PostPromotionAnalysisRunStatus) != verdictSuccessful {
			return
		}
	}
	e.promoteBlueGreen()
}

// prePromotionDone runs prePromotionAnalysis and reports whether it succeeded.
func (e *engine) prePromotionDone() bool {
	b := e.ro.Spec.Strategy.BlueGreen
	if b.PrePromotionAnalysis == nil {
		return true
	}
	var prev *v1alpha1.RolloutAnalysisRunStatus
	if e.prev.BlueGreen != nil {
		prev = e.prev.BlueGreen.PrePromotionAnalysisRunStatus
	}
	return e.runAnalysis(AnalysisKindPrePromotion, nil, b.PrePromotionAnalysis, prev, &e.st.BlueGreen.PrePromotionAnalysisRunStatus) == verdictSuccessful
}

// blueGreenPauseDone runs the pause before promotion and reports whether it is over: it
// pauses when autoPromotionEnabled is false (until promoted) or autoPromotionSeconds is set
// (until they passed, or promoted).
func (e *engine) blueGreenPauseDone() bool {
	b := e.ro.Spec.Strategy.BlueGreen
	auto := b.AutoPromotionEnabled == nil || *b.AutoPromotionEnabled
	if (auto && b.AutoPromotionSeconds == 0) || e.st.BlueGreen.ScaleUpPreviewCheckPoint {
		return true
	}
	secs := time.Duration(b.AutoPromotionSeconds) * time.Second
	cond := e.pauseCondition(v1alpha1.PauseReasonBlueGreenPause)
	if cond == nil {
		if e.resumed {
			e.resumed = false
			return true
		}
		e.addPause(v1alpha1.PauseReasonBlueGreenPause)
		if auto {
			e.requeueAt(e.stamp().Add(secs))
		}
		e.wait("waiting for promotion")
		return false
	}
	if auto {
		end := cond.StartTime.Add(secs)
		if !e.now.Before(end) {
			e.removePause(v1alpha1.PauseReasonBlueGreenPause)
			return true
		}
		e.requeueAt(end)
	}
	e.wait("waiting for promotion")
	return false
}

// promoteBlueGreen makes the new, active version the stable one.
func (e *engine) promoteBlueGreen() {
	old := e.stableRS
	e.st.StableRS = e.hash
	e.stableRS = e.newRS
	e.olds = append(e.olds, old)
	sortByRevisionDesc(e.olds)
	e.st.PromoteFull = false
	e.st.PauseConditions = nil
	e.st.BlueGreen.ScaleUpPreviewCheckPoint = false
	e.event(corev1.EventTypeNormal, EventReasonCompleted, "Promoted ReplicaSet %s (revision %d) to stable", e.newRS.Name, e.revision)
	e.progressed = true
}

// blueGreenAbort switches the active Service back to the stable version, which kept its
// pods, and scales the new one down after abortScaleDownDelaySeconds (30 by default; 0
// keeps it).
func (e *engine) blueGreenAbort() {
	b := e.ro.Spec.Strategy.BlueGreen
	e.removeDeadline(e.stableRS)
	e.scale(e.stableRS, e.replicas, "")
	e.setSelector(b.ActiveService, e.stableRS.PodTemplateHash)
	e.activeAfter = e.stableRS.PodTemplateHash
	e.st.BlueGreen.ScaleUpPreviewCheckPoint = false
	if e.newRS != nil && e.newRS.Replicas > 0 {
		delay := int32(defaultScaleDownDelaySeconds)
		if b.AbortScaleDownDelaySeconds != nil {
			delay = *b.AbortScaleDownDelaySeconds
		}
		if delay > 0 {
			e.scale(e.newRS, e.scaleDownAfter(e.newRS, time.Duration(delay)*time.Second), " (aborted)")
		}
	}
	e.keepReferenced()
	e.scaleDownOlds(true, e.blueGreenDelay())
}

// blueGreenStatus records which versions the Services select after this plan, and which
// ReplicaSet's counts the status reports.
func (e *engine) blueGreenStatus() {
	b := e.ro.Spec.Strategy.BlueGreen
	active := e.activeAfter
	if active == "" {
		active = e.serviceSelects(b.ActiveService)
	}
	e.st.BlueGreen.ActiveSelector = active
	e.st.BlueGreen.PreviewSelector = ""
	if b.PreviewService != "" {
		e.st.BlueGreen.PreviewSelector = e.hash
	}
	for i := range e.obs.ReplicaSets {
		if rs := &e.obs.ReplicaSets[i]; active != "" && rs.PodTemplateHash == active {
			e.activeRS = rs
		}
	}
}
