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

package hubapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/hub/hubapi/hubtest"
	"github.com/flotilla-io/flotilla/hub/journal"
)

func decision(t journal.Type, wave string) journal.Decision {
	return journal.Decision{Type: t, Namespace: "shop", Name: "checkout", Revision: 2, Wave: wave}
}

// Three real raft replicas: every one answers the API from its own replica of the journal,
// and they agree on the leader, the term and the peers.
func TestStatusAndHistoryFromEveryReplica(t *testing.T) {
	g := hubtest.Start(t, 3)
	leader := g.Leader(t)

	started := decision(journal.WaveStarted, "canary")
	started.Clusters = []string{"east-1", "west-1"}
	paused := decision(journal.Paused, "")
	paused.Actor, paused.Reason = "alice", "spec.paused set"
	paused.ID = paused.NaturalID() + "/g4"
	gate := decision(journal.GateEvaluated, "canary")
	gate.Gate = &journal.Gate{Name: "healthy", Verdict: fleetv1alpha1.GatePassed}
	other := journal.Decision{Type: journal.Aborted, Namespace: "shop", Name: "cart", Revision: 1}
	g.Propose(t, started, paused, gate, other)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &hubapi.Client{Addrs: g.APIs}
	leaders := 0
	for i, addr := range g.APIs {
		st, err := c.Status(ctx, addr)
		if err != nil {
			t.Fatalf("status of replica %d: %v", i, err)
		}
		if st.ID != g.Nodes[i].ID() {
			t.Errorf("replica %d says it is %q, want %q", i, st.ID, g.Nodes[i].ID())
		}
		if st.State == "Leader" {
			leaders++
		}
		if st.Leader.ID != leader.ID() || st.Term != leader.Term() {
			t.Errorf("%s: leader %q in term %d, want %q in term %d", st.ID, st.Leader.ID, st.Term, leader.ID(), leader.Term())
		}
		if len(st.Peers) != 3 {
			t.Errorf("%s: peers %+v, want the 3 replicas", st.ID, st.Peers)
		}
		for _, p := range st.Peers {
			if !p.Voter {
				t.Errorf("%s: peer %s is not a voter", st.ID, p.ID)
			}
		}
		if st.JournalEntries != 4 || st.AppliedIndex < st.LastLogIndex-1 || st.CommitIndex < st.AppliedIndex {
			t.Errorf("%s: %d journal entries, commit %d, applied %d, last log %d; want 4 entries applied",
				st.ID, st.JournalEntries, st.CommitIndex, st.AppliedIndex, st.LastLogIndex)
		}
		if st.Lag != st.CommitIndex-st.AppliedIndex {
			t.Errorf("%s: lag %d, want commit %d - applied %d", st.ID, st.Lag, st.CommitIndex, st.AppliedIndex)
		}

		// Each replica alone answers the history, followers included.
		h, err := (&hubapi.Client{Addrs: []string{addr}}).History(ctx, "shop", "checkout")
		if err != nil {
			t.Fatalf("history from %s: %v", st.ID, err)
		}
		var got []string
		for _, e := range h.Entries {
			got = append(got, string(e.Type)+":"+e.Wave+":"+e.Actor)
		}
		if want := "WaveStarted:canary: Paused::alice GateEvaluated:canary:"; strings.Join(got, " ") != want {
			t.Errorf("history from %s: %s, want %s", st.ID, strings.Join(got, " "), want)
		}
		if h.Replica != st.ID || h.Entries[0].Index == 0 || h.Entries[0].Index >= h.Entries[2].Index {
			t.Errorf("history from %s: replica %q, indexes %d..%d", st.ID, h.Replica, h.Entries[0].Index, h.Entries[2].Index)
		}
	}
	if leaders != 1 {
		t.Errorf("%d replicas say they lead, want 1", leaders)
	}

	h, err := c.History(ctx, "shop", "unknown")
	if err != nil || len(h.Entries) != 0 {
		t.Errorf("history of an unknown FleetRollout: %v, %d entries; want none and no error", err, len(h.Entries))
	}
}

// The API is read-only: a write and an unknown path are refused with a message naming the
// paths it serves.
func TestRefusesWritesAndUnknownPaths(t *testing.T) {
	g := hubtest.Start(t, 1)
	g.Leader(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, hubapi.StatusPath},
		{http.MethodGet, "/v1/nothing"},
	} {
		req, _ := http.NewRequest(tc.method, g.APIs[0]+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s %s: 200, want a refusal", tc.method, tc.path)
		}
		if tc.method == http.MethodGet && !strings.Contains(string(body), "GET /v1/status") {
			t.Errorf("%s %s: %s, want a message naming the served paths", tc.method, tc.path, body)
		}
	}
}

func TestParseAddresses(t *testing.T) {
	got, err := hubapi.ParseAddresses("127.0.0.1:7421, http://10.0.0.1:80/,https://hub.example:443")
	if err != nil || strings.Join(got, " ") != "http://127.0.0.1:7421 http://10.0.0.1:80 https://hub.example:443" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "nohost", "ftp://x:1"} {
		if _, err := hubapi.ParseAddresses(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
