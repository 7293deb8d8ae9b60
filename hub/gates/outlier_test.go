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
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/analysis"
	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestOutlierCatchesWhatAThresholdMisses is issue 6's acceptance scenario, without a cluster:
// one cluster's error rate is five times its peers' while every cluster stays under the
// absolute threshold. A plain threshold gate (the analysis library's successCondition) passes
// every cluster; the outlier gate fails that one.
func TestOutlierCatchesWhatAThresholdMisses(t *testing.T) {
	const threshold = "result < 0.05" // 5% errors
	for _, tc := range []struct {
		name   string
		values map[string]float64
		scope  fleetv1alpha1.OutlierScope
		wave   []string
	}{
		{name: "three regions, peers equal (the local fleet)", scope: fleetv1alpha1.OutlierScopeFleet,
			wave:   []string{"eu-west"},
			values: map[string]float64{"us-east": 0.004, "eu-west": 0.02, "ap-south": 0.004}},
		{name: "three regions, noisy peers", scope: fleetv1alpha1.OutlierScopeFleet,
			wave:   []string{"eu-west"},
			values: map[string]float64{"us-east": 0.0041, "eu-west": 0.0205, "ap-south": 0.0039}},
		{name: "a wave of ten, noisy peers", scope: fleetv1alpha1.OutlierScopeWave,
			wave: []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "eu-west", "c9"},
			values: map[string]float64{"c0": 0.0040, "c1": 0.0042, "c2": 0.0038, "c3": 0.0041, "c4": 0.0039,
				"c5": 0.0043, "c6": 0.0037, "c7": 0.0040, "eu-west": 0.0200, "c9": 0.0041}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for c, v := range tc.values {
				verdict, err := analysis.Evaluate(v, threshold, "")
				if err != nil || verdict.Phase != rolloutsv1alpha1.AnalysisPhaseSuccessful {
					t.Fatalf("threshold gate on %s = %v: %+v, %v; want Successful", c, v, verdict, err)
				}
			}
			var placed []string
			for c := range tc.values {
				placed = append(placed, c)
			}
			r := Outlier(&fleetv1alpha1.OutlierGate{Scope: tc.scope}, tc.wave, placed, tc.values)
			if r.Verdict != fleetv1alpha1.GateFailed || !reflect.DeepEqual(r.Failed, []string{"eu-west"}) {
				t.Fatalf("outlier gate: %s, failed %v (%s); want Failed naming eu-west only", r.Verdict, r.Failed, r.Message)
			}
			if !strings.Contains(r.Message, "eu-west = ") {
				t.Errorf("message %q does not name eu-west and its value", r.Message)
			}
		})
	}
}

func TestOutlier(t *testing.T) {
	abcde := []string{"a", "b", "c", "d", "e"}
	seq := map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5} // median 3, MAD 1
	cases := []struct {
		name       string
		gate       fleetv1alpha1.OutlierGate
		wave       []string
		placed     []string
		values     map[string]float64
		want       fleetv1alpha1.GateVerdict
		wantFailed []string
		wantNoData []string
		wantMsg    string
		wantValues map[string]string
	}{
		{name: "no outlier passes", wave: abcde, values: seq, want: fleetv1alpha1.GatePassed,
			wantValues: map[string]string{"median": "3", "mad": "1", "maxDeviation": "3", "minDeviation": "0", "threshold": "3",
				"measured": "5", "minClusters": "3", "a": "1", "e": "5"}},
		{name: "exactly maxDeviation MADs away is not an outlier (strict >)",
			gate: fleetv1alpha1.OutlierGate{MaxDeviation: "2"}, wave: abcde, values: seq, want: fleetv1alpha1.GatePassed},
		{name: "past maxDeviation MADs on both sides", gate: fleetv1alpha1.OutlierGate{MaxDeviation: "1.5"},
			wave: abcde, values: seq, want: fleetv1alpha1.GateFailed, wantFailed: []string{"a", "e"},
			wantValues: map[string]string{"threshold": "1.5", "maxDeviation": "1.5"}},
		{name: "a maxDeviation just below 2 is read exactly, not rounded to 2",
			gate: fleetv1alpha1.OutlierGate{MaxDeviation: "1.99999999999999999999"}, wave: abcde, values: seq,
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"a", "e"}},
		{name: "MAD 0: peers agree exactly, any other value is an outlier",
			wave: []string{"a", "b", "c", "d"}, values: map[string]float64{"a": 0.01, "b": 0.01, "c": 0.01, "d": 0.011},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"d"}, wantMsg: "the MAD is 0",
			wantValues: map[string]string{"mad": "0", "median": "0.01"}},
		{name: "MAD 0: every cluster equal passes",
			wave: abcde, values: map[string]float64{"a": 7, "b": 7, "c": 7, "d": 7, "e": 7}, want: fleetv1alpha1.GatePassed},
		{name: "MAD 0: zero errors everywhere but one cluster",
			wave: abcde, values: map[string]float64{"a": 0, "b": 0, "c": 0, "d": 0, "e": 1e-6},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"e"}},
		{name: "MAD 0: floating-point noise is forgiven",
			wave:   []string{"a", "b", "c"},
			values: map[string]float64{"a": 0.3, "b": 0.3, "c": 0.1 + 0.2}, want: fleetv1alpha1.GatePassed},
		{name: "MAD 0 with minDeviation: a difference within the floor passes",
			gate: fleetv1alpha1.OutlierGate{MinDeviation: "0.01"},
			wave: abcde, values: map[string]float64{"a": 0, "b": 0, "c": 0, "d": 0, "e": 0.004}, want: fleetv1alpha1.GatePassed,
			wantMsg:    "the larger of 3 × MAD 0 and minDeviation 0.01",
			wantValues: map[string]string{"mad": "0", "minDeviation": "0.01", "threshold": "0.01"}},
		{name: "MAD 0 with minDeviation: a difference past the floor is an outlier",
			gate: fleetv1alpha1.OutlierGate{MinDeviation: "0.01"},
			wave: abcde, values: map[string]float64{"a": 0, "b": 0, "c": 0, "d": 0, "e": 0.05},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"e"}, wantMsg: "e = 0.05 (0.05 from the median)"},
		{name: "exactly minDeviation away is not an outlier (strict >), read exactly",
			gate: fleetv1alpha1.OutlierGate{MinDeviation: "0.1"},
			wave: []string{"a", "b", "c"}, values: map[string]float64{"a": 0, "b": 0, "c": 0.1}, want: fleetv1alpha1.GatePassed},
		{name: "exactly minDeviation away from a large median, despite float64's subtraction",
			gate: fleetv1alpha1.OutlierGate{MinDeviation: "0.1"},
			wave: []string{"a", "b", "c"}, values: map[string]float64{"a": 1000, "b": 1000, "c": 1000.1}, want: fleetv1alpha1.GatePassed},
		{name: "a minDeviation just below the distance does not forgive it",
			gate: fleetv1alpha1.OutlierGate{MinDeviation: "0.09999999999999999999"},
			wave: []string{"a", "b", "c"}, values: map[string]float64{"a": 0, "b": 0, "c": 0.1},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"c"}},
		{name: "k × MAD above minDeviation: the MAD rule decides",
			gate: fleetv1alpha1.OutlierGate{MaxDeviation: "1.5", MinDeviation: "0.5"},
			wave: abcde, values: seq, want: fleetv1alpha1.GateFailed, wantFailed: []string{"a", "e"},
			wantValues: map[string]string{"threshold": "1.5"}},
		{name: "minDeviation above k × MAD: the floor decides",
			gate: fleetv1alpha1.OutlierGate{MaxDeviation: "1.5", MinDeviation: "2"},
			wave: abcde, values: seq, want: fleetv1alpha1.GatePassed, wantValues: map[string]string{"threshold": "2"}},
		{name: "an invalid minDeviation is an error verdict", gate: fleetv1alpha1.OutlierGate{MinDeviation: "-1"},
			wave: abcde, values: seq, want: fleetv1alpha1.GateError, wantMsg: "minDeviation \"-1\" must be a non-negative decimal"},
		{name: "fewer measured clusters than minClusters is inconclusive",
			wave: []string{"a", "b"}, values: map[string]float64{"a": 1, "b": 100},
			want: fleetv1alpha1.GateInconclusive, wantMsg: "only 2 of the 2 clusters of the wave have a measurement; the gate needs at least 3",
			wantValues: map[string]string{"measured": "2", "a": "1", "b": "100"}},
		{name: "minClusters counts measured clusters, not clusters",
			gate: fleetv1alpha1.OutlierGate{MinClusters: 5}, wave: abcde,
			values: map[string]float64{"a": 1, "b": 1, "c": 1, "d": 1},
			want:   fleetv1alpha1.GateInconclusive, wantNoData: []string{"e"}},
		{name: "a wave cluster without data never passes: inconclusive",
			wave: abcde, values: map[string]float64{"a": 1, "b": 2, "c": 3, "d": 4},
			want: fleetv1alpha1.GateInconclusive, wantNoData: []string{"e"}, wantMsg: "no measurement for e",
			wantValues: map[string]string{"e": ""}},
		{name: "NaN and infinities are no data",
			wave: abcde, values: map[string]float64{"a": 1, "b": 2, "c": 3, "d": math.NaN(), "e": math.Inf(1)},
			want: fleetv1alpha1.GateInconclusive, wantNoData: []string{"d", "e"}},
		{name: "an outlier fails the gate even when another cluster has no data",
			gate: fleetv1alpha1.OutlierGate{MaxDeviation: "2"},
			wave: abcde, values: map[string]float64{"a": 1, "b": 1.1, "c": 1.2, "d": 50},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"d"}, wantNoData: []string{"e"}, wantMsg: "no data: e"},
		{name: "scope Fleet judges the wave against every placed cluster",
			gate: fleetv1alpha1.OutlierGate{Scope: fleetv1alpha1.OutlierScopeFleet}, wave: []string{"e"},
			placed: abcde, values: map[string]float64{"a": 10, "b": 11, "c": 10, "d": 12, "e": 30},
			want: fleetv1alpha1.GateFailed, wantFailed: []string{"e"},
			wantValues: map[string]string{"measured": "5", "median": "11", "mad": "1"}},
		{name: "scope Fleet: an outlier outside the wave does not fail it",
			gate: fleetv1alpha1.OutlierGate{Scope: fleetv1alpha1.OutlierScopeFleet}, wave: []string{"b"},
			placed: abcde, values: map[string]float64{"a": 10, "b": 11, "c": 10, "d": 12, "e": 30},
			want: fleetv1alpha1.GatePassed},
		{name: "scope Fleet: a fleet peer without data is left out of the comparison",
			gate: fleetv1alpha1.OutlierGate{Scope: fleetv1alpha1.OutlierScopeFleet}, wave: []string{"b"},
			placed: abcde, values: map[string]float64{"a": 10, "b": 11, "c": 12},
			want: fleetv1alpha1.GatePassed, wantValues: map[string]string{"measured": "3"}},
		{name: "scope Wave ignores the placed clusters", wave: []string{"a", "b"}, placed: abcde,
			values: seq, want: fleetv1alpha1.GateInconclusive},
		{name: "negative values", wave: abcde,
			values: map[string]float64{"a": -10, "b": -11, "c": -10.5, "d": -9.5, "e": -40},
			want:   fleetv1alpha1.GateFailed, wantFailed: []string{"e"}},
		{name: "an invalid maxDeviation is an error verdict", gate: fleetv1alpha1.OutlierGate{MaxDeviation: "1e3"},
			wave: abcde, values: seq, want: fleetv1alpha1.GateError, wantMsg: "positive decimal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Outlier(&tc.gate, tc.wave, tc.placed, tc.values)
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (%s)", r.Verdict, tc.want, r.Message)
			}
			if !reflect.DeepEqual(r.Failed, tc.wantFailed) {
				t.Errorf("failed %v, want %v (%s)", r.Failed, tc.wantFailed, r.Message)
			}
			if !reflect.DeepEqual(r.NoData, tc.wantNoData) {
				t.Errorf("no data %v, want %v", r.NoData, tc.wantNoData)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Errorf("message %q does not contain %q", r.Message, tc.wantMsg)
			}
			got := values(r.Measurements)
			for k, v := range tc.wantValues {
				if gv, ok := got[k]; !ok || gv != v {
					t.Errorf("measurement %s = %q (present %v), want %q", k, gv, ok, v)
				}
			}
		})
	}
}

func TestOutlierMeasurementsOrder(t *testing.T) {
	r := Outlier(&fleetv1alpha1.OutlierGate{}, []string{"c", "a", "b"}, nil, map[string]float64{"a": 1, "b": 2, "c": 3})
	var names []string
	for _, m := range r.Measurements {
		names = append(names, m.Name)
	}
	want := []string{"measured", "minClusters", "median", "mad", "maxDeviation", "minDeviation", "threshold", "a", "b", "c"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("measurements %v, want %v", names, want)
	}
}

// parseCase is one input of ParseMaxDeviation or ParseMinDeviation and what it reads as.
type parseCase struct {
	in      string
	want    float64
	wantErr bool
}

// notDecimals are inputs both parsers refuse: the schema's rule, not strconv.ParseFloat's.
var notDecimals = []parseCase{{"-1", 0, true}, {"+3", 0, true}, {"1e3", 0, true}, {"Inf", 0, true},
	{"NaN", 0, true}, {" 3", 0, true}, {"3.", 0, true}, {".5", 0, true}, {"0x10", 0, true}, {"1_0", 0, true}}

func TestParseMaxDeviation(t *testing.T) {
	checkParse(t, "ParseMaxDeviation", ParseMaxDeviation, append([]parseCase{
		{"", 3, false}, {"3", 3, false}, {"2.5", 2.5, false}, {"0.5", 0.5, false}, {"0.01", 0.01, false},
		{"10", 10, false}, {"003", 3, false},
		{"0", 0, true}, {"0.0", 0, true},
	}, notDecimals...))
}

func TestParseMinDeviation(t *testing.T) {
	checkParse(t, "ParseMinDeviation", ParseMinDeviation, append([]parseCase{
		{"", 0, false}, {"0", 0, false}, {"0.0", 0, false}, {"0.01", 0.01, false}, {"5", 5, false},
	}, notDecimals...))
}

func checkParse(t *testing.T, name string, parse func(string) (Decimal, error), cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s(%q) error %v, want error %v", name, tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got.Float != tc.want {
			t.Errorf("%s(%q) = %v, want %v", name, tc.in, got.Float, tc.want)
		}
	}
}

func TestMedianMAD(t *testing.T) {
	for _, tc := range []struct {
		in              []float64
		median, wantMAD float64
	}{
		{[]float64{1}, 1, 0},
		{[]float64{1, 2}, 1.5, 0.5},
		{[]float64{5, 1, 3, 2, 4}, 3, 1},
		{[]float64{1, 2, 3, 4}, 2.5, 1},
		{[]float64{1, 2, 3, 4, 100}, 3, 1},
		{[]float64{1, 1, 1, 50}, 1, 0},
		{[]float64{math.MaxFloat64, math.MaxFloat64}, math.MaxFloat64, 0},
		{[]float64{-3, -1, -2}, -2, 1},
	} {
		in := append([]float64(nil), tc.in...)
		m, mad := MedianMAD(tc.in)
		if m != tc.median || mad != tc.wantMAD {
			t.Errorf("MedianMAD(%v) = %v, %v; want %v, %v", tc.in, m, mad, tc.median, tc.wantMAD)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("MedianMAD changed its input to %v", tc.in)
		}
	}
}

func TestMinClusters(t *testing.T) {
	if got := MinClusters(&fleetv1alpha1.OutlierGate{}); got != 3 {
		t.Errorf("default minClusters %d, want 3", got)
	}
	if got := MinClusters(&fleetv1alpha1.OutlierGate{MinClusters: 7}); got != 7 {
		t.Errorf("minClusters %d, want 7", got)
	}
}

// BenchmarkOutlier1000 judges a wave of 1,000 clusters (scope Wave), one outlier among them.
func BenchmarkOutlier1000(b *testing.B) {
	wave := make([]string, 1000)
	values := make(map[string]float64, 1000)
	for i := range wave {
		wave[i] = fmt.Sprintf("cluster-%04d", i)
		values[wave[i]] = 0.004 + float64(i%17)*0.0001
	}
	values[wave[500]] = 0.05
	g := &fleetv1alpha1.OutlierGate{}
	b.ReportAllocs()
	for b.Loop() {
		r := Outlier(g, wave, nil, values)
		if r.Verdict != fleetv1alpha1.GateFailed {
			b.Fatalf("verdict %s", r.Verdict)
		}
	}
}
