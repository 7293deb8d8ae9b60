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

package gates

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// verdicts builds a verdict map from "name=Verdict" pairs.
func verdicts(pairs ...string) map[string]ClusterVerdict {
	m := map[string]ClusterVerdict{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = ClusterVerdict(v)
	}
	return m
}

func intOrStr(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

func TestAggregate(t *testing.T) {
	four := []string{"a", "b", "c", "d"}
	cases := []struct {
		name        string
		gate        fleetv1alpha1.AggregateGate
		counted     []string
		verdicts    map[string]ClusterVerdict
		want        fleetv1alpha1.GateVerdict
		wantFailed  []string
		wantNoData  []string
		wantMessage string
		wantValues  map[string]string
	}{
		{name: "all healthy passes requireAllHealthy",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Healthy", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GatePassed, wantMessage: "4 of 4 clusters healthy (100%)",
			wantValues: map[string]string{"counted": "4", "healthy": "4", "failed": "0", "unknown": "0",
				"successPercent": "100", "requireAllHealthy": "true"}},
		{name: "one failed fails requireAllHealthy",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Failed", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantFailed: []string{"b"},
			wantMessage: "requireAllHealthy: 1 of 4 clusters failed (b)"},
		{name: "degraded counts as failed",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Healthy", "c=Degraded", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantFailed: []string{"c"}},
		{name: "unknown cluster never passes requireAllHealthy: the gate waits",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Healthy", "c=Unknown", "d=Healthy"),
			want:     fleetv1alpha1.GatePending, wantMessage: "waiting for c (Unknown)",
			wantValues: map[string]string{"healthy": "3", "unknown": "1", "successPercent": "75"}},
		{name: "a cluster with no verdict has no data and never passes",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Healthy", "c=Healthy"),
			want:     fleetv1alpha1.GatePending, wantNoData: []string{"d"}, wantMessage: "d (no data)"},
		{name: "an empty verdict is no data",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: []string{"a"},
			verdicts: verdicts("a="), want: fleetv1alpha1.GatePending, wantNoData: []string{"a"}},
		{name: "progressing never passes",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: []string{"a", "b"},
			verdicts: verdicts("a=Healthy", "b=Progressing"), want: fleetv1alpha1.GatePending},
		{name: "a known failure decides even with an unknown cluster",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Unknown", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantFailed: []string{"a"}},
		{name: "maxFailures absorbs an unknown cluster counted as failed",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("1")}, counted: four,
			verdicts: verdicts("a=Healthy", "b=Healthy", "c=Unknown", "d=Healthy"),
			want:     fleetv1alpha1.GatePassed, wantMessage: "c (Unknown) without a verdict counted as failed",
			wantValues: map[string]string{"maxFailures": "1"}},
		{name: "maxFailures: one failed and one unknown waits",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("1")}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Unknown", "d=Healthy"),
			want:     fleetv1alpha1.GatePending, wantMessage: "maxFailures would not hold"},
		{name: "maxFailures: two failed of one allowed fails",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("1")}, counted: four,
			verdicts: verdicts("a=Failed", "b=Degraded", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantFailed: []string{"a", "b"},
			wantMessage: "maxFailures: 2 clusters failed, more than the 1 allowed (1 of 4)"},
		{name: "maxFailures: one failed within the limit passes and says so",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("1")}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GatePassed, wantMessage: "failed within the limits: a"},
		{name: "maxFailures 25% of 4 is 1",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("25%")}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GatePassed, wantValues: map[string]string{"maxFailures": "1"}},
		{name: "maxFailures 20% of 4 rounds down to 0",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("20%")}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantValues: map[string]string{"maxFailures": "0"}},
		{name: "maxFailures 0 with everything healthy passes",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("0")}, counted: []string{"a"},
			verdicts: verdicts("a=Healthy"), want: fleetv1alpha1.GatePassed},
		{name: "minSuccessPercent 75: 3 of 4 passes",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](75)}, counted: four,
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GatePassed, wantValues: map[string]string{"minSuccessPercent": "75", "successPercent": "75"}},
		{name: "minSuccessPercent 75: 2 of 4 fails",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](75)}, counted: four,
			verdicts: verdicts("a=Failed", "b=Failed", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantMessage: "minSuccessPercent: 50% of the clusters are healthy, below 75%"},
		{name: "minSuccessPercent 75: 2 healthy, 1 unknown, 1 failed waits",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](75)}, counted: four,
			verdicts: verdicts("a=Failed", "b=Unknown", "c=Healthy", "d=Healthy"),
			want:     fleetv1alpha1.GatePending},
		{name: "minSuccessPercent 75: 1 healthy, 1 unknown, 2 failed fails at once",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](75)}, counted: four,
			verdicts: verdicts("a=Failed", "b=Unknown", "c=Failed", "d=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantMessage: "at most 50% of the clusters can be healthy, below 75%"},
		{name: "minSuccessPercent 67: 2 of 3 is 66.66%, exactly below",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](67)}, counted: []string{"a", "b", "c"},
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy"),
			want:     fleetv1alpha1.GateFailed, wantValues: map[string]string{"successPercent": "66.66"}},
		{name: "minSuccessPercent 66: 2 of 3 passes",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](66)}, counted: []string{"a", "b", "c"},
			verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy"), want: fleetv1alpha1.GatePassed},
		{name: "minSuccessPercent 0 passes even with nothing healthy",
			gate: fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](0)}, counted: []string{"a", "b"},
			verdicts: verdicts("a=Failed", "b=Unknown"), want: fleetv1alpha1.GatePassed},
		{name: "every criterion must hold: maxFailures holds, requireAllHealthy does not",
			gate:    fleetv1alpha1.AggregateGate{RequireAllHealthy: true, MaxFailures: intOrStr("1")},
			counted: four, verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want: fleetv1alpha1.GateFailed, wantMessage: "requireAllHealthy"},
		{name: "two criteria fail: both are named",
			gate:    fleetv1alpha1.AggregateGate{MinSuccessPercent: ptr.To[int32](90), MaxFailures: intOrStr("0")},
			counted: four, verdicts: verdicts("a=Failed", "b=Healthy", "c=Healthy", "d=Healthy"),
			want: fleetv1alpha1.GateFailed, wantMessage: "minSuccessPercent: 75% of the clusters are healthy, below 90%; maxFailures"},
		{name: "no cluster counted is inconclusive",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: nil,
			want: fleetv1alpha1.GateInconclusive, wantValues: map[string]string{"counted": "0", "successPercent": "0"}},
		{name: "an invalid maxFailures is an error verdict",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: intOrStr("150%")}, counted: []string{"a"},
			verdicts: verdicts("a=Healthy"), want: fleetv1alpha1.GateError, wantMessage: "150%"},
		{name: "a negative maxFailures is an error verdict",
			gate: fleetv1alpha1.AggregateGate{MaxFailures: &intstr.IntOrString{IntVal: -1}}, counted: []string{"a"},
			verdicts: verdicts("a=Healthy"), want: fleetv1alpha1.GateError},
		{name: "a cluster counted twice counts once",
			gate: fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, counted: []string{"a", "a", "b"},
			verdicts: verdicts("a=Healthy", "b=Healthy"), want: fleetv1alpha1.GatePassed,
			wantValues: map[string]string{"counted": "2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Aggregate(&tc.gate, tc.counted, tc.verdicts)
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (message %q)", r.Verdict, tc.want, r.Message)
			}
			if tc.wantFailed != nil && !reflect.DeepEqual(r.Failed, tc.wantFailed) {
				t.Errorf("failed %v, want %v", r.Failed, tc.wantFailed)
			}
			if tc.wantNoData != nil && !reflect.DeepEqual(r.NoData, tc.wantNoData) {
				t.Errorf("no data %v, want %v", r.NoData, tc.wantNoData)
			}
			if !strings.Contains(r.Message, tc.wantMessage) {
				t.Errorf("message %q does not contain %q", r.Message, tc.wantMessage)
			}
			got := values(r.Measurements)
			for k, v := range tc.wantValues {
				if got[k] != v {
					t.Errorf("measurement %s = %q, want %q (all: %v)", k, got[k], v, r.Measurements)
				}
			}
		})
	}
}

func values(ms []fleetv1alpha1.GateMeasurement) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		out[m.Name] = m.Value
	}
	return out
}

func TestSuccessPercent(t *testing.T) {
	for _, tc := range []struct {
		h, n int
		want string
	}{
		{0, 0, "0"}, {0, 5, "0"}, {1, 1, "100"}, {2, 3, "66.66"}, {1, 3, "33.33"}, {1, 8, "12.5"},
		{9999, 10000, "99.99"}, {99999, 100000, "99.99"}, {1, 2, "50"}, {1, 10000, "0.01"}, {1, 10001, "0"},
	} {
		if got := successPercent(tc.h, tc.n); got != tc.want {
			t.Errorf("successPercent(%d, %d) = %q, want %q", tc.h, tc.n, got, tc.want)
		}
	}
}

func TestVerdictOf(t *testing.T) {
	for phase, want := range map[fleetv1alpha1.ClusterPhase]ClusterVerdict{
		fleetv1alpha1.ClusterHealthy:     VerdictHealthy,
		fleetv1alpha1.ClusterDegraded:    VerdictDegraded,
		fleetv1alpha1.ClusterFailed:      VerdictFailed,
		fleetv1alpha1.ClusterRollingBack: VerdictFailed,
		fleetv1alpha1.ClusterRolledBack:  VerdictFailed,
		fleetv1alpha1.ClusterUnknown:     VerdictUnknown,
		fleetv1alpha1.ClusterPending:     VerdictProgressing,
		fleetv1alpha1.ClusterProgressing: VerdictProgressing,
		fleetv1alpha1.ClusterPaused:      VerdictProgressing,
		fleetv1alpha1.ClusterSkipped:     "",
		"":                               "",
	} {
		if got := VerdictOf(phase); got != want {
			t.Errorf("VerdictOf(%q) = %q, want %q", phase, got, want)
		}
	}
}

func TestMaxFailures(t *testing.T) {
	for _, tc := range []struct {
		v       *intstr.IntOrString
		n, want int
		wantErr bool
	}{
		{nil, 10, 0, false},
		{intOrStr("3"), 10, 3, false},
		{intOrStr("0%"), 10, 0, false},
		{intOrStr("10%"), 10, 1, false},
		{intOrStr("19%"), 10, 1, false},
		{intOrStr("100%"), 7, 7, false},
		{intOrStr("33%"), 3, 0, false},
		{intOrStr("34%"), 3, 1, false},
		{intOrStr("101%"), 3, 0, true},
		{intOrStr("-1%"), 3, 0, true},
		{intOrStr("+5%"), 3, 0, true},
		{intOrStr("abc"), 3, 0, true},
		{&intstr.IntOrString{Type: intstr.String, StrVal: "5"}, 3, 0, true},
	} {
		got, err := MaxFailures(tc.v, tc.n)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("MaxFailures(%v, %d) = %d, %v; want %d, error %v", tc.v, tc.n, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCombine(t *testing.T) {
	P, F, I, E, R, W := fleetv1alpha1.GatePassed, fleetv1alpha1.GateFailed, fleetv1alpha1.GateInconclusive,
		fleetv1alpha1.GateError, fleetv1alpha1.GateRunning, fleetv1alpha1.GatePending
	for _, tc := range []struct {
		in   []fleetv1alpha1.GateVerdict
		want fleetv1alpha1.GateVerdict
	}{
		{nil, P},
		{[]fleetv1alpha1.GateVerdict{P, P}, P},
		{[]fleetv1alpha1.GateVerdict{P, F, R}, F},
		{[]fleetv1alpha1.GateVerdict{I, F}, F},
		{[]fleetv1alpha1.GateVerdict{I, E}, E},
		{[]fleetv1alpha1.GateVerdict{P, I, R}, I},
		{[]fleetv1alpha1.GateVerdict{P, W, R}, R},
		{[]fleetv1alpha1.GateVerdict{P, W}, W},
		{[]fleetv1alpha1.GateVerdict{P, ""}, W},
	} {
		if got := Combine(tc.in...); got != tc.want {
			t.Errorf("Combine(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestResultJournalAndStatus(t *testing.T) {
	r := Aggregate(&fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, []string{"a"}, verdicts("a=Healthy"))
	j := r.Journal("all-healthy", true)
	if j.Name != "all-healthy" || !j.Fleet || j.Verdict != fleetv1alpha1.GatePassed || j.Message != r.Message ||
		!reflect.DeepEqual(j.Measurements, r.Measurements) {
		t.Fatalf("journal gate %+v does not carry the result %+v", j, r)
	}
	j.Measurements[0].Value = "changed"
	if r.Measurements[0].Value == "changed" {
		t.Fatal("the journal payload shares measurements with the result")
	}

	t1 := metav1.NewTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	t2 := metav1.NewTime(t1.Add(time.Minute))
	first := r.Status("all-healthy", false, nil, t1)
	if first.Verdict != fleetv1alpha1.GatePassed || !first.LastTransitionTime.Equal(&t1) || first.Fleet {
		t.Fatalf("status %+v", first)
	}
	same := r.Status("all-healthy", false, &first, t2)
	if !same.LastTransitionTime.Equal(&t1) {
		t.Errorf("unchanged verdict moved lastTransitionTime to %v", same.LastTransitionTime)
	}
	failed := Aggregate(&fleetv1alpha1.AggregateGate{RequireAllHealthy: true}, []string{"a"}, verdicts("a=Failed"))
	changed := failed.Status("all-healthy", false, &first, t2)
	if !changed.LastTransitionTime.Equal(&t2) {
		t.Errorf("changed verdict kept lastTransitionTime %v", changed.LastTransitionTime)
	}
}
