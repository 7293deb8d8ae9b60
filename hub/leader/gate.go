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

// Package leader lets hub controllers act only while this hub replica leads the raft group.
// Controllers run on every replica (their caches stay warm, so a new leader resumes at once),
// but a reconcile does nothing unless Gate.Acquire hands it the current leadership: a context
// cancelled the moment leadership is lost, carrying the leadership's raft term (raft.TermFrom),
// with which every write to a member cluster and every journal proposal is stamped. When this
// replica becomes leader, Gate re-enqueues every object of the controllers that subscribed, so
// the new leader resumes each FleetRollout from the journal without waiting for an event.
package leader

import (
	"context"
	"errors"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Leadership is what the gate needs of a raft node (*raft.Node).
type Leadership interface {
	// Lead calls fn each time this node becomes leader, past its barrier; fn's context ends
	// with the leadership.
	Lead(ctx context.Context, fn func(ctx context.Context, term uint64)) error
	// Leading returns the current leadership, if any.
	Leading() (ctx context.Context, term uint64, ok bool)
}

// Lister lists the objects to re-enqueue when leadership is gained.
type Lister func(ctx context.Context) ([]client.Object, error)

type subscriber struct {
	list Lister
	ch   chan event.GenericEvent
}

// Gate is a manager Runnable (add it with mgr.Add) that follows the node's leadership.
type Gate struct {
	// Node is the raft node.
	Node Leadership

	mu   sync.Mutex
	subs []subscriber
}

// Source returns a controller source that enqueues every object list returns each time this
// replica becomes leader. Call it before the manager starts.
func (g *Gate) Source(list Lister) source.Source {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan event.GenericEvent, 1024)
	g.subs = append(g.subs, subscriber{list: list, ch: ch})
	return source.Channel(ch, &handler.EnqueueRequestForObject{})
}

// Start runs until ctx ends: at each leadership it re-enqueues the subscribers' objects.
func (g *Gate) Start(ctx context.Context) error {
	err := g.Node.Lead(ctx, func(lctx context.Context, _ uint64) {
		g.mu.Lock()
		subs := append([]subscriber(nil), g.subs...)
		g.mu.Unlock()
		for _, s := range subs {
			objs, err := s.list(lctx)
			if err != nil {
				continue // the controllers' own watches still bring every change
			}
			for _, o := range objs {
				select {
				case s.ch <- event.GenericEvent{Object: o}:
				case <-lctx.Done():
					return
				}
			}
		}
		<-lctx.Done()
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // the manager is stopping
	}
	return err
}

// NeedLeaderElection is false: the gate runs on every replica, raft elects the leader.
func (g *Gate) NeedLeaderElection() bool { return false }

// Acquire returns a context for one reconcile that ends when either ctx or this replica's
// leadership ends and that carries the leadership's term (raft.TermFrom), and the term. ok is
// false when this replica does not lead: the reconcile must do nothing.
func (g *Gate) Acquire(ctx context.Context) (context.Context, context.CancelFunc, uint64, bool) {
	lctx, term, ok := g.Node.Leading()
	if !ok {
		return nil, func() {}, 0, false
	}
	run, cancel := context.WithCancel(lctx)
	stop := context.AfterFunc(ctx, cancel)
	return run, func() { stop(); cancel() }, term, true
}
