package experiment

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Defaults of the spec, as in Argo Rollouts.
const (
	defaultProgressDeadlineSeconds = 600
	defaultScaleDownDelaySeconds   = 30
)

// observed is what the reconciler read of an Experiment's objects, and the time.
type observed struct {
	now time.Time
	// replicaSets are the Experiment's ReplicaSets by template name.
	replicaSets map[string]*appsv1.ReplicaSet
	// runs are the Experiment's AnalysisRuns by analysis name.
	runs map[string]*v1alpha1.AnalysisRun
	// invalid, when set, says why the spec cannot run (an analysis template is missing).
	invalid string
}

// decision is what computeStatus decided: the next status, the replicas each template's
// ReplicaSet should have, whether the analyses should run, and when to look again.
type decision struct {
	status v1alpha1.ExperimentStatus
	// replicas per template name; 0 once the experiment ends (the scale-down delay is
	// applied by the reconciler).
	replicas map[string]int32
	// runAnalyses is true once every template is available and the experiment did not end:
	// missing AnalysisRuns are created.
	runAnalyses bool
	// ended is true once the experiment is over.
	ended bool
	// terminateRuns is true once the experiment ended or spec.terminate is set: its running
	// AnalysisRuns are terminated.
	terminateRuns bool
	// requeueAfter is the time until the duration ends or a progress deadline passes.
	requeueAfter time.Duration
}

// computeStatus is the Experiment's next status from its spec, its current status and what
// was observed. It reads no client and no clock.
func computeStatus(ex *v1alpha1.Experiment, obs observed) decision {
	st := *ex.Status.DeepCopy()
	d := decision{replicas: map[string]int32{}}
	now := metav1.NewTime(obs.now)
	if st.Phase == "" {
		st.Phase = v1alpha1.AnalysisPhasePending
	}
	if obs.invalid != "" && !st.Phase.Completed() {
		st.Phase, st.Message = v1alpha1.AnalysisPhaseError, obs.invalid
		setCondition(&st, ex, v1alpha1.ExperimentConditionInvalidSpec, true, v1alpha1.ExperimentReasonTemplateNotFound, obs.invalid)
	}
	duration, _ := ex.Spec.Duration.Duration() // the CRD validates its format
	passed := st.AvailableAt != nil && ex.Spec.Duration != "" && !obs.now.Before(st.AvailableAt.Add(duration))
	ending := ex.Spec.Terminate || st.Phase.Completed()

	// Templates.
	deadline := time.Duration(defaultProgressDeadlineSeconds) * time.Second
	if ex.Spec.ProgressDeadlineSeconds != nil {
		deadline = time.Duration(*ex.Spec.ProgressDeadlineSeconds) * time.Second
	}
	var next []time.Duration
	for _, t := range ex.Spec.Templates {
		want := int32(1)
		if t.Replicas != nil {
			want = *t.Replicas
		}
		if ending || passed {
			want = 0
		}
		d.replicas[t.Name] = want
		ts := templateStatus(&st, t.Name)
		prev := *ts
		if rs := obs.replicaSets[t.Name]; rs != nil {
			ts.Replicas, ts.UpdatedReplicas = rs.Status.Replicas, rs.Status.Replicas
			ts.ReadyReplicas, ts.AvailableReplicas = rs.Status.ReadyReplicas, rs.Status.AvailableReplicas
			ts.PodTemplateHash = rs.Labels[LabelPodTemplateHash]
		} else {
			ts.Replicas, ts.UpdatedReplicas, ts.ReadyReplicas, ts.AvailableReplicas = 0, 0, 0, 0
		}
		switch {
		case t.Service != nil && want > 0:
			ts.ServiceName = serviceName(ex, &t)
		case ts.AvailableReplicas == 0:
			ts.ServiceName = "" // the Service is deleted once the template's pods are gone
		}
		if ts.LastTransitionTime == nil || prev.Replicas != ts.Replicas || prev.ReadyReplicas != ts.ReadyReplicas ||
			prev.AvailableReplicas != ts.AvailableReplicas {
			ts.LastTransitionTime = &now
		}
		if ts.Status.Completed() {
			continue // a template never leaves a final state
		}
		switch {
		case want == ts.AvailableReplicas && (passed || ending):
			ts.Status, ts.Message = v1alpha1.TemplateStatusSuccessful, ""
		case want == ts.AvailableReplicas:
			ts.Status, ts.Message = v1alpha1.TemplateStatusRunning, ""
		case ending || passed:
			// Scaling down after the end: the template did its part.
			ts.Status, ts.Message = v1alpha1.TemplateStatusSuccessful, ""
		case !obs.now.Before(ts.LastTransitionTime.Add(deadline)):
			ts.Status = v1alpha1.TemplateStatusFailed
			ts.Message = fmt.Sprintf("template %s was not available within progressDeadlineSeconds (%s)", t.Name, deadline)
		default:
			ts.Status, ts.Message = v1alpha1.TemplateStatusProgressing, ""
			next = append(next, ts.LastTransitionTime.Add(deadline).Sub(obs.now))
		}
		if prev.Status != ts.Status {
			ts.LastTransitionTime = &now
		}
	}

	// Analyses.
	for _, a := range ex.Spec.Analyses {
		as := analysisStatus(&st, a.Name)
		if run := obs.runs[a.Name]; run != nil {
			as.AnalysisRun = run.Name
			as.Phase, as.Message = run.Status.Phase, run.Status.Message
			if as.Phase == "" {
				as.Phase = v1alpha1.AnalysisPhasePending
			}
		} else if as.Phase == "" {
			as.Phase = v1alpha1.AnalysisPhasePending
		}
	}

	if !st.Phase.Completed() {
		tPhase, tMsg := assessTemplates(ex, &st)
		aPhase, aMsg := assessAnalyses(ex, &st)
		if tPhase == v1alpha1.AnalysisPhaseRunning && st.AvailableAt == nil {
			st.AvailableAt = &now // the duration counts from here
		}
		switch {
		case tPhase.Completed():
			// The templates ended (the duration passed, terminate, or a template failed).
			if tPhase == v1alpha1.AnalysisPhaseSuccessful && (aPhase.Completed() || hasRequired(ex)) {
				// The analyses decide; required ones still running keep the experiment
				// Running (after terminate, they are terminated, and end Successful).
				st.Phase, st.Message = aPhase, aMsg
			} else {
				st.Phase, st.Message = tPhase, tMsg
			}
		case aPhase.Completed() && aPhase != v1alpha1.AnalysisPhaseSuccessful:
			st.Phase, st.Message = aPhase, aMsg
		case requiredSuccessful(ex, &st):
			st.Phase, st.Message = v1alpha1.AnalysisPhaseSuccessful, "the analyses required for completion succeeded"
		default:
			st.Phase, st.Message = tPhase, tMsg
		}
	}
	d.ended = st.Phase.Completed()
	if d.ended {
		for name := range d.replicas {
			d.replicas[name] = 0
		}
	}
	d.terminateRuns = d.ended || ex.Spec.Terminate
	d.runAnalyses = !d.terminateRuns && st.AvailableAt != nil
	if !d.ended && st.AvailableAt != nil && ex.Spec.Duration != "" {
		next = append(next, st.AvailableAt.Add(duration).Sub(obs.now))
	}
	for _, n := range next {
		if n > 0 && (d.requeueAfter == 0 || n < d.requeueAfter) {
			d.requeueAfter = n
		}
	}
	setConditions(&st, ex)
	st.ObservedGeneration = ex.Generation
	d.status = st
	return d
}

// assessTemplates sums the templates up as a phase: the worst of them, Pending while one
// is progressing, Successful once all ended well.
func assessTemplates(ex *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus) (v1alpha1.AnalysisPhase, string) {
	rank := map[v1alpha1.TemplateStatusCode]int{
		v1alpha1.TemplateStatusSuccessful: 0, v1alpha1.TemplateStatusRunning: 1, v1alpha1.TemplateStatusProgressing: 2,
		v1alpha1.TemplateStatusFailed: 3, v1alpha1.TemplateStatusError: 4,
	}
	worst, msg := v1alpha1.TemplateStatusSuccessful, ""
	for _, t := range ex.Spec.Templates {
		ts := templateStatus(st, t.Name)
		if rank[ts.Status] > rank[worst] {
			worst, msg = ts.Status, ts.Message
		}
	}
	switch worst {
	case v1alpha1.TemplateStatusProgressing:
		return v1alpha1.AnalysisPhasePending, msg
	case v1alpha1.TemplateStatusRunning:
		return v1alpha1.AnalysisPhaseRunning, msg
	case v1alpha1.TemplateStatusFailed:
		return v1alpha1.AnalysisPhaseFailed, msg
	case v1alpha1.TemplateStatusError:
		return v1alpha1.AnalysisPhaseError, msg
	}
	return v1alpha1.AnalysisPhaseSuccessful, msg
}

// phaseRank orders analysis phases from best to worst, as Argo Rollouts does.
var phaseRank = map[v1alpha1.AnalysisPhase]int{
	v1alpha1.AnalysisPhaseSuccessful: 0, v1alpha1.AnalysisPhaseRunning: 1, v1alpha1.AnalysisPhasePending: 2,
	v1alpha1.AnalysisPhaseInconclusive: 3, v1alpha1.AnalysisPhaseError: 4, v1alpha1.AnalysisPhaseFailed: 5,
}

// assessAnalyses returns the worst phase of the analyses (Running while one is pending),
// and Successful when those required for completion all succeeded and none is worse than
// running.
func assessAnalyses(ex *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus) (v1alpha1.AnalysisPhase, string) {
	worst, msg := v1alpha1.AnalysisPhaseSuccessful, ""
	for _, a := range ex.Spec.Analyses {
		as := analysisStatus(st, a.Name)
		if phaseRank[as.Phase] > phaseRank[worst] {
			worst, msg = as.Phase, as.Message
			if msg == "" {
				msg = fmt.Sprintf("analysis %s: %s", a.Name, as.Phase)
			}
		}
	}
	if requiredSuccessful(ex, st) && phaseRank[worst] <= phaseRank[v1alpha1.AnalysisPhasePending] {
		return v1alpha1.AnalysisPhaseSuccessful, "the analyses required for completion succeeded"
	}
	if worst == v1alpha1.AnalysisPhasePending {
		worst = v1alpha1.AnalysisPhaseRunning
	}
	return worst, msg
}

func hasRequired(ex *v1alpha1.Experiment) bool {
	for _, a := range ex.Spec.Analyses {
		if a.RequiredForCompletion {
			return true
		}
	}
	return false
}

// requiredSuccessful reports whether there are analyses required for completion and all
// of them succeeded.
func requiredSuccessful(ex *v1alpha1.Experiment, st *v1alpha1.ExperimentStatus) bool {
	if !hasRequired(ex) {
		return false
	}
	for _, a := range ex.Spec.Analyses {
		if a.RequiredForCompletion && analysisStatus(st, a.Name).Phase != v1alpha1.AnalysisPhaseSuccessful {
			return false
		}
	}
	return true
}

func templateStatus(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.TemplateStatus {
	for i := range st.TemplateStatuses {
		if st.TemplateStatuses[i].Name == name {
			return &st.TemplateStatuses[i]
		}
	}
	st.TemplateStatuses = append(st.TemplateStatuses, v1alpha1.TemplateStatus{Name: name})
	return &st.TemplateStatuses[len(st.TemplateStatuses)-1]
}

func analysisStatus(st *v1alpha1.ExperimentStatus, name string) *v1alpha1.ExperimentAnalysisRunStatus {
	for i := range st.AnalysisRuns {
		if st.AnalysisRuns[i].Name == name {
			return &st.AnalysisRuns[i]
		}
	}
	st.AnalysisRuns = append(st.AnalysisRuns, v1alpha1.ExperimentAnalysisRunStatus{Name: name})
	return &st.AnalysisRuns[len(st.AnalysisRuns)-1]
}

// setConditions derives Progressing, Running and Completed from the phase.
func setConditions(st *v1alpha1.ExperimentStatus, ex *v1alpha1.Experiment) {
	done := st.Phase.Completed()
	running := st.AvailableAt != nil && !done
	progressing := !done && st.AvailableAt == nil
	reason := string(st.Phase)
	setCondition(st, ex, v1alpha1.ExperimentConditionProgressing, progressing, reason, st.Message)
	setCondition(st, ex, v1alpha1.ExperimentConditionRunning, running, reason, st.Message)
	if ex.Spec.Terminate && done {
		reason = string(st.Phase)
	}
	setCondition(st, ex, v1alpha1.ExperimentConditionCompleted, done, reason, st.Message)
}

func setCondition(st *v1alpha1.ExperimentStatus, ex *v1alpha1.Experiment, typ string, ok bool, reason, msg string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: ex.Generation,
	})
}
