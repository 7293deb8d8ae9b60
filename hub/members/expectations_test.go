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
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
)

var key = client.ObjectKey{Namespace: "shop", Name: "checkout"}

// rollout is the Rollout key at resourceVersion rv with spec.paused as given, as a write
// returns it: full spec and every manager's managed fields.
func rollout(rv string, paused bool) *rolloutsv1alpha1.Rollout {
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: rv,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: federation.FieldManager}, {Manager: "kubectl"}}}}
	ro.Spec.Paused = paused
	ro.Spec.Template = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:v2"}}}}
	return ro
}

// TestExpectations: a read whose cache is older than the hub's write gets the written object
// (stripped as the cache strips it) until the cache shows the write, the watch event shows it,
// the cluster disengages or the timeout passes; a deletion the cache does not show yet is
// ErrNotObserved, with the time the reconcile must come back at the latest.
func TestExpectations(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	const timeout = time.Minute
	type step struct {
		what    string
		write   *rolloutsv1alpha1.Rollout // a write that returned this (nil: none)
		rawRV   string                    // a write whose answer did not decode, at this version
		delete  bool                      // a deletion
		event   *rolloutsv1alpha1.Rollout // a watch event with this object
		gone    bool                      // the event is the Rollout's deletion
		clear   bool                      // the cluster disengaged
		at      time.Duration             // since t0
		cached  *rolloutsv1alpha1.Rollout // what the cache holds at the read (nil: nothing)
		wantRV  string                    // the read's Rollout ("" none)
		paused  bool                      // its spec.paused
		waiting bool                      // the read is ErrNotObserved
		until   time.Duration             // the read's until, since t0 (0: none)
		pending int                       // expectations left after the step
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"no write: the cache as it is", []step{
			{what: "read", cached: rollout("9", false), wantRV: "9"},
		}},
		{"a write the cache does not show yet is read back until the cache shows it", []step{
			{what: "pause", write: rollout("10", true), pending: 1},
			{what: "read the older cache", at: time.Second, cached: rollout("9", false), wantRV: "10", paused: true, until: timeout, pending: 1},
			{what: "read again", at: 2 * time.Second, cached: rollout("9", false), wantRV: "10", paused: true, until: timeout, pending: 1},
			{what: "the cache caught up", at: 3 * time.Second, cached: rollout("10", true), wantRV: "10", paused: true},
		}},
		{"a create the cache does not hold yet", []step{
			{what: "dispatch", write: rollout("10", false), pending: 1},
			{what: "read a cache without it", cached: nil, wantRV: "10", until: timeout, pending: 1},
		}},
		{"a later write by someone else shows ours too", []step{
			{what: "retry", write: rollout("10", false), pending: 1},
			{what: "the spoke wrote since", cached: rollout("12", true), wantRV: "12", paused: true},
		}},
		{"the watch event ends it", []step{
			{what: "pause", write: rollout("10", true), pending: 1},
			{what: "an older event", event: rollout("9", false), pending: 1},
			{what: "the write's event", event: rollout("10", true)},
			{what: "read", cached: rollout("10", true), wantRV: "10", paused: true},
		}},
		{"the timeout ends it, and a lost event does not wedge the read", []step{
			{what: "pause", write: rollout("10", true), pending: 1},
			{what: "just before", at: timeout - time.Nanosecond, cached: rollout("9", false), wantRV: "10", paused: true, until: timeout, pending: 1},
			{what: "at the timeout", at: timeout, cached: rollout("9", false), wantRV: "9"},
		}},
		{"expired expectations are dropped when another is recorded", []step{
			{what: "pause", write: rollout("10", true), pending: 1},
			{what: "another object's write after the timeout", at: timeout,
				write: func() *rolloutsv1alpha1.Rollout { r := rollout("20", false); r.Name = "other"; return r }(), pending: 1},
		}},
		{"disengaging drops them", []step{
			{what: "pause", write: rollout("10", true), pending: 1},
			{what: "disengaged", clear: true},
			{what: "read", cached: rollout("9", false), wantRV: "9"},
		}},
		{"a deletion the cache does not show yet is not observed", []step{
			{what: "delete", delete: true, pending: 1},
			{what: "the cache still holds it", at: time.Second, cached: rollout("10", false), waiting: true, until: timeout, pending: 1},
			{what: "the cache dropped it", at: 2 * time.Second, cached: nil},
		}},
		{"a deletion shown by the deletion timestamp", []step{
			{what: "delete", delete: true, pending: 1},
			{what: "the cache holds it terminating", cached: func() *rolloutsv1alpha1.Rollout {
				r := rollout("11", false)
				r.DeletionTimestamp = &metav1.Time{Time: t0}
				return r
			}(), wantRV: "11"},
		}},
		{"a deletion shown by its event", []step{
			{what: "delete", delete: true, pending: 1},
			{what: "the deletion's event", event: rollout("10", false), gone: true},
		}},
		{"the deletion of an older Rollout does not show a later write", []step{
			{what: "dispatch again", write: rollout("15", false), pending: 1},
			{what: "the old one's deletion event", event: rollout("9", false), gone: true, pending: 1},
			{what: "read a cache without it", cached: nil, wantRV: "15", until: timeout, pending: 1},
		}},
		{"an answer that does not decode waits for the watch", []step{
			{what: "write", rawRV: "10", pending: 1},
			{what: "read the older cache", cached: rollout("9", false), waiting: true, until: timeout, pending: 1},
			{what: "the cache caught up", cached: rollout("10", false), wantRV: "10"},
		}},
		{"resource versions that are not integers compare equal only", []step{
			{what: "write", write: rollout("b", true), pending: 1},
			{what: "another version", cached: rollout("a", false), wantRV: "b", paused: true, until: timeout, pending: 1},
			{what: "the same", cached: rollout("b", true), wantRV: "b", paused: true},
		}},
	}
	for _, tc := range cases {
		x := newExpectations(timeout)
		for _, s := range tc.steps {
			now := t0.Add(s.at)
			name := tc.name + ": " + s.what
			switch {
			case s.write != nil:
				x.wrote(client.ObjectKeyFromObject(s.write), s.write.ResourceVersion, s.write.DeepCopy(), now)
			case s.rawRV != "":
				x.wrote(key, s.rawRV, nil, now)
			case s.delete:
				x.deleted(key, now)
			case s.event != nil:
				x.observed(key, s.event, s.gone)
			case s.clear:
				x.clear()
			default:
				ro, until, err := x.read(key, s.cached, now)
				var notYet *NotObservedError
				switch {
				case s.waiting:
					if !errors.Is(err, ErrNotObserved) || !errors.As(err, &notYet) || notYet.Key != key {
						t.Errorf("%s: got %v, want a NotObservedError for %s", name, err, key)
					} else {
						until = notYet.Until
					}
				case err != nil:
					t.Errorf("%s: %v", name, err)
				case s.wantRV == "" && ro != nil:
					t.Errorf("%s: got Rollout %s, want none", name, ro.ResourceVersion)
				case s.wantRV != "" && (ro == nil || ro.ResourceVersion != s.wantRV || ro.Spec.Paused != s.paused):
					t.Errorf("%s: got %+v, want resourceVersion %s paused %v", name, ro, s.wantRV, s.paused)
				case ro != nil && s.until != 0 && (ro.Spec.Template != nil || len(ro.ManagedFields) != 1):
					t.Errorf("%s: the written Rollout is not stripped as the cache strips it: %+v", name, ro)
				}
				if want := t0.Add(s.until); s.until != 0 && !until.Equal(want) || s.until == 0 && !until.IsZero() {
					t.Errorf("%s: until %v, want %v", name, until, s.until)
				}
				if ro != nil && s.until != 0 {
					ro.Spec.Paused = !ro.Spec.Paused // the caller's own copy
				}
			}
			if got := x.pending(); got != s.pending {
				t.Errorf("%s: %d expectations pending, want %d", name, got, s.pending)
			}
		}
	}
}
