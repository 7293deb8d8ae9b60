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

package journal

import (
	"sort"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// ClusterProgress is how far the current revision got in one member cluster, as journaled.
type ClusterProgress string

const (
	// ProgressDispatched means the revision was written to the cluster.
	ProgressDispatched ClusterProgress = "Dispatched"
	// ProgressPromoted means the cluster's Rollout reached the revision, healthy.
	ProgressPromoted ClusterProgress = "Promoted"
	// ProgressFailed means the cluster counts as failed.
	ProgressFailed ClusterProgress = "Failed"
)

// RolloutState is what the journal says about the newest run of one FleetRollout: the
// state a new leader resumes from. Decisions about an older revision stay in the history
// but do not change it; the first decision about a newer revision starts a fresh run.
type RolloutState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the newest revision any decision named.
	Revision int64 `json:"revision"`
	// Paused is true after Paused until Resumed; it carries over to a new revision.
	Paused bool `json:"paused,omitempty"`
	// Aborted is true once the run of Revision was aborted.
	Aborted bool `json:"aborted,omitempty"`
	// Attempt counts the retries of the run (Retried). Decisions that a retry may take again
	// (a cluster promoted or failed, a gate evaluated, a wave completed) carry it in their ID.
	Attempt int `json:"attempt,omitempty"`
	// Waves are the waves the run has touched (approved, started...), in that order.
	Waves []WaveState `json:"waves,omitempty"`
	// Rollback is the latest rollback of the run, if any.
	Rollback *RollbackState `json:"rollback,omitempty"`
	// Term and LastIndex are those of the last decision applied to this FleetRollout.
	Term      uint64 `json:"term"`
	LastIndex uint64 `json:"lastIndex"`
}

// WaveState is what the journal says about one wave of the run.
type WaveState struct {
	Name string `json:"name"`
	// Started is true once WaveStarted was journaled; StartedAt and StartedIndex say when.
	Started      bool      `json:"started,omitempty"`
	StartedAt    time.Time `json:"startedAt,omitzero"`
	StartedIndex uint64    `json:"startedIndex,omitempty"`
	// Clusters are the wave's members as fixed when it started.
	Clusters []string `json:"clusters,omitempty"`
	// Members is the progress of each cluster that was dispatched, by cluster name.
	Members map[string]ClusterState `json:"members,omitempty"`
	// Gates is the latest verdict of each gate, by gate name.
	Gates map[string]Gate `json:"gates,omitempty"`
	// Approvals are the accepted approvals, by stage.
	Approvals map[fleetv1alpha1.ApprovalStage]Approval `json:"approvals,omitempty"`
	// Outcome is Succeeded or Failed once WaveCompleted was journaled, else empty.
	Outcome fleetv1alpha1.WavePhase `json:"outcome,omitempty"`
	// Departed are the dispatched clusters that left the placement mid-run (ClusterDeparted),
	// sorted; they are no longer in Members.
	Departed []string `json:"departed,omitempty"`
}

// ClusterState is one member cluster's journaled progress.
type ClusterState struct {
	Progress ClusterProgress `json:"progress"`
	// Term is the term of the leader that journaled the progress.
	Term   uint64 `json:"term"`
	Index  uint64 `json:"index"`
	Reason string `json:"reason,omitempty"`
}

// RollbackState is the latest rollback of a run.
type RollbackState struct {
	Scope      RollbackScope `json:"scope"`
	Wave       string        `json:"wave,omitempty"`
	ToRevision int64         `json:"toRevision"`
	Clusters   []string      `json:"clusters,omitempty"`
	Completed  bool          `json:"completed,omitempty"`
}

// Wave returns the named wave's state, or nil.
func (s *RolloutState) Wave(name string) *WaveState {
	for i := range s.Waves {
		if s.Waves[i].Name == name {
			return &s.Waves[i]
		}
	}
	return nil
}

// Cluster returns the journaled progress of a cluster in any wave of the run.
func (s *RolloutState) Cluster(name string) (ClusterState, bool) {
	for i := range s.Waves {
		if c, ok := s.Waves[i].Members[name]; ok {
			return c, true
		}
	}
	return ClusterState{}, false
}

// StartedWaves returns the names of the waves that started, in order.
func (s *RolloutState) StartedWaves() []string {
	var out []string
	for i := range s.Waves {
		if s.Waves[i].Started {
			out = append(out, s.Waves[i].Name)
		}
	}
	return out
}

// apply folds one recorded decision into the state. It must be deterministic: every
// replica applies the same entries in the same order and must reach the same state.
func (s *RolloutState) apply(e *Entry) {
	d := &e.Decision
	if d.Type == Deleted {
		// The FleetRollout is gone: nothing of its run carries over to one created again.
		*s = RolloutState{Namespace: s.Namespace, Name: s.Name, Term: d.Term, LastIndex: e.Index}
		return
	}
	switch {
	case d.Revision < s.Revision:
		return // a superseded run: history only
	case d.Revision > s.Revision:
		*s = RolloutState{Namespace: s.Namespace, Name: s.Name, Revision: d.Revision, Paused: s.Paused}
	}
	s.Term, s.LastIndex = d.Term, e.Index

	switch d.Type {
	case Paused:
		s.Paused = true
	case Resumed:
		s.Paused = false
	case Aborted:
		s.Aborted = true
	case RollbackStarted:
		s.Rollback = &RollbackState{Scope: d.Rollback.Scope, Wave: d.Wave, ToRevision: d.Rollback.ToRevision,
			Clusters: append([]string(nil), d.Clusters...)}
	case RollbackCompleted:
		if s.Rollback == nil || s.Rollback.Scope != d.Rollback.Scope || s.Rollback.Wave != d.Wave {
			s.Rollback = &RollbackState{Scope: d.Rollback.Scope, Wave: d.Wave, ToRevision: d.Rollback.ToRevision,
				Clusters: append([]string(nil), d.Clusters...)}
		}
		s.Rollback.Completed = true
	default:
		s.applyWave(e)
	}
}

func (s *RolloutState) applyWave(e *Entry) {
	d := &e.Decision
	w := s.Wave(d.Wave)
	if w == nil {
		s.Waves = append(s.Waves, WaveState{Name: d.Wave})
		w = &s.Waves[len(s.Waves)-1]
	}
	setMember := func(p ClusterProgress) {
		setMemberOf(w, d.Cluster, ClusterState{Progress: p, Term: d.Term, Index: e.Index, Reason: d.Reason})
	}
	switch d.Type {
	case WaveStarted:
		w.Started, w.StartedAt, w.StartedIndex = true, d.At, e.Index
		w.Clusters = append([]string(nil), d.Clusters...)
	case ClusterDispatched:
		setMember(ProgressDispatched)
	case ClusterPromoted:
		setMember(ProgressPromoted)
	case ClusterFailed:
		setMember(ProgressFailed)
	case ClusterDeparted:
		if _, ok := w.Members[d.Cluster]; ok {
			delete(w.Members, d.Cluster)
			w.Departed = append(w.Departed, d.Cluster)
			sort.Strings(w.Departed)
		}
	case Retried:
		s.Attempt++
		w.Outcome = ""
		for name, g := range w.Gates {
			if g.Verdict != fleetv1alpha1.GatePassed {
				delete(w.Gates, name)
			}
		}
		for _, c := range d.Clusters {
			if _, ok := w.Members[c]; ok {
				setMemberOf(w, c, ClusterState{Progress: ProgressDispatched, Term: d.Term, Index: e.Index, Reason: d.Reason})
			}
		}
	case ClusterCaughtUp:
		// History only: the cluster takes no part in the run.
	case GateEvaluated:
		if w.Gates == nil {
			w.Gates = map[string]Gate{}
		}
		w.Gates[d.Gate.Name] = *d.DeepCopy().Gate
	case ApprovalGiven:
		if w.Approvals == nil {
			w.Approvals = map[fleetv1alpha1.ApprovalStage]Approval{}
		}
		w.Approvals[d.Approval.Stage] = *d.Approval
	case WaveCompleted:
		w.Outcome = d.Outcome
	}
}

func setMemberOf(w *WaveState, cluster string, c ClusterState) {
	if w.Members == nil {
		w.Members = map[string]ClusterState{}
	}
	w.Members[cluster] = c
}

// DeepCopy returns a copy that shares no memory with s.
func (s *RolloutState) DeepCopy() RolloutState {
	out := *s
	out.Waves = nil
	for i := range s.Waves {
		out.Waves = append(out.Waves, s.Waves[i].deepCopy())
	}
	if s.Rollback != nil {
		r := *s.Rollback
		r.Clusters = append([]string(nil), s.Rollback.Clusters...)
		out.Rollback = &r
	}
	return out
}

func (w *WaveState) deepCopy() WaveState {
	out := *w
	out.Clusters = append([]string(nil), w.Clusters...)
	out.Departed = append([]string(nil), w.Departed...)
	out.Members = copyMap(w.Members, func(v ClusterState) ClusterState { return v })
	out.Gates = copyMap(w.Gates, func(g Gate) Gate {
		g.Measurements = append([]fleetv1alpha1.GateMeasurement(nil), g.Measurements...)
		return g
	})
	out.Approvals = copyMap(w.Approvals, func(a Approval) Approval { return a })
	return out
}

func copyMap[K comparable, V any](in map[K]V, cp func(V) V) map[K]V {
	if in == nil {
		return nil
	}
	out := make(map[K]V, len(in))
	for k, v := range in {
		out[k] = cp(v)
	}
	return out
}

// MemberNames returns the names of the wave's dispatched clusters, sorted.
func (w *WaveState) MemberNames() []string {
	names := make([]string, 0, len(w.Members))
	for n := range w.Members {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
