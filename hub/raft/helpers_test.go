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
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Timeouts of the test clusters: the defaults, so that the tests prove what ships.
const (
	electionBound = 5 * time.Second // first election, CPU shared with other test binaries
	failoverBound = 3 * time.Second // a follower notices the dead leader in 0.5-1 s
	replicaBound  = 5 * time.Second // a committed entry reaches every follower
	tickEvery     = 5 * time.Millisecond
)

// tb is what the helpers need of *testing.T and *testing.B.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
	Cleanup(func())
	Failed() bool
}

// logSink collects every node's logs; a failed test prints them.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func newLogSink(t tb) *logSink {
	s := &logSink{}
	t.Cleanup(func() {
		if t.Failed() {
			s.mu.Lock()
			defer s.mu.Unlock()
			out := s.buf.String()
			if len(out) > 64<<10 {
				out = "...\n" + out[len(out)-64<<10:]
			}
			t.Logf("raft logs:\n%s", out)
		}
	})
	return s
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		fmt.Fprintf(&s.buf, "%s %s %s\n", time.Now().Format("15:04:05.000"), prefix, args)
	}, funcr.Options{})
}

// testCluster is a set of raft nodes on 127.0.0.1 sharing one hub CA.
type testCluster struct {
	t     tb
	ca    *CA
	logs  *logSink
	nodes map[string]*Node
	dirs  map[string]string
	addrs map[string]string
	// tune adjusts every node's config.
	tune func(*Config)
}

func newTestCluster(t tb) *testCluster {
	t.Helper()
	ca, err := NewCA("flotilla-hub-test-ca")
	if err != nil {
		t.Fatalf("CA: %v", err)
	}
	c := &testCluster{t: t, ca: ca, logs: newLogSink(t), nodes: map[string]*Node{},
		dirs: map[string]string{}, addrs: map[string]string{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			_ = n.Shutdown()
		}
	})
	return c
}

func listen(t tb) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

// config returns a node config with a fresh data dir and listener, or those the node had
// before if it ran already (a restart).
func (c *testCluster) config(id string, tlsMaterial *PeerTLS) Config {
	c.t.Helper()
	if tlsMaterial == nil {
		var err error
		if tlsMaterial, err = c.ca.PeerTLS(id); err != nil {
			c.t.Fatalf("peer certificate: %v", err)
		}
	}
	cfg := Config{ID: id, TLS: tlsMaterial, Logger: c.logs.logger()}
	if dir, ok := c.dirs[id]; ok {
		cfg.DataDir, cfg.BindAddr = dir, c.addrs[id]
	} else {
		ln := listen(c.t)
		cfg.DataDir, cfg.Listener = filepath.Join(c.t.TempDir(), "data", id), ln // created by New
		c.dirs[id], c.addrs[id] = cfg.DataDir, ln.Addr().String()
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	return cfg
}

func (c *testCluster) start(cfg Config) *Node {
	c.t.Helper()
	n, err := New(cfg)
	if err != nil {
		c.t.Fatalf("starting node %s: %v", cfg.ID, err)
	}
	c.nodes[cfg.ID] = n
	return n
}

// startStatic starts ids as one cluster bootstrapped from a static peer list.
func (c *testCluster) startStatic(ids ...string) {
	c.t.Helper()
	cfgs := make([]Config, len(ids))
	var peers []Peer
	for i, id := range ids {
		cfgs[i] = c.config(id, nil)
		peers = append(peers, Peer{ID: id, Address: c.addrs[id]})
	}
	for i := range cfgs {
		cfgs[i].Peers = peers
		c.start(cfgs[i])
	}
}

// kill stops a node abruptly (no leadership transfer) and forgets it.
func (c *testCluster) kill(id string) {
	c.t.Helper()
	if err := c.nodes[id].Shutdown(); err != nil {
		c.t.Fatalf("shutting down %s: %v", id, err)
	}
	delete(c.nodes, id)
}

// live returns the running nodes.
func (c *testCluster) live() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes; on timeout it fails the test
// with what cond last saw.
func waitFor(t tb, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", timeout, what, seen)
		}
		<-tick.C
	}
}

// waitLeader waits until exactly one live node leads past its barrier, and returns it.
func (c *testCluster) waitLeader(timeout time.Duration) *Node {
	c.t.Helper()
	var leader *Node
	waitFor(c.t, timeout, "one leader past its barrier", func() (bool, string) {
		leader = nil
		var seen []string
		count := 0
		for _, n := range c.live() {
			_, term, ok := n.Leading()
			seen = append(seen, fmt.Sprintf("%s: state=%s term=%d leading=%v", n.ID(), n.raft.State(), n.Term(), ok))
			if ok && term > 0 {
				leader = n
				count++
			}
		}
		return count == 1, strings.Join(seen, "; ")
	})
	return leader
}

// waitApplied waits until every live node's journal holds want decisions.
func (c *testCluster) waitApplied(want int) {
	c.t.Helper()
	waitFor(c.t, replicaBound, fmt.Sprintf("%d decisions on every node", want), func() (bool, string) {
		var seen []string
		ok := true
		for _, n := range c.live() {
			got := n.Journal().Len()
			seen = append(seen, fmt.Sprintf("%s=%d", n.ID(), got))
			ok = ok && got == want
		}
		return ok, strings.Join(seen, " ")
	})
}

// decision returns a valid decision; its ID is derived from cluster, so the same cluster
// gives the same ID.
func decision(typ journal.Type, cluster string) journal.Decision {
	d := journal.Decision{Type: typ, Namespace: "default", Name: "checkout", Revision: 1,
		Wave: "us-east", Cluster: cluster}
	switch typ {
	case journal.GateEvaluated:
		d.Cluster = ""
		d.Gate = &journal.Gate{Name: "error-rate", Verdict: fleetv1alpha1.GatePassed,
			Measurements: []fleetv1alpha1.GateMeasurement{{Name: "errorRate", Value: "0.004"}}}
	case journal.ApprovalGiven:
		d.Cluster = ""
		d.Approval = &journal.Approval{Stage: fleetv1alpha1.ApprovalStageAfter, ApprovedBy: "alice"}
	}
	d.ID = d.NaturalID()
	return d
}

// proposeN proposes n ClusterDispatched decisions with distinct IDs on the leader.
func proposeN(t tb, leader *Node, from, n int) []Receipt {
	t.Helper()
	var out []Receipt
	for i := from; i < from+n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
		r, err := leader.Propose(ctx, decision(journal.ClusterDispatched, fmt.Sprintf("c%03d", i)))
		cancel()
		if err != nil {
			t.Fatalf("proposing decision %d on %s: %v", i, leader.ID(), err)
		}
		out = append(out, r)
	}
	return out
}
