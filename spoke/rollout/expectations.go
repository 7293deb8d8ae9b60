package rollout

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// expectationTimeout bounds how long a reconcile waits for the cache to show a write of
// ours. The watch event of the write normally ends the wait long before; the timeout only
// matters when that object changed again meanwhile in a way the expectation cannot tell
// from lag (it was deleted, or scaled by someone else).
const expectationTimeout = time.Minute

// expectations remembers, per Rollout, the writes this agent made that the cache has not
// shown yet. A reconcile that read such a cache would plan from a state it already acted on:
// create a ReplicaSet a second time (and meet AlreadyExists), patch a scale again, record
// the same events again, or compute a status from the one it replaced (and meet a
// conflict). Instead it waits for the watch event that brings the write, which enqueues
// the Rollout again. The informer cache is never written by hand.
type expectations struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*expected
}

type expected struct {
	// staleRV is the resourceVersion the Rollout had before our last status write: while
	// the cache shows it, the cache lags that write.
	staleRV string
	// replicaSets are the spec.replicas of the ReplicaSets we scaled, by name, or anyReplicas
	// for those we created.
	replicaSets map[string]int32
	// until is when the expectation is given up.
	until time.Time
}

func (x *expectations) entry(key types.NamespacedName, now time.Time) *expected {
	if x.m == nil {
		x.m = map[types.NamespacedName]*expected{}
	}
	e := x.m[key]
	if e == nil {
		e = &expected{replicaSets: map[string]int32{}}
		x.m[key] = e
	}
	e.until = now.Add(expectationTimeout)
	return e
}

// anyReplicas expects a ReplicaSet to exist, whatever its size: a create that met an
// AlreadyExists found one made earlier, perhaps at another size.
const anyReplicas = -1

// replicaSet records that we created (replicas anyReplicas) or scaled the ReplicaSet name.
func (x *expectations) replicaSet(key types.NamespacedName, name string, replicas int32, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(key, now).replicaSets[name] = replicas
}

// statusWritten records that we patched the status of the Rollout read at staleRV.
func (x *expectations) statusWritten(key types.NamespacedName, staleRV string, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(key, now).staleRV = staleRV
}

// behind reports whether the cache (the Rollout ro and the ReplicaSets observed from it)
// does not show all of our writes yet, and how long until the wait is given up. What it
// shows is forgotten.
func (x *expectations) behind(key types.NamespacedName, ro *v1alpha1.Rollout, rss []engine.ReplicaSet, now time.Time) (bool, time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.m[key]
	if e == nil {
		return false, 0
	}
	if !now.Before(e.until) {
		delete(x.m, key)
		return false, 0
	}
	if e.staleRV != "" && ro.ResourceVersion != e.staleRV {
		e.staleRV = ""
	}
	for _, rs := range rss {
		if want, ok := e.replicaSets[rs.Name]; ok && (want == anyReplicas || rs.Replicas == want) {
			delete(e.replicaSets, rs.Name)
		}
	}
	if e.staleRV == "" && len(e.replicaSets) == 0 {
		delete(x.m, key)
		return false, 0
	}
	return true, e.until.Sub(now)
}

// forget drops what was expected of a Rollout that is gone.
func (x *expectations) forget(key types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.m, key)
}
