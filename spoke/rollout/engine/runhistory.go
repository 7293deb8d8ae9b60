package engine

import (
	"sort"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// This file holds spec.analysis.successfulRunHistoryLimit and unsuccessfulRunHistoryLimit,
// as in Argo Rollouts: of the Rollout's finished AnalysisRuns that no step waits for any
// more, the newest successfulRunHistoryLimit Successful ones and the newest
// unsuccessfulRunHistoryLimit Failed, Error or Inconclusive ones are kept (5 each by
// default), and older ones are deleted; so are those whose ReplicaSet is gone. Experiments
// follow the same limits, counted apart from the AnalysisRuns.

const defaultRunHistoryLimit = 5

// DeleteAnalysisRun deletes a finished AnalysisRun beyond the history limits.
type DeleteAnalysisRun struct {
	Name string
}

// DeleteExperiment deletes a finished Experiment beyond the history limits.
type DeleteExperiment struct {
	Name string
}

func (DeleteAnalysisRun) isAction() {}
func (DeleteExperiment) isAction()  {}

func (a DeleteAnalysisRun) String() string { return "DeleteAnalysisRun " + a.Name }
func (a DeleteExperiment) String() string  { return "DeleteExperiment " + a.Name }

// finishedRun is what the history limits need of an AnalysisRun or an Experiment.
type finishedRun struct {
	name    string
	hash    string
	phase   v1alpha1.AnalysisPhase
	created time.Time
}

// runHistory deletes the finished runs beyond the history limits.
func (e *engine) runHistory() {
	keep := e.currentRuns()
	var ars, exs []finishedRun
	for _, ar := range e.obs.AnalysisRuns {
		if ar.Phase.Completed() && !e.wantedRuns[ar.Name] && !keep[ar.Name] {
			ars = append(ars, finishedRun{ar.Name, ar.PodTemplateHash, ar.Phase, ar.CreationTimestamp})
		}
	}
	for _, ex := range e.obs.Experiments {
		if ex.Phase.Completed() && !e.wantedExperiments[ex.Name] && !keep[ex.Name] {
			exs = append(exs, finishedRun{ex.Name, ex.PodTemplateHash, ex.Phase, ex.CreationTimestamp})
		}
	}
	for _, name := range e.beyondLimits(ars) {
		e.add(phaseCleanup, DeleteAnalysisRun{Name: name})
	}
	for _, name := range e.beyondLimits(exs) {
		e.add(phaseCleanup, DeleteExperiment{Name: name})
	}
}

// runHistoryLimits are spec.analysis's limits, with Argo Rollouts' defaults.
func (e *engine) runHistoryLimits() (successful, unsuccessful int) {
	successful, unsuccessful = defaultRunHistoryLimit, defaultRunHistoryLimit
	if a := e.ro.Spec.Analysis; a != nil {
		if a.SuccessfulRunHistoryLimit != nil {
			successful = int(*a.SuccessfulRunHistoryLimit)
		}
		if a.UnsuccessfulRunHistoryLimit != nil {
			unsuccessful = int(*a.UnsuccessfulRunHistoryLimit)
		}
	}
	return successful, unsuccessful
}

// beyondLimits names the runs to delete, the oldest first: those of a ReplicaSet that is
// gone, and those beyond the limit of their kind, the newest being kept. A run without the
// pod-template-hash label (not made by the engine) counts only against the limits.
func (e *engine) beyondLimits(runs []finishedRun) []string {
	successful, unsuccessful := e.runHistoryLimits()
	hashes := map[string]bool{e.hash: true}
	for _, rs := range e.obs.ReplicaSets {
		hashes[rs.PodTemplateHash] = true
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if !runs[i].created.Equal(runs[j].created) {
			return runs[i].created.After(runs[j].created)
		}
		return runs[i].name > runs[j].name
	})
	var out []string
	for _, r := range runs {
		switch {
		case r.hash != "" && !hashes[r.hash]:
			out = append(out, r.name)
		case r.phase == v1alpha1.AnalysisPhaseSuccessful:
			if successful > 0 {
				successful--
			} else {
				out = append(out, r.name)
			}
		default:
			if unsuccessful > 0 {
				unsuccessful--
			} else {
				out = append(out, r.name)
			}
		}
	}
	// Oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// currentRuns are the runs the status names, before and after this plan: they are never
// deleted, even when no step asks for them in this reconcile (spec.paused, say).
func (e *engine) currentRuns() map[string]bool {
	out := map[string]bool{}
	for _, st := range []*v1alpha1.RolloutStatus{e.prev, &e.st} {
		if c := st.Canary; c != nil {
			for _, s := range []*v1alpha1.RolloutAnalysisRunStatus{c.CurrentStepAnalysisRunStatus, c.CurrentBackgroundAnalysisRunStatus} {
				if s != nil {
					out[s.Name] = true
				}
			}
			if c.CurrentExperiment != "" {
				out[c.CurrentExperiment] = true
			}
		}
		if b := st.BlueGreen; b != nil {
			for _, s := range []*v1alpha1.RolloutAnalysisRunStatus{b.PrePromotionAnalysisRunStatus, b.PostPromotionAnalysisRunStatus} {
				if s != nil {
					out[s.Name] = true
				}
			}
		}
	}
	return out
}
