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

package fleetrollout

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Collector reports FleetRollouts and member clusters as Prometheus metrics, read from the
// hub's cache at scrape time. Only the leader writes status, but every replica caches it, so
// every replica reports the same values and none goes stale when leadership moves; nothing
// runs between scrapes.
type Collector struct {
	// Reader reads FleetRollouts and MemberClusters, normally the manager's cache.
	Reader client.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var (
	descPhase = prometheus.NewDesc("flotilla_fleetrollout_phase",
		"1 for the phase each FleetRollout is in, 0 for the others.",
		[]string{"namespace", "name", "phase"}, nil)
	descRevision = prometheus.NewDesc("flotilla_fleetrollout_revision",
		"The fleet revision each FleetRollout is shipping.",
		[]string{"namespace", "name"}, nil)
	descClusters = prometheus.NewDesc("flotilla_fleetrollout_clusters",
		"Placed clusters of each FleetRollout, by the phase of the current revision in them.",
		[]string{"namespace", "name", "phase"}, nil)
	descWaveDuration = prometheus.NewDesc("flotilla_fleetrollout_wave_duration_seconds",
		"How long each started wave of the current revision ran: until it finished, or until now.",
		[]string{"namespace", "name", "wave", "phase"}, nil)
	descGate = prometheus.NewDesc("flotilla_fleetrollout_gate_verdict",
		"1 for the current verdict of each gate of each wave of the current revision.",
		[]string{"namespace", "name", "wave", "gate", "verdict"}, nil)
	descContactAge = prometheus.NewDesc("flotilla_hub_member_contact_age_seconds",
		"Seconds since the hub last reached each member's API server: how far behind the hub's view of the member is.",
		[]string{"member"}, nil)
	descReachable = prometheus.NewDesc("flotilla_hub_member_reachable",
		"1 when the hub reaches the member's API server, 0 when not (or not yet known).",
		[]string{"member"}, nil)
)

var fleetPhases = []fleetv1alpha1.FleetRolloutPhase{
	fleetv1alpha1.FleetRolloutPending, fleetv1alpha1.FleetRolloutProgressing, fleetv1alpha1.FleetRolloutPaused,
	fleetv1alpha1.FleetRolloutWaitingForApproval, fleetv1alpha1.FleetRolloutSucceeded, fleetv1alpha1.FleetRolloutFailed,
	fleetv1alpha1.FleetRolloutRollingBack, fleetv1alpha1.FleetRolloutRolledBack,
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPhase, descRevision, descClusters, descWaveDuration, descGate,
		descContactAge, descReachable} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A cache read that fails reports nothing rather
// than a guess.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	frs := &fleetv1alpha1.FleetRolloutList{}
	if err := c.Reader.List(ctx, frs); err == nil {
		for i := range frs.Items {
			f := &frs.Items[i]
			for _, p := range fleetPhases {
				gauge(descPhase, boolValue(f.Status.Phase == p), f.Namespace, f.Name, string(p))
			}
			gauge(descRevision, float64(f.Status.CurrentRevision), f.Namespace, f.Name)
			byPhase := map[fleetv1alpha1.ClusterPhase]int{}
			for _, cs := range f.Status.Clusters {
				byPhase[cs.Phase]++
			}
			for p, n := range byPhase {
				gauge(descClusters, float64(n), f.Namespace, f.Name, string(p))
			}
			for _, w := range f.Status.Waves {
				if w.StartedAt != nil {
					end := now
					if w.FinishedAt != nil {
						end = w.FinishedAt.Time
					}
					gauge(descWaveDuration, end.Sub(w.StartedAt.Time).Seconds(), f.Namespace, f.Name, w.Name, string(w.Phase))
				}
				for _, g := range w.Gates {
					if g.Verdict != "" {
						gauge(descGate, 1, f.Namespace, f.Name, w.Name, g.Name, string(g.Verdict))
					}
				}
			}
		}
	}
	mcs := &fleetv1alpha1.MemberClusterList{}
	if err := c.Reader.List(ctx, mcs); err == nil {
		for i := range mcs.Items {
			m := &mcs.Items[i]
			gauge(descReachable, boolValue(apimeta.IsStatusConditionTrue(m.Status.Conditions, fleetv1alpha1.ConditionReachable)), m.Name)
			if m.Status.LastContactTime != nil {
				gauge(descContactAge, now.Sub(m.Status.LastContactTime.Time).Seconds(), m.Name)
			}
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// recordDecision emits the event of a decision the leader just journaled for the first time:
// one event per decision, so a FleetRollout's events read like its journal.
func (r *Reconciler) recordDecision(fro *fleetv1alpha1.FleetRollout, d journal.Decision) {
	if r.Recorder == nil {
		return
	}
	typ, msg := corev1.EventTypeNormal, describeDecision(d)
	switch {
	case d.Type == journal.ClusterFailed, d.Type == journal.Aborted, d.Type == journal.RollbackStarted,
		d.Type == journal.WaveCompleted && d.Outcome == fleetv1alpha1.WaveFailed,
		d.Type == journal.GateEvaluated && d.Gate != nil && d.Gate.Verdict != fleetv1alpha1.GatePassed,
		d.Type == journal.Deleted && d.Deletion != nil && len(d.Deletion.LeftOn) > 0:
		typ = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(fro, nil, typ, string(d.Type), "Journal", "%s", msg)
}

// describeDecision says in one line what a decision decided.
func describeDecision(d journal.Decision) string {
	msg := fmt.Sprintf("revision %d", d.Revision)
	if d.Wave != "" {
		msg += ", wave " + d.Wave
	}
	if d.Cluster != "" {
		msg += ", cluster " + d.Cluster
	}
	switch {
	case d.Gate != nil:
		msg += fmt.Sprintf(": gate %s %s", d.Gate.Name, d.Gate.Verdict)
		if d.Gate.Message != "" {
			msg += " (" + d.Gate.Message + ")"
		}
	case d.Outcome != "":
		msg += ": " + string(d.Outcome)
	case d.Reason != "":
		msg += ": " + d.Reason
	}
	if d.Actor != "" {
		msg += " by " + d.Actor
	}
	return msg
}
