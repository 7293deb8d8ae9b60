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

package members

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// DefaultExpectationTimeout bounds how long a read of a member Rollout relies on a write of
// the hub that the member's cache has not shown yet. The watch event of the write normally
// ends the wait within milliseconds; the timeout only matters when that event is lost, so that
// a run is never wedged on it.
const DefaultExpectationTimeout = time.Minute

// ErrNotObserved is wrapped (by a *NotObservedError) when a member's cache does not show a write
// of the hub yet and the write's answer cannot stand in for it (a deletion): the caller must
// not decide on what the cache shows, and waits for the watch event, which enqueues the
// FleetRollout, or for Until.
var ErrNotObserved = errors.New("the member's watch does not show the hub's last write yet")

// NotObservedError says which Rollout's write the member cache does not show yet, and until
// when the hub waits for it (after which it reads the cache as it is).
type NotObservedError struct {
	Key   client.ObjectKey
	Until time.Time
}

func (e *NotObservedError) Error() string {
	return fmt.Sprintf("Rollout %s: %v (waiting until %s at the latest)", e.Key, ErrNotObserved, e.Until.UTC().Format(time.RFC3339))
}

func (e *NotObservedError) Unwrap() error { return ErrNotObserved }

// expectations are, for one member cluster, the hub's writes of placed Rollouts that the
// member's cache does not show yet: read-your-writes for every write the hub makes there.
// A read that finds an older object in the cache gets the object the write returned instead
// (or, for a deletion, a NotObservedError). An expectation ends when the cache shows the
// write (a read or the watch event sees a resourceVersion at least the written one), when the
// cluster disengages (the Member and its expectations go), or at its timeout. The informer
// cache is never written.
type expectations struct {
	timeout time.Duration

	mu sync.Mutex
	m  map[client.ObjectKey]expected
}

// expected is one write the cache does not show yet.
type expected struct {
	// rv is the resourceVersion the write returned; empty for a deletion.
	rv string
	// written is the Rollout as the write returned it, stripped as the cache strips it; nil
	// when the answer cannot stand in for the cache (a deletion, or an answer that did not
	// decode).
	written *rolloutsv1alpha1.Rollout
	deleted bool
	until   time.Time
}

func newExpectations(timeout time.Duration) *expectations {
	if timeout <= 0 {
		timeout = DefaultExpectationTimeout
	}
	return &expectations{timeout: timeout, m: map[client.ObjectKey]expected{}}
}

// wrote records a write of the Rollout key that returned resourceVersion rv and, when the answer
// can stand in for the cache, the object (which the store keeps: the caller passes its own copy).
func (x *expectations) wrote(key client.ObjectKey, rv string, ro *rolloutsv1alpha1.Rollout, now time.Time) {
	if x == nil || rv == "" {
		return
	}
	if ro != nil {
		_, _ = stripRollout(ro)
	}
	x.set(key, expected{rv: rv, written: ro}, now)
}

// deleted records a deletion of the Rollout key.
func (x *expectations) deleted(key client.ObjectKey, now time.Time) {
	if x == nil {
		return
	}
	x.set(key, expected{deleted: true}, now)
}

func (x *expectations) set(key client.ObjectKey, e expected, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, old := range x.m {
		if !now.Before(old.until) {
			delete(x.m, k) // bounded: nothing outlives its timeout
		}
	}
	e.until = now.Add(x.timeout)
	x.m[key] = e
}

// read resolves a cache read of the Rollout key (cached, nil when the cache has none) against
// the writes it does not show yet. It returns the Rollout to decide on (nil: there is none) and,
// when that is a written object rather than the cache's, when the expectation ends: the caller
// reads again at the latest then. A deletion the cache does not show yet is a
// *NotObservedError. The returned Rollout is the caller's to change.
func (x *expectations) read(key client.ObjectKey, cached *rolloutsv1alpha1.Rollout, now time.Time) (*rolloutsv1alpha1.Rollout, time.Time, error) {
	if x == nil {
		return cached, time.Time{}, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.m[key]
	switch {
	case !ok:
		return cached, time.Time{}, nil
	case !now.Before(e.until), e.shownBy(cached, false):
		delete(x.m, key)
		return cached, time.Time{}, nil
	case e.written != nil:
		return e.written.DeepCopy(), e.until, nil
	}
	return nil, e.until, &NotObservedError{Key: key, Until: e.until}
}

// observed ends the expectation of key if the watch event (the object as the cache now holds
// it, or as it was when deleted) shows the write.
func (x *expectations) observed(key client.ObjectKey, obj *rolloutsv1alpha1.Rollout, gone bool) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if e, ok := x.m[key]; ok && e.shownBy(obj, gone) {
		delete(x.m, key)
	}
}

// shownBy says whether the cache, holding obj (nil: none), shows the write; gone says that obj
// is the last state of a Rollout the cache just dropped.
func (e expected) shownBy(obj *rolloutsv1alpha1.Rollout, gone bool) bool {
	switch {
	case e.deleted:
		return obj == nil || gone || obj.DeletionTimestamp != nil
	case obj == nil:
		return false
	}
	// A Rollout deleted after the write (gone, at or after the written version) shows it too.
	return atLeast(obj.ResourceVersion, e.rv)
}

// atLeast says whether resourceVersion rv is the written one or later. Resource versions of
// one resource compare as integers; one that does not parse is taken as later only if equal.
func atLeast(rv, written string) bool {
	c, err := resourceversion.CompareResourceVersion(rv, written)
	if err != nil {
		return rv == written
	}
	return c >= 0
}

// clear drops every expectation (the cluster disengaged).
func (x *expectations) clear() {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.m)
}

// pending is how many writes the cache does not show yet.
func (x *expectations) pending() int {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.m)
}
