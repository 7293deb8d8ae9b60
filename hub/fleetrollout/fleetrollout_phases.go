/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package fleetrollout

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/gates"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// runWaves walks the waves in order: finished waves are reported from the journal; the first
// unfinished one is decided (and possibly started, completed or failed, in which case the walk
// goes on or stops); the waves after a running or failed wave stay Pending.
func (u *run) runWaves(ctx context.Context) error {
	approvals := &fleetv1alpha1.FleetApprovalList{}
	if err := u.r.Client.List(ctx, approvals, client.InNamespace(u.fro.Namespace),
		client.MatchingFields{approvalIndex: u.fro.Name}); err != nil {
		return err
	}
	stopped := false
	u.next.Status.Waves = nil
	for i := range u.plan.Waves {
		w := &u.plan.Waves[i]
		ws := u.state.Wave(w.Name)
		st := fleetv1alpha1.WaveStatus{Name: w.Name, Phase: fleetv1alpha1.WavePending, Clusters: w.Clusters}
		if ws != nil && ws.Started {
			t := metav1Time(ws.StartedAt)
			st.StartedAt = &t
			u.outcome.started = true
		}
		switch {
		case stopped:
		case ws != nil && ws.Outcome != "":
			st.Phase = ws.Outcome
			if at, ok := u.journaledAt(u.waveCompleted(w.Name, ws.Outcome)); ok {
				t := metav1Time(at)
				st.FinishedAt = &t
			}
			st.Gates = u.gateStatuses(w, ws, nil)
			u.outcome.wave = w.Name
			if ws.Outcome == fleetv1alpha1.WaveFailed {
				stopped, u.outcome.failed = true, true
				u.outcome.decision = plan.WaveDecision{Phase: fleetv1alpha1.WaveFailed,
					Reason: fleetv1alpha1.ReasonClusterFailed, Message: "wave " + w.Name + " failed"}
				if failedGate(ws) {
					u.outcome.decision.Reason = fleetv1alpha1.ReasonGateFailed
				}
			}
		default:
			u.outcome.wave = w.Name
			done, err := u.runWave(ctx, w, &st, approvals.Items)
			if err != nil {
				return err
			}
			stopped = !done
		}
		u.next.Status.Waves = append(u.next.Status.Waves, st)
	}
	u.outcome.succeeded = !stopped
	if u.outcome.failed {
		return u.rollback(ctx, u.outcome.wave)
	}
	return nil
}

// invalidSpecError is a spec the scheduler cannot read (a wave's limits or bake time, a gate
// the hub cannot run): the Invalid condition, with reason InvalidSpec unless reason says
// otherwise, not a retry.
type invalidSpecError struct {
	err    error
	reason string
}

func (e *invalidSpecError) Error() string { return e.err.Error() }

func failedGate(ws *journal.WaveState) bool {
	for _, g := range ws.Gates {
		if g.Verdict == fleetv1alpha1.GateFailed {
			return true
		}
	}
	return false
}

func (u *run) waveCompleted(wave string, outcome fleetv1alpha1.WavePhase) journal.Decision {
	d := u.decision(journal.WaveCompleted, wave, "")
	d.Outcome = outcome
	return d
}

// runWave decides the current wave and carries the decision out. It returns true when the
// wave succeeded (the walk goes on to the next wave).
func (u *run) runWave(ctx context.Context, w *plan.Wave, st *fleetv1alpha1.WaveStatus, approvals []fleetv1alpha1.FleetApproval) (bool, error) {
	in := plan.WaveInput{Spec: &u.fro.Spec, Wave: w, Now: u.now}
	var err error
	if in.ApprovedBefore, err = u.approval(ctx, w, fleetv1alpha1.ApprovalStageBefore, approvals); err != nil {
		return false, err
	}
	if in.ApprovedAfter, err = u.approval(ctx, w, fleetv1alpha1.ApprovalStageAfter, approvals); err != nil {
		return false, err
	}
	in.States = u.clusterStates(w)
	d, err := plan.Decide(in)
	if err != nil {
		return false, &invalidSpecError{err: err}
	}
	var results map[string]gates.Result
	if d.Phase == fleetv1alpha1.WaveEvaluatingGates {
		var verdict fleetv1alpha1.GateVerdict
		if results, verdict, err = u.evaluateGates(ctx, w, d.LeftOut); err != nil {
			return false, err
		}
		in.Gates = verdict
		if d, err = plan.Decide(in); err != nil {
			return false, &invalidSpecError{err: err}
		}
	}

	if len(d.Start) > 0 {
		if ws := u.state.Wave(w.Name); ws == nil || !ws.Started {
			ds := u.decision(journal.WaveStarted, w.Name, "")
			ds.Clusters = append([]string(nil), w.Clusters...)
			if err := u.propose(ctx, ds); err != nil {
				return false, err
			}
			t := metav1Time(u.now)
			st.StartedAt = &t
			u.outcome.started = true
		}
		if err := u.dispatch(ctx, w.Name, d.Start); err != nil {
			return false, err
		}
	}
	for _, c := range d.DeadlineExceeded {
		df := u.decision(journal.ClusterFailed, w.Name, c)
		df.Reason = fleetv1alpha1.ReasonProgressDeadlineExceeded
		if err := u.propose(ctx, df); err != nil {
			return false, err
		}
	}
	if !d.BakeUntil.IsZero() {
		t := metav1Time(d.BakeUntil)
		st.BakeUntil = &t
	}
	st.Phase = d.Phase
	st.Approval = approvalStatus(w, u.state.Wave(w.Name))
	st.Gates = u.gateStatuses(w, u.state.Wave(w.Name), results)
	u.outcome.decision = d
	if d.RequeueAfter > 0 && (u.requeue == 0 || d.RequeueAfter < u.requeue) {
		u.requeue = d.RequeueAfter
	}

	switch d.Phase {
	case fleetv1alpha1.WaveSucceeded, fleetv1alpha1.WaveFailed:
		if err := u.propose(ctx, u.waveCompleted(w.Name, d.Phase)); err != nil {
			return false, err
		}
		t := metav1Time(u.now)
		st.FinishedAt = &t
		if d.Phase == fleetv1alpha1.WaveFailed {
			// Failure policy: Pause. RollbackWave and RollbackAll are not carried out yet and
			// stop the FleetRollout the same way.
			u.outcome.failed = true
			return false, nil
		}
		return true, nil
	}
	// A wave in flight, or an aggregate gate waiting for clusters, moves on at the member
	// Rollouts' events (and at MemberCluster reachability changes); analysis and outlier
	// gates asked for a requeue when their next measurement is due.
	return false, nil
}

// approval journals the FleetApproval that approves the wave's stage, if one exists and the
// wave asks for one, and says whether the stage is approved.
func (u *run) approval(ctx context.Context, w *plan.Wave, stage fleetv1alpha1.ApprovalStage, approvals []fleetv1alpha1.FleetApproval) (bool, error) {
	ask := w.Spec.Approval
	if ask == nil || (stage == fleetv1alpha1.ApprovalStageBefore && !ask.Before) || (stage == fleetv1alpha1.ApprovalStageAfter && !ask.After) {
		return false, nil
	}
	if ws := u.state.Wave(w.Name); ws != nil {
		if _, ok := ws.Approvals[stage]; ok {
			return true, nil
		}
	}
	a := plan.FindApproval(approvals, u.fro.Namespace, u.fro.Name, u.rev.Number, w.Name, stage)
	if a == nil {
		return false, nil
	}
	d := u.decision(journal.ApprovalGiven, w.Name, "")
	d.Actor = a.Spec.ApprovedBy
	d.Approval = &journal.Approval{Stage: stage, ApprovedBy: a.Spec.ApprovedBy, ApprovalName: a.Name, Comment: a.Spec.Comment}
	return true, u.propose(ctx, d)
}

func approvalStatus(w *plan.Wave, ws *journal.WaveState) *fleetv1alpha1.WaveApprovalStatus {
	if w.Spec.Approval == nil {
		return nil
	}
	stage := func(asked bool, s fleetv1alpha1.ApprovalStage) *fleetv1alpha1.StageApprovalStatus {
		if !asked {
			return &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalNotRequired}
		}
		if ws != nil {
			if a, ok := ws.Approvals[s]; ok {
				return &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalApproved,
					ApprovalName: a.ApprovalName, ApprovedBy: a.ApprovedBy}
			}
		}
		return &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalPending}
	}
	return &fleetv1alpha1.WaveApprovalStatus{Before: stage(w.Spec.Approval.Before, fleetv1alpha1.ApprovalStageBefore),
		After: stage(w.Spec.Approval.After, fleetv1alpha1.ApprovalStageAfter)}
}

// namedGate is a gate with whether it is a fleet-level gate.
type namedGate struct {
	gate  *fleetv1alpha1.Gate
	fleet bool
}

func gatesOf(spec *fleetv1alpha1.FleetRolloutSpec, w *plan.Wave) []namedGate {
	var out []namedGate
	for i := range w.Spec.Gates {
		out = append(out, namedGate{&w.Spec.Gates[i], false})
	}
	for i := range spec.Gates {
		out = append(out, namedGate{&spec.Gates[i], true})
	}
	return out
}

// final verdicts are journaled; Pending and Running are not (the gate is evaluated again).
func final(v fleetv1alpha1.GateVerdict) bool {
	return v == fleetv1alpha1.GatePassed || v == fleetv1alpha1.GateFailed ||
		v == fleetv1alpha1.GateInconclusive || v == fleetv1alpha1.GateError
}

// evaluateGates evaluates the wave's and the fleet's gates that have no journaled verdict yet,
// journals each final verdict, and returns the results and the combined verdict.
func (u *run) evaluateGates(ctx context.Context, w *plan.Wave, leftOut []string) (map[string]gates.Result, fleetv1alpha1.GateVerdict, error) {
	ws := u.state.Wave(w.Name)
	results := map[string]gates.Result{}
	var verdicts []fleetv1alpha1.GateVerdict
	for _, g := range gatesOf(&u.fro.Spec, w) {
		if ws != nil {
			if j, ok := ws.Gates[g.gate.Name]; ok && final(j.Verdict) {
				verdicts = append(verdicts, j.Verdict)
				continue
			}
		}
		res, err := u.evaluateGate(ctx, g, w, leftOut)
		if err != nil {
			return nil, "", err
		}
		results[g.gate.Name] = res
		verdicts = append(verdicts, res.Verdict)
		if final(res.Verdict) {
			d := u.decision(journal.GateEvaluated, w.Name, "")
			jg := res.Journal(g.gate.Name, g.fleet)
			d.Gate = &jg
			if err := u.propose(ctx, d); err != nil {
				return nil, "", err
			}
		}
	}
	return results, gates.Combine(verdicts...), nil
}

// evaluateGate evaluates one gate. Aggregate gates count the wave's clusters (a wave gate) or
// every cluster dispatched so far in this revision (a fleet gate); analysis and outlier gates
// take their measurements (fleetrollout_gates.go).
func (u *run) evaluateGate(ctx context.Context, g namedGate, w *plan.Wave, leftOut []string) (gates.Result, error) {
	switch {
	case g.gate.Analysis != nil, g.gate.Outlier != nil:
		return u.evaluateMetricGate(ctx, g, w, leftOut)
	case g.gate.Aggregate != nil:
		skip := map[string]bool{}
		for _, c := range leftOut {
			skip[c] = true
		}
		var counted []string
		if g.fleet {
			for i := range u.state.Waves {
				counted = append(counted, u.state.Waves[i].MemberNames()...)
			}
		} else {
			for _, c := range w.Clusters {
				if !skip[c] {
					counted = append(counted, c)
				}
			}
		}
		verdicts := map[string]gates.ClusterVerdict{}
		for _, c := range counted {
			if v, ok := u.views[c]; ok {
				verdicts[c] = gates.VerdictOf(v.Phase)
			}
		}
		return gates.Aggregate(g.gate.Aggregate, counted, verdicts), nil
	default:
		return gates.Result{Verdict: fleetv1alpha1.GateError, Message: "the gate sets none of aggregate, analysis or outlier"}, nil
	}
}

// gateStatuses are the wave's gate verdicts: journaled ones, else this run's results, else
// Pending.
func (u *run) gateStatuses(w *plan.Wave, ws *journal.WaveState, results map[string]gates.Result) []fleetv1alpha1.GateStatus {
	var prev []fleetv1alpha1.GateStatus
	for i := range u.fro.Status.Waves {
		if u.fro.Status.Waves[i].Name == w.Name {
			prev = u.fro.Status.Waves[i].Gates
		}
	}
	now := metav1Time(u.now)
	var out []fleetv1alpha1.GateStatus
	for _, g := range gatesOf(&u.fro.Spec, w) {
		var p *fleetv1alpha1.GateStatus
		for i := range prev {
			if prev[i].Name == g.gate.Name {
				p = &prev[i]
			}
		}
		var res gates.Result
		r, evaluated := results[g.gate.Name]
		j, journaled := journaledGate(ws, g.gate.Name)
		switch {
		case evaluated: // this reconcile's result, journaled already if it is final
			res = r
		case journaled:
			res = gates.Result{Verdict: j.Verdict, Message: j.Message, Measurements: j.Measurements}
			if pg := u.previousGate(w.Name, g.gate.Name); pg != nil {
				res.Analysis = pg.Analysis // the measurements that led to the journaled verdict
			}
		default:
			res = gates.Result{Verdict: fleetv1alpha1.GatePending, Message: "evaluated after the wave and its bake time"}
		}
		out = append(out, res.Status(g.gate.Name, g.fleet, p, now))
	}
	return out
}

func journaledGate(ws *journal.WaveState, name string) (journal.Gate, bool) {
	if ws == nil {
		return journal.Gate{}, false
	}
	g, ok := ws.Gates[name]
	return g, ok
}
