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

package raft

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/hub/journal"
)

func followerOf(c *testCluster, leader *Node) *Node {
	for _, n := range c.live() {
		if n != leader {
			return n
		}
	}
	return nil
}

func TestThreeNodesReplicateTheJournal(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	_, term, _ := leader.Leading()

	receipts := proposeN(t, leader, 0, 20)
	ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
	defer cancel()
	for _, d := range []journal.Decision{decision(journal.GateEvaluated, ""), decision(journal.ApprovalGiven, "")} {
		if _, err := leader.Propose(ctx, d); err != nil {
			t.Fatalf("proposing %s: %v", d.Type, err)
		}
	}
	for i := 1; i < len(receipts); i++ {
		if receipts[i].Index <= receipts[i-1].Index || receipts[i].Term != term || receipts[i].Duplicate {
			t.Fatalf("receipt %d = %+v after %+v (term %d)", i, receipts[i], receipts[i-1], term)
		}
	}
	c.waitApplied(22)

	want := leader.Journal().History("default", "checkout")
	wantState, _ := leader.Journal().State("default", "checkout")
	for _, n := range c.live() {
		if got := n.Journal().History("default", "checkout"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: history differs from the leader's", n.ID())
		}
		if got, _ := n.Journal().State("default", "checkout"); !reflect.DeepEqual(got, wantState) {
			t.Errorf("%s: state differs from the leader's:\n%+v\n%+v", n.ID(), got, wantState)
		}
	}
	if w := wantState.Wave("us-east"); w == nil || len(w.Members) != 20 || w.Gates["error-rate"].Measurements[0].Value != "0.004" {
		t.Errorf("journaled wave state: %+v", w)
	}
	for _, e := range want {
		if e.Term != term {
			t.Errorf("entry %d stamped with term %d, want the leader's %d", e.Index, e.Term, term)
		}
	}

	// A follower refuses, and names the leader.
	f := followerOf(c, leader)
	_, err := f.Propose(ctx, decision(journal.ClusterPromoted, "c000"))
	var nle *NotLeaderError
	if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || nle.LeaderAddress != leader.Addr() || nle.LeaderID != leader.ID() {
		t.Fatalf("Propose on follower %s = %v, want NotLeaderError naming %s at %s", f.ID(), err, leader.ID(), leader.Addr())
	}
	if err := f.AddVoter(ctx, "x", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("AddVoter on follower = %v, want ErrNotLeader", err)
	}
	if err := f.RemoveServer(ctx, leader.ID()); !errors.Is(err, ErrNotLeader) {
		t.Errorf("RemoveServer on follower = %v, want ErrNotLeader", err)
	}
	if _, err := leader.Propose(ctx, journal.Decision{Type: journal.WaveStarted, ID: "x"}); !errors.Is(err, journal.ErrInvalid) {
		t.Errorf("Propose(invalid) = %v, want journal.ErrInvalid", err)
	}
}

func TestFailoverKeepsEveryCommittedDecisionOnce(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	old := c.waitLeader(electionBound)
	oldCtx, oldTerm, _ := old.Leading()
	receipts := proposeN(t, old, 0, 20)
	c.waitApplied(20)

	killed := time.Now()
	c.kill(old.ID())
	if oldCtx.Err() == nil {
		t.Fatalf("the dead leader's context is still live")
	}
	leader := c.waitLeader(failoverBound)
	t.Logf("new leader %s %s after the leader was killed", leader.ID(), time.Since(killed).Round(time.Millisecond))
	_, term, _ := leader.Leading()
	if term <= oldTerm {
		t.Fatalf("new leader's term %d is not above the old %d", term, oldTerm)
	}

	// The barrier passed before leadership was handed out: every committed decision is there.
	for i, r := range receipts {
		d := decision(journal.ClusterDispatched, fmt.Sprintf("c%03d", i))
		e, ok := leader.Journal().Lookup(d.ID)
		if !ok || e.Index != r.Index || e.Term != oldTerm {
			t.Fatalf("decision %s: journal has %+v (found %v), want index %d term %d", d.ID, e, ok, r.Index, oldTerm)
		}
	}
	// Re-proposing a committed decision records nothing.
	ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
	defer cancel()
	lctx, _, _ := leader.Leading()
	again, err := leader.Propose(lctx, decision(journal.ClusterDispatched, "c005"))
	if err != nil || !again.Duplicate || again.Index != receipts[5].Index || again.Term != term {
		t.Fatalf("re-proposal = %+v, %v; want a duplicate of index %d", again, err, receipts[5].Index)
	}
	if _, err := leader.Propose(ctx, decision(journal.ClusterPromoted, "c005")); err != nil {
		t.Fatal(err)
	}
	c.waitApplied(21)
	h := leader.Journal().History("default", "checkout")
	seen := map[string]bool{}
	for _, e := range h {
		if seen[e.ID] {
			t.Fatalf("decision %s recorded twice", e.ID)
		}
		seen[e.ID] = true
	}
	if last := h[len(h)-1]; last.Term != term || last.Type != journal.ClusterPromoted {
		t.Errorf("last entry %+v, want ClusterPromoted in term %d", last, term)
	}
}

type leadCall struct {
	node string
	term uint64
	ctx  context.Context
	// applied is how many decisions the node's journal held when it was handed leadership.
	applied int
}

// leadAll runs Lead on every live node and reports each call of fn.
func leadAll(t *testing.T, c *testCluster) <-chan leadCall {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	calls := make(chan leadCall, 32)
	for _, n := range c.live() {
		go func() {
			_ = n.Lead(ctx, func(lctx context.Context, term uint64) {
				calls <- leadCall{node: n.ID(), term: term, ctx: lctx, applied: n.Journal().Len()}
				<-lctx.Done()
			})
		}()
	}
	return calls
}

func nextLead(t *testing.T, calls <-chan leadCall, bound time.Duration, what string) leadCall {
	t.Helper()
	select {
	case call := <-calls:
		return call
	case <-time.After(bound):
		t.Fatalf("no node was handed leadership within %s (%s)", bound, what)
		return leadCall{}
	}
}

func waitDone(t *testing.T, ctx context.Context, bound time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ctx.Done():
		return time.Since(start)
	case <-time.After(bound):
		t.Fatalf("%s: leadership context still live after %s", what, bound)
		return 0
	}
}

func TestLeadershipContextEndsWithLeadership(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	calls := leadAll(t, c)

	first := nextLead(t, calls, electionBound, "first election")
	n := c.nodes[first.node]
	if !n.IsLeader() || first.term != n.Term() {
		t.Fatalf("%s was handed term %d; leader=%v term=%d", first.node, first.term, n.IsLeader(), n.Term())
	}
	if got, ok := TermFrom(first.ctx); !ok || got != first.term {
		t.Fatalf("TermFrom(leader context) = %d, %v", got, ok)
	}

	for i := range 5 {
		if _, err := n.Propose(first.ctx, decision(journal.ClusterDispatched, fmt.Sprintf("c%03d", i))); err != nil {
			t.Fatalf("Propose with the leader context: %v", err)
		}
	}

	// A graceful handover: the old leader's context ends, another node is handed a later term.
	ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
	defer cancel()
	if err := n.TransferLeadership(ctx); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	waitDone(t, first.ctx, failoverBound, "after a leadership transfer")
	second := nextLead(t, calls, failoverBound, "after a leadership transfer")
	if second.node == first.node || second.term <= first.term || second.applied != 5 {
		t.Fatalf("after the transfer %s got term %d with %d decisions applied (before: %s, term %d, 5 decisions)",
			second.node, second.term, second.applied, first.node, first.term)
	}
	if _, err := n.Propose(first.ctx, decision(journal.WaveStarted, "")); !errors.Is(err, ErrLeadershipLost) {
		t.Fatalf("Propose with an ended leadership's context = %v, want ErrLeadershipLost", err)
	}

	// An isolated leader steps down on its own, within its lease, and stops at once.
	isolated := c.nodes[second.node]
	if _, err := isolated.Propose(second.ctx, decision(journal.WaveStarted, "")); err != nil {
		t.Fatalf("Propose as leader: %v", err)
	}
	cut := time.Now()
	_ = isolated.stream.Close()
	took := waitDone(t, second.ctx, 2*time.Second, "after the leader was cut off")
	t.Logf("isolated leader %s cancelled its context %s after it was cut off (lease %s)",
		isolated.ID(), took.Round(time.Millisecond), DefaultLeaderLeaseTimeout)
	third := nextLead(t, calls, failoverBound+time.Second, "after the leader was cut off")
	if third.node == second.node || third.term <= second.term || third.applied != 6 {
		t.Fatalf("after the cut %s got term %d with %d decisions applied (before: %s, term %d, 6 decisions)",
			third.node, third.term, third.applied, second.node, second.term)
	}
	t.Logf("new leader %s %s after the cut", third.node, time.Since(cut).Round(time.Millisecond))
	if _, err := isolated.Propose(second.ctx, decision(journal.WaveCompleted, "")); err == nil {
		t.Fatalf("the isolated old leader could still propose")
	}
	// The new leader was handed leadership with the decision committed before the cut applied.
	if _, ok := c.nodes[third.node].Journal().Lookup(decision(journal.WaveStarted, "").ID); !ok {
		t.Fatalf("new leader lacks the decision committed before the cut")
	}
}

func TestSnapshotRestoreAndLateJoiner(t *testing.T) {
	c := newTestCluster(t)
	c.tune = func(cfg *Config) {
		cfg.TrailingLogs = 4            // compact hard, so that a late joiner needs the snapshot
		cfg.SnapshotThreshold = 1 << 20 // no automatic snapshot
	}
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	proposeN(t, leader, 0, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 2*replicaBound)
	defer cancel()
	if _, err := leader.Propose(ctx, decision(journal.GateEvaluated, "")); err != nil {
		t.Fatal(err)
	}
	c.waitApplied(31)
	if err := leader.Snapshot(ctx); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}

	// hub-3 joins after the log was compacted: it can only catch up from the snapshot.
	joiner := c.config("hub-3", nil)
	joiner.Bootstrap = BootstrapNone
	late := c.start(joiner)
	if err := leader.AddVoter(ctx, "hub-3", late.Addr()); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	c.waitApplied(31)
	// raft records the installed snapshot just after the journal restored it.
	waitFor(t, replicaBound, "hub-3 to record the snapshot it installed", func() (bool, string) {
		idx := late.Stats()["last_snapshot_index"]
		return idx != "0" && idx != "", "last_snapshot_index " + idx
	})
	assertSameJournal(t, leader, late)
	proposeN(t, leader, 30, 5)
	c.waitApplied(36)
	assertSameJournal(t, leader, late)
	servers, err := leader.Servers()
	if err != nil || len(servers) != 4 {
		t.Fatalf("Servers() = %+v, %v; want 4", servers, err)
	}

	// A follower restarts from its own snapshot and log.
	f := followerOf(c, leader)
	if f == late {
		f = c.nodes["hub-0"]
		if f == leader {
			f = c.nodes["hub-1"]
		}
	}
	if err := f.Snapshot(ctx); err != nil {
		t.Fatalf("follower Snapshot: %v", err)
	}
	id := f.ID()
	c.kill(id)
	restarted := c.start(c.config(id, nil))
	waitFor(t, replicaBound, id+" restored", func() (bool, string) {
		return restarted.Journal().Len() == 36, fmt.Sprintf("%d decisions", restarted.Journal().Len())
	})
	assertSameJournal(t, leader, restarted)

	if err := leader.RemoveServer(ctx, "hub-3"); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	if servers, _ := leader.Servers(); len(servers) != 3 {
		t.Fatalf("Servers() after RemoveServer = %+v", servers)
	}
}

func assertSameJournal(t *testing.T, want, got *Node) {
	t.Helper()
	var a, b strings.Builder
	if _, err := want.Journal().WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := got.Journal().WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("%s's journal differs from %s's:\n%s\n%s", got.ID(), want.ID(), b.String(), a.String())
	}
	s1, _ := want.Journal().State("default", "checkout")
	s2, _ := got.Journal().State("default", "checkout")
	if !reflect.DeepEqual(s1, s2) {
		t.Fatalf("%s's state differs from %s's", got.ID(), want.ID())
	}
}

func TestSingleReplicaBootstrapsItself(t *testing.T) {
	c := newTestCluster(t)
	n := c.start(c.config("hub-0", nil))
	if got := c.waitLeader(electionBound); got != n {
		t.Fatalf("leader %s", got.ID())
	}
	proposeN(t, n, 0, 3)
	if servers, err := n.Servers(); err != nil || len(servers) != 1 || !servers[0].Voter {
		t.Fatalf("Servers() = %+v, %v", servers, err)
	}
}

func TestConfigIsValidated(t *testing.T) {
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	peerTLS, err := ca.PeerTLS("hub-0")
	if err != nil {
		t.Fatal(err)
	}
	base := Config{ID: "hub-0", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", TLS: peerTLS}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no TLS":             {func(c *Config) { c.TLS = nil }, "TLS is required"},
		"no ID":              {func(c *Config) { c.ID = "" }, "ID is required"},
		"lease too long":     {func(c *Config) { c.LeaderLeaseTimeout = time.Second }, "LeaderLeaseTimeout"},
		"election too short": {func(c *Config) { c.ElectionTimeout = 100 * time.Millisecond }, "ElectionTimeout"},
		"peers without self": {func(c *Config) { c.Peers = []Peer{{ID: "hub-1", Address: "127.0.0.1:1"}} }, "must include this node"},
		"peers with single": {func(c *Config) {
			c.Bootstrap = BootstrapSingle
			c.Peers = []Peer{{ID: "hub-0", Address: "127.0.0.1:1"}}
		}, "peer list is set"},
		"join with peers": {func(c *Config) {
			c.Peers = []Peer{{ID: "hub-0", Address: "127.0.0.1:1"}}
			c.Join = []string{"127.0.0.1:2"}
		}, "either bootstraps a group or joins one"},
		"join address": {func(c *Config) { c.Join = []string{"hub-1"} }, `Join address "hub-1" is not host:port`},
	} {
		cfg := base
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New() = %v, want an error about %q", name, err, tc.want)
		}
	}
}
