package engine

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// This file holds what the canary steps and the blue-green promotion share: pauses, and the
// AnalysisRuns and Experiments the Rollout creates, with their deterministic names.
//
// The name of a run is <rollout>-<hash>-<revision>[-<purpose>][-r<attempt>][.<n>]:
//   - the revision, so that a template that comes back later runs its analyses again;
//   - the purpose: the step index, "pre", "post", or nothing for the background analysis;
//   - the attempt, status.abortedAt in base 36, present after the first abort, so that a
//     retry never picks up the runs of the aborted attempt (a terminated run reads
//     Successful);
//   - n, from 2 on, when a user resumed after an inconclusive run and it runs again.
// A run is found again by its name alone, so a run created by an agent that crashed before
// it could record it in status is adopted, not created twice.

// verdict is what a run says about the update.
type verdict int

const (
	verdictWaiting verdict = iota
	verdictSuccessful
	verdictFailed
	verdictInconclusive
)

func verdictOf(p v1alpha1.AnalysisPhase) verdict {
	switch p {
	case v1alpha1.AnalysisPhaseSuccessful:
		return verdictSuccessful
	case v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseError:
		return verdictFailed
	case v1alpha1.AnalysisPhaseInconclusive:
		return verdictInconclusive
	}
	return verdictWaiting
}

// runBase is the name of a run of this revision and attempt, before its ordinal.
func (e *engine) runBase(purpose string) string {
	base := fmt.Sprintf("%s-%s-%d", e.ro.Name, e.hash, e.revision)
	if purpose != "" {
		base += "-" + purpose
	}
	if e.st.AbortedAt != nil {
		base += "-r" + strconv.FormatInt(e.st.AbortedAt.Unix(), 36)
	}
	return boundName(base)
}

// maxRunName leaves room, under the 253 characters of an object name, for the ordinal.
const maxRunName = 240

// boundName shortens a name longer than maxRunName, keeping its end and a hash of the whole.
func boundName(name string) string {
	const limit = maxRunName
	if len(name) <= limit {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	tag := rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
	keep := limit - len(tag) - 1
	return tag + "-" + name[len(name)-keep:]
}

func ordinalName(base string, n int) string {
	if n <= 1 {
		return base
	}
	return base + "." + strconv.Itoa(n)
}

// ordinalOf returns n when name is base or base.n, and 0 otherwise.
func ordinalOf(name, base string) int {
	if name == base {
		return 1
	}
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 {
		return 0
	}
	return n
}

// latestAnalysisRun is the run named after base with the highest ordinal.
func (e *engine) latestAnalysisRun(base string) (*AnalysisRun, int) {
	var out *AnalysisRun
	best := 0
	for i := range e.obs.AnalysisRuns {
		if n := ordinalOf(e.obs.AnalysisRuns[i].Name, base); n > best {
			out, best = &e.obs.AnalysisRuns[i], n
		}
	}
	return out, best
}

func (e *engine) latestExperiment(base string) (*Experiment, int) {
	var out *Experiment
	best := 0
	for i := range e.obs.Experiments {
		if n := ordinalOf(e.obs.Experiments[i].Name, base); n > best {
			out, best = &e.obs.Experiments[i], n
		}
	}
	return out, best
}

// runAnalysis drives the AnalysisRun of one purpose: it creates it when it does not exist,
// records it in *slot, and returns its verdict. prevSlot is the same field in the status the
// engine was called with: an inconclusive run is run again only when that run is the one
// the Rollout paused for and a user resumed it.
func (e *engine) runAnalysis(kind AnalysisKind, step *int32, spec *v1alpha1.RolloutAnalysis, prevSlot *v1alpha1.RolloutAnalysisRunStatus, slot **v1alpha1.RolloutAnalysisRunStatus) verdict {
	purpose := ""
	switch kind {
	case AnalysisKindStep:
		purpose = strconv.Itoa(int(*step))
	case AnalysisKindPrePromotion:
		purpose = "pre"
	case AnalysisKindPostPromotion:
		purpose = "post"
	}
	base := e.runBase(purpose)
	ar, n := e.latestAnalysisRun(base)
	if ar != nil && ar.Phase == v1alpha1.AnalysisPhaseInconclusive && e.resumed &&
		prevSlot != nil && prevSlot.Name == ar.Name && prevSlot.Status == v1alpha1.AnalysisPhaseInconclusive {
		e.resumed = false
		ar = nil
	}
	if ar == nil {
		name := ordinalName(base, n+1)
		e.wantedRuns[name] = true
		e.add(phaseRuns, e.createAnalysisRun(name, kind, step, spec))
		e.event(corev1.EventTypeNormal, EventReasonAnalysisCreated, "Created %s AnalysisRun %s", kind, name)
		*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: name, Status: v1alpha1.AnalysisPhasePending}
		e.wait("waiting for %s AnalysisRun %s", kind, name)
		e.progressed = true
		return verdictWaiting
	}
	e.wantedRuns[ar.Name] = true
	phase := ar.Phase
	if phase == "" {
		phase = v1alpha1.AnalysisPhasePending
	}
	*slot = &v1alpha1.RolloutAnalysisRunStatus{Name: ar.Name, Status: phase, Message: ar.Message}
	if prevSlot == nil || prevSlot.Name != ar.Name || prevSlot.Status != phase {
		if phase.Completed() {
			t := corev1.EventTypeNormal
			if phase != v1alpha1.AnalysisPhaseSuccessful {
				t = corev1.EventTypeWarning
			}
			e.event(t, EventReasonAnalysisDone, "%s AnalysisRun %s is %s", kind, ar.Name, phase)
		}
	}
	v := verdictOf(phase)
	switch v {
	case verdictWaiting:
		e.wait("waiting for %s AnalysisRun %s (%s)", kind, ar.Name, phase)
	case verdictInconclusive:
		e.addPause(v1alpha1.PauseReasonInconclusiveAnalysis)
	case verdictFailed:
		msg := fmt.Sprintf("%s AnalysisRun %s is %s", kind, ar.Name, phase)
		if ar.Message != "" {
			msg += ": " + ar.Message
		}
		e.abort(v1alpha1.RolloutReasonAnalysisRunFailed, "%s", msg)
	}
	return v
}

func (e *engine) createAnalysisRun(name string, kind AnalysisKind, step *int32, spec *v1alpha1.RolloutAnalysis) CreateAnalysisRun {
	labels := map[string]string{LabelPodTemplateHash: e.hash, LabelAnalysisKind: string(kind)}
	var annotations map[string]string
	if m := spec.AnalysisRunMetadata; m != nil {
		for k, v := range m.Labels {
			labels[k] = v
		}
		annotations = m.Annotations
	}
	if step != nil {
		labels[LabelStepIndex] = strconv.Itoa(int(*step))
	}
	return CreateAnalysisRun{
		Name:                 name,
		Kind:                 kind,
		StepIndex:            step,
		Templates:            spec.Templates,
		Args:                 e.analysisArgs(spec.Args),
		DryRun:               spec.DryRun,
		MeasurementRetention: spec.MeasurementRetention,
		Labels:               labels,
		Annotations:          annotations,
	}
}

// analysisArgs resolves podTemplateHashValue args; a fieldRef is passed on.
func (e *engine) analysisArgs(args []v1alpha1.AnalysisRunArgument) []v1alpha1.Argument {
	out := make([]v1alpha1.Argument, 0, len(args))
	for _, a := range args {
		arg := v1alpha1.Argument{Name: a.Name}
		switch {
		case a.ValueFrom != nil && a.ValueFrom.PodTemplateHashValue != nil:
			v := e.hash
			if *a.ValueFrom.PodTemplateHashValue == v1alpha1.Stable {
				v = e.st.StableRS
			}
			arg.Value = &v
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			arg.ValueFrom = &v1alpha1.ValueFrom{FieldRef: a.ValueFrom.FieldRef.DeepCopy()}
		default:
			v := a.Value
			arg.Value = &v
		}
		out = append(out, arg)
	}
	return out
}

// runExperiment drives the Experiment of an experiment step, as runAnalysis does.
func (e *engine) runExperiment(idx int32, x *v1alpha1.RolloutExperimentStep) (verdict, *Experiment) {
	base := e.runBase(strconv.Itoa(int(idx)))
	ex, n := e.latestExperiment(base)
	prevName := ""
	if e.prev.Canary != nil {
		prevName = e.prev.Canary.CurrentExperiment
	}
	if ex != nil && ex.Phase == v1alpha1.AnalysisPhaseInconclusive && e.resumed && prevName == ex.Name {
		e.resumed = false
		ex = nil
	}
	if ex == nil {
		name := ordinalName(base, n+1)
		e.wantedExperiments[name] = true
		e.add(phaseRuns, CreateExperiment{
			Name:      name,
			StepIndex: idx,
			Labels:    map[string]string{LabelPodTemplateHash: e.hash, LabelStepIndex: strconv.Itoa(int(idx))},
			Spec:      e.experimentSpec(x),
		})
		e.event(corev1.EventTypeNormal, EventReasonExperimentCreated, "Created Experiment %s", name)
		e.st.Canary.CurrentExperiment = name
		e.wait("waiting for Experiment %s", name)
		e.progressed = true
		return verdictWaiting, nil
	}
	e.wantedExperiments[ex.Name] = true
	e.st.Canary.CurrentExperiment = ex.Name
	v := verdictOf(ex.Phase)
	switch v {
	case verdictWaiting:
		e.wait("waiting for Experiment %s", ex.Name)
	case verdictInconclusive:
		e.addPause(v1alpha1.PauseReasonInconclusiveExperiment)
	case verdictFailed:
		msg := fmt.Sprintf("Experiment %s is %s", ex.Name, ex.Phase)
		if ex.Message != "" {
			msg += ": " + ex.Message
		}
		e.abort(v1alpha1.RolloutReasonExperimentFailed, "%s", msg)
	}
	return v, ex
}

// experimentSpec builds the Experiment of an experiment step: each template copies the
// canary's or the stable version's pod template.
func (e *engine) experimentSpec(x *v1alpha1.RolloutExperimentStep) v1alpha1.ExperimentSpec {
	spec := v1alpha1.ExperimentSpec{
		Duration:              x.Duration,
		DryRun:                x.DryRun,
		ScaleDownDelaySeconds: x.ScaleDownDelaySeconds,
	}
	if len(x.AnalysisRunMetadata.Labels) > 0 || len(x.AnalysisRunMetadata.Annotations) > 0 {
		spec.AnalysisRunMetadata = x.AnalysisRunMetadata.DeepCopy()
	}
	for _, t := range x.Templates {
		tmpl := e.template.DeepCopy()
		if t.SpecRef == v1alpha1.StableSpecRef && e.stableRS != nil && e.stableRS.Template != nil {
			tmpl = e.stableRS.Template.DeepCopy()
		}
		delete(tmpl.Labels, LabelPodTemplateHash)
		for k, v := range t.Metadata.Labels {
			tmpl.Labels = withLabel(tmpl.Labels, k, v)
		}
		for k, v := range t.Metadata.Annotations {
			tmpl.Annotations = withLabel(tmpl.Annotations, k, v)
		}
		sel := e.selector()
		if t.Selector != nil {
			sel = t.Selector.DeepCopy()
		}
		spec.Templates = append(spec.Templates, v1alpha1.TemplateSpec{
			Name:            t.Name,
			Replicas:        t.Replicas,
			MinReadySeconds: e.ro.Spec.MinReadySeconds,
			Selector:        sel,
			Template:        *tmpl,
			Service:         t.Service,
		})
	}
	for _, a := range x.Analyses {
		ref := v1alpha1.ExperimentAnalysisTemplateRef{
			Name:                  a.Name,
			TemplateName:          a.TemplateName,
			ClusterScope:          a.ClusterScope,
			Args:                  e.analysisArgs(a.Args),
			RequiredForCompletion: a.RequiredForCompletion,
		}
		spec.Analyses = append(spec.Analyses, ref)
	}
	return spec
}

func (e *engine) pauseCondition(r v1alpha1.PauseReason) *v1alpha1.PauseCondition {
	for i := range e.st.PauseConditions {
		if e.st.PauseConditions[i].Reason == r {
			return &e.st.PauseConditions[i]
		}
	}
	return nil
}

// addPause records a pause the engine sets, once.
func (e *engine) addPause(r v1alpha1.PauseReason) {
	if e.pauseCondition(r) != nil {
		return
	}
	e.st.PauseConditions = append(e.st.PauseConditions, v1alpha1.PauseCondition{Reason: r, StartTime: e.stamp()})
	if r == v1alpha1.PauseReasonCanaryPauseStep && len(e.stepsDone) > 0 {
		e.pausedAtStep = true // the step transition's event tells
		return
	}
	e.event(corev1.EventTypeNormal, EventReasonPaused, "Rollout paused: %s", pauseMessage(r))
}

func (e *engine) removePause(r v1alpha1.PauseReason) {
	out := e.st.PauseConditions[:0]
	for _, pc := range e.st.PauseConditions {
		if pc.Reason != r {
			out = append(out, pc)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	e.st.PauseConditions = out
}

// pauseStep runs a canary pause step and reports whether it is done. The duration counts
// from the start time of the CanaryPauseStep pause condition.
func (e *engine) pauseStep(p *v1alpha1.RolloutPause) bool {
	d, timed, _ := pauseDuration(p)
	cond := e.pauseCondition(v1alpha1.PauseReasonCanaryPauseStep)
	if cond == nil {
		if e.resumed {
			e.resumed = false
			return true
		}
		if timed && d == 0 {
			return true
		}
		e.addPause(v1alpha1.PauseReasonCanaryPauseStep)
		if timed {
			e.requeueAt(e.stamp().Add(d))
		}
		return false
	}
	if !timed {
		return false
	}
	end := cond.StartTime.Add(d)
	if !e.now.Before(end) {
		return true
	}
	e.requeueAt(end)
	return false
}

// stepString describes a step for events.
func stepString(s *v1alpha1.CanaryStep) string {
	var parts []string
	if s.SetWeight != nil {
		parts = append(parts, fmt.Sprintf("setWeight %d", *s.SetWeight))
	}
	if s.Pause != nil {
		if s.Pause.Duration != nil {
			parts = append(parts, "pause "+s.Pause.Duration.String())
		} else {
			parts = append(parts, "pause")
		}
	}
	if s.Analysis != nil {
		parts = append(parts, "analysis")
	}
	if s.Experiment != nil {
		parts = append(parts, "experiment")
	}
	if s.SetCanaryScale != nil {
		parts = append(parts, "setCanaryScale")
	}
	if s.SetHeaderRoute != nil {
		parts = append(parts, "setHeaderRoute "+s.SetHeaderRoute.Name)
	}
	if s.SetMirrorRoute != nil {
		parts = append(parts, "setMirrorRoute "+s.SetMirrorRoute.Name)
	}
	return strings.Join(parts, ", ")
}
