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

// Package hubapi is the hub's small read-only HTTP API: every flotilla-hub replica answers
// it, followers included, from its own raft node and its own replica of the journal. It
// serves JSON at two paths:
//
//	GET /v1/status                                      this replica's raft view (Status)
//	GET /v1/fleetrollouts/{namespace}/{name}/history    a FleetRollout's journal (History)
//
// It never writes: people steer FleetRollouts through the hub's Kubernetes API, and the
// journal is written by the leader only. It listens on a loopback address by default
// (hub-api-bind-address); it has no authentication of its own, so expose it beyond the host
// only behind something that has. `kubectl flotilla hub status` and `kubectl flotilla fleet
// history` read it through Client.
package hubapi

import (
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Paths of the API.
const (
	StatusPath  = "/v1/status"
	historyPath = "/v1/fleetrollouts/{namespace}/{name}/history"
)

// HistoryPath is the path of the journal of the FleetRollout namespace/name.
func HistoryPath(namespace, name string) string {
	return "/v1/fleetrollouts/" + namespace + "/" + name + "/history"
}

// Status is one replica's view of the raft group.
type Status struct {
	// ID is this replica's raft server ID.
	ID string `json:"id"`
	// State is Leader, Follower, Candidate or Shutdown.
	State string `json:"state"`
	// Leader is the leader this replica knows; empty when it knows none.
	Leader Peer `json:"leader"`
	// Term is this replica's current raft term.
	Term uint64 `json:"term"`
	// LastLogIndex is the index of the last entry in this replica's log.
	LastLogIndex uint64 `json:"lastLogIndex"`
	// CommitIndex is the highest log index this replica knows to be committed.
	CommitIndex uint64 `json:"commitIndex"`
	// AppliedIndex is the highest log index this replica applied to its journal.
	AppliedIndex uint64 `json:"appliedIndex"`
	// Lag is CommitIndex - AppliedIndex: committed entries not yet in this replica's journal.
	Lag uint64 `json:"lag"`
	// LastContact is, on a follower, how long ago it last heard from the leader, as raft
	// reports it ("0" on the leader, "never" before the first contact).
	LastContact string `json:"lastContact,omitempty"`
	// JournalEntries is how many decisions this replica's journal holds.
	JournalEntries int `json:"journalEntries"`
	// Peers is the raft configuration this replica holds.
	Peers []Peer `json:"peers"`
}

// Peer is a member of the raft group.
type Peer struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter,omitempty"`
}

// History is the journal of one FleetRollout as one replica holds it.
type History struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Replica is the raft ID of the replica that answered, and AppliedIndex how far its
	// journal goes: a follower may lag the leader by the entries in flight.
	Replica      string          `json:"replica"`
	AppliedIndex uint64          `json:"appliedIndex"`
	Entries      []journal.Entry `json:"entries"`
}

// apiError is the body of every answer other than 200.
type apiError struct {
	Error string `json:"error"`
}
