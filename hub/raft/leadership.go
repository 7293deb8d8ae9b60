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
	"sync"
	"time"

	hraft "github.com/hashicorp/raft"
)

// leaderState is this node's view of its own leadership. ctx is set from the moment raft
// says this node leads; term and ready are set once the barrier has passed.
type leaderState struct {
	mu     sync.Mutex
	gen    uint64 // counts leadership gains, so that a late barrier cannot publish a stale one
	ctx    context.Context
	cancel context.CancelFunc
	term   uint64
	ready  bool
	// changed is closed and replaced at every change.
	changed chan struct{}
}

type termKey struct{}

// TermFrom returns the raft term of the leadership a context from Lead belongs to.
func TermFrom(ctx context.Context) (uint64, bool) {
	t, ok := ctx.Value(termKey{}).(uint64)
	return t, ok
}

// watchLeadership turns raft's leadership notifications into leadership contexts. It never
// blocks for long: raft's leader loop waits for it to take each notification.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case leading := <-n.notifyCh:
			// Lost, or lost and regained since the last notification: either way the
			// leadership handed out so far is over.
			n.stepDown()
			if leading {
				n.startLeading()
			}
		}
	}
}

// stepDown cancels the current leadership context, if any.
func (n *Node) stepDown() {
	l := &n.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cancel == nil {
		return
	}
	l.cancel()
	was := l.term
	l.ctx, l.cancel, l.term, l.ready = nil, nil, 0, false
	close(l.changed)
	l.changed = make(chan struct{})
	n.log.Info("leadership lost: leader context cancelled", "term", was)
}

// startLeading records a new leadership and establishes it in the background.
func (n *Node) startLeading() {
	l := &n.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx, cancel := context.WithCancel(n.baseCtx)
	l.gen++
	l.ctx, l.cancel, l.term, l.ready = ctx, cancel, 0, false
	n.wg.Add(1)
	go n.establish(ctx, l.gen)
}

// establish runs a barrier, so that the journal has applied every entry of earlier terms,
// then publishes the leadership with its term. The term is read before and after the
// barrier: if they agree, this node led in that term when the barrier committed, so the
// term handed out is exactly this leadership's (never a later one that belongs to another
// node).
func (n *Node) establish(ctx context.Context, gen uint64) {
	defer n.wg.Done()
	for {
		if ctx.Err() != nil {
			return
		}
		before := n.raft.CurrentTerm()
		err := n.raft.Barrier(n.cfg.BarrierTimeout).Error()
		after := n.raft.CurrentTerm()
		if err == nil && before == after && n.raft.State() == hraft.Leader {
			n.publish(gen, before)
			return
		}
		if errors.Is(err, hraft.ErrNotLeader) || errors.Is(err, hraft.ErrLeadershipLost) ||
			errors.Is(err, hraft.ErrRaftShutdown) {
			return // a notification that we lost leadership is on its way
		}
		n.log.Info("leader barrier did not pass, retrying", "error", err, "termBefore", before, "termAfter", after)
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.cfg.CommitTimeout):
		}
	}
}

func (n *Node) publish(gen, term uint64) {
	l := &n.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen || l.ctx == nil || l.ctx.Err() != nil {
		return
	}
	l.ctx = context.WithValue(l.ctx, termKey{}, term)
	l.term, l.ready = term, true
	close(l.changed)
	l.changed = make(chan struct{})
	n.log.Info("leading: barrier passed, leader context handed out", "term", term,
		"appliedIndex", n.raft.AppliedIndex())
}

// Leading returns the current leadership: a context cancelled when it ends, and its term.
// ok is false when this node does not lead, or leads but has not passed its barrier yet.
func (n *Node) Leading() (ctx context.Context, term uint64, ok bool) {
	ctx, term, _ = n.leading()
	return ctx, term, ctx != nil
}

func (n *Node) leading() (context.Context, uint64, <-chan struct{}) {
	l := &n.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ready || l.ctx.Err() != nil {
		return nil, 0, l.changed
	}
	return l.ctx, l.term, l.changed
}

// LeadershipChanged returns a channel that is closed at the next change of this node's
// leadership (gained, past its barrier, or lost).
func (n *Node) LeadershipChanged() <-chan struct{} {
	_, _, ch := n.leading()
	return ch
}

// Lead calls fn each time this node becomes leader, once the journal has applied every
// earlier entry, with a context that is cancelled the moment leadership is lost (or ctx
// ends, or the node shuts down) and the leadership's raft term. fn must stop writing and
// return when its context is done. Lead returns when ctx ends (ctx.Err()) or the node shuts
// down (ErrShutdown). Only one Lead should run per node.
func (n *Node) Lead(ctx context.Context, fn func(ctx context.Context, term uint64)) error {
	for {
		lctx, term, changed := n.leading()
		if lctx != nil {
			runCtx, cancel := context.WithCancel(lctx)
			stop := context.AfterFunc(ctx, cancel)
			fn(runCtx, term)
			stop()
			cancel()
			// fn may return while still leading; do not call it again for this leadership.
			select {
			case <-lctx.Done():
			case <-ctx.Done():
			}
		} else {
			select {
			case <-changed:
			case <-ctx.Done():
			case <-n.done:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrShutdown
		default:
		}
	}
}
