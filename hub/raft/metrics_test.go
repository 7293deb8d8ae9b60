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
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func gather(t *testing.T, n *Node) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(n.Collector()); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		if m.GetGauge() != nil {
			out[f.GetName()] = m.GetGauge().GetValue()
		} else {
			out[f.GetName()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func TestMetricsReportLeaderTermAndIndexes(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	proposeN(t, leader, 0, 5)
	c.waitApplied(5)

	for _, n := range c.live() {
		want := 0.0
		if n == leader {
			want = 1
		}
		var m map[string]float64
		// A follower learns the commit index with the next heartbeat.
		waitFor(t, replicaBound, n.ID()+" metrics", func() (bool, string) {
			m = gather(t, n)
			return m["flotilla_hub_raft_commit_index"] >= float64(leader.Journal().LastIndex()) &&
				m["flotilla_hub_raft_applied_index"] >= float64(leader.Journal().LastIndex()), fmt.Sprint(m)
		})
		if m["flotilla_hub_raft_leader"] != want || m["flotilla_hub_raft_term"] != float64(leader.Term()) ||
			m["flotilla_hub_journal_decisions"] != 5 {
			t.Errorf("%s: metrics %v (leader want %v, term %d)", n.ID(), m, want, leader.Term())
		}
		if _, ok := m["flotilla_hub_raft_tls_handshake_failures_total"]; !ok {
			t.Errorf("%s: no handshake failure counter in %v", n.ID(), m)
		}
	}

	if err := RegisterMetrics(leader); err != nil {
		t.Fatalf("RegisterMetrics: %v", err)
	}
	defer ctrlmetrics.Registry.Unregister(leader.Collector())
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		found = found || f.GetName() == "flotilla_hub_raft_leader"
	}
	if !found {
		t.Fatalf("flotilla_hub_raft_leader is not served by controller-runtime's registry")
	}
}
