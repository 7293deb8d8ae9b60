package failover_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
)

// sighting is one watch event of an object the hub writes: a member's Rollout or companion,
// or the FleetRollout on the hub.
type sighting struct {
	seen    time.Time
	cluster string // "hub" for the FleetRollout
	kind    string
	name    string
	rv      uint64
	// term is the object's term annotation (member objects) or status.term (FleetRollout);
	// -1 when it carries none.
	term int64
	// recorded is the Rollout's status.term: the highest term its spoke accepted.
	recorded int64
	revision string
	healthy  bool
	fleet    *fleetv1alpha1.FleetRollout
}

// recorder keeps every watch event of the objects the hub writes, on the hub and on every
// member, with the time the test saw it.
type recorder struct {
	mu      sync.Mutex
	events  []sighting
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

// watch records list's events in namespace ns of one cluster until ctx ends, resuming from
// the last resourceVersion when the server closes the watch.
func (r *recorder) watch(ctx context.Context, t *testing.T, cluster string, wc client.WithWatch, ns string, list client.ObjectList) {
	rv := ""
	for ctx.Err() == nil {
		w, err := wc.Watch(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("watch %T on %s: %v", list, cluster, err)
			}
			return
		}
		for ev := range w.ResultChan() {
			obj, ok := ev.Object.(client.Object)
			if ev.Type == watch.Error || ev.Type == watch.Bookmark || ev.Type == watch.Deleted || !ok {
				continue
			}
			rv = obj.GetResourceVersion()
			r.record(t, cluster, obj)
		}
		w.Stop()
	}
}

func (r *recorder) record(t *testing.T, cluster string, obj client.Object) {
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Errorf("resourceVersion %q: %v", obj.GetResourceVersion(), err)
		return
	}
	s := sighting{seen: time.Now(), cluster: cluster, name: obj.GetName(), rv: rv, term: -1, recorded: -1,
		revision: obj.GetAnnotations()[federation.RevisionAnnotation]}
	if term, ok, err := federation.TermOf(obj); err != nil {
		t.Errorf("%s %s: %v", cluster, obj.GetName(), err)
	} else if ok {
		s.term = term
	}
	switch o := obj.(type) {
	case *rolloutsv1alpha1.Rollout:
		s.kind, s.recorded = "Rollout", o.Status.Term
		s.healthy = o.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy && o.Status.ObservedGeneration == o.Generation &&
			o.Status.StableRS != "" && o.Status.StableRS == o.Status.CurrentPodHash
	case *corev1.ConfigMap:
		if o.Labels[federation.PlacedLabel] != "true" {
			return
		}
		s.kind = "ConfigMap"
	case *fleetv1alpha1.FleetRollout:
		s.kind, s.term, s.fleet = "FleetRollout", o.Status.Term, o
	default:
		return
	}
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// snapshot returns the events seen so far, in the order they were seen.
func (r *recorder) snapshot() []sighting {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sighting(nil), r.events...)
}

// latest returns the newest event of one object, and false if none was seen.
func latest(events []sighting, cluster, kind, name string) (sighting, bool) {
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i]; e.cluster == cluster && e.kind == kind && e.name == name {
			return e, true
		}
	}
	return sighting{}, false
}

// wait waits until ok holds for the events seen so far, and fails with what ok last said.
func (r *recorder) wait(ctx context.Context, t *testing.T, what string, timeout time.Duration, ok func([]sighting) (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		done, last := ok(r.snapshot())
		if done {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
		case <-ctx.Done():
			t.Fatalf("%s: %v; last seen: %s", what, ctx.Err(), last)
		}
	}
}

// firstFleetWrite returns the first FleetRollout status seen after since with a term above
// term: the new leader's first scheduling action, as the hub's API server saw it.
func firstFleetWrite(events []sighting, since time.Time, term int64) (sighting, bool) {
	for _, e := range events {
		if e.kind == "FleetRollout" && !e.seen.Before(since) && e.term > term {
			return e, true
		}
	}
	return sighting{}, false
}

// checkTerms checks the fencing outcome on every member object, in resourceVersion order:
// the term stamped on it never goes down (once a leader of term T wrote it, no write of an
// older term landed), and the highest term the spoke recorded in the Rollout's status never
// goes down and ends equal to the term the Rollout was last stamped with. On the hub, the
// FleetRollout's status.term (the term of the leader that wrote the status) never goes down
// either. It returns how many sightings it checked.
func checkTerms(t *testing.T, events []sighting) int {
	t.Helper()
	byObject := map[string][]sighting{}
	for _, e := range events {
		k := e.cluster + "/" + e.kind + "/" + e.name
		byObject[k] = append(byObject[k], e)
	}
	n := 0
	for k, evs := range byObject {
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].rv < evs[j].rv })
		var maxTerm, maxRecorded int64 = -1, -1
		for _, e := range evs {
			n++
			if e.kind == "FleetRollout" {
				// The hub's own status write: the term of the leader that wrote it.
				if e.term < maxTerm {
					t.Errorf("%s at rv %d: status written in term %d after a write of term %d", k, e.rv, e.term, maxTerm)
				}
				maxTerm = max(maxTerm, e.term)
				continue
			}
			if e.term < 0 {
				t.Errorf("%s at rv %d carries no term annotation", k, e.rv)
			}
			if e.term < maxTerm {
				t.Errorf("%s at rv %d (revision %s) carries term %d after a write of term %d had landed", k, e.rv, e.revision, e.term, maxTerm)
			}
			maxTerm = max(maxTerm, e.term)
			if e.kind != "Rollout" {
				continue
			}
			if e.recorded < maxRecorded {
				t.Errorf("%s at rv %d: the spoke's recorded term went down from %d to %d", k, e.rv, maxRecorded, e.recorded)
			}
			maxRecorded = max(maxRecorded, e.recorded)
		}
		if last := evs[len(evs)-1]; last.kind == "Rollout" && last.recorded != last.term {
			t.Errorf("%s: finally stamped with term %d but the spoke recorded %d", k, last.term, last.recorded)
		}
	}
	return n
}

// describeMembers says where each member's Rollout stands, for failure messages.
func describeMembers(events []sighting) string {
	out := ""
	for _, c := range regions {
		if e, ok := latest(events, c, "Rollout", appName); ok {
			out += fmt.Sprintf("%s: revision %s term %d recorded %d healthy %v; ", c, e.revision, e.term, e.recorded, e.healthy)
		} else {
			out += c + ": no Rollout; "
		}
	}
	return out
}
