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

// Package raft is the hub's consensus layer. The hub replicas form one hashicorp/raft
// group and replicate the decision journal (package journal); only the leader schedules.
//
// Storage: a raft-boltdb log and stable store (DataDir/raft.db) and file snapshots
// (DataDir/snapshots). A restarted node carries on from them; Bootstrap applies only to a
// node with an empty DataDir.
//
// Transport: TCP with mutual TLS 1.3. Both ends verify the other's certificate against the
// hub CA, and the certificate must carry the DNS name PeerName (see CA.IssuePeer); a peer
// without one never gets a raft RPC through, so it cannot vote, read or write the journal.
//
// Membership: a node with Bootstrap none and Join set asks the running group, through any
// replica, to add it as a voter (Node.Join). Every node serves the membership API on its raft
// listener to clients that negotiate the ALPN protocol MembershipProtocol (MembershipClient):
// list the servers, add a voter, remove a server. The client certificate must chain to the
// hub CA and carry PeerName or AdminName; a voter is added only under an ID its certificate
// names, or by an operator's AdminName certificate, which in turn cannot speak raft. A
// follower refuses a change with the leader's address, where the client asks again.
//
// Timeouts default to DefaultHeartbeatTimeout, DefaultElectionTimeout and
// DefaultLeaderLeaseTimeout (500ms, 500ms, 250ms): a new leader within about 1.3 s of the
// old one's death on a LAN, and an isolated leader steps down about 250ms after it lost
// its quorum. BenchmarkFailover measures them.
//
// The scheduler uses a Node like this:
//
//	node, err := raft.New(raft.Config{ID: "hub-0", DataDir: dir, BindAddr: addr, TLS: peerTLS})
//	...
//	err = node.Lead(ctx, func(ctx context.Context, term uint64) {
//		// This node leads and its journal has applied every earlier decision:
//		// resume from node.Journal().State(ns, name), stamp every write with term,
//		// and record each decision before acting on it:
//		_, err := node.Propose(ctx, journal.Decision{Type: journal.WaveStarted, ...})
//		// ctx is cancelled the moment leadership is lost: stop writing at once.
//	})
package raft
