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
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// DefaultMaxDeviation, DefaultMinDeviation and DefaultMinClusters are the API's defaults for
// an outlier gate.
const (
	DefaultMaxDeviation = "3"
	DefaultMinDeviation = "0"
	DefaultMinClusters  = 3
)

// zeroMADTolerance is how far, relative to the larger of |x| and |median|, a value may lie
// from the median before it is an outlier when the MAD is zero. See Outlier.
const zeroMADTolerance = 1e-9

// decimalPattern is the schema's rule for maxDeviation and minDeviation: a plain decimal.
var decimalPattern = regexp.MustCompile(`^[0-9]+([.][0-9]+)?$`)

// Decimal is an outlier gate's maxDeviation or minDeviation, read exactly.
type Decimal struct {
	// Text is the decimal as written ("2.5").
	Text string
	// Exact is its exact value.
	Exact *big.Rat
	// Float is Exact rounded to the nearest float64.
	Float float64
}

// ParseMaxDeviation reads maxDeviation ("" is the default "3"). It accepts only what the
// schema accepts, a positive plain decimal such as "3" or "2.5", and reads it with math/big,
// so that none of strconv.ParseFloat's other syntaxes ("1e3", "+3", "Inf", "0x1p1", "1_0")
// slips through and the value is exact.
func ParseMaxDeviation(s string) (Decimal, error) {
	if s == "" {
		s = DefaultMaxDeviation
	}
	d, ok := parseDecimal(s)
	if !ok || d.Exact.Sign() <= 0 {
		return Decimal{}, fmt.Errorf("maxDeviation %q must be a positive decimal number such as 3 or 2.5", s)
	}
	return d, nil
}

// ParseMinDeviation reads minDeviation ("" is the default "0", no floor), as ParseMaxDeviation
// reads maxDeviation but accepting zero.
func ParseMinDeviation(s string) (Decimal, error) {
	if s == "" {
		s = DefaultMinDeviation
	}
	d, ok := parseDecimal(s)
	if !ok {
		return Decimal{}, fmt.Errorf("minDeviation %q must be a non-negative decimal number such as 0 or 0.01", s)
	}
	return d, nil
}

func parseDecimal(s string) (Decimal, bool) {
	if !decimalPattern.MatchString(s) {
		return Decimal{}, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Decimal{}, false
	}
	f, _ := r.Float64()
	return Decimal{Text: s, Exact: r, Float: f}, true
}

// MinClusters is the gate's minClusters, or the default 3 when unset.
func MinClusters(g *fleetv1alpha1.OutlierGate) int {
	if g.MinClusters <= 0 {
		return DefaultMinClusters
	}
	return int(g.MinClusters)
}

// MedianMAD returns the median of xs and their median absolute deviation (the median of
// |x - median|), unscaled, as the API defines it. xs must not be empty; it is not changed.
// The median of an even count is the mean of the two middle values.
func MedianMAD(xs []float64) (median, mad float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	median = middle(s)
	for i, x := range s {
		s[i] = math.Abs(x - median)
	}
	sort.Float64s(s)
	return median, middle(s)
}

func middle(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	a, b := sorted[n/2-1], sorted[n/2]
	return a + (b-a)/2 // no overflow for large values of the same sign
}

// Outlier evaluates an outlier gate. wave are the clusters judged (the wave that just
// finished); placed are every placed cluster, the peers of scope Fleet (scope Wave compares the
// wave's clusters with each other). values holds one measurement per cluster; a cluster that
// is missing, or whose value is NaN or infinite, has no data.
//
// With m the median and MAD the median absolute deviation of the measured peers, a cluster of
// the wave whose value x has |x - m| > max(maxDeviation * MAD, minDeviation) is an outlier
// (gate_types.go). The rules around that formula:
//   - fewer than minClusters measured peers: Inconclusive (the type's comment), whatever the
//     values;
//   - any outlier: Failed, naming each outlier, its value and its distance;
//   - else a cluster of the wave without data: Inconclusive, naming it (it never passes, but
//     no data is not evidence of a bad cluster either, so the FleetRollout waits for a person
//     instead of applying the failure policy);
//   - else Passed.
//
// MAD = 0 happens when more than half of the peers have exactly the median value (all
// clusters at 0 errors, or one value injected everywhere). The formula then makes every value
// other than the median an outlier, which is what it says: the peers agree exactly, and any
// cluster that does not lies infinitely many MADs away. minDeviation is the user's floor for
// that case: a difference no larger than it is never an outlier. Without a floor Outlier keeps
// the formula's reading and only forgives differences within a relative 1e-9 of the values
// (floating-point noise in the provider's arithmetic, such as 0.1+0.2 against 0.3). The MAD
// is not scaled by 1.4826: the API defines maxDeviation in plain MADs.
//
// The comparison is exact: |x - m| > threshold is decided in float64 when the two sides are
// clearly apart, and in rational arithmetic (math/big) on the very values reported in the
// measurements (their shortest decimals) when they are within a few ulps, so that a value
// exactly k MADs or minDeviation away is never an outlier, whatever their decimal expansion.
func Outlier(g *fleetv1alpha1.OutlierGate, wave, placed []string, values map[string]float64) Result {
	k, err := ParseMaxDeviation(g.MaxDeviation)
	if err != nil {
		return Result{Verdict: fleetv1alpha1.GateError, Message: err.Error()}
	}
	floor, err := ParseMinDeviation(g.MinDeviation)
	if err != nil {
		return Result{Verdict: fleetv1alpha1.GateError, Message: err.Error()}
	}
	need := MinClusters(g)
	judged := dedupSorted(wave)
	scope := judged
	scopeName := "wave"
	if g.Scope == fleetv1alpha1.OutlierScopeFleet {
		scope = dedupSorted(append(append([]string(nil), placed...), wave...))
		scopeName = "fleet"
	}

	measured := make([]float64, 0, len(scope))
	for _, c := range scope {
		if x, ok := finite(values, c); ok {
			measured = append(measured, x)
		}
	}
	var res Result
	for _, c := range judged {
		if _, ok := finite(values, c); !ok {
			res.NoData = append(res.NoData, c)
		}
	}
	res.Measurements = append(res.Measurements,
		measurement("measured", strconv.Itoa(len(measured))), measurement("minClusters", strconv.Itoa(need)))
	if len(measured) < need {
		res.Verdict = fleetv1alpha1.GateInconclusive
		res.Message = fmt.Sprintf("only %d of the %d clusters of the %s have a measurement; the gate needs at least %d to compare them",
			len(measured), len(scope), scopeName, need)
		res.Measurements = append(res.Measurements, clusterValues(judged, values)...)
		return res
	}

	m, mad := MedianMAD(measured)
	threshold := math.Max(k.Float*mad, floor.Float)
	res.Measurements = append(res.Measurements,
		measurement("median", formatFloat(m)),
		measurement("mad", formatFloat(mad)),
		measurement("maxDeviation", k.Text),
		measurement("minDeviation", floor.Text),
		measurement("threshold", formatFloat(threshold)))
	allows := fmt.Sprintf("%s × MAD %s", k.Text, formatFloat(mad))
	if floor.Exact.Sign() > 0 {
		allows = fmt.Sprintf("the larger of %s and minDeviation %s", allows, floor.Text)
	}
	res.Measurements = append(res.Measurements, clusterValues(judged, values)...)

	var details []string
	for _, c := range judged {
		x, ok := finite(values, c)
		if !ok || !isOutlier(x, m, mad, k, floor) {
			continue
		}
		res.Failed = append(res.Failed, c)
		details = append(details, fmt.Sprintf("%s = %s (%s from the median)", c, formatFloat(x), formatFloat(math.Abs(x-m))))
	}
	switch {
	case len(res.Failed) > 0:
		res.Verdict = fleetv1alpha1.GateFailed
		res.Message = fmt.Sprintf("%d %s: %s; the %s median is %s and %s allows %s",
			len(res.Failed), plural(len(res.Failed), "outlier"), strings.Join(details, ", "), scopeName,
			formatFloat(m), allows, formatFloat(threshold))
		if mad == 0 && floor.Exact.Sign() == 0 {
			res.Message += " (the MAD is 0: most clusters agree exactly, so any other value is an outlier; minDeviation sets a floor)"
		}
		if len(res.NoData) > 0 {
			res.Message += "; no data: " + strings.Join(res.NoData, ", ")
		}
	case len(res.NoData) > 0:
		res.Verdict = fleetv1alpha1.GateInconclusive
		res.Message = fmt.Sprintf("no measurement for %s: a cluster without data never passes; the others lie within %s of the %s median %s",
			strings.Join(res.NoData, ", "), allows, scopeName, formatFloat(m))
	default:
		res.Verdict = fleetv1alpha1.GatePassed
		res.Message = fmt.Sprintf("every cluster of the wave (%d) lies within %s of the %s median %s",
			len(judged), allows, scopeName, formatFloat(m))
	}
	return res
}

// isOutlier decides |x - m| > max(k*mad, floor), exactly.
func isOutlier(x, m, mad float64, k, floor Decimal) bool {
	dev := math.Abs(x - m)
	if mad == 0 && floor.Exact.Sign() == 0 {
		return dev > zeroMADTolerance*math.Max(math.Abs(x), math.Abs(m))
	}
	threshold := math.Max(k.Float*mad, floor.Float)
	// x - m loses up to an ulp of the larger of |x| and |m| (more than an ulp of dev when they
	// are close), and each value up to half an ulp against its decimal: the margin covers both.
	largest := math.Max(math.Max(math.Abs(x), math.Abs(m)), math.Max(dev, threshold))
	if margin := 4 * ulp(largest); math.Abs(dev-threshold) > margin {
		return dev > threshold
	}
	// Too close for float64: compare the exact rationals of x, m, mad and the floor.
	exactDev := new(big.Rat).Sub(rat(x), rat(m))
	exactDev.Abs(exactDev)
	exactThreshold := new(big.Rat).Mul(k.Exact, rat(mad))
	if floor.Exact.Cmp(exactThreshold) > 0 {
		exactThreshold = floor.Exact
	}
	return exactDev.Cmp(exactThreshold) > 0
}

// rat is f as the measurements report it: the shortest decimal that reads back as f, exactly.
// So a value reported as "0.1" lies exactly minDeviation "0.1" from a median of 0, not the
// few ulps further that float64's binary 0.1 would make it.
func rat(f float64) *big.Rat {
	r, ok := new(big.Rat).SetString(formatFloat(f))
	if !ok { // not reached for the finite values Outlier compares
		return new(big.Rat).SetFloat64(f)
	}
	return r
}

func ulp(f float64) float64 { return math.Nextafter(f, math.Inf(1)) - f }

func finite(values map[string]float64, c string) (float64, bool) {
	x, ok := values[c]
	if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

// clusterValues is one measurement per judged cluster: its value, or no value without data.
func clusterValues(judged []string, values map[string]float64) []fleetv1alpha1.GateMeasurement {
	out := make([]fleetv1alpha1.GateMeasurement, 0, len(judged))
	for _, c := range judged {
		if x, ok := finite(values, c); ok {
			out = append(out, measurement(c, formatFloat(x)))
		} else {
			out = append(out, measurement(c, ""))
		}
	}
	return out
}

// formatFloat is the shortest decimal that reads back as f.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
