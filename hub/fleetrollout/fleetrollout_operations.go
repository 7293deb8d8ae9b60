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
	"fmt"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// The operations people state in the spec (see the FleetRollout type): pause and resume
// (spec.paused) and abort (spec.abortRevision). The scheduler honours spec.paused in
// plan.Decide; here they are journaled, and an abort is carried out.

// journalPause journals Paused or Resumed when spec.paused differs from what the journal says.
// The decision's ID carries the generation, so that pausing again later is journaled again.
func (u *run) journalPause(ctx context.Context) error {
	if u.fro.Spec.Paused == u.state.Paused {
		return nil
	}
	d := u.decision(journal.Resumed, "", "")
	d.Reason = "spec.paused cleared: member Rollouts the hub paused go on"
	if u.fro.Spec.Paused {
		d.Type, d.Reason = journal.Paused, "spec.paused set: no cluster and no wave starts, and member Rollouts mid-update hold where they are"
	}
	d.ID = fmt.Sprintf("%s/g%d", d.NaturalID(), u.fro.Generation)
	return u.propose(ctx, d)
}

// aborted reports whether the current revision is aborted: spec.abortRevision names it, or
// the journal recorded its abort. The journal keeps an abort in force after spec.abortRevision
// is removed, and a retry does not lift it: an abort is final for its revision, and a change
// of the spec (a new revision) is the way on.
func (u *run) aborted() bool {
	r := u.fro.Spec.AbortRevision
	return (r != nil && *r == u.rev.Number) || u.state.Aborted
}

// abort stops the current revision: it journals Aborted once, starts no cluster and no wave,
// and returns every cluster that took the revision to the stable revision (RollbackStarted,
// the stable revision placed again, which the spoke fast-tracks to its stable ReplicaSet, then
// RollbackCompleted once they are Healthy on it). The waves are reported from the journal.
func (u *run) abort(ctx context.Context) error {
	u.outcome.aborted, u.outcome.failed = true, true
	u.outcome.decision = plan.WaveDecision{Phase: fleetv1alpha1.WaveFailed, Reason: fleetv1alpha1.ReasonAborted,
		Message: fmt.Sprintf("revision %d was aborted (spec.abortRevision)", u.rev.Number)}
	if !u.state.Aborted {
		d := u.decision(journal.Aborted, "", "")
		d.Reason = u.outcome.decision.Message
		if err := u.propose(ctx, d); err != nil {
			return err
		}
	}
	u.next.Status.Waves = nil
	for i := range u.plan.Waves {
		w := &u.plan.Waves[i]
		st := fleetv1alpha1.WaveStatus{Name: w.Name, Phase: fleetv1alpha1.WavePending, Clusters: w.Clusters}
		if ws := u.state.Wave(w.Name); ws != nil && ws.Started {
			t := metav1Time(ws.StartedAt)
			st.StartedAt, st.Phase = &t, fleetv1alpha1.WaveFailed
			if ws.Outcome != "" {
				st.Phase = ws.Outcome
			}
			st.Approval = approvalStatus(w, ws)
			st.Gates = u.gateStatuses(w, ws, nil)
			u.outcome.started, u.outcome.wave = true, w.Name
		}
		u.next.Status.Waves = append(u.next.Status.Waves, st)
	}
	return u.returnClusters(ctx, journal.RollbackAll, "")
}
