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
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/gates"
)

// MaxConcurrency resolves a wave's maxConcurrency for a wave of n clusters. Unset means
// "100%". A percentage is rounded up, as Kubernetes rounds maxSurge (ceil(p*n/100), computed in
// integers so that 10% of 30 is exactly 3), and the result is at least 1, as the API promises
// ("rounded up to at least one cluster").
func MaxConcurrency(v *intstr.IntOrString, n int) (int, error) {
	if v == nil {
		return max(n, 1), nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 1 {
			return 0, fmt.Errorf("maxConcurrency must be at least 1, got %d", v.IntVal)
		}
		return int(v.IntVal), nil
	}
	p, err := percent(v.StrVal, 1)
	if err != nil {
		return 0, fmt.Errorf("maxConcurrency: %w", err)
	}
	return max((p*n+99)/100, 1), nil
}

// MaxFailures resolves a maxFailures (of a wave, or of an aggregate gate) for n clusters.
// Unset means 0. A percentage is rounded down, as Kubernetes rounds maxUnavailable
// (floor(p*n/100)), as the API says: "20%" of 4 clusters tolerates no failure. It is
// gates.MaxFailures, so that waves and aggregate gates can never round differently.
func MaxFailures(v *intstr.IntOrString, n int) (int, error) { return gates.MaxFailures(v, n) }

// percent reads "N%" with lowest <= N <= 100.
func percent(s string, lowest int) (int, error) {
	digits, ok := strings.CutSuffix(s, "%")
	p, err := strconv.Atoi(digits)
	if !ok || err != nil || strings.HasPrefix(digits, "+") || p < lowest || p > 100 {
		return 0, fmt.Errorf("%q is not an integer or a percentage from %d%% to 100%%", s, lowest)
	}
	return p, nil
}

// BakeTime reads a wave's bakeTime; unset is zero.
func BakeTime(w *fleetv1alpha1.Wave) (time.Duration, error) {
	if w.BakeTime == "" {
		return 0, nil
	}
	d, err := w.BakeTime.Duration()
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("bakeTime %q is negative", w.BakeTime)
	}
	return d, nil
}

// ProgressDeadline reads spec.progressDeadlineSeconds; zero means no deadline.
func ProgressDeadline(spec *fleetv1alpha1.FleetRolloutSpec) time.Duration {
	if spec.ProgressDeadlineSeconds == nil || *spec.ProgressDeadlineSeconds < 1 {
		return 0
	}
	return time.Duration(*spec.ProgressDeadlineSeconds) * time.Second
}

// validateWaves reports wave settings the schema should have refused (an object that did not
// come through the API server): Decide would fail on them.
func validateWaves(spec *fleetv1alpha1.FleetRolloutSpec, ps *problems) {
	for i := range spec.Waves {
		w := &spec.Waves[i]
		field := fieldIndex("spec.waves", i)
		if _, err := MaxConcurrency(w.MaxConcurrency, 1); err != nil {
			ps.errorf(CodeInvalidWave, field+".maxConcurrency", "%v", err)
		}
		if _, err := MaxFailures(w.MaxFailures, 1); err != nil {
			ps.errorf(CodeInvalidWave, field+".maxFailures", "%v", err)
		}
		if _, err := BakeTime(w); err != nil {
			ps.errorf(CodeInvalidWave, field+".bakeTime", "%v", err)
		}
	}
}

// validateGates reads every gate's settings and reports an outlier gate that could never judge
// a wave: with fewer clusters to compare than its minClusters, its verdict could only be
// Inconclusive, which stops the FleetRollout after that wave.
func validateGates(spec *fleetv1alpha1.FleetRolloutSpec, p *Plan, ps *problems) {
	check := func(g *fleetv1alpha1.Gate, field string, waves []*Wave) {
		switch {
		case g.Aggregate != nil:
			if _, err := MaxFailures(g.Aggregate.MaxFailures, 1); err != nil {
				ps.errorf(CodeInvalidGate, field+".aggregate.maxFailures", "gate %q: %v", g.Name, err)
			}
		case g.Outlier != nil:
			checkOutlier(g, field, waves, p, ps)
		}
	}
	all := make([]*Wave, len(p.Waves))
	for i := range p.Waves {
		all[i] = &p.Waves[i]
	}
	for i := range spec.Gates {
		check(&spec.Gates[i], fieldIndex("spec.gates", i), all)
	}
	for i := range spec.Waves {
		for k := range spec.Waves[i].Gates {
			check(&spec.Waves[i].Gates[k], fmt.Sprintf("spec.waves[%d].gates[%d]", i, k), all[i:i+1])
		}
	}
}

func checkOutlier(g *fleetv1alpha1.Gate, field string, waves []*Wave, p *Plan, ps *problems) {
	o := g.Outlier
	if _, err := gates.ParseMaxDeviation(o.MaxDeviation); err != nil {
		ps.errorf(CodeInvalidGate, field+".outlier.maxDeviation", "gate %q: %v", g.Name, err)
	}
	if _, err := gates.ParseMinDeviation(o.MinDeviation); err != nil {
		ps.errorf(CodeInvalidGate, field+".outlier.minDeviation", "gate %q: %v", g.Name, err)
	}
	need := gates.MinClusters(o)
	if o.Scope == fleetv1alpha1.OutlierScopeFleet {
		if len(p.Placed) > 0 && len(p.Placed) < need {
			ps.errorf(CodeInvalidGate, field+".outlier.minClusters",
				"gate %q compares each cluster with the fleet and needs at least %d measured clusters, but placement selects %d: "+
					"its verdict could only be Inconclusive, which stops the FleetRollout; lower minClusters (at least 3) or drop the gate",
				g.Name, need, len(p.Placed))
		}
		return
	}
	var small, shrunk []string
	for _, w := range waves {
		size := len(w.Clusters)
		if !w.Started {
			size += len(w.Maintenance)
		}
		active := len(w.Clusters) - len(w.Departed)
		switch {
		case size == 0:
		case size < need:
			small = append(small, fmt.Sprintf("wave %q has %d", w.Name, size))
		case active > 0 && active < need:
			shrunk = append(shrunk, fmt.Sprintf("wave %q has %d", w.Name, active))
		}
	}
	if len(small) > 0 {
		ps.errorf(CodeInvalidGate, field+".outlier.minClusters",
			"gate %q compares the clusters of a wave and needs at least %d measured clusters, but %s: "+
				"its verdict could only be Inconclusive, which stops the FleetRollout; use scope Fleet, or a wave gate on larger waves only",
			g.Name, need, strings.Join(small, ", "))
	}
	if len(shrunk) > 0 {
		ps.warnf(CodeInvalidGate, field+".outlier.minClusters",
			"gate %q needs at least %d measured clusters, but with clusters in maintenance or gone %s taking part now: "+
				"it will be Inconclusive unless they come back", g.Name, need, strings.Join(shrunk, ", "))
	}
}
