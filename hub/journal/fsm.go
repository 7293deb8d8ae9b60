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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/hashicorp/raft"
)

// Result is what Apply returns for a command entry; raft hands it to the proposer as the
// apply future's response.
type Result struct {
	// Index is the raft log index of the entry that recorded the decision. For a duplicate
	// it is the index of the first, recorded one.
	Index uint64
	// Duplicate is true when a decision with the same ID was already recorded; nothing changed.
	Duplicate bool
	// Err is set when the decision was refused; nothing changed.
	Err error
}

// StaleTermError refuses a decision stamped with a term other than that of the log entry
// carrying it: it was taken under another leadership than the one that appended it.
type StaleTermError struct {
	ID                    string
	DecisionTerm, LogTerm uint64
}

func (e *StaleTermError) Error() string {
	return fmt.Sprintf("decision %s was taken in term %d but appended in term %d", e.ID, e.DecisionTerm, e.LogTerm)
}

// ErrStaleTerm matches every *StaleTermError with errors.Is.
var ErrStaleTerm = errors.New("decision from another term")

// Is makes errors.Is(err, ErrStaleTerm) true.
func (e *StaleTermError) Is(target error) bool { return target == ErrStaleTerm }

// Key identifies a FleetRollout.
type Key struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// FSM is the journal: a raft.FSM that records decisions and keeps per-FleetRollout state.
// Apply, Snapshot and Restore are called by raft; the read methods may be called from any
// goroutine and return copies.
type FSM struct {
	mu       sync.RWMutex
	entries  []Entry // in log order; never modified once appended
	ids      map[string]uint64
	rollouts map[Key]*rollout
}

type rollout struct {
	positions []int // into entries
	state     RolloutState
}

var _ raft.FSM = (*FSM)(nil)

// New returns an empty journal.
func New() *FSM {
	return &FSM{ids: map[string]uint64{}, rollouts: map[Key]*rollout{}}
}

// Apply records the decision carried by a committed log entry. It is deterministic: the
// same entries in the same order give the same journal on every replica.
func (f *FSM) Apply(l *raft.Log) any {
	var d Decision
	if err := json.Unmarshal(l.Data, &d); err != nil {
		return Result{Err: fmt.Errorf("%w: entry %d: %w", ErrInvalid, l.Index, err)}
	}
	if err := d.Validate(); err != nil {
		return Result{Err: err}
	}
	if d.Term != l.Term {
		return Result{Err: &StaleTermError{ID: d.ID, DecisionTerm: d.Term, LogTerm: l.Term}}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if idx, ok := f.ids[d.ID]; ok {
		return Result{Index: idx, Duplicate: true}
	}
	f.record(Entry{Index: l.Index, Decision: d})
	return Result{Index: l.Index}
}

// record appends an accepted entry and folds it into its FleetRollout's state. f.mu is held.
func (f *FSM) record(e Entry) {
	f.entries = append(f.entries, e)
	f.ids[e.ID] = e.Index
	k := Key{Namespace: e.Namespace, Name: e.Name}
	r := f.rollouts[k]
	if r == nil {
		r = &rollout{state: RolloutState{Namespace: k.Namespace, Name: k.Name}}
		f.rollouts[k] = r
	}
	if e.Type == Deleted {
		// The IDs of the deleted FleetRollout's decisions are free again: one created again with
		// the same name journals its own (the entries stay in History).
		for _, p := range r.positions {
			delete(f.ids, f.entries[p].ID)
		}
		f.ids[e.ID] = e.Index
	}
	r.positions = append(r.positions, len(f.entries)-1)
	r.state.apply(&f.entries[len(f.entries)-1])
}

// History returns the FleetRollout's recorded decisions in log order.
func (f *FSM) History(namespace, name string) []Entry {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r := f.rollouts[Key{Namespace: namespace, Name: name}]
	if r == nil {
		return nil
	}
	out := make([]Entry, 0, len(r.positions))
	for _, p := range r.positions {
		e := f.entries[p]
		out = append(out, Entry{Index: e.Index, Decision: e.DeepCopy()})
	}
	return out
}

// State returns the journaled state of the FleetRollout's newest run, and false when the
// journal has nothing about it.
func (f *FSM) State(namespace, name string) (RolloutState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r := f.rollouts[Key{Namespace: namespace, Name: name}]
	if r == nil {
		return RolloutState{}, false
	}
	return r.state.DeepCopy(), true
}

// Lookup returns the recorded entry with the decision ID.
func (f *FSM) Lookup(id string) (Entry, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	idx, ok := f.ids[id]
	if !ok {
		return Entry{}, false
	}
	i := sort.Search(len(f.entries), func(i int) bool { return f.entries[i].Index >= idx })
	e := f.entries[i]
	return Entry{Index: e.Index, Decision: e.DeepCopy()}, true
}

// Rollouts returns the FleetRollouts the journal knows, sorted.
func (f *FSM) Rollouts() []Key {
	f.mu.RLock()
	defer f.mu.RUnlock()
	keys := make([]Key, 0, len(f.rollouts))
	for k := range f.rollouts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// Len returns how many decisions are recorded.
func (f *FSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.entries)
}

// LastIndex returns the log index of the last recorded decision, 0 when empty.
func (f *FSM) LastIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.entries) == 0 {
		return 0
	}
	return f.entries[len(f.entries)-1].Index
}

// snapshotDoc is the snapshot format: every recorded entry; the state is rebuilt from them.
type snapshotDoc struct {
	Version int     `json:"version"`
	Entries []Entry `json:"entries"`
}

// Snapshot captures the recorded entries. Entries are immutable, so the capture is a slice
// header; Persist encodes it while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{entries: f.entries[:len(f.entries):len(f.entries)]}, nil
}

// WriteTo writes the journal in snapshot format to w.
func (f *FSM) WriteTo(w io.Writer) (int64, error) {
	s, _ := f.Snapshot()
	cw := &countingWriter{w: w}
	err := s.(*snapshot).encode(cw)
	return cw.n, err
}

// Restore replaces the journal with the snapshot read from rc.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	var doc snapshotDoc
	if err := json.NewDecoder(rc).Decode(&doc); err != nil {
		return fmt.Errorf("decoding journal snapshot: %w", err)
	}
	if doc.Version < 1 || doc.Version > Version {
		return fmt.Errorf("journal snapshot version %d is not supported (this hub reads 1..%d)", doc.Version, Version)
	}
	fresh := New()
	var last uint64
	for i := range doc.Entries {
		e := doc.Entries[i]
		if e.Index <= last {
			return fmt.Errorf("journal snapshot: entry %d (index %d) is out of order", i, e.Index)
		}
		if _, dup := fresh.ids[e.ID]; dup {
			return fmt.Errorf("journal snapshot: decision %s recorded twice", e.ID)
		}
		last = e.Index
		fresh.record(e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries, f.ids, f.rollouts = fresh.entries, fresh.ids, fresh.rollouts
	return nil
}

type snapshot struct{ entries []Entry }

func (s *snapshot) encode(w io.Writer) error {
	return json.NewEncoder(w).Encode(snapshotDoc{Version: Version, Entries: s.entries})
}

// Persist writes the snapshot to the sink.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.encode(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("writing journal snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds no resources.
func (s *snapshot) Release() {}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
