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
	"slices"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// The decisions about a run that is already under way: clusters that join or leave it, and a
// person's retry.

// WaveCluster names one cluster of one wave.
type WaveCluster struct {
	Wave, Cluster string
}

// MembershipChanges are the clusters whose membership changed since their wave started.
type MembershipChanges struct {
	// Departed are dispatched clusters that placement no longer selects (or whose
	// MemberCluster is gone). The controller journals ClusterDeparted for each, then stops
	// reading and writing them: they no longer count anywhere, and their objects stay in place.
	Departed []WaveCluster
	// CatchUp are placed clusters that take no part in the run but must hold the stable
	// revision: those that joined after their wave started (Wave.Late), and those of a finished
	// wave that were never dispatched (in maintenance while it ran, and out of it now). A
	// cluster whose wave has not finished takes the revision going out instead, with its wave.
	CatchUp []WaveCluster
}

// Membership compares the plan with the journal's run of the same revision (st) and says which
// clusters departed and which must catch up with the stable revision, in wave order and then
// name order.
func Membership(p *Plan, st *journal.RolloutState) MembershipChanges {
	var out MembershipChanges
	for i := range p.Waves {
		w := &p.Waves[i]
		ws := st.Wave(w.Name)
		if ws == nil || !ws.Started {
			continue
		}
		for _, c := range w.Departed {
			if _, dispatched := ws.Members[c]; dispatched {
				out.Departed = append(out.Departed, WaveCluster{w.Name, c})
			}
		}
		var catchUp []string
		if ws.Outcome != "" {
			for _, c := range w.Clusters {
				_, dispatched := ws.Members[c]
				if !dispatched && !slices.Contains(ws.Departed, c) && !slices.Contains(w.Departed, c) &&
					!slices.Contains(w.Maintenance, c) {
					catchUp = append(catchUp, c)
				}
			}
		}
		catchUp = append(catchUp, w.Late...)
		slices.Sort(catchUp)
		for _, c := range catchUp {
			out.CatchUp = append(out.CatchUp, WaveCluster{w.Name, c})
		}
	}
	return out
}

// Retry is what a person's retry request re-runs.
type Retry struct {
	// Wave is the wave to run again; empty when there is nothing to retry (Reason says why).
	Wave string
	// Clusters are the wave's failed clusters, which take the revision again, sorted.
	Clusters []string
	// Gates are the wave's gates whose journaled verdict was not Passed, evaluated again.
	Gates []string
	// Reason says what the retry does, or why it does nothing.
	Reason string
}

// RetryOf decides what a retry re-runs in the journal's run: the wave that failed, or the wave
// whose gate was inconclusive, with its failed clusters and its gates not passed. An aborted run
// and a run rolling back or rolled back are not retried (the abort holds; a rollback is
// finished business): a new revision is the way on.
func RetryOf(st *journal.RolloutState) Retry {
	switch {
	case st.Aborted:
		return Retry{Reason: fmt.Sprintf("revision %d was aborted: a retry does not undo an abort; change the spec to send a new revision", st.Revision)}
	case st.Rollback != nil:
		return Retry{Reason: fmt.Sprintf("revision %d was rolled back: change the spec to send a new revision", st.Revision)}
	}
	for i := range st.Waves {
		ws := &st.Waves[i]
		var gates []string
		for name, g := range ws.Gates {
			if g.Verdict != fleetv1alpha1.GatePassed {
				gates = append(gates, name)
			}
		}
		if ws.Outcome != fleetv1alpha1.WaveFailed && len(gates) == 0 {
			continue
		}
		r := Retry{Wave: ws.Name, Gates: gates}
		slices.Sort(r.Gates)
		for _, c := range ws.MemberNames() {
			if ws.Members[c].Progress == journal.ProgressFailed {
				r.Clusters = append(r.Clusters, c)
			}
		}
		r.Reason = fmt.Sprintf("wave %s runs again: failed clusters %v take revision %d again, gates %v are evaluated again",
			ws.Name, r.Clusters, st.Revision, r.Gates)
		return r
	}
	return Retry{Reason: fmt.Sprintf("revision %d has no failed wave and no inconclusive gate: nothing to retry", st.Revision)}
}
