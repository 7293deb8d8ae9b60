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

package leader

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeNode leads when told to, the way raft.Node's Lead and Leading behave.
type fakeNode struct {
	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	term    uint64
	changed chan struct{}
}

func newFakeNode() *fakeNode { return &fakeNode{changed: make(chan struct{})} }

func (n *fakeNode) lead(term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.term = term
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *fakeNode) stepDown() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cancel()
	n.ctx, n.term = nil, 0
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *fakeNode) Leading() (context.Context, uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx == nil {
		return nil, 0, false
	}
	return n.ctx, n.term, true
}

func (n *fakeNode) Lead(ctx context.Context, fn func(context.Context, uint64)) error {
	for {
		n.mu.Lock()
		lctx, term, changed := n.ctx, n.term, n.changed
		n.mu.Unlock()
		if lctx != nil {
			fn(lctx, term)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// TestGate checks that a reconcile gets nothing while the replica follows, a context that ends
// with the leadership while it leads, and that gaining leadership re-enqueues every object.
func TestGate(t *testing.T) {
	node := newFakeNode()
	g := &Gate{Node: node}
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}}
	src := g.Source(func(context.Context) ([]client.Object, error) { return []client.Object{obj}, nil })
	if src == nil {
		t.Fatal("no source")
	}
	ch := g.subs[0].ch

	if _, release, _, ok := g.Acquire(context.Background()); ok {
		t.Fatal("a follower acquired the leadership")
	} else {
		release()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Start(ctx) }()

	node.lead(7)
	select {
	case ev := <-ch:
		if ev.Object.GetName() != "a" {
			t.Errorf("re-enqueued %s, want a", ev.Object.GetName())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leadership gained, nothing re-enqueued")
	}
	rctx, release, term, ok := g.Acquire(context.Background())
	if !ok || term != 7 {
		t.Fatalf("leading: ok %v term %d, want true and 7", ok, term)
	}
	defer release()
	node.stepDown()
	select {
	case <-rctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the reconcile context outlived the leadership")
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start: %v", err)
	}
}
