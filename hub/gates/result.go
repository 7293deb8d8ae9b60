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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Result is a gate's verdict with what it was computed from.
type Result struct {
	// Verdict is Passed, Failed, Pending (an aggregate gate that waits for clusters without a
	// verdict), Inconclusive (an outlier gate without enough data) or Error (the gate's
	// settings cannot be read).
	Verdict fleetv1alpha1.GateVerdict
	// Message explains the verdict in one or two sentences, naming the clusters at fault.
	Message string
	// Measurements are the values the verdict was computed from, in a fixed order: the
	// numbers first, then one entry per judged cluster where the gate has one.
	Measurements []fleetv1alpha1.GateMeasurement
	// Failed names the clusters that made the gate fail (failed clusters, or outliers),
	// sorted.
	Failed []string
	// NoData names the judged clusters that had no verdict or no measurement, sorted.
	NoData []string
	// Analysis is the state of an analysis or outlier gate's measurements, kept in status
	// (GateStatus.analysis); nil for an aggregate gate.
	Analysis *rolloutsv1alpha1.AnalysisRunStatus
}

// Journal returns the result as the journal's GateEvaluated payload.
func (r *Result) Journal(name string, fleet bool) journal.Gate {
	return journal.Gate{Name: name, Fleet: fleet, Verdict: r.Verdict, Message: r.Message,
		Measurements: append([]fleetv1alpha1.GateMeasurement(nil), r.Measurements...)}
}

// Status returns the result as a GateStatus. lastTransitionTime is now when the verdict
// differs from prev's (or there is no prev), else prev's.
func (r *Result) Status(name string, fleet bool, prev *fleetv1alpha1.GateStatus, now metav1.Time) fleetv1alpha1.GateStatus {
	st := fleetv1alpha1.GateStatus{Name: name, Fleet: fleet, Verdict: r.Verdict, Message: r.Message,
		Measurements: append([]fleetv1alpha1.GateMeasurement(nil), r.Measurements...), LastTransitionTime: &now}
	if r.Analysis != nil {
		st.Analysis = r.Analysis.DeepCopy()
	}
	if prev != nil && prev.Verdict == r.Verdict && prev.LastTransitionTime != nil {
		t := *prev.LastTransitionTime
		st.LastTransitionTime = &t
	}
	return st
}

// precedence orders verdicts for Combine: the first one present wins.
var precedence = []fleetv1alpha1.GateVerdict{
	fleetv1alpha1.GateFailed,       // the failure policy applies at once
	fleetv1alpha1.GateError,        // stops the FleetRollout, like Inconclusive
	fleetv1alpha1.GateInconclusive, // stops the FleetRollout
	fleetv1alpha1.GateRunning,      // measurements under way: wait
	fleetv1alpha1.GatePending,      // not evaluated, or waiting for data: wait
}

// Combine is the verdict of a set of gates: Failed if any failed (the failure policy applies
// without waiting for the others), else Error, Inconclusive, Running or Pending if any gate is
// so (in that order), else Passed. An empty verdict counts as Pending; no gate at all passes.
func Combine(verdicts ...fleetv1alpha1.GateVerdict) fleetv1alpha1.GateVerdict {
	seen := map[fleetv1alpha1.GateVerdict]bool{}
	for _, v := range verdicts {
		if v == "" {
			v = fleetv1alpha1.GatePending
		}
		seen[v] = true
	}
	for _, v := range precedence {
		if seen[v] {
			return v
		}
	}
	return fleetv1alpha1.GatePassed
}

func measurement(name, value string) fleetv1alpha1.GateMeasurement {
	return fleetv1alpha1.GateMeasurement{Name: name, Value: value}
}
