package engine

import (
	"math"
	"sort"
	"time"
)

// This file holds what happens to the ReplicaSets, AnalysisRuns and Experiments that are no
// longer the desired ones: scale-down deadlines, the revision history limit, and the
// termination of runs nobody waits for.

// removeDeadline takes the scale-down deadline off a ReplicaSet that is wanted again.
func (e *engine) removeDeadline(rs *ReplicaSet) {
	if rs == nil || rs.ScaleDownDeadline == nil {
		return
	}
	e.add(phasePrepare, AnnotateReplicaSet{Name: rs.Name, Remove: []string{AnnotationScaleDownDeadline}})
	rs.ScaleDownDeadline = nil
}

// keepReferenced marks the old ReplicaSets that a Service of the strategy selects, or that
// the router last sent traffic to: they keep their pods until nothing points at them.
func (e *engine) keepReferenced() {
	hashes := map[string]bool{}
	if c := e.ro.Spec.Strategy.Canary; c != nil {
		for _, name := range []string{c.StableService, c.CanaryService} {
			if name != "" {
				hashes[e.serviceSelects(name)] = true
			}
		}
		if w := e.prevWeights(); w != nil {
			if w.Canary.Weight > 0 {
				hashes[w.Canary.PodTemplateHash] = true
			}
			hashes[w.Stable.PodTemplateHash] = true
			for _, d := range w.Additional {
				hashes[d.PodTemplateHash] = true
			}
		}
	}
	if b := e.ro.Spec.Strategy.BlueGreen; b != nil {
		hashes[e.serviceSelects(b.ActiveService)] = true
	}
	for _, rs := range e.olds {
		if hashes[rs.PodTemplateHash] {
			e.keepReplicaSets[rs.Name] = true
		}
	}
}

// scaleDownDelayRevisionLimit is how many old ReplicaSets may wait for their scale-down
// deadline at once.
func (e *engine) scaleDownDelayRevisionLimit() int32 {
	var limit *int32
	if c := e.ro.Spec.Strategy.Canary; c != nil {
		limit = c.ScaleDownDelayRevisionLimit
	} else if b := e.ro.Spec.Strategy.BlueGreen; b != nil {
		limit = b.ScaleDownDelayRevisionLimit
	}
	if limit == nil {
		return math.MaxInt32
	}
	return *limit
}

// scaleDownOlds scales the old ReplicaSets to zero. One with a scale-down deadline keeps its
// pods until then; with annotate, one without gets a deadline delay from now (the previous
// stable or active version, which the router or the Services may still reach for a while).
// Only scaleDownDelayRevisionLimit of them wait at once, the newest first; older ones are
// scaled down at once.
func (e *engine) scaleDownOlds(annotate bool, delay time.Duration) {
	limit := e.scaleDownDelayRevisionLimit()
	var waiting int32
	for _, rs := range e.olds {
		if rs.Replicas == 0 || e.keepReplicaSets[rs.Name] {
			continue
		}
		switch {
		case rs.ScaleDownDeadline != nil && e.now.Before(*rs.ScaleDownDeadline) && waiting < limit:
			waiting++
			e.requeueAt(*rs.ScaleDownDeadline)
		case rs.ScaleDownDeadline != nil:
			e.scale(rs, 0, " (scale-down delay over)")
		case annotate && delay > 0 && waiting < limit:
			waiting++
			e.scaleDownAfter(rs, delay)
		default:
			e.scale(rs, 0, "")
		}
	}
}

// history deletes the oldest ReplicaSets without pods beyond revisionHistoryLimit.
func (e *engine) history() {
	limit := int32(defaultRevisionHistoryLimit)
	if e.ro.Spec.RevisionHistoryLimit != nil {
		limit = *e.ro.Spec.RevisionHistoryLimit
	}
	var idle []*ReplicaSet
	for _, rs := range e.olds {
		if rs.Replicas == 0 && rs.CurrentReplicas == 0 && !e.keepReplicaSets[rs.Name] {
			idle = append(idle, rs)
		}
	}
	if int32(len(idle)) <= limit {
		return
	}
	sort.SliceStable(idle, func(i, j int) bool { return idle[i].Revision < idle[j].Revision })
	for _, rs := range idle[:int32(len(idle))-limit] {
		e.add(phaseCleanup, DeleteReplicaSet{Name: rs.Name})
	}
}

// terminateUnwanted stops the AnalysisRuns and Experiments that this reconcile did not ask
// for: those of an earlier step, revision or attempt, and every one after an abort. A
// Rollout stopped by spec.paused keeps its runs.
func (e *engine) terminateUnwanted() {
	if e.halted && !e.st.Abort {
		return
	}
	for _, ar := range e.obs.AnalysisRuns {
		if !ar.Phase.Completed() && !ar.Terminating && !e.wantedRuns[ar.Name] {
			e.add(phaseCleanup, TerminateAnalysisRun{Name: ar.Name})
		}
	}
	for _, ex := range e.obs.Experiments {
		if !ex.Phase.Completed() && !ex.Terminating && !e.wantedExperiments[ex.Name] {
			e.add(phaseCleanup, TerminateExperiment{Name: ex.Name})
		}
	}
}
