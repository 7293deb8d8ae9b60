package engine

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// canary runs the canary strategy: the steps, then the promotion of the new version.
func (e *engine) canary() {
	c := e.ro.Spec.Strategy.Canary
	n := int32(len(c.Steps))
	surge, unavailable := surgeAndUnavailable(c.MaxSurge, c.MaxUnavailable, e.replicas)
	e.maxUnavailable = unavailable
	if e.st.Canary == nil {
		e.st.Canary = &v1alpha1.CanaryStatus{}
	}

	if !e.updating() {
		if e.st.Abort {
			e.st.Abort = false
			e.event(corev1.EventTypeNormal, EventReasonAbortIgnored, "status.abort ignored: no update is under way")
		}
		e.st.CurrentStepIndex = &n
		e.canarySteady(surge, false)
		return
	}

	idx := n
	if e.st.CurrentStepIndex != nil {
		idx = min(max(*e.st.CurrentStepIndex, 0), n)
	}
	aborted := e.handleAbortAndRetry()
	if aborted {
		idx = 0
	}
	startIdx := idx
	if !aborted && !e.halted {
		e.backgroundAnalysis(idx)
		if e.abortReason == "" {
			idx = e.runSteps(idx)
		}
		if e.abortReason != "" {
			aborted = e.handleAbortAndRetry()
		}
	}
	// The pods and the weight move toward the step that status showed when this reconcile
	// began; a step the steps reached in this reconcile gets its pods in the next one, once
	// status shows it. So a killed agent never finds pods already moved for a step that
	// status does not show yet (and moves them back).
	target := startIdx
	switch {
	case aborted:
		idx, target = 0, 0
	case e.st.PromoteFull || e.fastTrack:
		idx, target = n, n
		e.st.PauseConditions = nil
	}
	e.st.CurrentStepIndex = &idx

	if !aborted && !e.halted && idx >= n && e.newRS != nil && progressMet(c.ReplicaProgressThreshold, e.newRS.AvailableReplicas, e.replicas) {
		e.promoteCanary()
		e.canarySteady(surge, true)
		return
	}
	if !aborted && !e.halted && idx >= n {
		// Said the same way in the reconcile that completes the last step and in those that
		// wait for the pods after it, so that the status is written once for both.
		e.wait("waiting for %d available pods of revision %d", e.replicas, e.revision)
	}
	if e.halted && !aborted {
		e.wait("spec.paused is true")
		return
	}
	if c.TrafficRouting != nil {
		e.routedCanary(target, aborted)
	} else {
		e.basicCanary(target, aborted, surge)
	}
}

// targetWeight is the weight the canary should get at step idx: the last setWeight at or
// before it, everything once the steps are done, nothing when aborted.
func (e *engine) targetWeight(idx int32, aborted bool) int32 {
	c := e.ro.Spec.Strategy.Canary
	switch {
	case aborted:
		return 0
	case idx >= int32(len(c.Steps)) || e.st.PromoteFull:
		return maxTrafficWeight(e.ro)
	}
	for i := idx; i >= 0; i-- {
		if w := c.Steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// runSteps runs the steps from idx on, as far as they complete in this reconcile, and
// returns the index of the first step not done.
func (e *engine) runSteps(idx int32) int32 {
	steps := e.ro.Spec.Strategy.Canary.Steps
	if e.pauseCondition(v1alpha1.PauseReasonInconclusiveAnalysis) != nil || e.pauseCondition(v1alpha1.PauseReasonInconclusiveExperiment) != nil {
		e.wait("paused: an analysis was inconclusive")
		return idx
	}
	for idx < int32(len(steps)) {
		s := &steps[idx]
		if !e.stepDone(idx, s) {
			break
		}
		e.removePause(v1alpha1.PauseReasonCanaryPauseStep)
		e.st.Canary.CurrentStepAnalysisRunStatus = nil
		e.st.Canary.CurrentExperiment = ""
		e.stepsDone = append(e.stepsDone, fmt.Sprintf("tep %d/%d completed: %s", idx+1, len(steps), stepString(s)))
		e.progressed = true
		idx++
	}
	e.stepEvent(idx)
	return idx
}

// stepEvent records the one event of a step transition: the steps this reconcile completed
// and the step the update is at now. The pods, weights and pauses that move with it get no
// events of their own.
func (e *engine) stepEvent(idx int32) {
	if len(e.stepsDone) == 0 {
		return
	}
	steps := e.ro.Spec.Strategy.Canary.Steps
	msg := "S" + strings.Join(e.stepsDone, "; s")
	switch {
	case idx >= int32(len(steps)):
		msg += "; every step is done"
	case e.pausedAtStep:
		msg += fmt.Sprintf("; paused at step %d/%d: %s", idx+1, len(steps), stepString(&steps[idx]))
	default:
		msg += fmt.Sprintf("; now at step %d/%d: %s", idx+1, len(steps), stepString(&steps[idx]))
	}
	e.event(corev1.EventTypeNormal, EventReasonStepCompleted, "%s", msg)
}

// stepDone runs one step and reports whether it is done. The parts of a step that only call
// the router (header and mirror routes) are applied in the reconcile that completes it.
func (e *engine) stepDone(idx int32, s *v1alpha1.CanaryStep) bool {
	c := e.ro.Spec.Strategy.Canary
	if s.SetWeight != nil || s.SetCanaryScale != nil {
		if !e.replicasReadyAt(idx) {
			e.waitingForPods = true
			e.wait("waiting for the pods of step %d (%s)", idx+1, stepString(s))
			return false
		}
	}
	// With a router, a setWeight step is done once an earlier reconcile set its weight: the
	// weight moves while status shows this step, and the step index moves after it.
	if s.SetWeight != nil && c.TrafficRouting != nil && e.currentWeightOfNew() != *s.SetWeight {
		e.wait("setting the canary weight to %d", *s.SetWeight)
		return false
	}
	// A router that can report what its data plane applies holds the step until it has
	// applied the recorded weight; routerTraffic has the routers asked again after
	// VerifyWeightRetry.
	if s.SetWeight != nil && c.TrafficRouting != nil && e.obs.WeightsVerified != nil && !*e.obs.WeightsVerified {
		msg := fmt.Sprintf("waiting for weight verification: the router has not applied weight %d yet", *s.SetWeight)
		if e.obs.WeightsUnverified != "" {
			msg += " (" + e.obs.WeightsUnverified + ")"
		}
		e.wait("%s", msg)
		return false
	}
	if s.Pause != nil && !e.pauseStep(s.Pause) {
		e.wait("paused at step %d (%s)", idx+1, stepString(s))
		return false
	}
	if s.Analysis != nil {
		prev := (*v1alpha1.RolloutAnalysisRunStatus)(nil)
		if e.prev.Canary != nil {
			prev = e.prev.Canary.CurrentStepAnalysisRunStatus
		}
		if e.runAnalysis(AnalysisKindStep, &idx, s.Analysis, prev, &e.st.Canary.CurrentStepAnalysisRunStatus) != verdictSuccessful {
			return false
		}
	}
	if s.Experiment != nil {
		if v, _ := e.runExperiment(idx, s.Experiment); v != verdictSuccessful {
			return false
		}
	}
	if r := s.SetHeaderRoute; r != nil {
		e.add(phaseTraffic, SetHeaderRoute{Route: *r.DeepCopy()})
	}
	if r := s.SetMirrorRoute; r != nil {
		e.add(phaseTraffic, SetMirrorRoute{Route: *r.DeepCopy()})
	}
	return true
}

// backgroundAnalysis runs spec.strategy.canary.analysis from its starting step on.
func (e *engine) backgroundAnalysis(idx int32) {
	a := e.ro.Spec.Strategy.Canary.Analysis
	if a == nil || len(a.Templates) == 0 || e.st.PromoteFull || e.fastTrack {
		return
	}
	if a.StartingStep != nil && idx < *a.StartingStep {
		return
	}
	var prev *v1alpha1.RolloutAnalysisRunStatus
	if e.prev.Canary != nil {
		prev = e.prev.Canary.CurrentBackgroundAnalysisRunStatus
	}
	e.runAnalysis(AnalysisKindBackground, nil, &a.RolloutAnalysis, prev, &e.st.Canary.CurrentBackgroundAnalysisRunStatus)
}

// replicasReadyAt reports whether the pods are where step idx wants them.
func (e *engine) replicasReadyAt(idx int32) bool {
	c := e.ro.Spec.Strategy.Canary
	newAvail, newSpec := int32(0), int32(0)
	if e.newRS != nil {
		newAvail, newSpec = e.newRS.AvailableReplicas, e.newRS.Replicas
	}
	if c.TrafficRouting != nil {
		want := e.routedCanaryCount(idx, e.targetWeight(idx, false), e.currentWeightOfNew())
		if newSpec != want || !progressMet(c.ReplicaProgressThreshold, newAvail, want) {
			return false
		}
		return c.DynamicStableScale || (e.stableRS.Replicas == e.replicas && e.stableRS.CurrentReplicas >= e.replicas)
	}
	surge, _ := surgeAndUnavailable(c.MaxSurge, c.MaxUnavailable, e.replicas)
	canary, stable := weightSplit(e.replicas, e.targetWeight(idx, false), defaultMaxTrafficWeight, surge)
	if newSpec != canary || !progressMet(c.ReplicaProgressThreshold, newAvail, canary) {
		return false
	}
	if e.stableRS.Replicas != stable || e.stableRS.CurrentReplicas != stable {
		return false
	}
	for _, rs := range e.olds {
		if rs.AvailableReplicas > 0 {
			return false
		}
	}
	return true
}

// basicCanary moves pods toward the weight without a traffic router.
func (e *engine) basicCanary(idx int32, aborted bool, surge int32) {
	c := e.ro.Spec.Strategy.Canary
	in := basicCanary{
		replicas: e.replicas, weight: e.targetWeight(idx, aborted), maxWeight: defaultMaxTrafficWeight,
		maxSurge: surge, maxUnavailable: e.maxUnavailable,
		canary: countsOf(e.newRS), stable: countsOf(e.stableRS),
	}
	for _, rs := range e.olds {
		in.others = append(in.others, *countsOf(rs))
	}
	res := basicCanaryCounts(in)
	e.ensureNewRS(res.canary)
	e.scale(e.stableRS, res.stable, "")
	for i, rs := range e.olds {
		e.scale(rs, res.others[i], "")
	}
	e.setSelector(c.StableService, e.stableRS.PodTemplateHash)
	e.setSelector(c.CanaryService, e.hash)
	e.st.Canary.Weights = nil
	if !aborted && !e.replicasReadyAt(idx) {
		e.waitingForPods = true
		e.wait("waiting for %d canary and %d stable pods", res.canaryTarget, res.stableTarget)
	}
}

// currentWeightOfNew is the router weight the new ReplicaSet carries now: the weight last
// set, when the canary destination was this ReplicaSet.
func (e *engine) currentWeightOfNew() int32 {
	w := e.prevWeights()
	if w == nil || w.Canary.PodTemplateHash != e.hash {
		return 0
	}
	return w.Canary.Weight
}

// setCanaryScaleAt is the setCanaryScale in force at step idx, nil when the canary follows
// the weight.
func (e *engine) setCanaryScaleAt(idx int32) *v1alpha1.SetCanaryScale {
	c := e.ro.Spec.Strategy.Canary
	if idx >= int32(len(c.Steps)) || e.st.PromoteFull {
		return nil
	}
	for i := idx; i >= 0; i-- {
		if s := c.Steps[i].SetCanaryScale; s != nil {
			if s.MatchTrafficWeight {
				return nil
			}
			return s
		}
	}
	return nil
}

// routedCanaryCount is the size of the canary at step idx with a router: setCanaryScale, or
// enough pods for the weight and for the weight it carries now (the canary shrinks only
// after the router moved traffic away from it).
func (e *engine) routedCanaryCount(idx, weight, carried int32) int32 {
	c := e.ro.Spec.Strategy.Canary
	if s := e.setCanaryScaleAt(idx); s != nil {
		if s.Replicas != nil {
			return *s.Replicas
		}
		return weightToReplicas(e.replicas, *s.Weight, 100)
	}
	m := maxTrafficWeight(e.ro)
	return withMinPods(weightToReplicas(e.replicas, max(weight, carried), m), c.MinPodsPerReplicaSet, e.replicas)
}

// routedCanary moves pods and traffic with a router toward step idx. The weight only goes
// up once the canary runs the pods for it, never above the step's weight; it goes down
// before the pods do.
func (e *engine) routedCanary(idx int32, aborted bool) {
	c := e.ro.Spec.Strategy.Canary
	m := maxTrafficWeight(e.ro)
	target := e.targetWeight(idx, aborted)
	prevW := e.prevWeights()
	var cur int32
	if prevW != nil {
		cur = prevW.Canary.Weight
	}
	carried := e.currentWeightOfNew()
	stableAvail := e.stableRS.AvailableReplicas

	canaryCount := e.routedCanaryCount(idx, target, carried)
	stableCount := e.replicas
	if c.DynamicStableScale && !aborted {
		stableCount = withMinPods(max(weightToReplicas(e.replicas, m-target, m), weightToReplicas(e.replicas, m-cur, m)), c.MinPodsPerReplicaSet, e.replicas)
	}
	if aborted {
		canaryCount = e.abortedCanaryCount(carried)
	}
	canaryReady := e.newRS != nil && e.newRS.Replicas == canaryCount && progressMet(c.ReplicaProgressThreshold, e.newRS.AvailableReplicas, canaryCount)

	var next int32
	switch {
	case aborted:
		next = 0
		if c.DynamicStableScale {
			next = min(cur, max(0, m-weightCarried(e.replicas, stableAvail, m)))
		}
	case target >= cur:
		next = cur
		if canaryReady {
			next = target
		}
	default:
		next = target
		if c.DynamicStableScale {
			next = min(cur, max(target, m-weightCarried(e.replicas, stableAvail, m)))
		}
	}
	// A weight above zero only goes to a canary destination that already is this version's
	// pods, or to pods ready for it.
	switching := (c.CanaryService != "" && e.serviceSelects(c.CanaryService) != e.hash) || (prevW != nil && prevW.Canary.PodTemplateHash != e.hash)
	if switching && next > 0 && !canaryReady {
		next = 0
	}
	additional := e.experimentWeights(idx, aborted)

	e.removeDeadline(e.stableRS)
	if !aborted {
		e.removeDeadline(e.newRS)
	}
	e.ensureNewRS(canaryCount)
	e.scale(e.stableRS, stableCount, "")
	e.routerTraffic(cur, next, additional, e.stableRS.PodTemplateHash, false)
	if (e.abortedNow || e.clearRoutes) && len(c.TrafficRouting.ManagedRoutes) > 0 {
		e.add(phaseTraffic, RemoveManagedRoutes{})
	}
	if !canaryReady && !aborted {
		e.waitingForPods = true
		e.wait("waiting for %d available canary pods", canaryCount)
	}
	e.keepReferenced()
	e.scaleDownOlds(false, 0)
}

// abortedCanaryCount is the size of the canary after an abort: with dynamicStableScale it
// follows the weight down; otherwise it keeps its pods until abortScaleDownDelaySeconds
// passed (30 by default; 0 keeps them), counted from the abort.
func (e *engine) abortedCanaryCount(carried int32) int32 {
	c := e.ro.Spec.Strategy.Canary
	if e.newRS == nil {
		return 0
	}
	if c.DynamicStableScale {
		return withMinPods(weightToReplicas(e.replicas, carried, maxTrafficWeight(e.ro)), c.MinPodsPerReplicaSet, e.replicas)
	}
	delay := int32(defaultScaleDownDelaySeconds)
	if c.AbortScaleDownDelaySeconds != nil {
		delay = *c.AbortScaleDownDelaySeconds
	}
	if delay == 0 || e.newRS.Replicas == 0 {
		return e.newRS.Replicas
	}
	return e.scaleDownAfter(e.newRS, time.Duration(delay)*time.Second)
}

// scaleDownAfter puts a scale-down deadline on rs when it has none, and returns the replicas
// it should run: its own until the deadline, then 0.
func (e *engine) scaleDownAfter(rs *ReplicaSet, delay time.Duration) int32 {
	if rs.ScaleDownDeadline == nil {
		deadline := e.stamp().Add(delay)
		e.add(phaseScaleDown, AnnotateReplicaSet{Name: rs.Name, Set: map[string]string{AnnotationScaleDownDeadline: FormatDeadline(deadline)}})
		e.requeueAt(deadline)
		rs.ScaleDownDeadline = &deadline // as planned, for the status computed below
		return rs.Replicas
	}
	if e.now.Before(*rs.ScaleDownDeadline) {
		e.requeueAt(*rs.ScaleDownDeadline)
		return rs.Replicas
	}
	return 0
}

// experimentWeights are the weights of the running experiment step's templates.
func (e *engine) experimentWeights(idx int32, aborted bool) []v1alpha1.WeightDestination {
	steps := e.ro.Spec.Strategy.Canary.Steps
	if aborted || idx >= int32(len(steps)) || steps[idx].Experiment == nil || e.st.Canary.CurrentExperiment == "" {
		return nil
	}
	var ex *Experiment
	for i := range e.obs.Experiments {
		if e.obs.Experiments[i].Name == e.st.Canary.CurrentExperiment {
			ex = &e.obs.Experiments[i]
		}
	}
	if ex == nil || ex.Phase.Completed() {
		return nil
	}
	var out []v1alpha1.WeightDestination
	for _, t := range steps[idx].Experiment.Templates {
		if t.Weight == nil {
			continue
		}
		for _, ts := range ex.Templates {
			if ts.Name == t.Name && ts.ServiceName != "" && ts.AvailableReplicas > 0 {
				out = append(out, v1alpha1.WeightDestination{Weight: *t.Weight, ServiceName: ts.ServiceName, PodTemplateHash: ts.PodTemplateHash})
			}
		}
	}
	return out
}

// routerTraffic points the Services and the router at the canary and the stable version,
// in a safe order. During an update a weight going down is set before the destinations
// change and a weight going up after, so that traffic never reaches pods that cannot take
// it. When the update is over (steady), the stable destination moves to the new pods first
// and the canary weight drops to zero after.
func (e *engine) routerTraffic(cur, next int32, additional []v1alpha1.WeightDestination, stableHash string, steady bool) {
	c := e.ro.Spec.Strategy.Canary
	m := maxTrafficWeight(e.ro)
	prevW := e.prevWeights()
	changed := prevW == nil || cur != next || !sameDestinations(prevW.Additional, additional)
	weightFirst := changed && next < cur && !steady
	if weightFirst {
		e.setWeight(next, additional)
	}
	e.setSelector(c.StableService, stableHash)
	e.setSelector(c.CanaryService, e.hash)
	if prevW == nil || prevW.Canary.PodTemplateHash != e.hash || prevW.Stable.PodTemplateHash != stableHash {
		e.add(phaseTraffic, UpdateRouterHash{CanaryHash: e.hash, StableHash: stableHash})
	}
	if changed && !weightFirst {
		e.setWeight(next, additional)
	}
	stableWeight := m - next
	for _, d := range additional {
		stableWeight -= d.Weight
	}
	e.st.Canary.Weights = &v1alpha1.TrafficWeights{
		Canary:     v1alpha1.WeightDestination{Weight: next, ServiceName: c.CanaryService, PodTemplateHash: e.hash},
		Stable:     v1alpha1.WeightDestination{Weight: max(stableWeight, 0), ServiceName: c.StableService, PodTemplateHash: stableHash},
		Additional: additional,
	}
	e.st.Canary.Weights.Verified = e.verified(prevW, e.st.Canary.Weights)
	if v := e.st.Canary.Weights.Verified; v != nil && !*v {
		// Weights a router has not applied yet: ask it again after a bounded delay.
		e.requeueAt(e.now.Add(VerifyWeightRetry))
	}
	want := int32(0)
	if !steady {
		want = e.targetWeight(*e.st.CurrentStepIndex, e.st.Abort)
	}
	if next == want {
		e.setCondition(v1alpha1.RolloutTrafficRouted, metav1.ConditionTrue, v1alpha1.RolloutReasonWeightsSet,
			fmt.Sprintf("the canary gets %d of %d", next, m))
	} else {
		e.setCondition(v1alpha1.RolloutTrafficRouted, metav1.ConditionFalse, v1alpha1.RolloutReasonUpdateInProgress,
			fmt.Sprintf("the canary gets %d of %d, on its way to %d", next, m, want))
	}
}

// VerifyWeightRetry is how long a setWeight step waits before the routers are asked again
// whether their data plane applies the weight.
const VerifyWeightRetry = 5 * time.Second

// verified is status.canary.weights.verified for the weights next: what the routers said of
// the recorded weights while they stay the same; for new weights, false when a router can
// tell (it has not been asked about them yet) and nil when none can.
func (e *engine) verified(prev, next *v1alpha1.TrafficWeights) *bool {
	v := e.obs.WeightsVerified
	if v == nil {
		return nil
	}
	same := prev != nil && prev.Canary == next.Canary && prev.Stable == next.Stable && sameDestinations(prev.Additional, next.Additional)
	verified := same && *v
	return &verified
}

// prevWeights are the router weights in the status the engine was called with.
func (e *engine) prevWeights() *v1alpha1.TrafficWeights {
	if e.prev.Canary == nil {
		return nil
	}
	return e.prev.Canary.Weights
}

func (e *engine) setWeight(w int32, additional []v1alpha1.WeightDestination) {
	e.add(phaseTraffic, SetWeight{Weight: w, Additional: additional})
	if !e.stepFlow() {
		e.event(corev1.EventTypeNormal, EventReasonTrafficWeightMoved, "Canary weight set to %d", w)
	}
	e.progressed = true
}

func sameDestinations(a, b []v1alpha1.WeightDestination) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// promoteCanary makes the new ReplicaSet the stable one.
func (e *engine) promoteCanary() {
	old := e.stableRS
	e.st.StableRS = e.hash
	e.stableRS = e.newRS
	if old != nil && old != e.newRS {
		e.olds = append(e.olds, old)
		sortByRevisionDesc(e.olds)
	}
	e.st.PromoteFull = false
	e.st.PauseConditions = nil
	e.st.Canary.CurrentStepAnalysisRunStatus = nil
	e.st.Canary.CurrentBackgroundAnalysisRunStatus = nil
	e.st.Canary.CurrentExperiment = ""
	clear(e.wantedRuns)
	clear(e.wantedExperiments)
	e.event(corev1.EventTypeNormal, EventReasonCompleted, "Promoted ReplicaSet %s (revision %d) to stable", e.newRS.Name, e.revision)
	e.progressed = true
}

// canarySteady runs the Rollout with no update under way: the first deploy, the one right
// after a promotion, or a steady state. Every pod runs the desired version and all traffic
// goes to it through the stable Service.
func (e *engine) canarySteady(surge int32, promoted bool) {
	c := e.ro.Spec.Strategy.Canary
	if e.st.StableRS != e.hash {
		// No stable version (the first deploy, or the stable ReplicaSet was deleted): the
		// desired one is stable at once, as in Argo Rollouts.
		e.st.StableRS = e.hash
	}
	e.stableRS = e.newRS
	if c.TrafficRouting != nil {
		e.removeDeadline(e.newRS)
		e.ensureNewRS(e.replicas)
		var cur int32
		if w := e.prevWeights(); w != nil {
			cur = w.Canary.Weight
		}
		e.routerTraffic(cur, 0, nil, e.hash, true)
		if (promoted || e.clearRoutes) && len(c.TrafficRouting.ManagedRoutes) > 0 {
			e.add(phaseTraffic, RemoveManagedRoutes{})
		}
		e.keepReferenced()
		delay := time.Duration(defaultScaleDownDelaySeconds) * time.Second
		if c.ScaleDownDelaySeconds != nil {
			delay = time.Duration(*c.ScaleDownDelaySeconds) * time.Second
		}
		if c.DynamicStableScale {
			delay = 0
		}
		e.scaleDownOlds(true, delay)
	} else {
		in := basicCanary{replicas: e.replicas, maxWeight: defaultMaxTrafficWeight, maxSurge: surge, maxUnavailable: e.maxUnavailable, canary: countsOf(e.newRS)}
		for _, rs := range e.olds {
			in.others = append(in.others, *countsOf(rs))
		}
		res := basicCanaryCounts(in)
		e.ensureNewRS(res.canary)
		for i, rs := range e.olds {
			e.scale(rs, res.others[i], "")
		}
		e.setSelector(c.StableService, e.hash)
		e.setSelector(c.CanaryService, e.hash)
		e.st.Canary.Weights = nil
	}
	if e.newRS == nil || e.newRS.AvailableReplicas < e.replicas {
		e.waitingForPods = true
		e.wait("waiting for %d available pods of revision %d", e.replicas, e.revision)
	}
}
