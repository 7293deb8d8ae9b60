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
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// ClusterVerdict is what the hub knows of one counted cluster when an aggregate gate runs.
type ClusterVerdict string

const (
	// VerdictHealthy means the member Rollout is fully promoted and healthy at the revision.
	VerdictHealthy ClusterVerdict = "Healthy"
	// VerdictDegraded means the member Rollout is degraded or aborted its canary; counts as failed.
	VerdictDegraded ClusterVerdict = "Degraded"
	// VerdictFailed means the cluster counts as failed (deadline passed, apply refused...).
	VerdictFailed ClusterVerdict = "Failed"
	// VerdictUnknown means the hub cannot reach the cluster; it never counts as healthy.
	VerdictUnknown ClusterVerdict = "Unknown"
	// VerdictProgressing means the member Rollout has not finished; it never counts as healthy.
	VerdictProgressing ClusterVerdict = "Progressing"
)

// VerdictOf maps a cluster's status phase to its verdict for an aggregate gate: Healthy is
// healthy; Degraded, Failed, RollingBack and RolledBack are failed (the cluster did not keep
// the revision); Unknown is unknown; Pending, Progressing and Paused are progressing. Skipped
// (and any other phase) returns "", which the gate treats as a cluster without data: the
// caller should not count skipped clusters at all.
func VerdictOf(p fleetv1alpha1.ClusterPhase) ClusterVerdict {
	switch p {
	case fleetv1alpha1.ClusterHealthy:
		return VerdictHealthy
	case fleetv1alpha1.ClusterDegraded:
		return VerdictDegraded
	case fleetv1alpha1.ClusterFailed, fleetv1alpha1.ClusterRollingBack, fleetv1alpha1.ClusterRolledBack:
		return VerdictFailed
	case fleetv1alpha1.ClusterUnknown:
		return VerdictUnknown
	case fleetv1alpha1.ClusterPending, fleetv1alpha1.ClusterProgressing, fleetv1alpha1.ClusterPaused:
		return VerdictProgressing
	default:
		return ""
	}
}

// MaxFailures resolves a maxFailures for n counted clusters: unset is 0; a count (>= 0) is
// itself; a percentage "0%".."100%" is rounded down (floor(p*n/100), in integers), as
// Kubernetes rounds maxUnavailable and as the API says.
func MaxFailures(v *intstr.IntOrString, n int) (int, error) {
	if v == nil {
		return 0, nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("maxFailures must not be negative, got %d", v.IntVal)
		}
		return int(v.IntVal), nil
	}
	digits, ok := strings.CutSuffix(v.StrVal, "%")
	p, err := strconv.Atoi(digits)
	if !ok || err != nil || strings.HasPrefix(digits, "+") || p < 0 || p > 100 {
		return 0, fmt.Errorf("maxFailures %q is not an integer >= 0 or a percentage from 0%% to 100%%", v.StrVal)
	}
	return p * n / 100, nil
}

// Aggregate evaluates an aggregate gate over the verdicts of the counted clusters (the wave's
// clusters for a wave gate; every cluster that took the revision so far for a fleet gate).
// A counted cluster missing from verdicts has no data.
//
// Each cluster is healthy, failed, or undecided (Unknown, Progressing, or no data). Undecided
// clusters never count as healthy. The gate:
//   - passes when every criterion holds with the undecided clusters counted as failed (so an
//     unreachable cluster that maxFailures can absorb does not hold the fleet up);
//   - fails when some criterion fails even with the undecided clusters counted as healthy
//     (the clusters known to have failed are enough);
//   - otherwise is Pending: the verdict hangs on the undecided clusters, and the gate waits for
//     them rather than failing the fleet on a network blip. The scheduler turns an Unknown
//     cluster into a failed one once its progress deadline passes (see plan.Decide), which
//     then decides the gate.
//
// With no counted cluster at all the verdict is Inconclusive: a gate that judged nothing must
// not let the fleet go on in silence.
func Aggregate(g *fleetv1alpha1.AggregateGate, counted []string, verdicts map[string]ClusterVerdict) Result {
	var healthy, failed, undecided, noData []string
	for _, c := range dedupSorted(counted) {
		switch v, ok := verdicts[c]; {
		case !ok || v == "":
			undecided, noData = append(undecided, c), append(noData, c)
		case v == VerdictHealthy:
			healthy = append(healthy, c)
		case v == VerdictDegraded || v == VerdictFailed:
			failed = append(failed, c)
		default:
			undecided = append(undecided, c)
		}
	}
	h, f, u := len(healthy), len(failed), len(undecided)
	n := h + f + u
	res := Result{Failed: failed, NoData: noData}
	res.Measurements = []fleetv1alpha1.GateMeasurement{
		measurement("counted", strconv.Itoa(n)),
		measurement("healthy", strconv.Itoa(h)),
		measurement("failed", strconv.Itoa(f)),
		measurement("unknown", strconv.Itoa(u)),
		measurement("successPercent", successPercent(h, n)),
	}
	if n == 0 {
		res.Verdict = fleetv1alpha1.GateInconclusive
		res.Message = "no cluster to count: the gate cannot judge an empty set"
		return res
	}
	maxFail, err := MaxFailures(g.MaxFailures, n)
	if err != nil {
		res.Verdict, res.Message = fleetv1alpha1.GateError, err.Error()
		return res
	}

	// Each criterion: does it hold pessimistically (undecided = failed) and optimistically
	// (undecided = healthy)?
	type criterion struct {
		name         string
		pess, opt    bool
		failsBecause string
	}
	var crits []criterion
	if g.RequireAllHealthy {
		res.Measurements = append(res.Measurements, measurement("requireAllHealthy", "true"))
		crits = append(crits, criterion{"requireAllHealthy", h == n, f == 0,
			fmt.Sprintf("requireAllHealthy: %d of %d %s failed", f, n, plural(n, "cluster"))})
	}
	if g.MinSuccessPercent != nil {
		p := int(*g.MinSuccessPercent)
		res.Measurements = append(res.Measurements, measurement("minSuccessPercent", strconv.Itoa(p)))
		share := fmt.Sprintf("%s%% of the clusters are healthy", successPercent(h, n))
		if u > 0 {
			share = fmt.Sprintf("at most %s%% of the clusters can be healthy", successPercent(h+u, n))
		}
		crits = append(crits, criterion{"minSuccessPercent", h*100 >= p*n, (h+u)*100 >= p*n,
			fmt.Sprintf("minSuccessPercent: %s, below %d%%", share, p)})
	}
	if g.MaxFailures != nil {
		res.Measurements = append(res.Measurements, measurement("maxFailures", strconv.Itoa(maxFail)))
		crits = append(crits, criterion{"maxFailures", f+u <= maxFail, f <= maxFail,
			fmt.Sprintf("maxFailures: %d %s failed, more than the %d allowed (%s of %d)", f, plural(f, "cluster"),
				maxFail, g.MaxFailures.String(), n)})
	}

	allPass, anyFail := true, false
	var why, hangs []string
	for _, c := range crits {
		allPass = allPass && c.pess
		if !c.opt {
			anyFail = true
			why = append(why, c.failsBecause)
		} else if !c.pess {
			hangs = append(hangs, c.name)
		}
	}
	switch {
	case anyFail:
		res.Verdict = fleetv1alpha1.GateFailed
		res.Message = strings.Join(why, "; ") + failedSuffix(failed)
	case allPass:
		res.Verdict = fleetv1alpha1.GatePassed
		res.Message = fmt.Sprintf("%d of %d %s healthy (%s%%)", h, n, plural(n, "cluster"), successPercent(h, n))
		if u > 0 {
			res.Message += fmt.Sprintf("; %s without a verdict counted as failed", describe(undecided, verdicts))
		}
		if f > 0 {
			res.Message += "; failed within the limits: " + strings.Join(failed, ", ")
		}
	default:
		res.Verdict = fleetv1alpha1.GatePending
		res.Message = fmt.Sprintf("waiting for %s: counted as failed, %s would not hold; a cluster "+
			"without a verdict never passes", describe(undecided, verdicts), strings.Join(hangs, " and "))
	}
	return res
}

// successPercent is 100*h/n rounded down to two decimals, so that the figure shown is never
// above the true share ("99.99", never a misleading "100").
func successPercent(h, n int) string {
	if n == 0 {
		return "0"
	}
	hundredths := h * 10000 / n
	s := strconv.Itoa(hundredths/100) + "." + fmt.Sprintf("%02d", hundredths%100)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func failedSuffix(failed []string) string {
	if len(failed) == 0 {
		return ""
	}
	return " (" + strings.Join(failed, ", ") + ")"
}

// describe lists clusters with their verdict: "eu-1 (Unknown), eu-2 (no data)".
func describe(names []string, verdicts map[string]ClusterVerdict) string {
	parts := make([]string, len(names))
	for i, n := range names {
		v := string(verdicts[n])
		if v == "" {
			v = "no data"
		}
		parts[i] = fmt.Sprintf("%s (%s)", n, v)
	}
	return strings.Join(parts, ", ")
}

func dedupSorted(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	w := 0
	for i, s := range out {
		if i == 0 || s != out[w-1] {
			out[w] = s
			w++
		}
	}
	return out[:w]
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
