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

	"github.com/flotilla-io/flotilla/analysis"
	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func TestFleetValuesResolveMetrics(t *testing.T) {
	v := NewFleetValues("shop", "checkout", 4, "europe", []string{"eu-west", "eu-north", "eu-west"})
	in := []rolloutsv1alpha1.Metric{{
		Name:             "errors",
		SuccessCondition: "result[0] < {{args.threshold}}",
		Provider: rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{
			Query: `sum(rate(x{cluster=~"{{fleet.clustersRegex}}", wave="{{ fleet.wave }}"}[1m])) / {{fleet.clusterCount}} # {{fleet.namespace}}/{{fleet.name}}@{{fleet.revision}} {{fleet.clusters}}`,
		}},
	}}
	out, err := v.ResolveMetrics(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(x{cluster=~"eu-north|eu-west", wave="europe"}[1m])) / 2 # shop/checkout@4 eu-north,eu-west`
	if got := out[0].Provider.Prometheus.Query; got != want {
		t.Errorf("query:\n got %s\nwant %s", got, want)
	}
	if out[0].SuccessCondition != in[0].SuccessCondition {
		t.Errorf("{{args.*}} must be left for the arguments, got %q", out[0].SuccessCondition)
	}
	if !strings.Contains(in[0].Provider.Prometheus.Query, "{{fleet.") {
		t.Error("the input metrics were changed")
	}

	in[0].Provider.Prometheus.Query = "up{cluster=\"{{fleet.cluster}}\"}"
	_, err = v.ResolveMetrics(in)
	if err == nil || !strings.Contains(err.Error(), `{{fleet.cluster}} is not a value the hub fills in`) ||
		!strings.Contains(err.Error(), `metric "errors"`) {
		t.Errorf("unknown placeholder: error %v, want one naming {{fleet.cluster}} and the metric", err)
	}
}

// TestFleetValuesEscapeJSON: a value is placed inside JSON strings, never breaking them.
func TestFleetValuesEscapeJSON(t *testing.T) {
	v := FleetValues{"wave": `a"b\c`}
	out, err := v.ResolveMetrics([]rolloutsv1alpha1.Metric{{Name: "m", Provider: rolloutsv1alpha1.MetricProvider{
		Prometheus: &rolloutsv1alpha1.PrometheusMetric{Query: "{{fleet.wave}}"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Provider.Prometheus.Query; got != `a"b\c` {
		t.Errorf("got %q", got)
	}
}

func TestOutlierSpecAndValues(t *testing.T) {
	g := &fleetv1alpha1.OutlierGate{Metric: rolloutsv1alpha1.Metric{
		Name: "error-rate", SuccessCondition: "result[0] < 0.05", Interval: "5s", Count: &intstr.IntOrString{IntVal: 2},
		Provider: rolloutsv1alpha1.MetricProvider{Prometheus: &rolloutsv1alpha1.PrometheusMetric{
			Query: `errors{cluster="{{args.cluster}}"}`}},
	}}
	spec := OutlierSpec(g, []string{"c", "a", "b", "a"})
	var names []string
	for _, m := range spec.Metrics {
		names = append(names, m.Name)
		if m.SuccessCondition != "" || m.Interval != "5s" {
			t.Errorf("metric %s: conditions must be dropped and the schedule kept: %+v", m.Name, m)
		}
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("metrics %v, want one per cluster, sorted", names)
	}
	if err := analysis.ValidateSpec(&spec); err != nil {
		t.Errorf("the outlier spec must be a valid analysis: %v", err)
	}

	done := func(phase rolloutsv1alpha1.AnalysisPhase, v string) rolloutsv1alpha1.Measurement {
		return rolloutsv1alpha1.Measurement{Phase: phase, Value: v, FinishedAt: &metav1.Time{Time: time.Unix(1, 0)}}
	}
	st := &rolloutsv1alpha1.AnalysisRunStatus{MetricResults: []rolloutsv1alpha1.MetricResult{
		{Name: "vector", Measurements: []rolloutsv1alpha1.Measurement{done("Successful", "[0.5]"), done("Successful", "[0.01]")}},
		{Name: "scalar", Measurements: []rolloutsv1alpha1.Measurement{done("Successful", "0.02")}},
		{Name: "last-errored", Measurements: []rolloutsv1alpha1.Measurement{done("Successful", "[0.03]"), done("Error", "")}},
		{Name: "only-errors", Measurements: []rolloutsv1alpha1.Measurement{done("Error", ""), done("Error", "")}},
		{Name: "empty-vector", Measurements: []rolloutsv1alpha1.Measurement{done("Inconclusive", "[]")}},
		{Name: "nan", Measurements: []rolloutsv1alpha1.Measurement{done("Inconclusive", "[NaN]")}},
		{Name: "two-series", Measurements: []rolloutsv1alpha1.Measurement{done("Successful", "[0.1,0.2]")}},
		{Name: "in-flight", Measurements: []rolloutsv1alpha1.Measurement{{Phase: "Running", Value: "[0.4]"}}},
	}}
	want := map[string]float64{"vector": 0.01, "scalar": 0.02, "last-errored": 0.03}
	if got := OutlierValues(st); !reflect.DeepEqual(got, want) {
		t.Errorf("values %v, want %v (no data for errors, empty, NaN, several series, in flight)", got, want)
	}
}

func TestAnalysisVerdict(t *testing.T) {
	for _, tc := range []struct {
		phase rolloutsv1alpha1.AnalysisPhase
		want  fleetv1alpha1.GateVerdict
	}{
		{"", fleetv1alpha1.GateRunning},
		{rolloutsv1alpha1.AnalysisPhasePending, fleetv1alpha1.GateRunning},
		{rolloutsv1alpha1.AnalysisPhaseRunning, fleetv1alpha1.GateRunning},
		{rolloutsv1alpha1.AnalysisPhaseSuccessful, fleetv1alpha1.GatePassed},
		{rolloutsv1alpha1.AnalysisPhaseFailed, fleetv1alpha1.GateFailed},
		{rolloutsv1alpha1.AnalysisPhaseInconclusive, fleetv1alpha1.GateInconclusive},
		{rolloutsv1alpha1.AnalysisPhaseError, fleetv1alpha1.GateError},
	} {
		st := &rolloutsv1alpha1.AnalysisRunStatus{Phase: tc.phase, Message: "metric x: done",
			MetricResults: []rolloutsv1alpha1.MetricResult{{Name: "x", Successful: 1, Error: 1, Measurements: []rolloutsv1alpha1.Measurement{
				{Phase: "Successful", Value: "[0.01]"}, {Phase: "Error", Message: "connection refused"}, {Phase: "Running"}}}}}
		res := AnalysisVerdict(st)
		if res.Verdict != tc.want {
			t.Errorf("phase %q: verdict %s, want %s", tc.phase, res.Verdict, tc.want)
		}
		if want := []fleetv1alpha1.GateMeasurement{{Name: "x", Value: "[0.01], error"}}; !reflect.DeepEqual(res.Measurements, want) {
			t.Errorf("measurements %+v, want %+v", res.Measurements, want)
		}
		if tc.want == fleetv1alpha1.GateRunning && res.Message != "measuring: 2 measurements of 1 metric taken so far" {
			t.Errorf("running message %q", res.Message)
		}
		if tc.want != fleetv1alpha1.GateRunning && res.Message != "metric x: done" {
			t.Errorf("final message %q, want the run's", res.Message)
		}
	}
	// A run that ended without a message (Successful) is summed up per metric.
	st := &rolloutsv1alpha1.AnalysisRunStatus{Phase: rolloutsv1alpha1.AnalysisPhaseSuccessful,
		MetricResults: []rolloutsv1alpha1.MetricResult{{Name: "x", Phase: rolloutsv1alpha1.AnalysisPhaseSuccessful, Successful: 2, Error: 1}}}
	if got, want := AnalysisVerdict(st).Message, "the analysis is Successful: x Successful (2 successful, 0 failed, 0 inconclusive, 1 errors)"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
