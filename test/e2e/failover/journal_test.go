package failover_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// replay is a journal rebuilt from one stopped replica's raft data.
type replay struct {
	fsm *journal.FSM
	// commands counts the command entries in the log; reproposed counts those that carried a
	// decision ID already recorded (the journal kept the first, the entry changed nothing);
	// refused counts those the journal refused (a decision from another term).
	commands, reproposed, refused int
	// ids counts the command entries that carried each decision ID.
	ids map[string]int
}

// replayRaftData rebuilds the journal exactly as raft would on a restart of the replica:
// the newest snapshot, then every later command entry of the log store, applied in order.
// The replica must be stopped: its bolt file is locked while it runs.
func replayRaftData(t *testing.T, dataDir string) replay {
	t.Helper()
	rp := replay{fsm: journal.New(), ids: map[string]int{}}
	snaps, err := hraft.NewFileSnapshotStore(dataDir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := snaps.List()
	if err != nil {
		t.Fatal(err)
	}
	var after uint64
	if len(metas) > 0 {
		meta, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := rp.fsm.Restore(rc); err != nil {
			t.Fatalf("%s: restoring snapshot %s: %v", dataDir, meta.ID, err)
		}
		after = meta.Index
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dataDir, "raft.db")})
	if err != nil {
		t.Fatalf("opening %s: %v", dataDir, err)
	}
	defer func() { _ = store.Close() }()
	first, err := store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := max(first, after+1); i <= last && i > 0; i++ {
		var l hraft.Log
		if err := store.GetLog(i, &l); err != nil {
			t.Fatalf("%s: log entry %d: %v", dataDir, i, err)
		}
		if l.Type != hraft.LogCommand {
			continue
		}
		rp.commands++
		var d journal.Decision
		if err := json.Unmarshal(l.Data, &d); err != nil {
			t.Fatalf("%s: entry %d is not a decision: %v", dataDir, i, err)
		}
		rp.ids[d.ID]++
		res, ok := rp.fsm.Apply(&l).(journal.Result)
		if !ok {
			t.Fatalf("%s: entry %d: the journal returned no result", dataDir, i)
		}
		switch {
		case res.Err != nil:
			rp.refused++
			t.Logf("%s: entry %d refused: %v", filepath.Base(dataDir), i, res.Err)
		case res.Duplicate:
			rp.reproposed++
		}
	}
	return rp
}

// checkJournal checks the journal of the FleetRollout as the replicas' raft data hold it:
// the three replicas hold the same decisions; every decision is recorded once, and every
// log entry that carried an ID already recorded changed nothing; and each revision's run
// is exactly what three waves of one cluster each should leave, in wave order: per wave
// WaveStarted, ClusterDispatched, ClusterPromoted, its gates' GateEvaluated Passed and
// WaveCompleted Succeeded, once each, and nothing failed.
func checkJournal(t *testing.T, replays map[string]replay, ns, name string, revisions int64) {
	t.Helper()
	var ref []journal.Entry
	var refID string
	for _, id := range slices.Sorted(maps.Keys(replays)) {
		rp := replays[id]
		history := rp.fsm.History(ns, name)
		t.Logf("journal of %s: %d command entries, %d decisions recorded, %d re-proposals that changed nothing, %d refused",
			id, rp.commands, len(history), rp.reproposed, rp.refused)
		if ref == nil {
			ref, refID = history, id
		} else if !sameHistory(ref, history) {
			t.Errorf("the journals of %s (%d decisions) and %s (%d decisions) differ", refID, len(ref), id, len(history))
		}
		for did, n := range rp.ids {
			if n > 1 {
				t.Logf("%s: decision %s was proposed %d times and recorded once", id, did, n)
			}
		}
	}
	seen := map[string]bool{}
	for _, e := range ref {
		if seen[e.ID] {
			t.Errorf("decision %s recorded twice", e.ID)
		}
		seen[e.ID] = true
	}
	for rev := int64(1); rev <= revisions; rev++ {
		var got []string
		for _, e := range ref {
			if e.Revision != rev {
				continue
			}
			line := string(e.Type) + " " + e.Wave
			if e.Gate != nil {
				line += " " + e.Gate.Name + "=" + string(e.Gate.Verdict)
			}
			if e.Outcome != "" {
				line += " " + string(e.Outcome)
			}
			got = append(got, line)
		}
		if want := expectedRun(); !slices.Equal(got, want) {
			t.Errorf("revision %d: the journal holds\n  %s\nwant\n  %s", rev, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// expectedRun is the journal of one successful run of failoverRollout: every wave's
// decisions in order, the gates evaluated once and passed.
func expectedRun() []string {
	var out []string
	for i, w := range waveNames {
		out = append(out, "WaveStarted "+w, "ClusterDispatched "+w, "ClusterPromoted "+w)
		for _, g := range append(slices.Clone(waveGates[i]), fleetGates...) {
			out = append(out, fmt.Sprintf("GateEvaluated %s %s=%s", w, g, fleetv1alpha1.GatePassed))
		}
		out = append(out, "WaveCompleted "+w+" "+string(fleetv1alpha1.WaveSucceeded))
	}
	return out
}

func sameHistory(a, b []journal.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y journal.Entry) bool { return x.Index == y.Index && x.ID == y.ID && x.Term == y.Term })
}
