// Package engine is the Rollout step engine of the spoke agent: a pure function from a
// Rollout, what the reconciler observed of its objects, and the time, to an ordered list of
// actions, the Rollout's next status, and when to look again.
//
//	plan := engine.Reconcile(rollout, engine.Observed{Now: now, ReplicaSets: ..., ...})
//
// The engine reads no client, starts no goroutine and never reads the clock. The reconciler
// reads the cluster, calls Reconcile, applies Plan.Actions in order, stopping at the first
// error, and then, only if every action succeeded, patches Plan.Status once: a merge patch
// against the status it read, with an optimistic lock, so that a field a user set meanwhile
// (a cleared pause condition, status.abort) is never overwritten; on a conflict it simply
// reconciles again. When an action fails, the reconciler keeps the old status (it may set a
// condition saying what failed) and retries: the engine recomputes the same plan from the
// same state and skips what was already done. Events come last in a plan, so they are only
// recorded for changes that were made: one per step transition, none per scale or weight
// move within the steps. A status that differs from the last one only by the pod counts
// people read, in the middle of a step, is not written (see holdCounts).
//
// That contract is what makes the agent crash-safe:
//   - every action is computed from a difference between what is wanted and what is
//     observed, and the objects the engine creates have deterministic names, so an action
//     applied by an agent killed before its status patch is found again, never repeated;
//   - the step index advances only in the status patch that follows the actions completing
//     the step; and the pods and the traffic move toward the step that status showed when
//     the reconcile began, never toward a step the same reconcile reached (that one gets its
//     pods in the next reconcile, once status shows it). So a restarted agent never finds
//     pods or weights ahead of the recorded step, and resumes at the same step with the
//     same weights, with no step skipped or repeated;
//   - with a traffic router, a setWeight step is done only once an earlier reconcile set its
//     weight and recorded it in status.canary.weights: the router weight never exceeds the
//     weight of the step that status shows, at any moment.
//
// Operations are fields of the Rollout, as in Argo Rollouts:
//   - spec.paused stops the update where it is (no pod or traffic moves) until it is false
//     again; an abort still goes through.
//   - promote: a user (or the hub) clears status.pauseConditions. status.controllerPause
//     stays true, which tells the engine that the pause it set was lifted: a pause step
//     completes, a blue-green update goes on to promotion, an inconclusive analysis or
//     experiment is run again. Promote has no effect on a Rollout the engine did not pause.
//   - full promote: status.promoteFull skips the remaining steps, pauses and analyses; the
//     engine clears it once the new version is stable.
//   - abort: status.abort. The engine also sets it itself when an analysis or experiment
//     fails, or the progress deadline passes with progressDeadlineAbort.
//   - retry: a user clears status.abort while the Aborted condition is True; the update
//     starts again from the first step. status.abortedAt is kept until the next revision:
//     it names the attempt in the names of AnalysisRuns and Experiments, so that the runs of
//     the aborted attempt (a terminated run reads Successful) are never taken for runs of
//     the new one.
package engine

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
)

// Plan is what the engine decided for one reconcile.
type Plan struct {
	// Actions are applied in order; the first failure stops the rest.
	Actions []Action
	// Status is the Rollout's next status, to patch once every action succeeded.
	Status v1alpha1.RolloutStatus
	// RequeueAfter is the time until the next timed event (a pause ending, a scale-down
	// deadline, autoPromotionSeconds, the progress deadline, restartAt); zero when there is
	// none and only a change of the watched objects can move the Rollout.
	RequeueAfter time.Duration
}

// Defaults of the spec, as in Argo Rollouts.
const (
	defaultRevisionHistoryLimit    = 10
	defaultProgressDeadlineSeconds = 600
	defaultScaleDownDelaySeconds   = 30
	defaultMaxTrafficWeight        = 100
)

// action phases: a plan lists its actions phase by phase, so that pods are added before
// others are removed, and traffic leaves pods before they are removed.
type phase int

const (
	phasePrepare   phase = iota // create the new ReplicaSet, fix annotations, router hashes
	phaseScaleUp                // add pods
	phaseTraffic                // Services, weights, routes
	phaseScaleDown              // remove pods
	phaseRuns                   // create AnalysisRuns and Experiments
	phaseCleanup                // old ReplicaSets, AnalysisRuns, Experiments, pod restarts
	phaseEvents                 // events, once everything else is done
	numPhases
)

type engine struct {
	ro   *v1alpha1.Rollout
	obs  Observed
	now  time.Time
	prev *v1alpha1.RolloutStatus
	st   v1alpha1.RolloutStatus

	replicas int32
	template *corev1.PodTemplateSpec
	hash     string
	revision int64

	newRS    *ReplicaSet
	stableRS *ReplicaSet
	olds     []*ReplicaSet // neither new nor stable, the highest revision first

	actions [numPhases][]Action
	requeue time.Duration

	// progressed is set when this reconcile moved the update forward.
	progressed bool
	// resumed is set when a user lifted a pause the engine set (see the package comment).
	resumed bool
	// halted is set when spec.paused stops the update.
	halted bool
	// fastTrack is set when the update skips steps, pauses and analyses: a rollback within
	// rollbackWindow or to a ReplicaSet still waiting for its scale-down, or the hub's
	// fast-track directive.
	fastTrack bool
	// hubFastTrack is the fleet revision named by the hub's fast-track directive when it
	// applies to this update (see federation.FastTrack), "" otherwise.
	hubFastTrack string
	// abortReason and abortMessage are set when this reconcile decided to abort.
	abortReason, abortMessage string
	// abortedNow is set when this reconcile acts on an abort for the first time.
	abortedNow bool
	// clearRoutes is set when the managed routes of the steps must go.
	clearRoutes bool
	// waiting says what the update waits for, for status.message.
	waiting string
	// waitingForPods is set when the update waits for pods to become available: the only
	// wait the progress deadline counts.
	waitingForPods bool
	// activeRS is, for blue-green, the ReplicaSet the active Service selects: the status
	// counts are its own.
	activeRS *ReplicaSet
	// maxUnavailable is the resolved maxUnavailable, for the Available condition.
	maxUnavailable int32
	// activeAfter is, for blue-green, the hash the active Service selects once this plan
	// is applied, when the plan switches it.
	activeAfter string
	// planned are the replicas this plan already asked of each ReplicaSet.
	planned map[string]int32
	// announced is set when this plan's event says that an update starts: the creation of
	// its ReplicaSet needs no event of its own.
	announced bool
	// stepsDone describes the canary steps this reconcile completed, for the one event that
	// tells of the step transition (see runSteps).
	stepsDone []string
	// pausedAtStep is set when a pause step began right after a step completed in this
	// reconcile: the step transition's event says so.
	pausedAtStep bool

	wantedRuns        map[string]bool
	wantedExperiments map[string]bool
	keepReplicaSets   map[string]bool // old ReplicaSets a Service or the router still uses
}

// Reconcile computes the plan for one Rollout. It never panics on a bad spec: a spec it
// cannot act on gives the InvalidSpec condition and no action.
func Reconcile(ro *v1alpha1.Rollout, obs Observed) Plan {
	e := newEngine(ro, obs)
	p, abortForDeadline := e.run()
	if !abortForDeadline {
		return p
	}
	// The progress deadline passed and the spec asks to abort: plan again, aborting, so that
	// the abort's actions (weight 0, stable scaled up) are in this very plan.
	e = newEngine(ro, obs)
	e.abort(v1alpha1.RolloutReasonProgressDeadlineExceeded, "the update made no progress for %ds", progressDeadline(ro))
	p, _ = e.run()
	return p
}

func newEngine(ro *v1alpha1.Rollout, obs Observed) *engine {
	obs.ReplicaSets = append([]ReplicaSet(nil), obs.ReplicaSets...)
	e := &engine{
		ro:                ro,
		obs:               obs,
		planned:           map[string]int32{},
		now:               obs.Now,
		prev:              &ro.Status,
		st:                *ro.Status.DeepCopy(),
		replicas:          1,
		wantedRuns:        map[string]bool{},
		wantedExperiments: map[string]bool{},
		keepReplicaSets:   map[string]bool{},
	}
	if ro.Spec.Replicas != nil {
		e.replicas = *ro.Spec.Replicas
	}
	e.st.ObservedGeneration = ro.Generation
	return e
}

func (e *engine) run() (Plan, bool) {
	if reason, msg := validate(e.ro, e.obs); msg != "" {
		return e.invalid(reason, msg), false
	}
	removeCondition(&e.st, v1alpha1.RolloutInvalidSpec)

	e.resolveReplicaSets()
	e.startRevision()
	e.resumed = e.prev.ControllerPause && len(e.prev.PauseConditions) == 0
	e.halted = e.ro.Spec.Paused

	if e.ro.Spec.Strategy.Canary != nil {
		e.canary()
	} else {
		e.blueGreen()
	}
	e.restart()
	e.history()
	e.terminateUnwanted()
	e.runHistory()
	e.syncPodMetadata()
	e.noteFastTrack()
	abortForDeadline := e.finishStatus()
	e.scaleDownWorkload()
	return e.plan(), abortForDeadline && !e.st.Abort
}

func progressDeadline(ro *v1alpha1.Rollout) int32 {
	if ro.Spec.ProgressDeadlineSeconds != nil {
		return *ro.Spec.ProgressDeadlineSeconds
	}
	return defaultProgressDeadlineSeconds
}

func (e *engine) plan() Plan {
	var out []Action
	for _, p := range e.actions {
		out = append(out, p...)
	}
	return Plan{Actions: out, Status: e.st, RequeueAfter: e.requeue}
}

// invalid is the plan for a spec the engine cannot act on.
func (e *engine) invalid(reason, msg string) Plan {
	prevCond := findCondition(e.prev, v1alpha1.RolloutInvalidSpec)
	if prevCond == nil || prevCond.Status != metav1.ConditionTrue || prevCond.Message != msg {
		e.event(corev1.EventTypeWarning, EventReasonInvalidSpec, "%s", msg)
	}
	e.setCondition(v1alpha1.RolloutInvalidSpec, metav1.ConditionTrue, reason, msg)
	e.st.Phase, e.st.Message = derivePhase(&e.st)
	return e.plan()
}

func (e *engine) add(p phase, a Action) { e.actions[p] = append(e.actions[p], a) }

func (e *engine) event(eventType, reason, format string, args ...any) {
	e.add(phaseEvents, Event{Type: eventType, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

// requeueAt asks to be called again at t, if that is in the future.
func (e *engine) requeueAt(t time.Time) {
	d := t.Sub(e.now)
	if d <= 0 {
		d = time.Second
	}
	if e.requeue == 0 || d < e.requeue {
		e.requeue = d
	}
}

// stamp is a time to record in status for a timer that starts now: rounded up to the
// second, as the API server keeps it, so that a timer never ends early.
func (e *engine) stamp() metav1.Time {
	t := e.now.Truncate(time.Second)
	if t.Before(e.now) {
		t = t.Add(time.Second)
	}
	return metav1.NewTime(t)
}

func (e *engine) wait(format string, args ...any) {
	if e.waiting == "" {
		e.waiting = fmt.Sprintf(format, args...)
	}
}

// resolveReplicaSets finds the desired template and its hash, and sorts the observed
// ReplicaSets into new, stable and old.
func (e *engine) resolveReplicaSets() {
	if e.ro.Spec.Template != nil {
		e.template = e.ro.Spec.Template
	} else {
		e.template = e.obs.Template
	}
	e.hash = e.desiredHash()
	if rs := e.replicaSetWithTemplate(); rs != nil {
		// A template copied back from a ReplicaSet (an undo) carries the defaults the API
		// server filled in, so it hashes differently from the template that made that
		// ReplicaSet; it is that ReplicaSet's revision all the same.
		e.hash = rs.PodTemplateHash
	}
	var maxRev int64
	for i := range e.obs.ReplicaSets {
		rs := &e.obs.ReplicaSets[i]
		maxRev = max(maxRev, rs.Revision)
		switch {
		case rs.PodTemplateHash == e.hash:
			e.newRS = rs
		case rs.PodTemplateHash != "" && rs.PodTemplateHash == e.st.StableRS:
			e.stableRS = rs
		default:
			e.olds = append(e.olds, rs)
		}
	}
	if e.st.StableRS == e.hash && e.newRS != nil {
		e.stableRS = e.newRS
	}
	sortByRevisionDesc(e.olds)

	e.revision = maxRev + 1
	if e.newRS != nil {
		latest := e.newRS.Revision == maxRev
		for _, rs := range e.olds {
			if rs.Revision == maxRev {
				latest = false
			}
		}
		if e.stableRS != nil && e.stableRS != e.newRS && e.stableRS.Revision == maxRev {
			latest = false
		}
		if latest && maxRev > 0 {
			e.revision = maxRev
		} else {
			e.add(phasePrepare, AnnotateReplicaSet{Name: e.newRS.Name, Set: map[string]string{AnnotationRevision: strconv.FormatInt(e.revision, 10)}})
		}
	}
}

// replicaSetWithTemplate returns the ReplicaSet made from the desired template (see
// sameTemplate), when no ReplicaSet has the desired hash.
func (e *engine) replicaSetWithTemplate() *ReplicaSet {
	for i := range e.obs.ReplicaSets {
		if e.obs.ReplicaSets[i].PodTemplateHash == e.hash {
			return nil
		}
	}
	digest := TemplateDigest(e.template)
	for i := range e.obs.ReplicaSets {
		rs := &e.obs.ReplicaSets[i]
		if rs.PodTemplateHash != "" && e.sameTemplate(rs, digest) {
			return rs
		}
	}
	return nil
}

func sortByRevisionDesc(rss []*ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		if rss[i].Revision != rss[j].Revision {
			return rss[i].Revision > rss[j].Revision
		}
		return rss[i].Name < rss[j].Name
	})
}

// updating reports whether an update is under way: a stable version exists and differs from
// the desired one.
func (e *engine) updating() bool {
	return e.stableRS != nil && e.stableRS != e.newRS
}

// startRevision resets the update state when the desired pod template changed, and decides
// whether the update is fast-tracked.
func (e *engine) startRevision() {
	stepsHash := ""
	steps := 0
	if c := e.ro.Spec.Strategy.Canary; c != nil {
		stepsHash = StepsHash(c.Steps)
		steps = len(c.Steps)
	}
	newRevision := e.prev.CurrentPodHash != e.hash
	stepsChanged := !newRevision && e.prev.CurrentStepHash != "" && e.prev.CurrentStepHash != stepsHash && e.updating()
	e.st.CurrentPodHash = e.hash
	e.st.CurrentStepHash = stepsHash

	if rev, ok := federation.FastTrack(e.ro); ok && e.updating() {
		e.hubFastTrack = rev
	}
	e.fastTrack = e.hubFastTrack != "" || e.rollbackWithinWindow() || e.rollbackWithinDelay()
	if !newRevision && !stepsChanged {
		return
	}
	e.st.PauseConditions = nil
	e.st.ControllerPause = false
	if e.ro.Spec.Strategy.Canary != nil {
		e.st.Canary = &v1alpha1.CanaryStatus{}
		if e.prev.Canary != nil {
			e.st.Canary.Weights = e.prev.Canary.Weights
			e.st.Canary.StablePingPong = e.prev.Canary.StablePingPong
		}
	}
	if newRevision {
		e.st.Abort = false
		e.st.AbortedAt = nil
		removeCondition(&e.st, v1alpha1.RolloutAborted)
		if e.ro.Spec.Strategy.BlueGreen != nil {
			e.st.BlueGreen = &v1alpha1.BlueGreenStatus{}
			if e.prev.BlueGreen != nil {
				e.st.BlueGreen.ActiveSelector = e.prev.BlueGreen.ActiveSelector
				e.st.BlueGreen.PreviewSelector = e.prev.BlueGreen.PreviewSelector
			}
		}
	}
	idx := int32(0)
	switch {
	case !e.updating():
		idx = int32(steps)
	case e.hubFastTrack != "":
		idx = int32(steps)
		e.event(corev1.EventTypeNormal, EventReasonSkipSteps, "Skipping steps, pauses and analyses: %s", e.hubFastTrackNote())
	case e.fastTrack:
		idx = int32(steps)
		e.event(corev1.EventTypeNormal, EventReasonSkipSteps, "Rollback to a recent revision: skipping steps and analysis")
	}
	if e.ro.Spec.Strategy.Canary != nil {
		e.st.CurrentStepIndex = &idx
	} else {
		e.st.CurrentStepIndex = nil
	}
	e.progressed = true
	e.clearRoutes = e.prev.CurrentPodHash != ""
	switch {
	case newRevision && e.prev.CurrentPodHash != "" && e.updating():
		e.event(corev1.EventTypeNormal, EventReasonNewRevision, "Updating to revision %d (pod-template hash %s)", e.revision, e.hash)
		e.announced = true
	case stepsChanged:
		e.event(corev1.EventTypeNormal, EventReasonNewRevision, "Steps changed: restarting the update at step 0")
	}
}

// hubFastTrackNote says why the update skips its steps when the hub's directive applies.
func (e *engine) hubFastTrackNote() string {
	return fmt.Sprintf("fast-tracked by the hub (%s=%s): the fleet returns this cluster to revision %s, which already ran its steps",
		federation.FastTrackAnnotation, e.hubFastTrack, e.hubFastTrack)
}

// noteFastTrack puts the hub's fast-track directive in status.message while the update it
// fast-tracks is under way, so that a user sees why no step runs.
func (e *engine) noteFastTrack() {
	if e.hubFastTrack == "" || e.completed() || e.st.Abort {
		return
	}
	e.waiting = e.hubFastTrackNote() + "; " + cmp.Or(e.waiting, "the update is under way")
}

// rollbackWithinWindow reports whether the desired ReplicaSet is an older one than the
// stable, with fewer than rollbackWindow.revisions ReplicaSets created between them.
func (e *engine) rollbackWithinWindow() bool {
	w := e.ro.Spec.RollbackWindow
	if w == nil || w.Revisions <= 0 || e.newRS == nil || !e.updating() {
		return false
	}
	if !e.newRS.CreationTimestamp.Before(e.stableRS.CreationTimestamp) {
		return false
	}
	var between int32
	for _, rs := range e.olds {
		if e.newRS.CreationTimestamp.Before(rs.CreationTimestamp) && rs.CreationTimestamp.Before(e.stableRS.CreationTimestamp) {
			between++
		}
	}
	return between < w.Revisions
}

// rollbackWithinDelay reports whether, in a blue-green update, the desired ReplicaSet is a
// previous active one that still runs every pod while it waits for its scale-down deadline.
func (e *engine) rollbackWithinDelay() bool {
	if e.ro.Spec.Strategy.BlueGreen == nil || e.newRS == nil || !e.updating() {
		return false
	}
	d := e.newRS.ScaleDownDeadline
	return d != nil && e.now.Before(*d) && e.newRS.Replicas >= e.replicas && e.newRS.AvailableReplicas >= e.replicas
}

// scale sets a ReplicaSet's replicas, in the phase the direction calls for.
func (e *engine) scale(rs *ReplicaSet, replicas int32, why string) {
	if rs == nil {
		return
	}
	if p, ok := e.planned[rs.Name]; ok && p == replicas {
		return
	}
	e.planned[rs.Name] = replicas
	if rs.Replicas == replicas {
		return
	}
	p, verb := phaseScaleUp, "up"
	if replicas < rs.Replicas {
		p, verb = phaseScaleDown, "down"
	}
	e.add(p, ScaleReplicaSet{Name: rs.Name, Replicas: replicas})
	if !e.stepFlow() {
		e.event(corev1.EventTypeNormal, EventReasonScaled, "Scaled %s ReplicaSet %s from %d to %d%s", verb, rs.Name, rs.Replicas, replicas, why)
	}
	e.progressed = true
}

// stepFlow reports whether pods and weights move as an update's steps ask, with no abort:
// those moves get no event each, since the one event of each step transition tells of them
// (one event per step rather than one per scale and weight).
func (e *engine) stepFlow() bool {
	return e.updating() && !e.st.Abort
}

// ensureNewRS creates the new ReplicaSet with replicas pods when it does not exist yet, or
// scales it.
func (e *engine) ensureNewRS(replicas int32) {
	if e.newRS != nil {
		e.scale(e.newRS, replicas, "")
		return
	}
	name := e.ro.Name + "-" + e.hash
	tmpl := *e.template.DeepCopy()
	tmpl.Labels = withLabel(tmpl.Labels, LabelPodTemplateHash, e.hash)
	sel := e.selector()
	sel.MatchLabels = withLabel(sel.MatchLabels, LabelPodTemplateHash, e.hash)
	e.addAntiAffinity(&tmpl)
	annotations := map[string]string{AnnotationRevision: strconv.FormatInt(e.revision, 10), AnnotationTemplateDigest: TemplateDigest(e.template)}
	labels := tmpl.Labels
	e.newReplicaSetMetadata(&tmpl, annotations)
	e.add(phasePrepare, CreateReplicaSet{
		Name:            name,
		PodTemplateHash: e.hash,
		Revision:        e.revision,
		Replicas:        replicas,
		MinReadySeconds: e.ro.Spec.MinReadySeconds,
		Selector:        sel,
		Template:        tmpl,
		Labels:          labels,
		Annotations:     annotations,
	})
	if !e.announced {
		e.event(corev1.EventTypeNormal, v1alpha1.RolloutReasonNewReplicaSetCreated, "Created ReplicaSet %s (revision %d) with %d replicas", name, e.revision, replicas)
	}
	e.progressed = true
}

// addAntiAffinity keeps the new pods off the nodes of the stable pods, when asked.
func (e *engine) addAntiAffinity(tmpl *corev1.PodTemplateSpec) {
	var aa *v1alpha1.AntiAffinity
	if c := e.ro.Spec.Strategy.Canary; c != nil {
		aa = c.AntiAffinity
	} else if b := e.ro.Spec.Strategy.BlueGreen; b != nil {
		aa = b.AntiAffinity
	}
	if aa == nil || e.stableRS == nil || e.stableRS == e.newRS {
		return
	}
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelPodTemplateHash: e.stableRS.PodTemplateHash}},
		TopologyKey:   corev1.LabelHostname,
	}
	if tmpl.Spec.Affinity == nil {
		tmpl.Spec.Affinity = &corev1.Affinity{}
	}
	if tmpl.Spec.Affinity.PodAntiAffinity == nil {
		tmpl.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	paa := tmpl.Spec.Affinity.PodAntiAffinity
	if p := aa.PreferredDuringSchedulingIgnoredDuringExecution; p != nil {
		paa.PreferredDuringSchedulingIgnoredDuringExecution = append(paa.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: p.Weight, PodAffinityTerm: term})
	} else {
		paa.RequiredDuringSchedulingIgnoredDuringExecution = append(paa.RequiredDuringSchedulingIgnoredDuringExecution, term)
	}
}

// selector is spec.selector or, with a workloadRef and no selector, the template's labels.
func (e *engine) selector() *metav1.LabelSelector {
	if e.ro.Spec.Selector != nil {
		return e.ro.Spec.Selector.DeepCopy()
	}
	m := withLabel(e.template.Labels, LabelPodTemplateHash, "")
	delete(m, LabelPodTemplateHash)
	return &metav1.LabelSelector{MatchLabels: m}
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

// setSelector points a Service at a pod-template hash when it does not already select it.
func (e *engine) setSelector(service, hash string) {
	if service == "" || hash == "" {
		return
	}
	if svc, ok := e.obs.Services[service]; ok && svc.Selector == hash {
		return
	}
	e.add(phaseTraffic, SetServiceSelector{Service: service, PodTemplateHash: hash})
}

// serviceSelects reports which hash a Service selects, "" when it does not exist.
func (e *engine) serviceSelects(service string) string {
	return e.obs.Services[service].Selector
}

// abort records that this reconcile decided to abort the update.
func (e *engine) abort(reason, format string, args ...any) {
	if e.abortReason == "" {
		e.abortReason = reason
		e.abortMessage = fmt.Sprintf(format, args...)
	}
}

// handleAbortAndRetry turns status.abort into the Aborted condition, or a cleared
// status.abort into a retry. It reports whether the update is aborted.
func (e *engine) handleAbortAndRetry() bool {
	aborted := findCondition(&e.st, v1alpha1.RolloutAborted)
	wasAborted := aborted != nil && aborted.Status == metav1.ConditionTrue
	if e.abortReason == "" && e.st.Abort && !wasAborted {
		e.abortReason, e.abortMessage = v1alpha1.RolloutReasonAbortedByUser, "the update was aborted by a user or by the hub"
	}
	switch {
	case e.abortReason != "" && !wasAborted:
		e.st.Abort = true
		e.st.AbortedAt = ptrTime(e.stamp())
		e.st.PauseConditions = nil
		e.st.ControllerPause = false
		e.abortedNow = true
		clear(e.wantedRuns)
		clear(e.wantedExperiments)
		e.setCondition(v1alpha1.RolloutAborted, metav1.ConditionTrue, e.abortReason, e.abortMessage)
		e.event(corev1.EventTypeWarning, EventReasonAborted, "Update aborted: %s", e.abortMessage)
		e.progressed = true
		return true
	case wasAborted && !e.st.Abort:
		e.setCondition(v1alpha1.RolloutAborted, metav1.ConditionFalse, ReasonRetried, "a user or the hub retried the aborted update")
		e.event(corev1.EventTypeNormal, EventReasonRetried, "Retrying the update from the first step")
		e.progressed = true
		return false
	}
	return e.st.Abort
}

func ptrTime(t metav1.Time) *metav1.Time { return &t }
