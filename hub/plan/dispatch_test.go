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

package plan

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// ago is t0 minus d minutes.
func ago(minutes int) time.Time { return t0.Add(-time.Duration(minutes) * time.Minute) }

func healthy(sinceMin int) ClusterState {
	return ClusterState{Phase: Healthy, DispatchedAt: ago(sinceMin + 10), Promoted: true, Since: ago(sinceMin)}
}

func failed(sinceMin int) ClusterState {
	return ClusterState{Phase: Failed, DispatchedAt: ago(sinceMin + 10), Since: ago(sinceMin)}
}

func progressing(dispatchedMin int) ClusterState {
	return ClusterState{Phase: Progressing, DispatchedAt: ago(dispatchedMin), Since: ago(dispatchedMin)}
}

// unknown is an unreachable cluster: dispatched (or not, with -1) and promoted or not.
func unknown(dispatchedMin int, promoted bool, sinceMin int) ClusterState {
	s := ClusterState{Phase: Unknown, Promoted: promoted, Since: ago(sinceMin)}
	if dispatchedMin >= 0 {
		s.DispatchedAt = ago(dispatchedMin)
	}
	return s
}

func clusterNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%02d", i)
	}
	return out
}

func TestDecide(t *testing.T) {
	ten := clusterNames(10)
	three := clusterNames(3)
	cases := []struct {
		name     string
		wave     fleetv1alpha1.Wave
		clusters []string
		maint    []string
		departed []string
		states   map[string]ClusterState
		spec     func(*fleetv1alpha1.FleetRolloutSpec)
		before   bool
		after    bool
		gates    fleetv1alpha1.GateVerdict

		phase     fleetv1alpha1.WavePhase
		reason    string
		start     []string
		exceeded  []string
		leftOut   []string
		counts    *Counts
		maxConc   int
		maxFail   int
		bakeUntil time.Time
		requeue   time.Duration
		awaiting  fleetv1alpha1.ApprovalStage
		message   string
	}{
		{name: "a new wave starts maxConcurrency clusters, percentages rounded up",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("25%")}, clusters: ten,
			phase: fleetv1alpha1.WaveProgressing, reason: fleetv1alpha1.ReasonWaveProgressing,
			start: []string{"c00", "c01", "c02"}, maxConc: 3, counts: &Counts{Total: 10, NotStarted: 10},
			message: "starting c00, c01, c02"},
		{name: "the default maxConcurrency is the whole wave",
			clusters: three, phase: fleetv1alpha1.WaveProgressing, start: three, maxConc: 3},
		{name: "1% of ten clusters is one cluster",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("1%")}, clusters: ten, start: []string{"c00"}, maxConc: 1,
			phase: fleetv1alpha1.WaveProgressing},
		{name: "a count: only the free slots start",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("2"), MaxFailures: ios("1")}, clusters: ten,
			states: map[string]ClusterState{"c00": healthy(5), "c01": progressing(3), "c02": failed(2)},
			phase:  fleetv1alpha1.WaveProgressing, start: []string{"c03"},
			counts: &Counts{Total: 10, NotStarted: 7, InFlight: 1, Healthy: 1, Failed: 1}, maxFail: 1},
		{name: "no slot free: nothing starts",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": {Phase: Dispatched, DispatchedAt: ago(1)}},
			phase:  fleetv1alpha1.WaveProgressing, start: nil},
		{name: "approval before is required",
			wave: fleetv1alpha1.Wave{Approval: &fleetv1alpha1.WaveApproval{Before: true}}, clusters: three,
			phase: fleetv1alpha1.WaveWaitingForApproval, reason: fleetv1alpha1.ReasonWaitingForApproval,
			awaiting: fleetv1alpha1.ApprovalStageBefore, message: "waits for a FleetApproval with stage Before"},
		{name: "approval before was given",
			wave: fleetv1alpha1.Wave{Approval: &fleetv1alpha1.WaveApproval{Before: true}}, clusters: three, before: true,
			phase: fleetv1alpha1.WaveProgressing, start: three},
		{name: "paused before any cluster started: the wave stays pending",
			clusters: three, spec: func(s *fleetv1alpha1.FleetRolloutSpec) { s.Paused = true },
			phase: fleetv1alpha1.WavePending, reason: fleetv1alpha1.ReasonPausedByUser, message: "paused: no cluster starts"},
		{name: "paused mid-wave: nothing more starts, clusters in flight go on",
			clusters: three, spec: func(s *fleetv1alpha1.FleetRolloutSpec) { s.Paused = true },
			states: map[string]ClusterState{"c00": progressing(1)},
			phase:  fleetv1alpha1.WaveProgressing, reason: fleetv1alpha1.ReasonPausedByUser},
		{name: "failures within maxFailures: the wave goes on",
			wave: fleetv1alpha1.Wave{MaxFailures: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": failed(1), "c01": progressing(2)},
			phase:  fleetv1alpha1.WaveProgressing, start: []string{"c02"}, maxFail: 1},
		{name: "more failures than maxFailures fail the wave",
			wave: fleetv1alpha1.Wave{MaxFailures: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": failed(1), "c01": failed(2)},
			phase:  fleetv1alpha1.WaveFailed, reason: fleetv1alpha1.ReasonClusterFailed, start: nil, maxFail: 1,
			message: "2 of 3 clusters failed (c00, c01), more than maxFailures 1"},
		{name: "maxFailures 10% of ten is one",
			wave: fleetv1alpha1.Wave{MaxFailures: ios("10%")}, clusters: ten,
			states: map[string]ClusterState{"c00": failed(1)}, phase: fleetv1alpha1.WaveProgressing, maxFail: 1,
			start: ten[1:]},
		{name: "maxFailures 19% of five rounds down to zero",
			wave: fleetv1alpha1.Wave{MaxFailures: ios("19%")}, clusters: clusterNames(5),
			states: map[string]ClusterState{"c00": failed(1)}, phase: fleetv1alpha1.WaveFailed, maxFail: 0},
		{name: "a failure during the approval after still fails the wave",
			wave: fleetv1alpha1.Wave{Approval: &fleetv1alpha1.WaveApproval{After: true}}, clusters: []string{"c00"},
			states: map[string]ClusterState{"c00": failed(1)}, phase: fleetv1alpha1.WaveFailed},
		{name: "a progress deadline passed counts as failed",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": progressing(61), "c01": healthy(1), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveFailed, reason: fleetv1alpha1.ReasonProgressDeadlineExceeded,
			exceeded: []string{"c00"}, counts: &Counts{Total: 3, Healthy: 2, Failed: 1}},
		{name: "a deadline passed within maxFailures: the slot is freed and the wave goes on",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("1"), MaxFailures: ios("1")}, clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": {Phase: Dispatched, DispatchedAt: ago(60)}},
			phase:  fleetv1alpha1.WaveProgressing, exceeded: []string{"c00"}, start: []string{"c01"}, maxFail: 1},
		{name: "a deadline ahead is the exact requeue",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": progressing(50), "c01": progressing(15), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveProgressing, requeue: 10 * time.Minute},
		{name: "an unreachable cluster blocks the wave without a deadline",
			clusters: three,
			states:   map[string]ClusterState{"c00": unknown(30, true, 5), "c01": healthy(1), "c02": healthy(1)},
			phase:    fleetv1alpha1.WaveProgressing, counts: &Counts{Total: 3, Healthy: 2, Unknown: 1},
			message: "unreachable: c00", requeue: 0},
		{name: "a promoted cluster that became unreachable counts as failed a deadline after it did",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": unknown(300, true, 45), "c01": healthy(1), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveProgressing, requeue: 15 * time.Minute},
		{name: "... and then fails a wave with maxFailures 0",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": unknown(300, true, 60), "c01": healthy(1), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveFailed, reason: fleetv1alpha1.ReasonProgressDeadlineExceeded,
			exceeded: []string{"c00"}},
		{name: "... or bakes when maxFailures absorbs it",
			wave: fleetv1alpha1.Wave{MaxFailures: ios("1"), BakeTime: "30m"}, clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": unknown(300, true, 70), "c01": healthy(20), "c02": healthy(5)},
			phase:  fleetv1alpha1.WaveBaking, exceeded: []string{"c00"}, bakeUntil: t0.Add(25 * time.Minute),
			requeue: 25 * time.Minute, maxFail: 1},
		{name: "an unreachable cluster that never reached the revision has the deadline from its dispatch",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": unknown(61, false, 1), "c01": healthy(1), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveFailed, exceeded: []string{"c00"}},
		{name: "an unreachable cluster still rolling out keeps its slot",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": unknown(10, false, 1)},
			phase:  fleetv1alpha1.WaveProgressing, start: nil, counts: &Counts{Total: 3, NotStarted: 2, Unknown: 1}},
		{name: "an unreachable cluster that finished frees its slot",
			wave: fleetv1alpha1.Wave{MaxConcurrency: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": unknown(10, true, 1)},
			phase:  fleetv1alpha1.WaveProgressing, start: []string{"c01"}},
		{name: "an unreachable cluster is not started; the others are",
			clusters: three, states: map[string]ClusterState{"c01": unknown(-1, false, 3)},
			phase: fleetv1alpha1.WaveProgressing, start: []string{"c00", "c02"}},
		{name: "an unreachable cluster never started counts as failed a deadline after it became unreachable",
			clusters: three, spec: deadline(60),
			states: map[string]ClusterState{"c00": healthy(1), "c01": unknown(-1, false, 60), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveFailed, exceeded: []string{"c01"}},
		{name: "bake time runs from the last cluster that finished",
			wave: fleetv1alpha1.Wave{BakeTime: "30m", MaxFailures: ios("1")}, clusters: three,
			states: map[string]ClusterState{"c00": healthy(25), "c01": failed(10), "c02": healthy(20)},
			phase:  fleetv1alpha1.WaveBaking, reason: fleetv1alpha1.ReasonBaking, bakeUntil: t0.Add(20 * time.Minute), maxFail: 1,
			requeue: 20 * time.Minute, message: "baking until 2026-05-01T12:20:00Z"},
		{name: "bake time over, no gates, no approval: succeeded",
			wave: fleetv1alpha1.Wave{BakeTime: "30m"}, clusters: three,
			states: map[string]ClusterState{"c00": healthy(30), "c01": healthy(31), "c02": healthy(40)},
			phase:  fleetv1alpha1.WaveSucceeded, reason: fleetv1alpha1.ReasonSucceeded, bakeUntil: t0},
		{name: "no bake time: straight to the gates",
			wave: fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}}, clusters: three,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveEvaluatingGates, reason: fleetv1alpha1.ReasonEvaluatingGates, message: "evaluating 1 gate"},
		{name: "fleet gates count too",
			clusters: three, spec: func(s *fleetv1alpha1.FleetRolloutSpec) { s.Gates = []fleetv1alpha1.Gate{{Name: "f"}, {Name: "g"}} },
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			gates:  fleetv1alpha1.GateRunning, phase: fleetv1alpha1.WaveEvaluatingGates, message: "evaluating 2 gates"},
		{name: "a failed gate fails the wave",
			wave: fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}}, clusters: three, gates: fleetv1alpha1.GateFailed,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveFailed, reason: fleetv1alpha1.ReasonGateFailed},
		{name: "an inconclusive gate stalls the wave",
			wave: fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}}, clusters: three, gates: fleetv1alpha1.GateInconclusive,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveEvaluatingGates, reason: fleetv1alpha1.ReasonGateInconclusive},
		{name: "a gate error stalls the wave",
			wave: fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}}, clusters: three, gates: fleetv1alpha1.GateError,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveEvaluatingGates, reason: fleetv1alpha1.ReasonGateInconclusive},
		{name: "gates passed, approval after required",
			wave:     fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}, Approval: &fleetv1alpha1.WaveApproval{Before: true, After: true}},
			clusters: three, gates: fleetv1alpha1.GatePassed, before: true,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveWaitingForApproval, awaiting: fleetv1alpha1.ApprovalStageAfter},
		{name: "gates passed, approval after given: succeeded",
			wave:     fleetv1alpha1.Wave{Gates: []fleetv1alpha1.Gate{{Name: "g"}}, Approval: &fleetv1alpha1.WaveApproval{After: true}},
			clusters: three, gates: fleetv1alpha1.GatePassed, after: true,
			states: map[string]ClusterState{"c00": healthy(1), "c01": healthy(1), "c02": healthy(0)},
			phase:  fleetv1alpha1.WaveSucceeded, message: "3 healthy, 0 failed of 3"},
		{name: "maintenance: a cluster not yet started is left out, one already dispatched finishes",
			clusters: three, maint: []string{"c01", "c02"},
			states: map[string]ClusterState{"c02": progressing(1)},
			phase:  fleetv1alpha1.WaveProgressing, start: []string{"c00"}, leftOut: []string{"c01"},
			counts: &Counts{Total: 3, LeftOut: 1, NotStarted: 1, InFlight: 1}},
		{name: "a departed cluster is left out whatever its state",
			clusters: three, departed: []string{"c00"},
			states: map[string]ClusterState{"c00": unknown(5, false, 1), "c01": healthy(1), "c02": healthy(1)},
			phase:  fleetv1alpha1.WaveSucceeded, leftOut: []string{"c00"}},
		{name: "a wave with no cluster taking part has nothing to do",
			clusters: []string{"c00"}, maint: []string{"c00"}, phase: fleetv1alpha1.WaveSucceeded,
			leftOut: []string{"c00"}, message: "no cluster that takes part"},
		{name: "an empty wave still waits for its approval before",
			wave: fleetv1alpha1.Wave{Approval: &fleetv1alpha1.WaveApproval{Before: true}}, clusters: nil,
			phase: fleetv1alpha1.WaveWaitingForApproval, awaiting: fleetv1alpha1.ApprovalStageBefore},
		{name: "a healthy cluster that degrades while baking fails the wave",
			wave: fleetv1alpha1.Wave{BakeTime: "1h"}, clusters: three,
			states: map[string]ClusterState{"c00": healthy(30), "c01": failed(1), "c02": healthy(20)},
			phase:  fleetv1alpha1.WaveFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &fleetv1alpha1.FleetRolloutSpec{}
			if tc.spec != nil {
				tc.spec(s)
			}
			ws := tc.wave
			ws.Name = "w"
			w := &Wave{Name: "w", Spec: &ws, Clusters: tc.clusters, Maintenance: tc.maint, Departed: tc.departed, Started: true}
			d, err := Decide(WaveInput{Spec: s, Wave: w, States: tc.states, ApprovedBefore: tc.before,
				ApprovedAfter: tc.after, Gates: tc.gates, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			if d.Phase != tc.phase {
				t.Fatalf("phase %s, want %s (%s)", d.Phase, tc.phase, d.Message)
			}
			if tc.reason != "" && d.Reason != tc.reason {
				t.Errorf("reason %s, want %s", d.Reason, tc.reason)
			}
			if !reflect.DeepEqual(d.Start, tc.start) {
				t.Errorf("start %v, want %v (%s)", d.Start, tc.start, d.Message)
			}
			if !reflect.DeepEqual(d.DeadlineExceeded, tc.exceeded) {
				t.Errorf("deadline exceeded %v, want %v", d.DeadlineExceeded, tc.exceeded)
			}
			if !reflect.DeepEqual(d.LeftOut, tc.leftOut) {
				t.Errorf("left out %v, want %v", d.LeftOut, tc.leftOut)
			}
			if tc.counts != nil && d.Counts != *tc.counts {
				t.Errorf("counts %+v, want %+v", d.Counts, *tc.counts)
			}
			if tc.maxConc != 0 && d.MaxConcurrency != tc.maxConc {
				t.Errorf("maxConcurrency %d, want %d", d.MaxConcurrency, tc.maxConc)
			}
			if d.MaxFailures != tc.maxFail {
				t.Errorf("maxFailures %d, want %d", d.MaxFailures, tc.maxFail)
			}
			if !d.BakeUntil.Equal(tc.bakeUntil) {
				t.Errorf("bakeUntil %v, want %v", d.BakeUntil, tc.bakeUntil)
			}
			if d.RequeueAfter != tc.requeue {
				t.Errorf("requeueAfter %v, want %v", d.RequeueAfter, tc.requeue)
			}
			if d.AwaitingApproval != tc.awaiting {
				t.Errorf("awaiting %q, want %q", d.AwaitingApproval, tc.awaiting)
			}
			if !strings.Contains(d.Message, tc.message) {
				t.Errorf("message %q does not contain %q", d.Message, tc.message)
			}
		})
	}
}

func deadline(minutes int32) func(*fleetv1alpha1.FleetRolloutSpec) {
	return func(s *fleetv1alpha1.FleetRolloutSpec) { s.ProgressDeadlineSeconds = new(minutes * 60) }
}

// TestDecideRunsAWave drives a wave of five clusters from start to end, two at a time, with a
// bake time, the way the controller will: decide, act on the decision, observe, decide again.
func TestDecideRunsAWave(t *testing.T) {
	spec := &fleetv1alpha1.FleetRolloutSpec{}
	ws := &fleetv1alpha1.Wave{Name: "eu", MaxConcurrency: ios("40%"), BakeTime: "10m"}
	w := &Wave{Name: "eu", Spec: ws, Clusters: clusterNames(5)}
	states := map[string]ClusterState{}
	now := t0
	var started []string
	for step := 0; step < 20; step++ {
		d, err := Decide(WaveInput{Spec: spec, Wave: w, States: states, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if d.Phase == fleetv1alpha1.WaveSucceeded {
			if want := t0.Add(3*time.Minute + 10*time.Minute); !now.Equal(want) {
				t.Errorf("succeeded at %v, want %v", now, want)
			}
			if !reflect.DeepEqual(started, []string{"c00", "c01", "c02", "c03", "c04"}) {
				t.Errorf("started in order %v", started)
			}
			return
		}
		if in := d.Counts.InFlight + len(d.Start); in > 2 {
			t.Fatalf("%d clusters in flight, maxConcurrency is 2", in)
		}
		for _, c := range d.Start {
			states[c] = ClusterState{Phase: Dispatched, DispatchedAt: now, Since: now}
			started = append(started, c)
		}
		if d.RequeueAfter > 0 {
			now = now.Add(d.RequeueAfter)
			continue
		}
		// A minute passes and every cluster in flight becomes healthy.
		now = now.Add(time.Minute)
		for c, s := range states {
			if s.Phase == Dispatched {
				states[c] = ClusterState{Phase: Healthy, DispatchedAt: s.DispatchedAt, Promoted: true, Since: now}
			}
		}
	}
	t.Fatal("the wave did not finish")
}

func TestDecideRefusesUnreadableSettings(t *testing.T) {
	for _, ws := range []fleetv1alpha1.Wave{
		{MaxConcurrency: &intstr.IntOrString{IntVal: 0}},
		{MaxFailures: ios("x%")},
		{BakeTime: "later"},
	} {
		_, err := Decide(WaveInput{Spec: &fleetv1alpha1.FleetRolloutSpec{}, Wave: &Wave{Name: "w", Spec: &ws}, Now: t0})
		if err == nil || !strings.HasPrefix(err.Error(), `wave "w": `) {
			t.Errorf("%+v: error %v", ws, err)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		v          *intstr.IntOrString
		n, conc    int
		concErr    bool
		fail       int
		failErr    bool
		skipFailOK bool
	}{
		{v: nil, n: 7, conc: 7, fail: 0},
		{v: nil, n: 0, conc: 1, fail: 0},
		{v: ios("3"), n: 10, conc: 3, fail: 3},
		{v: ios("10%"), n: 30, conc: 3, fail: 3},
		{v: ios("10%"), n: 31, conc: 4, fail: 3},
		{v: ios("50%"), n: 3, conc: 2, fail: 1},
		{v: ios("1%"), n: 1, conc: 1, fail: 0},
		{v: ios("100%"), n: 9, conc: 9, fail: 9},
		{v: ios("0%"), n: 9, concErr: true, fail: 0},
		{v: ios("0"), n: 9, concErr: true, fail: 0},
		{v: ios("101%"), n: 9, concErr: true, failErr: true},
		{v: ios("+5%"), n: 9, concErr: true, failErr: true},
		{v: ios("5"), n: 9, conc: 5, fail: 5},
		{v: &intstr.IntOrString{Type: intstr.String, StrVal: "5"}, n: 9, concErr: true, failErr: true},
		{v: &intstr.IntOrString{IntVal: -1}, n: 9, concErr: true, failErr: true},
	} {
		conc, err := MaxConcurrency(tc.v, tc.n)
		if (err != nil) != tc.concErr || (err == nil && conc != tc.conc) {
			t.Errorf("MaxConcurrency(%v, %d) = %d, %v; want %d, error %v", tc.v, tc.n, conc, err, tc.conc, tc.concErr)
		}
		fail, err := MaxFailures(tc.v, tc.n)
		if (err != nil) != tc.failErr || (err == nil && fail != tc.fail) {
			t.Errorf("MaxFailures(%v, %d) = %d, %v; want %d, error %v", tc.v, tc.n, fail, err, tc.fail, tc.failErr)
		}
	}
}

func TestFindApproval(t *testing.T) {
	mk := func(name string, createdMin int, rev int64, wave string, stage fleetv1alpha1.ApprovalStage) fleetv1alpha1.FleetApproval {
		a := fleetv1alpha1.FleetApproval{Spec: fleetv1alpha1.FleetApprovalSpec{FleetRollout: "shop", Revision: rev,
			Wave: wave, Stage: stage, ApprovedBy: "alice"}}
		a.Name, a.Namespace = name, "prod"
		a.CreationTimestamp.Time = ago(createdMin)
		return a
	}
	before, after := fleetv1alpha1.ApprovalStageBefore, fleetv1alpha1.ApprovalStageAfter
	deleting := mk("deleting", 50, 2, "eu", before)
	deleting.DeletionTimestamp = &deleting.CreationTimestamp
	otherNS := mk("other-ns", 60, 2, "eu", before)
	otherNS.Namespace = "dev"
	list := []fleetv1alpha1.FleetApproval{
		mk("old-revision", 90, 1, "eu", before), mk("after", 80, 2, "eu", after), mk("other-wave", 70, 2, "us", before),
		otherNS, deleting, mk("b-second", 10, 2, "eu", before), mk("z-first", 20, 2, "eu", before), mk("a-first", 20, 2, "eu", before),
	}
	if got := FindApproval(list, "prod", "shop", 2, "eu", before); got == nil || got.Name != "a-first" {
		t.Errorf("got %v, want a-first (oldest, then by name)", got)
	}
	if got := FindApproval(list, "prod", "shop", 2, "eu", after); got == nil || got.Name != "after" {
		t.Errorf("got %v, want after", got)
	}
	if got := FindApproval(list, "prod", "shop", 3, "eu", before); got != nil {
		t.Errorf("an approval carried over to another revision: %s", got.Name)
	}
	if got := FindApproval(list, "prod", "cart", 2, "eu", before); got != nil {
		t.Errorf("an approval of another FleetRollout matched: %s", got.Name)
	}
}
