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
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// ClusterArg is the argument an outlier gate's metric reads the measured cluster's name from:
// {{args.cluster}}.
const ClusterArg = "cluster"

// FleetValues are the `{{fleet.*}}` values of an analysis or outlier gate (gate_types.go),
// by name without the "fleet." prefix.
type FleetValues map[string]string

// NewFleetValues returns the values for a gate run after wave of the FleetRollout
// namespace/name at revision, whose clusters are clusters (sorted here).
func NewFleetValues(namespace, name string, revision int64, wave string, clusters []string) FleetValues {
	cs := dedupSorted(clusters)
	return FleetValues{
		"name":          name,
		"namespace":     namespace,
		"revision":      strconv.FormatInt(revision, 10),
		"wave":          wave,
		"clusters":      strings.Join(cs, ","),
		"clustersRegex": strings.Join(cs, "|"),
		"clusterCount":  strconv.Itoa(len(cs)),
	}
}

// fleetPlaceholder matches {{fleet.NAME}}, spaces inside the braces allowed.
var fleetPlaceholder = regexp.MustCompile(`\{\{\s*fleet\.([^{}\s]*)\s*\}\}`)

// ResolveMetrics returns a copy of metrics with every {{fleet.NAME}} replaced by its value,
// in every string of every field. An unknown NAME is an error naming it and the metric.
// {{args.NAME}} placeholders are left for analysis.Args.
func (v FleetValues) ResolveMetrics(metrics []rolloutsv1alpha1.Metric) ([]rolloutsv1alpha1.Metric, error) {
	out := make([]rolloutsv1alpha1.Metric, len(metrics))
	for i := range metrics {
		raw, err := json.Marshal(&metrics[i])
		if err != nil {
			return nil, fmt.Errorf("metric %q: %w", metrics[i].Name, err)
		}
		var unknown string
		// In JSON text "{{" only occurs inside strings, so each placeholder is replaced by
		// its value escaped as the inside of a JSON string.
		resolved := fleetPlaceholder.ReplaceAllFunc(raw, func(tag []byte) []byte {
			name := string(fleetPlaceholder.FindSubmatch(tag)[1])
			val, ok := v[name]
			if !ok {
				if unknown == "" {
					unknown = name
				}
				return tag
			}
			q, _ := json.Marshal(val)
			return q[1 : len(q)-1]
		})
		if unknown != "" {
			return nil, fmt.Errorf("metric %q: {{fleet.%s}} is not a value the hub fills in (it has: %s)",
				metrics[i].Name, unknown, strings.Join(v.names(), ", "))
		}
		if err := json.Unmarshal(resolved, &out[i]); err != nil {
			return nil, fmt.Errorf("metric %q: %w", metrics[i].Name, err)
		}
	}
	return out, nil
}

func (v FleetValues) names() []string {
	out := make([]string, 0, len(v))
	for k := range v {
		out = append(out, "fleet."+k)
	}
	sort.Strings(out)
	return out
}

// OutlierSpec is the analysis the hub runs for an outlier gate: the gate's metric once per
// cluster, each copy named after its cluster, with its conditions removed (the gate compares
// values, it does not judge them one by one) and every metric in dry-run, so that a cluster
// whose measurement is unusable does not stop the measurements of the others. The args hold
// {{args.cluster}}; the caller resolves each metric with its own cluster's value.
func OutlierSpec(g *fleetv1alpha1.OutlierGate, clusters []string) rolloutsv1alpha1.AnalysisRunSpec {
	spec := rolloutsv1alpha1.AnalysisRunSpec{DryRun: []rolloutsv1alpha1.DryRun{{MetricName: ".*"}}}
	for _, c := range dedupSorted(clusters) {
		m := *g.Metric.DeepCopy()
		m.Name = c
		m.SuccessCondition, m.FailureCondition = "", ""
		spec.Metrics = append(spec.Metrics, m)
	}
	return spec
}

// OutlierValues reads one value per cluster from an outlier gate's finished run: the value
// of the cluster's latest measurement that is not an Error, when it is a number or a vector
// of one number. A cluster without such a measurement is missing from the map (no data).
func OutlierValues(st *rolloutsv1alpha1.AnalysisRunStatus) map[string]float64 {
	out := map[string]float64{}
	for i := range st.MetricResults {
		r := &st.MetricResults[i]
		for k := len(r.Measurements) - 1; k >= 0; k-- {
			m := &r.Measurements[k]
			if !m.Phase.Completed() || m.Phase == rolloutsv1alpha1.AnalysisPhaseError {
				continue
			}
			if x, ok := singleNumber(m.Value); ok {
				out[r.Name] = x
			}
			break
		}
	}
	return out
}

// singleNumber reads "0.05" or "[0.05]" (a Prometheus scalar or a vector of one sample).
func singleNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if !ok || strings.Contains(inner, ",") {
			return 0, false
		}
		s = strings.TrimSpace(inner)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

// AnalysisVerdict maps an analysis gate's run to the gate's result, with AnalysisRun
// semantics: Successful passes, Failed fails, Inconclusive and Error are the gate's
// Inconclusive and Error; a run that has not completed is Running. The measurements are the
// values of each metric, oldest first, as retained by the run.
func AnalysisVerdict(st *rolloutsv1alpha1.AnalysisRunStatus) Result {
	res := Result{Measurements: MetricValues(st)}
	switch st.Phase {
	case rolloutsv1alpha1.AnalysisPhaseSuccessful:
		res.Verdict = fleetv1alpha1.GatePassed
	case rolloutsv1alpha1.AnalysisPhaseFailed:
		res.Verdict = fleetv1alpha1.GateFailed
	case rolloutsv1alpha1.AnalysisPhaseInconclusive:
		res.Verdict = fleetv1alpha1.GateInconclusive
	case rolloutsv1alpha1.AnalysisPhaseError:
		res.Verdict = fleetv1alpha1.GateError
	default:
		res.Verdict = fleetv1alpha1.GateRunning
	}
	switch {
	case res.Verdict == fleetv1alpha1.GateRunning:
		res.Message = progressMessage(st)
	case st.Message != "":
		res.Message = st.Message
	default:
		res.Message = "the analysis is " + string(st.Phase) + ": " + metricSummary(st)
	}
	return res
}

// metricSummary counts each metric's measurements by phase.
func metricSummary(st *rolloutsv1alpha1.AnalysisRunStatus) string {
	parts := make([]string, 0, len(st.MetricResults))
	for i := range st.MetricResults {
		r := &st.MetricResults[i]
		parts = append(parts, fmt.Sprintf("%s %s (%d successful, %d failed, %d inconclusive, %d errors)",
			r.Name, r.Phase, r.Successful, r.Failed, r.Inconclusive, r.Error))
	}
	return strings.Join(parts, "; ")
}

// MetricValues is one measurement per metric of a run: the values it measured, oldest first,
// separated by ", " ("error" for a measurement that failed), so that status and journal keep
// the numbers a verdict came from.
func MetricValues(st *rolloutsv1alpha1.AnalysisRunStatus) []fleetv1alpha1.GateMeasurement {
	out := make([]fleetv1alpha1.GateMeasurement, 0, len(st.MetricResults))
	for i := range st.MetricResults {
		r := &st.MetricResults[i]
		var vals []string
		for k := range r.Measurements {
			m := &r.Measurements[k]
			switch {
			case !m.Phase.Completed():
			case m.Phase == rolloutsv1alpha1.AnalysisPhaseError:
				vals = append(vals, "error")
			default:
				vals = append(vals, m.Value)
			}
		}
		out = append(out, measurement(r.Name, strings.Join(vals, ", ")))
	}
	return out
}

// progressMessage says how far the measurements are.
func progressMessage(st *rolloutsv1alpha1.AnalysisRunStatus) string {
	taken := 0
	for i := range st.MetricResults {
		r := &st.MetricResults[i]
		taken += int(r.Successful + r.Failed + r.Inconclusive + r.Error)
	}
	return fmt.Sprintf("measuring: %d %s of %d %s taken so far", taken, plural(taken, "measurement"),
		len(st.MetricResults), plural(len(st.MetricResults), "metric"))
}
