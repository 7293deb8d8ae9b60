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
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

// dec builds a valid decision of type typ about default/checkout revision rev.
func dec(typ Type, rev int64, wave, cluster string, mod ...func(*Decision)) Decision {
	d := Decision{Version: Version, Type: typ, Term: 3, At: t0, Namespace: "default", Name: "checkout",
		Revision: rev, Wave: wave, Cluster: cluster}
	switch typ {
	case ClusterFailed:
		d.Reason = "progress deadline exceeded"
	case ClusterDeparted:
		d.Reason = "no longer placed"
	case Retried:
		d.Reason = "2026-05-01T12:00:00Z"
	case ClusterCaughtUp:
		d.Rollback = &Rollback{Scope: RollbackAll, ToRevision: 1}
	case GateEvaluated:
		d.Gate = &Gate{Name: "error-rate", Verdict: fleetv1alpha1.GatePassed,
			Measurements: []fleetv1alpha1.GateMeasurement{{Name: "p99", Value: "0.0123"}}}
	case ApprovalGiven:
		d.Approval = &Approval{Stage: fleetv1alpha1.ApprovalStageBefore, ApprovedBy: "alice", ApprovalName: "go-eu"}
	case WaveCompleted:
		d.Outcome = fleetv1alpha1.WaveSucceeded
	case RollbackStarted, RollbackCompleted:
		d.Rollback = &Rollback{Scope: RollbackAll, ToRevision: rev - 1}
	case Deleted:
		d.Deletion = &Deletion{Policy: fleetv1alpha1.DeletionDelete, UID: "uid-1"}
	}
	for _, m := range mod {
		m(&d)
	}
	if d.ID == "" {
		d.ID = d.NaturalID()
	}
	return d
}

// applier feeds decisions to an FSM as raft would, one log index after the other.
type applier struct {
	t     *testing.T
	fsm   *FSM
	index uint64
}

func (a *applier) apply(d Decision) Result {
	a.t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	res, ok := a.fsm.Apply(&raft.Log{Index: a.index, Term: d.Term, Type: raft.LogCommand, Data: data}).(Result)
	if !ok {
		a.t.Fatalf("Apply returned %T, want Result", res)
	}
	return res
}

func (a *applier) mustApply(ds ...Decision) {
	a.t.Helper()
	for _, d := range ds {
		if res := a.apply(d); res.Err != nil || res.Duplicate {
			a.t.Fatalf("apply %s: %+v", d.ID, res)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, typ := range Types {
		d := dec(typ, 2, "us-east", "c1")
		if err := d.Validate(); err != nil {
			t.Errorf("%s: valid decision refused: %v", typ, err)
		}
	}
	cases := map[string]Decision{
		"future version":            dec(Paused, 1, "", "", func(d *Decision) { d.Version = Version + 1 }),
		"unknown type":              dec(Paused, 1, "", "", func(d *Decision) { d.Type = "Teleported" }),
		"no revision":               dec(Paused, 0, "", ""),
		"wave started, no wave":     dec(WaveStarted, 1, "", ""),
		"dispatched, no cluster":    dec(ClusterDispatched, 1, "us-east", ""),
		"failed, no reason":         dec(ClusterFailed, 1, "us-east", "c1", func(d *Decision) { d.Reason = "" }),
		"gate, no verdict":          dec(GateEvaluated, 1, "us-east", "", func(d *Decision) { d.Gate.Verdict = "" }),
		"approval, no approver":     dec(ApprovalGiven, 1, "us-east", "", func(d *Decision) { d.Approval.ApprovedBy = "" }),
		"completed, bad outcome":    dec(WaveCompleted, 1, "us-east", "", func(d *Decision) { d.Outcome = "Baking" }),
		"rollback, no scope":        dec(RollbackStarted, 2, "", "", func(d *Decision) { d.Rollback.Scope = "" }),
		"wave rollback, no wave":    dec(RollbackStarted, 2, "", "", func(d *Decision) { d.Rollback.Scope = RollbackWave }),
		"rollback, negative target": dec(RollbackCompleted, 1, "", "", func(d *Decision) { d.Rollback.ToRevision = -1 }),
		"retried, no token":         dec(Retried, 2, "us-east", "", func(d *Decision) { d.Reason = "" }),
		"departed, no wave":         dec(ClusterDeparted, 2, "", "c1"),
		"caught up, no target":      dec(ClusterCaughtUp, 2, "us-east", "c1", func(d *Decision) { d.Rollback = nil }),
		"deleted, no deletion":      dec(Deleted, 2, "", "", func(d *Decision) { d.Deletion = nil }),
		"deleted, no uid":           dec(Deleted, 2, "", "", func(d *Decision) { d.Deletion.UID = "" }),
		"deleted, unknown policy":   dec(Deleted, 2, "", "", func(d *Decision) { d.Deletion.Policy = "Foreground" }),
	}
	noID := dec(Paused, 1, "", "")
	noID.ID = ""
	cases["no id"] = noID
	for name, d := range cases {
		if err := d.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ErrInvalid", name, err)
		}
	}
}

func TestStateFollowsARun(t *testing.T) {
	a := &applier{t: t, fsm: New()}
	withClusters := func(cs ...string) func(*Decision) { return func(d *Decision) { d.Clusters = cs } }
	a.mustApply(
		dec(ApprovalGiven, 1, "us-east", ""),
		dec(WaveStarted, 1, "us-east", "", withClusters("c1", "c2")),
		dec(ClusterDispatched, 1, "us-east", "c1"),
		dec(ClusterDispatched, 1, "us-east", "c2"),
		dec(ClusterPromoted, 1, "us-east", "c1"),
		dec(ClusterFailed, 1, "us-east", "c2"),
		dec(GateEvaluated, 1, "us-east", ""),
		dec(WaveCompleted, 1, "us-east", ""),
		dec(Paused, 1, "", "", func(d *Decision) { d.ID = "pause-1"; d.Actor = "bob" }),
	)
	st, ok := a.fsm.State("default", "checkout")
	if !ok {
		t.Fatal("no state")
	}
	want := RolloutState{
		Namespace: "default", Name: "checkout", Revision: 1, Paused: true, Term: 3, LastIndex: 9,
		Waves: []WaveState{{
			Name: "us-east", Started: true, StartedAt: t0, StartedIndex: 2, Clusters: []string{"c1", "c2"},
			Members: map[string]ClusterState{
				"c1": {Progress: ProgressPromoted, Term: 3, Index: 5},
				"c2": {Progress: ProgressFailed, Term: 3, Index: 6, Reason: "progress deadline exceeded"},
			},
			Gates: map[string]Gate{"error-rate": {Name: "error-rate", Verdict: fleetv1alpha1.GatePassed,
				Measurements: []fleetv1alpha1.GateMeasurement{{Name: "p99", Value: "0.0123"}}}},
			Approvals: map[fleetv1alpha1.ApprovalStage]Approval{
				fleetv1alpha1.ApprovalStageBefore: {Stage: fleetv1alpha1.ApprovalStageBefore, ApprovedBy: "alice", ApprovalName: "go-eu"}},
			Outcome: fleetv1alpha1.WaveSucceeded,
		}},
	}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("state:\n got %+v\nwant %+v", st, want)
	}
	if got := st.StartedWaves(); !reflect.DeepEqual(got, []string{"us-east"}) {
		t.Errorf("StartedWaves() = %v", got)
	}

	// A newer revision starts a fresh run (pause carries over); an older one is history only.
	a.mustApply(
		dec(WaveStarted, 2, "us-east", "", withClusters("c1")),
		dec(ClusterDispatched, 1, "eu-west", "c9", func(d *Decision) { d.ID = "late-old-revision" }),
		dec(Resumed, 2, "", "", func(d *Decision) { d.ID = "resume-1" }),
		dec(RollbackStarted, 2, "", "", withClusters("c1")),
		dec(RollbackCompleted, 2, "", "", withClusters("c1")),
	)
	st, _ = a.fsm.State("default", "checkout")
	if st.Revision != 2 || st.Paused || len(st.Waves) != 1 || st.Waves[0].Members != nil {
		t.Errorf("revision 2 run: %+v", st)
	}
	if _, ok := st.Cluster("c9"); ok {
		t.Errorf("a decision about revision 1 changed the state of revision 2: %+v", st)
	}
	wantRB := &RollbackState{Scope: RollbackAll, ToRevision: 1, Clusters: []string{"c1"}, Completed: true}
	if !reflect.DeepEqual(st.Rollback, wantRB) {
		t.Errorf("rollback = %+v, want %+v", st.Rollback, wantRB)
	}
	if n := len(a.fsm.History("default", "checkout")); n != 14 {
		t.Errorf("history has %d entries, want 14", n)
	}
}

// TestRetryAndDeparture: a retry re-opens the failed wave (its failed clusters dispatched
// again, its failed gate forgotten, the passed one kept, the attempt counted); a departed
// cluster leaves the wave's members but stays in its fixed clusters; a caught-up cluster is
// history only.
func TestRetryAndDeparture(t *testing.T) {
	a := &applier{t: t, fsm: New()}
	failedGate := func(d *Decision) {
		d.Gate = &Gate{Name: "healthy", Verdict: fleetv1alpha1.GateFailed}
	}
	a.mustApply(
		dec(WaveStarted, 1, "w1", "", func(d *Decision) { d.Clusters = []string{"c1", "c2", "c3"} }),
		dec(ClusterDispatched, 1, "w1", "c1"),
		dec(ClusterDispatched, 1, "w1", "c2"),
		dec(ClusterDispatched, 1, "w1", "c3"),
		dec(ClusterPromoted, 1, "w1", "c1"),
		dec(ClusterFailed, 1, "w1", "c2"),
		dec(GateEvaluated, 1, "w1", ""),
		dec(GateEvaluated, 1, "w1", "", failedGate),
		dec(WaveCompleted, 1, "w1", "", func(d *Decision) { d.Outcome = fleetv1alpha1.WaveFailed }),
		dec(ClusterDeparted, 1, "w1", "c3"),
		dec(ClusterDeparted, 1, "w1", "c9", func(d *Decision) { d.ID = "never-dispatched" }),
		dec(Retried, 1, "w1", "", func(d *Decision) { d.Clusters = []string{"c2"} }),
		dec(ClusterCaughtUp, 1, "w1", "c4"),
	)
	st, _ := a.fsm.State("default", "checkout")
	w := st.Wave("w1")
	if st.Attempt != 1 || w.Outcome != "" {
		t.Errorf("after the retry: attempt %d, outcome %q; want 1 and none", st.Attempt, w.Outcome)
	}
	if got := w.MemberNames(); !reflect.DeepEqual(got, []string{"c1", "c2"}) {
		t.Errorf("members %v, want c1, c2 (c3 departed)", got)
	}
	if !reflect.DeepEqual(w.Departed, []string{"c3"}) || !reflect.DeepEqual(w.Clusters, []string{"c1", "c2", "c3"}) {
		t.Errorf("departed %v, clusters %v; want [c3] and the fixed c1, c2, c3", w.Departed, w.Clusters)
	}
	if w.Members["c2"].Progress != ProgressDispatched || w.Members["c1"].Progress != ProgressPromoted {
		t.Errorf("members %+v: want c2 Dispatched again, c1 still Promoted", w.Members)
	}
	if _, ok := w.Gates["error-rate"]; !ok || len(w.Gates) != 1 {
		t.Errorf("gates %+v: want only the passed error-rate kept", w.Gates)
	}
	if _, ok := st.Cluster("c4"); ok {
		t.Error("a caught-up cluster became a member of the run")
	}
}

// TestDeletedEndsTheJournalOfAFleetRollout: a FleetRollout deleted before its first revision
// can be journaled; Deleted forgets the run, so a FleetRollout created again with the same name
// starts from revision 1 with nothing started, and may journal the same decisions (the same
// IDs) again; a repeated Deleted is a duplicate; History keeps both lives, and so does a
// snapshot.
func TestDeletedEndsTheJournalOfAFleetRollout(t *testing.T) {
	if d := dec(Deleted, 0, "", ""); d.Validate() != nil {
		t.Errorf("a deletion before the first revision is refused: %v", d.Validate())
	}
	a := &applier{t: t, fsm: New()}
	first := []Decision{
		dec(WaveStarted, 1, "us-east", "", func(d *Decision) { d.Clusters = []string{"c1"} }),
		dec(ClusterDispatched, 1, "us-east", "c1"),
		dec(WaveStarted, 2, "us-east", "", func(d *Decision) { d.Clusters = []string{"c1"} }),
		dec(ClusterDispatched, 2, "us-east", "c1"),
	}
	a.mustApply(first...)
	deleted := dec(Deleted, 2, "", "", func(d *Decision) { d.Clusters = []string{"c1"} })
	a.mustApply(deleted)
	if res := a.apply(deleted); !res.Duplicate || res.Index != 5 {
		t.Errorf("Deleted proposed again: %+v, want a duplicate of index 5", res)
	}
	st, _ := a.fsm.State("default", "checkout")
	if st.Revision != 0 || len(st.Waves) != 0 || st.LastIndex != 5 {
		t.Errorf("state after Deleted: %+v, want the run forgotten", st)
	}
	if _, ok := a.fsm.Lookup(first[1].ID); ok {
		t.Errorf("Lookup(%s) still finds the deleted FleetRollout's decision", first[1].ID)
	}
	// Created again: revision 1 is its first run, and its decisions are recorded, not duplicates.
	a.mustApply(first[0], first[1])
	st, _ = a.fsm.State("default", "checkout")
	if ws := st.Wave("us-east"); st.Revision != 1 || ws == nil || !ws.Started || ws.Members["c1"].Progress != ProgressDispatched {
		t.Errorf("state of the FleetRollout created again: %+v, want revision 1 with c1 dispatched", st)
	}
	if e, ok := a.fsm.Lookup(first[1].ID); !ok || e.Index != 8 { // index 6 carried the duplicate
		t.Errorf("Lookup(%s) = %+v, %v; want the new life's entry, index 8", first[1].ID, e, ok)
	}
	if h := a.fsm.History("default", "checkout"); len(h) != 7 {
		t.Errorf("history holds %d entries, want both lives (7)", len(h))
	}
	restored := New()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, a.fsm)))); err != nil {
		t.Fatalf("restoring a journal in which an ID comes back after Deleted: %v", err)
	}
	s1, _ := a.fsm.State("default", "checkout")
	s2, _ := restored.State("default", "checkout")
	if !reflect.DeepEqual(s1, s2) {
		t.Errorf("state differs after restore:\n%+v\n%+v", s1, s2)
	}
}

func TestApplyIsIdempotentByID(t *testing.T) {
	a := &applier{t: t, fsm: New()}
	d := dec(ClusterPromoted, 1, "us-east", "c1")
	first := a.apply(d)
	if first.Err != nil || first.Duplicate || first.Index != 1 {
		t.Fatalf("first apply: %+v", first)
	}
	// A new leader re-proposes the same decision in its own, later term.
	again := d
	again.Term = 4
	second := a.apply(again)
	if second.Err != nil || !second.Duplicate || second.Index != 1 {
		t.Fatalf("second apply: %+v, want a duplicate of index 1", second)
	}
	h := a.fsm.History("default", "checkout")
	if len(h) != 1 || h[0].Term != 3 {
		t.Fatalf("history after re-proposal: %+v, want the first decision only", h)
	}
}

func TestApplyRefusesADecisionFromAnotherTerm(t *testing.T) {
	f := New()
	d := dec(WaveStarted, 1, "us-east", "")
	data, _ := json.Marshal(d)
	res := f.Apply(&raft.Log{Index: 7, Term: d.Term + 1, Type: raft.LogCommand, Data: data}).(Result)
	var stale *StaleTermError
	if !errors.As(res.Err, &stale) || !errors.Is(res.Err, ErrStaleTerm) || stale.LogTerm != 4 || stale.DecisionTerm != 3 {
		t.Fatalf("Apply = %+v, want a StaleTermError 3 vs 4", res)
	}
	if f.Len() != 0 {
		t.Fatalf("a refused decision was recorded")
	}
	// Garbage is refused too, and recorded nowhere.
	res = f.Apply(&raft.Log{Index: 8, Term: 3, Type: raft.LogCommand, Data: []byte("{")}).(Result)
	if !errors.Is(res.Err, ErrInvalid) || f.Len() != 0 {
		t.Fatalf("Apply(garbage) = %+v, len %d", res, f.Len())
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("Persist: %v (closed %v)", err, sink.closed)
	}
	snap.Release()
	return sink.Bytes()
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	a := &applier{t: t, fsm: New()}
	a.mustApply(
		dec(ApprovalGiven, 1, "us-east", ""),
		dec(WaveStarted, 1, "us-east", "", func(d *Decision) { d.Clusters = []string{"c1", "c2"} }),
		dec(ClusterDispatched, 1, "us-east", "c1"),
		dec(GateEvaluated, 1, "us-east", ""),
		dec(Paused, 1, "", "", func(d *Decision) { d.ID = "p1" }),
		dec(WaveStarted, 1, "eu-west", "", func(d *Decision) { d.Namespace = "team-b" }),
		dec(RollbackStarted, 2, "us-east", "", func(d *Decision) { d.Rollback.Scope = RollbackWave }),
	)
	before := snapshotBytes(t, a.fsm)

	restored := New()
	restored.mustRecordSomething(t) // Restore must replace, not merge
	if err := restored.Restore(io.NopCloser(bytes.NewReader(before))); err != nil {
		t.Fatal(err)
	}
	if after := snapshotBytes(t, restored); !bytes.Equal(before, after) {
		t.Fatalf("snapshot of the restored journal differs:\nbefore %s\nafter  %s", before, after)
	}
	for _, k := range a.fsm.Rollouts() {
		if !reflect.DeepEqual(a.fsm.History(k.Namespace, k.Name), restored.History(k.Namespace, k.Name)) {
			t.Errorf("%s: history differs after restore", k)
		}
		s1, _ := a.fsm.State(k.Namespace, k.Name)
		s2, _ := restored.State(k.Namespace, k.Name)
		if !reflect.DeepEqual(s1, s2) {
			t.Errorf("%s: state differs after restore:\n%+v\n%+v", k, s1, s2)
		}
	}
	if !reflect.DeepEqual(a.fsm.Rollouts(), restored.Rollouts()) || restored.LastIndex() != 7 {
		t.Errorf("rollouts %v vs %v, last index %d", a.fsm.Rollouts(), restored.Rollouts(), restored.LastIndex())
	}
	// Idempotency survives a restore.
	ra := &applier{t: t, fsm: restored, index: 7}
	if res := ra.apply(dec(ClusterDispatched, 1, "us-east", "c1")); !res.Duplicate || res.Index != 3 {
		t.Errorf("re-applying after restore: %+v, want duplicate of index 3", res)
	}
	if e, ok := restored.Lookup("p1"); !ok || e.Index != 5 || e.Type != Paused {
		t.Errorf("Lookup(p1) = %+v, %v", e, ok)
	}
}

func (f *FSM) mustRecordSomething(t *testing.T) {
	a := &applier{t: t, fsm: f}
	a.mustApply(dec(Aborted, 9, "", "", func(d *Decision) { d.Name = "stale" }))
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       "{",
		"future version": `{"version":99,"entries":[]}`,
		"out of order":   `{"version":1,"entries":[{"index":2,"id":"a"},{"index":2,"id":"b"}]}`,
		"duplicate id":   `{"version":1,"entries":[{"index":1,"id":"a"},{"index":2,"id":"a"}]}`,
	} {
		if err := New().Restore(io.NopCloser(bytes.NewReader([]byte(doc)))); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
	}
}

func TestReadsReturnCopies(t *testing.T) {
	a := &applier{t: t, fsm: New()}
	a.mustApply(dec(GateEvaluated, 1, "us-east", ""))
	h := a.fsm.History("default", "checkout")
	h[0].Gate.Measurements[0].Value = "tampered"
	st, _ := a.fsm.State("default", "checkout")
	st.Waves[0].Gates["error-rate"].Measurements[0].Value = "tampered"
	if v := a.fsm.History("default", "checkout")[0].Gate.Measurements[0].Value; v != "0.0123" {
		t.Errorf("History shares memory with the journal: %q", v)
	}
	if st2, _ := a.fsm.State("default", "checkout"); st2.Waves[0].Gates["error-rate"].Measurements[0].Value != "0.0123" {
		t.Errorf("State shares memory with the journal")
	}
}
