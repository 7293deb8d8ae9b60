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

package fleetrollout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// checkEventsAndMetrics checks what an operator sees of a finished revision without reading the
// journal: an event on the FleetRollout for every decision of the revision, and the metrics
// the hub's collector reports from the hub's API server.
func checkEventsAndMetrics(ctx context.Context, t *testing.T, hub client.Client, j *journal.FSM, fro *fleetv1alpha1.FleetRollout, rev int64) {
	t.Helper()
	var want []journal.Entry
	for _, e := range j.History(fro.Namespace, fro.Name) {
		if e.Revision == rev {
			want = append(want, e)
		}
	}
	// Events are sent in the background by the recorder: give them a moment.
	deadline := time.Now().Add(20 * time.Second)
	var missing []string
	for {
		list := &eventsv1.EventList{}
		if err := hub.List(ctx, list, client.InNamespace(fro.Namespace)); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range list.Items {
			if ev.Regarding.Kind == "FleetRollout" && ev.Regarding.Name == fro.Name {
				seen[ev.Reason+"|"+ev.Note] = true
			}
		}
		missing = missing[:0]
		for _, e := range want {
			found := false
			for k := range seen {
				reason, note, _ := strings.Cut(k, "|")
				if reason == string(e.Type) && strings.HasPrefix(note, fmt.Sprintf("revision %d", rev)) &&
					strings.Contains(note, e.Wave) && strings.Contains(note, e.Cluster) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s %s %s", e.Type, e.Wave, e.Cluster))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("revision %d: no event for the journaled decisions %v", rev, missing)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&fleetrollout.Collector{Reader: hub})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metric := func(name string, labels map[string]string) (float64, bool) {
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				if matches(m, labels) {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	key := map[string]string{"namespace": fro.Namespace, "name": fro.Name}
	with := func(extra ...string) map[string]string {
		out := map[string]string{}
		for k, v := range key {
			out[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			out[extra[i]] = extra[i+1]
		}
		return out
	}
	if v, _ := metric("flotilla_fleetrollout_phase", with("phase", "Succeeded")); v != 1 {
		t.Errorf("flotilla_fleetrollout_phase{phase=Succeeded} = %v, want 1", v)
	}
	if v, _ := metric("flotilla_fleetrollout_revision", key); v != float64(rev) {
		t.Errorf("flotilla_fleetrollout_revision = %v, want %d", v, rev)
	}
	if v, _ := metric("flotilla_fleetrollout_clusters", with("phase", "Healthy")); v != float64(len(regions)) {
		t.Errorf("flotilla_fleetrollout_clusters{phase=Healthy} = %v, want %d", v, len(regions))
	}
	for _, w := range fro.Status.Waves {
		d, ok := metric("flotilla_fleetrollout_wave_duration_seconds", with("wave", w.Name, "phase", "Succeeded"))
		if want := w.FinishedAt.Sub(w.StartedAt.Time).Seconds(); !ok || d != want {
			t.Errorf("wave %s: duration metric %v (reported %v), want %v from status", w.Name, d, ok, want)
		}
		for _, g := range w.Gates {
			if v, _ := metric("flotilla_fleetrollout_gate_verdict", with("wave", w.Name, "gate", g.Name, "verdict", "Passed")); v != 1 {
				t.Errorf("wave %s gate %s: verdict metric Passed = %v, want 1", w.Name, g.Name, v)
			}
		}
	}
	for _, r := range regions {
		if v, ok := metric("flotilla_hub_member_reachable", map[string]string{"member": r}); !ok || v != 1 {
			t.Errorf("member %s: flotilla_hub_member_reachable = %v (reported %v), want 1", r, v, ok)
		}
		if v, ok := metric("flotilla_hub_member_contact_age_seconds", map[string]string{"member": r}); !ok || v < 0 {
			t.Errorf("member %s: flotilla_hub_member_contact_age_seconds = %v (reported %v), want a non-negative age", r, v, ok)
		}
	}
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}
