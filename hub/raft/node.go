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
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/flotilla-io/flotilla/hub/journal"
)

// ErrNotLeader matches every *NotLeaderError with errors.Is.
var ErrNotLeader = errors.New("not the raft leader")

// ErrLeadershipLost means this node lost leadership before the operation completed. A
// proposal that fails with it may still have committed: re-propose it (same decision ID)
// from the new leader, where it is a no-op if it did.
var ErrLeadershipLost = errors.New("raft leadership lost")

// ErrShutdown means the node was shut down.
var ErrShutdown = errors.New("raft node is shut down")

// NotLeaderError refuses an operation only the leader may do, and names the leader if
// this node knows it.
type NotLeaderError struct {
	// LeaderID and LeaderAddress are empty when no leader is known.
	LeaderID, LeaderAddress string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the raft leader, and no leader is known"
	}
	return fmt.Sprintf("not the raft leader; the leader is %s at %s", e.LeaderID, e.LeaderAddress)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Node is one hub replica's raft member with its journal.
type Node struct {
	cfg       Config
	log       logr.Logger
	raft      *hraft.Raft
	fsm       *journal.FSM
	stream    *tlsStreamLayer
	transport *hraft.NetworkTransport
	store     *raftboltdb.BoltStore
	// existing is true when the node started from raft state on disk.
	existing bool

	notifyCh chan bool
	leader   leaderState
	// baseCtx parents every leadership context; Shutdown cancels it.
	baseCtx    context.Context
	baseCancel context.CancelFunc
	done       chan struct{}
	wg         sync.WaitGroup
	shutdown   sync.Once
	shutErr    error
}

// New opens the node's storage, starts its transport and raft, and bootstraps a fresh
// cluster as cfg.Bootstrap says. The node runs until Shutdown.
func New(cfg Config) (n *Node, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}
	logger := cfg.Logger.WithValues("raftNode", cfg.ID)
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	// A fresh replica's data directory may not exist yet; raft state is private to the hub.
	if err = os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the raft data directory: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("opening raft log store in %s: %w", cfg.DataDir, err)
	}
	closers = append(closers, store.Close)
	logs, err := hraft.NewLogCache(512, store)
	if err != nil {
		return nil, err
	}
	hlog := newHCLogAdapter(logger.WithName("raft"))
	snaps, err := hraft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotsRetained, hlog)
	if err != nil {
		return nil, fmt.Errorf("opening snapshot store in %s: %w", cfg.DataDir, err)
	}

	ln := cfg.Listener
	if ln == nil {
		// Binding is immediate; there is nothing for a caller's context to cancel.
		if ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", cfg.BindAddr); err != nil {
			return nil, fmt.Errorf("raft transport: %w", err)
		}
	}
	closers = append(closers, ln.Close)
	advertise := ln.Addr()
	if cfg.AdvertiseAddr != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr); err != nil {
			return nil, fmt.Errorf("AdvertiseAddr: %w", err)
		}
	}
	stream := newTLSStreamLayer(ln, advertise, cfg.TLS, cfg.HandshakeTimeout, logger)
	transport := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{
		Stream: stream, MaxPool: cfg.MaxPool, Timeout: cfg.TransportTimeout, Logger: hlog.Named("transport"),
	})
	closers = append(closers, transport.Close)

	notifyCh := make(chan bool, 16)
	rc := hraft.DefaultConfig()
	rc.LocalID = hraft.ServerID(cfg.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = notifyCh
	rc.Logger = hlog
	if err := hraft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}

	fsm := journal.New()
	existing, err := hraft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("reading raft state: %w", err)
	}
	r, err := hraft.NewRaft(rc, fsm, logs, store, snaps, transport)
	if err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	closers = nil // from here on, Shutdown releases everything
	baseCtx, baseCancel := context.WithCancel(context.Background())
	n = &Node{
		cfg: cfg, log: logger, raft: r, fsm: fsm, stream: stream, transport: transport, store: store,
		notifyCh: notifyCh, baseCtx: baseCtx, baseCancel: baseCancel, done: make(chan struct{}), existing: existing,
	}
	stream.serveMembership(n.serveMembership)
	n.leader.changed = make(chan struct{})
	n.wg.Add(1)
	go n.watchLeadership()

	if !existing {
		if err := n.bootstrap(string(transport.LocalAddr())); err != nil {
			_ = n.Shutdown()
			return nil, err
		}
	}
	logger.Info("raft node started", "address", transport.LocalAddr(), "bootstrap", cfg.Bootstrap,
		"existingState", existing)
	return n, nil
}

func (n *Node) bootstrap(self string) error {
	var servers []hraft.Server
	switch n.cfg.Bootstrap {
	case BootstrapSingle:
		servers = []hraft.Server{{ID: hraft.ServerID(n.cfg.ID), Address: hraft.ServerAddress(self)}}
	case BootstrapPeers:
		for _, p := range n.cfg.Peers {
			servers = append(servers, hraft.Server{ID: hraft.ServerID(p.ID), Address: hraft.ServerAddress(p.Address)})
		}
	default:
		return nil
	}
	err := n.raft.BootstrapCluster(hraft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, hraft.ErrCantBootstrap) {
		return fmt.Errorf("bootstrapping raft cluster: %w", err)
	}
	return nil
}

// Shutdown cancels the leadership context first, so a leading scheduler stops writing,
// then stops raft, closes every peer connection and the stores. It does not hand
// leadership over; call TransferLeadership before it for a graceful stop.
func (n *Node) Shutdown() error {
	n.shutdown.Do(func() {
		n.baseCancel()
		n.stepDown()
		n.shutErr = n.raft.Shutdown().Error()
		close(n.done)
		n.wg.Wait()
		if err := n.store.Close(); err != nil && n.shutErr == nil {
			n.shutErr = err
		}
		n.log.Info("raft node stopped")
	})
	return n.shutErr
}

// ID is this node's raft server ID.
func (n *Node) ID() string { return n.cfg.ID }

// Addr is the address peers reach this node at.
func (n *Node) Addr() string { return string(n.transport.LocalAddr()) }

// Journal is the node's replica of the decision journal. On a follower it may lag the
// leader by the entries in flight.
func (n *Node) Journal() *journal.FSM { return n.fsm }

// IsLeader reports whether raft considers this node the leader right now.
func (n *Node) IsLeader() bool { return n.raft.State() == hraft.Leader }

// Leader returns the ID and address of the leader this node knows, empty when none.
func (n *Node) Leader() (id, address string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// Term returns the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Stats returns raft's own statistics (state, term, indexes, configuration...).
func (n *Node) Stats() map[string]string { return n.raft.Stats() }

// CommitIndex is the index of the last entry this node knows committed.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// AppliedIndex is the index of the last entry handed to the journal.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// HandshakeFailures counts the TLS handshakes with would-be peers this node refused or
// that refused it.
func (n *Node) HandshakeFailures() uint64 { return n.stream.handshakeFailures.Load() }

func (n *Node) notLeader() error {
	id, addr := n.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddress: addr}
}

// bounded returns ctx limited to def unless its own deadline is earlier, and the time
// left, which raft takes as its enqueue timeout.
func bounded(ctx context.Context, def time.Duration) (context.Context, context.CancelFunc, time.Duration) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < def {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, max(time.Until(dl), time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(ctx, def)
	return ctx, cancel, def
}

// wait waits for a raft future, or for ctx; it maps raft's errors to this package's.
func (n *Node) wait(ctx context.Context, f hraft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return n.mapErr(err)
	case <-ctx.Done():
		return fmt.Errorf("waiting for raft: %w (the operation may still complete)", ctx.Err())
	}
}

func (n *Node) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, hraft.ErrNotLeader):
		return n.notLeader()
	case errors.Is(err, hraft.ErrLeadershipLost), errors.Is(err, hraft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrLeadershipLost, err)
	case errors.Is(err, hraft.ErrRaftShutdown):
		return ErrShutdown
	default:
		return err
	}
}

// Receipt says where the journal recorded a proposed decision.
type Receipt struct {
	// Index is the raft log index of the entry that recorded the decision; for a duplicate,
	// that of the first entry with the same decision ID.
	Index uint64
	// Term is the term this proposal was stamped with; a duplicate's recorded entry keeps
	// the term it was first recorded in.
	Term uint64
	// Duplicate is true when the decision ID was already recorded: nothing changed.
	Duplicate bool
}

// Propose records a decision in the journal and returns once a quorum has committed it and
// this node's journal applied it. Only the leader may propose: a follower refuses with a
// *NotLeaderError naming the leader.
//
// Called with a context from Lead, the decision is stamped with that leadership's term and
// refused once the context is cancelled; otherwise it gets the current term. Version and
// At are filled in when zero. A decision whose term is not that of the log entry carrying
// it (leadership changed in between) is refused with journal.ErrStaleTerm. If Propose
// fails with ErrLeadershipLost or ctx ends, the decision may still commit: re-propose it
// with the same ID, which is then a no-op.
func (n *Node) Propose(ctx context.Context, d journal.Decision) (Receipt, error) {
	if d.Version == 0 {
		d.Version = journal.Version
	}
	if d.At.IsZero() {
		d.At = time.Now().UTC()
	}
	if term, ok := TermFrom(ctx); ok {
		if ctx.Err() != nil {
			return Receipt{}, fmt.Errorf("%w: the leadership of term %d ended", ErrLeadershipLost, term)
		}
		d.Term = term
	} else {
		d.Term = n.raft.CurrentTerm()
	}
	if err := d.Validate(); err != nil {
		return Receipt{}, err
	}
	if !n.IsLeader() {
		return Receipt{}, n.notLeader()
	}
	data, err := json.Marshal(&d)
	if err != nil {
		return Receipt{}, err
	}
	ctx, cancel, left := bounded(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	f := n.raft.Apply(data, left)
	if err := n.wait(ctx, f); err != nil {
		return Receipt{}, fmt.Errorf("proposing %s %s: %w", d.Type, d.ID, err)
	}
	res, ok := f.Response().(journal.Result)
	if !ok {
		return Receipt{}, fmt.Errorf("proposing %s %s: journal returned %T", d.Type, d.ID, f.Response())
	}
	if res.Err != nil {
		return Receipt{}, fmt.Errorf("proposing %s %s: %w", d.Type, d.ID, res.Err)
	}
	return Receipt{Index: res.Index, Term: d.Term, Duplicate: res.Duplicate}, nil
}

// Server is a member of the raft configuration.
type Server struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
}

// Servers returns the latest raft configuration.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.mapErr(err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == hraft.Voter})
	}
	return out, nil
}

// AddVoter adds (or updates the address of) a voting member. Leader only. The new node
// must run with BootstrapNone and certificates from the hub CA. Remote callers use the
// membership API (MembershipClient, Join), which checks who may add whom.
func (n *Node) AddVoter(ctx context.Context, id, address string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	ctx, cancel, left := bounded(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	f := n.raft.AddVoter(hraft.ServerID(id), hraft.ServerAddress(address), 0, left)
	if err := n.wait(ctx, f); err != nil {
		return fmt.Errorf("adding voter %s at %s: %w", id, address, err)
	}
	return nil
}

// RemoveServer removes a member. Leader only; a leader may remove itself, and then steps
// down.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	ctx, cancel, left := bounded(ctx, n.cfg.ApplyTimeout)
	defer cancel()
	f := n.raft.RemoveServer(hraft.ServerID(id), 0, left)
	if err := n.wait(ctx, f); err != nil {
		return fmt.Errorf("removing server %s: %w", id, err)
	}
	return nil
}

// TransferLeadership hands leadership to the most up-to-date follower; a leader about to
// stop calls it so that the fleet does not wait for an election. Leader only.
func (n *Node) TransferLeadership(ctx context.Context) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	return n.wait(ctx, n.raft.LeadershipTransfer())
}

// Snapshot takes a snapshot now and compacts the log down to TrailingLogs entries.
func (n *Node) Snapshot(ctx context.Context) error {
	return n.wait(ctx, n.raft.Snapshot())
}
