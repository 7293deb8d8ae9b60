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

package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// ClusterPhase is the scheduler's view of one cluster of a wave, combined by the controller
// from the journal (dispatched, promoted, failed) and from what it reads of the member.
type ClusterPhase string

const (
	// NotStarted means the hub has not dispatched the revision to the cluster. A cluster missing
	// from WaveInput.States is NotStarted.
	NotStarted ClusterPhase = "NotStarted"
	// Dispatched means the hub wrote the revision; the member has not reported progress yet.
	Dispatched ClusterPhase = "Dispatched"
	// Progressing means the member Rollout is going through its steps (or paused in one).
	Progressing ClusterPhase = "Progressing"
	// Healthy means the member Rollout is fully promoted and healthy at the revision.
	Healthy ClusterPhase = "Healthy"
	// Failed means the cluster counts as failed (degraded, aborted, apply refused, or already
	// journaled as failed).
	Failed ClusterPhase = "Failed"
	// Unknown means the hub cannot reach the cluster (or its agent). It never counts as healthy.
	Unknown ClusterPhase = "Unknown"
)

// ClusterState is one cluster's state for Decide.
type ClusterState struct {
	Phase ClusterPhase
	// DispatchedAt is when the hub wrote the revision to the cluster; zero if it has not.
	DispatchedAt time.Time
	// Promoted is true once the cluster reached the revision, healthy (the journal's
	// ClusterPromoted), even if it is Unknown now.
	Promoted bool
	// Since is when the cluster entered Phase (status.clusters[].lastTransitionTime). Decide
	// needs it for Healthy and Failed clusters (the bake time runs from the last of them) and
	// for Unknown ones (how long they have been unreachable).
	Since time.Time
}

// WaveInput is everything Decide needs about one wave of the current revision.
type WaveInput struct {
	// Spec is the FleetRollout's spec: paused, progressDeadlineSeconds and the fleet gates.
	Spec *fleetv1alpha1.FleetRolloutSpec
	// Wave is the wave, from Compute.
	Wave *Wave
	// States are the states of the wave's clusters by name; a missing cluster is NotStarted.
	States map[string]ClusterState
	// ApprovedBefore and ApprovedAfter are true once a FleetApproval for the current revision,
	// this wave and that stage was accepted (see FindApproval).
	ApprovedBefore, ApprovedAfter bool
	// Gates is the combined verdict of the wave's gates and the fleet gates evaluated after it
	// (gates.Combine), or "" while they have not been evaluated. Ignored when there are no gates.
	Gates fleetv1alpha1.GateVerdict
	// Now is the current time.
	Now time.Time
}

// Counts are the wave's clusters by what Decide made of them.
type Counts struct {
	// Total is len(Wave.Clusters); LeftOut of them take no part (maintenance before they were
	// dispatched, or departed); each of the others is NotStarted, InFlight (Dispatched or
	// Progressing), Healthy, Failed (including DeadlineExceeded) or Unknown (unreachable, not
	// yet counted as failed).
	Total, LeftOut, NotStarted, InFlight, Healthy, Failed, Unknown int
}

// WaveDecision is what the scheduler does next in one wave.
type WaveDecision struct {
	// Phase is the wave's phase for status.waves[].phase.
	Phase fleetv1alpha1.WavePhase
	// Reason is the FleetRollout condition reason (conditions.go) that goes with Phase:
	// WaveProgressing, Baking, EvaluatingGates, GateInconclusive, WaitingForApproval,
	// PausedByUser, ClusterFailed, ProgressDeadlineExceeded, GateFailed or Succeeded.
	Reason string
	// Message says in one sentence what the wave does or waits for.
	Message string
	// AwaitingApproval is the stage a WaitingForApproval wave waits for.
	AwaitingApproval fleetv1alpha1.ApprovalStage
	// Start are the clusters to dispatch now, in name order; empty unless Phase is Progressing.
	Start []string
	// DeadlineExceeded are clusters that count as failed because progressDeadlineSeconds
	// passed (progressing too long, or unreachable too long), in name order. The controller
	// journals them as ClusterFailed (reason ProgressDeadlineExceeded) and passes them as
	// Failed from then on.
	DeadlineExceeded []string
	// LeftOut are clusters of the wave that take no part: in maintenance before they were
	// dispatched, or departed. They count neither as healthy nor as failed.
	LeftOut []string
	// Counts are the wave's clusters by state; Failed includes DeadlineExceeded.
	Counts Counts
	// MaxConcurrency and MaxFailures are the wave's limits resolved for Counts.Total.
	MaxConcurrency, MaxFailures int
	// BakeUntil is when the bake time ends, once every cluster finished and bakeTime is set.
	BakeUntil time.Time
	// RequeueAfter is when to decide again even if nothing is observed to change: a bake end or
	// a progress deadline. Zero means only an event (a cluster's state, an approval, a gate
	// verdict) can change the decision.
	RequeueAfter time.Duration
}

// Decide decides the next step of one wave. A wave runs as: approval before (if asked), its
// clusters at most maxConcurrency at a time, the bake time, the gates, approval after (if
// asked). At every step it fails as soon as more of its clusters failed than maxFailures
// allows.
//
// Unknown (unreachable) clusters never count as healthy: the wave cannot finish while one is
// Unknown. They do not count as failed at once either, so that a network blip does not apply
// the failure policy; one counts as failed once spec.progressDeadlineSeconds passed: since it
// was dispatched when it had not yet been promoted (the deadline for reaching the revision),
// otherwise since it became unreachable. Without progressDeadlineSeconds an unreachable cluster
// holds the wave until it comes back or a person acts. (The API's "Unreachable clusters count
// as failed" is read as: once the deadline passed.)
func Decide(in WaveInput) (WaveDecision, error) {
	w := in.Wave
	d := WaveDecision{Counts: Counts{Total: len(w.Clusters)}}
	var err error
	if d.MaxConcurrency, err = MaxConcurrency(w.Spec.MaxConcurrency, len(w.Clusters)); err != nil {
		return d, fmt.Errorf("wave %q: %w", w.Name, err)
	}
	if d.MaxFailures, err = MaxFailures(w.Spec.MaxFailures, len(w.Clusters)); err != nil {
		return d, fmt.Errorf("wave %q: %w", w.Name, err)
	}
	bake, err := BakeTime(w.Spec)
	if err != nil {
		return d, fmt.Errorf("wave %q: %w", w.Name, err)
	}

	t := tally(in, &d)

	if d.Counts.Failed > d.MaxFailures {
		d.Phase = fleetv1alpha1.WaveFailed
		d.Reason = fleetv1alpha1.ReasonClusterFailed
		if d.Counts.Failed-len(d.DeadlineExceeded) <= d.MaxFailures {
			d.Reason = fleetv1alpha1.ReasonProgressDeadlineExceeded
		}
		d.Message = fmt.Sprintf("wave %q failed: %d of %d clusters failed (%s), more than maxFailures %d",
			w.Name, d.Counts.Failed, d.Counts.Total, strings.Join(t.failed, ", "), d.MaxFailures)
		return d, nil
	}
	if w.Spec.Approval != nil && w.Spec.Approval.Before && !in.ApprovedBefore {
		return waitApproval(d, w, fleetv1alpha1.ApprovalStageBefore), nil
	}
	if d.Counts.Total-d.Counts.LeftOut == 0 {
		d.Phase, d.Reason = fleetv1alpha1.WaveSucceeded, fleetv1alpha1.ReasonSucceeded
		d.Message = fmt.Sprintf("wave %q has no cluster that takes part (%d left out): nothing to do", w.Name, d.Counts.LeftOut)
		return d, nil
	}

	if d.Counts.NotStarted+d.Counts.InFlight+d.Counts.Unknown > 0 {
		d.Phase, d.Reason = fleetv1alpha1.WaveProgressing, fleetv1alpha1.ReasonWaveProgressing
		slots := d.MaxConcurrency - d.Counts.InFlight - t.unknownInFlight
		switch {
		case in.Spec.Paused:
			d.Reason = fleetv1alpha1.ReasonPausedByUser
			if d.Counts.NotStarted+d.Counts.LeftOut == d.Counts.Total {
				d.Phase = fleetv1alpha1.WavePending // paused before any cluster started
			}
		case slots > 0:
			d.Start = t.eligible[:min(slots, len(t.eligible))]
		}
		d.Message = progressMessage(w, &d, t, in.Spec.Paused)
		d.RequeueAfter = requeue(in.Now, t.nextDeadline)
		return d, nil
	}

	if bake > 0 {
		d.BakeUntil = t.lastFinished.Add(bake)
		if in.Now.Before(d.BakeUntil) {
			d.Phase, d.Reason = fleetv1alpha1.WaveBaking, fleetv1alpha1.ReasonBaking
			d.Message = fmt.Sprintf("wave %q: every cluster finished (%d healthy, %d failed); baking until %s",
				w.Name, d.Counts.Healthy, d.Counts.Failed, d.BakeUntil.UTC().Format(time.RFC3339))
			d.RequeueAfter = d.BakeUntil.Sub(in.Now)
			return d, nil
		}
	}

	if len(w.Spec.Gates) > 0 || len(in.Spec.Gates) > 0 {
		switch in.Gates {
		case fleetv1alpha1.GatePassed:
		case fleetv1alpha1.GateFailed:
			d.Phase, d.Reason = fleetv1alpha1.WaveFailed, fleetv1alpha1.ReasonGateFailed
			d.Message = fmt.Sprintf("wave %q failed: a gate failed", w.Name)
			return d, nil
		case fleetv1alpha1.GateInconclusive, fleetv1alpha1.GateError:
			d.Phase, d.Reason = fleetv1alpha1.WaveEvaluatingGates, fleetv1alpha1.ReasonGateInconclusive
			d.Message = fmt.Sprintf("wave %q: a gate could not decide (%s); retry or abort", w.Name, in.Gates)
			return d, nil
		default:
			d.Phase, d.Reason = fleetv1alpha1.WaveEvaluatingGates, fleetv1alpha1.ReasonEvaluatingGates
			d.Message = fmt.Sprintf("wave %q: evaluating %d %s", w.Name, len(w.Spec.Gates)+len(in.Spec.Gates),
				plural(len(w.Spec.Gates)+len(in.Spec.Gates), "gate"))
			return d, nil
		}
	}

	if w.Spec.Approval != nil && w.Spec.Approval.After && !in.ApprovedAfter {
		return waitApproval(d, w, fleetv1alpha1.ApprovalStageAfter), nil
	}
	d.Phase, d.Reason = fleetv1alpha1.WaveSucceeded, fleetv1alpha1.ReasonSucceeded
	d.Message = fmt.Sprintf("wave %q succeeded: %d healthy, %d failed of %d", w.Name, d.Counts.Healthy, d.Counts.Failed, d.Counts.Total)
	return d, nil
}

// waveTally is what tally found beyond the counts.
type waveTally struct {
	eligible []string // NotStarted clusters that may start, in name order
	failed   []string // failed clusters, in name order
	unknown  []string // Unknown clusters that do not count as failed yet
	// unknownInFlight counts the Unknown clusters dispatched but not promoted: they may still
	// be rolling out, so they keep their maxConcurrency slot.
	unknownInFlight int
	lastFinished    time.Time
	nextDeadline    time.Time // the earliest deadline still ahead; zero if none
}

func tally(in WaveInput, d *WaveDecision) waveTally {
	w := in.Wave
	deadline := ProgressDeadline(in.Spec)
	var t waveTally
	departed := setOf(w.Departed)
	maintenance := setOf(w.Maintenance)
	watch := func(due time.Time) bool { // true when due has passed; else remember it
		if !in.Now.Before(due) {
			return true
		}
		if t.nextDeadline.IsZero() || due.Before(t.nextDeadline) {
			t.nextDeadline = due
		}
		return false
	}
	finished := func(at time.Time) {
		if at.After(t.lastFinished) {
			t.lastFinished = at
		}
	}
	for _, c := range w.Clusters { // sorted, so every list is too
		s, ok := in.States[c]
		if !ok || s.Phase == "" {
			s.Phase = NotStarted
		}
		if departed[c] || (maintenance[c] && s.Phase == NotStarted) {
			d.LeftOut = append(d.LeftOut, c)
			d.Counts.LeftOut++
			continue
		}
		switch s.Phase {
		case NotStarted:
			d.Counts.NotStarted++
			t.eligible = append(t.eligible, c)
		case Healthy:
			d.Counts.Healthy++
			finished(s.Since)
		case Failed:
			d.Counts.Failed++
			t.failed = append(t.failed, c)
			finished(s.Since)
		case Dispatched, Progressing:
			if deadline > 0 && !s.DispatchedAt.IsZero() && watch(s.DispatchedAt.Add(deadline)) {
				d.Counts.Failed++
				t.failed = append(t.failed, c)
				d.DeadlineExceeded = append(d.DeadlineExceeded, c)
				finished(s.DispatchedAt.Add(deadline))
				continue
			}
			d.Counts.InFlight++
		case Unknown:
			if due, ok := unknownDeadline(s, deadline); ok && watch(due) {
				d.Counts.Failed++
				t.failed = append(t.failed, c)
				d.DeadlineExceeded = append(d.DeadlineExceeded, c)
				finished(due)
				continue
			}
			d.Counts.Unknown++
			t.unknown = append(t.unknown, c)
			if !s.DispatchedAt.IsZero() && !s.Promoted {
				t.unknownInFlight++ // it may still be rolling out: it keeps its slot
			}
		}
	}
	return t
}

// unknownDeadline is when an unreachable cluster counts as failed: the progress deadline from
// its dispatch while it has not been promoted, else the deadline from when it became Unknown.
func unknownDeadline(s ClusterState, deadline time.Duration) (time.Time, bool) {
	switch {
	case deadline <= 0:
		return time.Time{}, false
	case !s.DispatchedAt.IsZero() && !s.Promoted:
		return s.DispatchedAt.Add(deadline), true
	case !s.Since.IsZero():
		return s.Since.Add(deadline), true
	default:
		return time.Time{}, false
	}
}

func progressMessage(w *Wave, d *WaveDecision, t waveTally, paused bool) string {
	parts := []string{fmt.Sprintf("%d/%d healthy", d.Counts.Healthy, d.Counts.Total-d.Counts.LeftOut)}
	if d.Counts.InFlight > 0 {
		parts = append(parts, fmt.Sprintf("%d in flight", d.Counts.InFlight))
	}
	if d.Counts.NotStarted > 0 {
		parts = append(parts, fmt.Sprintf("%d waiting (maxConcurrency %d)", d.Counts.NotStarted, d.MaxConcurrency))
	}
	if d.Counts.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed (maxFailures %d)", d.Counts.Failed, d.MaxFailures))
	}
	if len(t.unknown) > 0 {
		parts = append(parts, "unreachable: "+strings.Join(t.unknown, ", "))
	}
	msg := fmt.Sprintf("wave %q: %s", w.Name, strings.Join(parts, ", "))
	switch {
	case paused:
		msg += "; paused: no cluster starts"
	case len(d.Start) > 0:
		msg += "; starting " + strings.Join(d.Start, ", ")
	}
	return msg
}

func waitApproval(d WaveDecision, w *Wave, stage fleetv1alpha1.ApprovalStage) WaveDecision {
	d.Phase, d.Reason = fleetv1alpha1.WaveWaitingForApproval, fleetv1alpha1.ReasonWaitingForApproval
	d.AwaitingApproval = stage
	d.Message = fmt.Sprintf("wave %q waits for a FleetApproval with stage %s", w.Name, stage)
	return d
}

func requeue(now, at time.Time) time.Duration {
	if at.IsZero() {
		return 0
	}
	return at.Sub(now)
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// FindApproval returns the FleetApproval that approves the stage of a wave of one revision of
// the FleetRollout namespace/name, or nil. Of several, the oldest wins (then the first by
// name), so that the approval recorded does not change when another is created later.
// Approvals being deleted are ignored.
func FindApproval(approvals []fleetv1alpha1.FleetApproval, namespace, name string, revision int64, wave string,
	stage fleetv1alpha1.ApprovalStage) *fleetv1alpha1.FleetApproval {
	var match []*fleetv1alpha1.FleetApproval
	for i := range approvals {
		a := &approvals[i]
		if a.Namespace == namespace && a.Spec.FleetRollout == name && a.Spec.Revision == revision &&
			a.Spec.Wave == wave && a.Spec.Stage == stage && a.DeletionTimestamp == nil {
			match = append(match, a)
		}
	}
	if len(match) == 0 {
		return nil
	}
	sort.Slice(match, func(i, j int) bool {
		ti, tj := match[i].CreationTimestamp, match[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return match[i].Name < match[j].Name
	})
	return match[0]
}
