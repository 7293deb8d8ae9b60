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
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
)

// Defaults tuned for hub replicas on one LAN (or loopback): a follower notices a dead
// leader after 0.5-1 s without heartbeats and an election on a LAN takes milliseconds, so
// a new leader is in place well within the 2 s the hub aims for. The leader steps down
// after DefaultLeaderLeaseTimeout without hearing from a quorum, before the other side can
// have elected a new leader.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultApplyTimeout       = 5 * time.Second
	DefaultBarrierTimeout     = 10 * time.Second
	DefaultTransportTimeout   = 5 * time.Second
	DefaultHandshakeTimeout   = 5 * time.Second
	DefaultSnapshotInterval   = 2 * time.Minute
	DefaultSnapshotThreshold  = 8192
	DefaultTrailingLogs       = 10240
	DefaultSnapshotsRetained  = 2
	DefaultMaxPool            = 3
)

// BootstrapMode says how a node with an empty data directory forms or joins a cluster. A
// node with existing raft state ignores it and carries on from its state.
type BootstrapMode string

const (
	// BootstrapAuto is BootstrapPeers when Peers is set, else BootstrapSingle.
	BootstrapAuto BootstrapMode = ""
	// BootstrapSingle makes a one-node cluster of this node (the default for one replica).
	BootstrapSingle BootstrapMode = "single"
	// BootstrapPeers makes a cluster of Peers; every peer must be given the same list.
	BootstrapPeers BootstrapMode = "peers"
	// BootstrapNone waits to be added by the leader of an existing cluster (AddVoter), or
	// asks to be, through Join.
	BootstrapNone BootstrapMode = "none"
)

// Peer is one member of a static peer list.
type Peer struct {
	// ID is the node's raft server ID.
	ID string
	// Address is host:port where its raft transport listens.
	Address string
}

// Config configures a Node. ID, DataDir, TLS and either BindAddr or Listener are required.
type Config struct {
	// ID is this node's raft server ID; it must be stable across restarts.
	ID string
	// DataDir holds the log and stable store (raft.db) and the snapshots.
	DataDir string
	// BindAddr is host:port to listen on, used when Listener is nil.
	BindAddr string
	// Listener, if set, is a bound TCP listener to use instead of BindAddr.
	Listener net.Listener
	// AdvertiseAddr is host:port peers reach this node at; empty means the listener's address.
	AdvertiseAddr string
	// TLS is this node's hub CA and certificate. Required: peers only talk mutual TLS.
	TLS *PeerTLS

	// Bootstrap says how a fresh node forms its cluster; see BootstrapMode.
	Bootstrap BootstrapMode
	// Peers is the static peer list for BootstrapPeers, this node included.
	Peers []Peer
	// Join lists raft addresses of replicas of a running group. A fresh node with Join set
	// starts with BootstrapNone, and Node.Join asks the group's leader to add it as a voter.
	Join []string

	// HeartbeatTimeout is how long a follower waits for the leader before starting an
	// election (randomized between it and twice it).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before retrying.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing from a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long an idle leader waits before telling followers the
	// commit index.
	CommitTimeout time.Duration
	// ApplyTimeout bounds Propose, AddVoter and RemoveServer when the caller's context has
	// no earlier deadline.
	ApplyTimeout time.Duration
	// BarrierTimeout bounds the barrier a new leader runs before it hands out leadership.
	BarrierTimeout time.Duration
	// TransportTimeout is the I/O deadline of raft RPCs (and of dialing a peer).
	TransportTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake with a peer.
	HandshakeTimeout time.Duration

	// SnapshotInterval and SnapshotThreshold say how often raft checks, and after how many
	// new entries it takes, a snapshot; TrailingLogs entries stay in the log after one.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotsRetained is how many snapshots stay on disk.
	SnapshotsRetained int
	// MaxPool is how many connections to each peer are pooled.
	MaxPool int

	// Logger receives the node's and raft's logs.
	Logger logr.Logger
}

// withDefaults returns a copy with every zero duration or count set to its default.
func (c Config) withDefaults() Config {
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setDur(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	setDur(&c.ElectionTimeout, DefaultElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	setDur(&c.CommitTimeout, DefaultCommitTimeout)
	setDur(&c.ApplyTimeout, DefaultApplyTimeout)
	setDur(&c.BarrierTimeout, DefaultBarrierTimeout)
	setDur(&c.TransportTimeout, DefaultTransportTimeout)
	setDur(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	setDur(&c.SnapshotInterval, DefaultSnapshotInterval)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotsRetained == 0 {
		c.SnapshotsRetained = DefaultSnapshotsRetained
	}
	if c.MaxPool == 0 {
		c.MaxPool = DefaultMaxPool
	}
	if c.Bootstrap == BootstrapAuto {
		switch {
		case len(c.Peers) > 0:
			c.Bootstrap = BootstrapPeers
		case len(c.Join) > 0:
			c.Bootstrap = BootstrapNone
		default:
			c.Bootstrap = BootstrapSingle
		}
	}
	return c
}

// validate checks a defaulted config and says which field is wrong.
func (c *Config) validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("ID is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is required"))
	}
	if c.Listener == nil && c.BindAddr == "" {
		errs = append(errs, errors.New("BindAddr or Listener is required"))
	}
	if err := c.TLS.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("LeaderLeaseTimeout (%s) must not exceed HeartbeatTimeout (%s)",
			c.LeaderLeaseTimeout, c.HeartbeatTimeout))
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("ElectionTimeout (%s) must be at least HeartbeatTimeout (%s)",
			c.ElectionTimeout, c.HeartbeatTimeout))
	}
	if len(c.Join) > 0 && c.Bootstrap != BootstrapNone {
		errs = append(errs, fmt.Errorf("Join is set but Bootstrap is %q: a node either bootstraps a group or joins one", c.Bootstrap))
	}
	for _, a := range c.Join {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("Join address %q is not host:port", a))
		}
	}
	switch c.Bootstrap {
	case BootstrapSingle, BootstrapNone:
		if len(c.Peers) > 0 {
			errs = append(errs, fmt.Errorf("a peer list is set but Bootstrap is %q, not %q", c.Bootstrap, BootstrapPeers))
		}
	case BootstrapPeers:
		self, seen := false, map[string]bool{}
		for _, p := range c.Peers {
			if p.ID == "" || p.Address == "" {
				errs = append(errs, fmt.Errorf("peer %+v: ID and Address are required", p))
			}
			if seen[p.ID] {
				errs = append(errs, fmt.Errorf("peer %q is listed twice", p.ID))
			}
			seen[p.ID] = true
			self = self || p.ID == c.ID
		}
		if !self {
			errs = append(errs, fmt.Errorf("the peer list must include this node (%q)", c.ID))
		}
	default:
		errs = append(errs, fmt.Errorf("bootstrap mode %q is not one of single, peers, none", c.Bootstrap))
	}
	return errors.Join(errs...)
}
