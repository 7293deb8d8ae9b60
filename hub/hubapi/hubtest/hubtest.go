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

// Package hubtest starts a real hub raft group in-process for tests: raft nodes over mutual
// TLS on 127.0.0.1, each with its journal and the hub API (package hubapi) on a free
// loopback port, exactly as flotilla-hub runs them.
package hubtest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft"
)

// LeaderTimeout bounds the wait for the group's first leader: the raft defaults, on a CPU
// shared with other test binaries.
const LeaderTimeout = 30 * time.Second

// Group is a running raft group with the hub API of each replica.
type Group struct {
	Nodes []*raft.Node
	// APIs are the base URLs of the replicas' hub API, in the order of Nodes.
	APIs []string
}

// Start starts n replicas (hub-0...) as one group from a static peer list, each with its hub
// API, and stops them when the test ends.
func Start(t testing.TB, n int) *Group {
	t.Helper()
	ca, err := raft.NewCA("flotilla-hubtest-ca")
	if err != nil {
		t.Fatalf("hub CA: %v", err)
	}
	lns := make([]net.Listener, n)
	peers := make([]raft.Peer, n)
	for i := range n {
		if lns[i], err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("listen: %v", err)
		}
		peers[i] = raft.Peer{ID: fmt.Sprintf("hub-%d", i), Address: lns[i].Addr().String()}
	}
	g := &Group{}
	for i := range n {
		tls, err := ca.PeerTLS(peers[i].ID)
		if err != nil {
			t.Fatalf("peer certificate: %v", err)
		}
		node, err := raft.New(raft.Config{ID: peers[i].ID, DataDir: t.TempDir(), Listener: lns[i], TLS: tls,
			Peers: peers, Logger: logr.Discard()})
		if err != nil {
			t.Fatalf("starting raft node %s: %v", peers[i].ID, err)
		}
		t.Cleanup(func() { _ = node.Shutdown() })
		api, err := hubapi.Start("127.0.0.1:0", node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = api.Close() })
		g.Nodes = append(g.Nodes, node)
		g.APIs = append(g.APIs, "http://"+api.Addr())
	}
	return g
}

// Leader waits until one replica leads past its barrier and returns it.
func (g *Group) Leader(t testing.TB) *raft.Node {
	t.Helper()
	deadline := time.Now().Add(LeaderTimeout)
	for {
		var seen []string
		for _, n := range g.Nodes {
			if _, _, ok := n.Leading(); ok {
				return n
			}
			seen = append(seen, fmt.Sprintf("%s term=%d", n.ID(), n.Term()))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader after %s; last saw %s", LeaderTimeout, strings.Join(seen, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Propose journals the decisions on the leader, under their natural IDs, and waits until
// every replica applied them.
func (g *Group) Propose(t testing.TB, ds ...journal.Decision) {
	t.Helper()
	leader := g.Leader(t)
	for _, d := range ds {
		if d.ID == "" {
			d.ID = d.NaturalID()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := leader.Propose(ctx, d)
		cancel()
		if err != nil {
			t.Fatalf("proposing %s: %v", d.ID, err)
		}
	}
	want := leader.AppliedIndex()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var seen []string
		done := true
		for _, n := range g.Nodes {
			done = done && n.AppliedIndex() >= want
			seen = append(seen, fmt.Sprintf("%s=%d", n.ID(), n.AppliedIndex()))
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not apply index %d; last saw %s", want, strings.Join(seen, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
