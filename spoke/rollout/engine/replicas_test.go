package engine

import (
	"math/rand"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func TestWeightSplit(t *testing.T) {
	for _, tc := range []struct {
		replicas, weight, surge int32
		canary, stable          int32
	}{
		{5, 20, 2, 1, 4}, // the getting-started canary
		{5, 40, 2, 2, 3},
		{5, 60, 2, 3, 2},
		{5, 80, 2, 4, 1},
		{10, 10, 1, 1, 9},
		{10, 5, 1, 1, 10}, // one canary pod rather than none, and 1/11 is closer to 5% than 1/10
		{1, 5, 1, 1, 1},   // a single replica surges to run both versions
		{1, 95, 1, 1, 1},  // ... at any weight
		{1, 50, 0, 1, 0},  // no surge: one version or the other; ties go to the canary
		{1, 20, 0, 0, 1},  // ... the closest
		{3, 50, 0, 2, 1},  // a tie between 1/3 and 2/3 picks the larger canary
		{3, 50, 1, 2, 2},  // a surge reaches 50% exactly
		{4, 50, 1, 2, 2},  //
		{10, 0, 3, 0, 10}, // no canary
		{10, 100, 3, 10, 0},
		{0, 50, 1, 0, 0},
		{2, 99, 0, 1, 1}, // both versions keep a pod between 0 and 100
		{2, 1, 0, 1, 1},
	} {
		c, s := weightSplit(tc.replicas, tc.weight, 100, tc.surge)
		if c != tc.canary || s != tc.stable {
			t.Errorf("weightSplit(replicas %d, weight %d, surge %d) = %d/%d, want %d/%d", tc.replicas, tc.weight, tc.surge, c, s, tc.canary, tc.stable)
		}
	}
}

func TestBasicCanaryCounts(t *testing.T) {
	pc := func(spec, avail int32) *podCounts { return &podCounts{spec: spec, available: avail} }
	for _, tc := range []struct {
		name                       string
		in                         basicCanary
		canary, stable             int32
		canaryTarget, stableTarget int32
	}{
		{"surge and unavailable 1: one canary pod replaces a stable one",
			basicCanary{replicas: 10, weight: 10, maxSurge: 1, maxUnavailable: 1, canary: pc(0, 0), stable: pc(10, 10)}, 1, 9, 1, 9},
		{"no unavailability: surge first, stable waits",
			basicCanary{replicas: 10, weight: 30, maxSurge: 3, maxUnavailable: 0, canary: pc(0, 0), stable: pc(10, 10)}, 3, 10, 3, 7},
		{"no surge: stable shrinks first, within maxUnavailable",
			basicCanary{replicas: 10, weight: 30, maxSurge: 0, maxUnavailable: 5, canary: pc(0, 0), stable: pc(10, 10)}, 0, 7, 3, 7},
		{"no surge, next round: the canary fills the room",
			basicCanary{replicas: 10, weight: 30, maxSurge: 0, maxUnavailable: 5, canary: pc(0, 0), stable: pc(7, 7)}, 3, 7, 3, 7},
		{"new RS not created yet",
			basicCanary{replicas: 5, weight: 20, maxSurge: 2, maxUnavailable: 1, stable: pc(5, 5)}, 1, 4, 1, 4},
		{"stable does not shrink while the canary is not available and maxUnavailable is spent",
			basicCanary{replicas: 5, weight: 40, maxSurge: 1, maxUnavailable: 0, canary: pc(2, 1), stable: pc(4, 4)}, 2, 4, 2, 3},
		{"stable sheds its own unavailable pods first",
			basicCanary{replicas: 5, weight: 40, maxSurge: 1, maxUnavailable: 0, canary: pc(2, 2), stable: pc(4, 2)}, 2, 3, 2, 3},
		{"abort: stable refills within surge before the canary shrinks",
			basicCanary{replicas: 5, weight: 0, maxSurge: 1, maxUnavailable: 0, canary: pc(2, 2), stable: pc(3, 3)}, 2, 4, 0, 5},
		{"abort, next round: the canary goes as the stable comes back",
			basicCanary{replicas: 5, weight: 0, maxSurge: 1, maxUnavailable: 0, canary: pc(2, 2), stable: pc(4, 4)}, 1, 4, 0, 5},
		{"abort: the last canary pod waits for the stable pod that replaces it",
			basicCanary{replicas: 5, weight: 0, maxSurge: 1, maxUnavailable: 0, canary: pc(1, 1), stable: pc(4, 4)}, 1, 5, 0, 5},
		{"abort: done",
			basicCanary{replicas: 5, weight: 0, maxSurge: 1, maxUnavailable: 0, canary: pc(1, 1), stable: pc(5, 5)}, 0, 5, 0, 5},
		{"no stable: the new RS gets every replica, within surge",
			basicCanary{replicas: 4, weight: 20, maxSurge: 1, maxUnavailable: 0, canary: pc(0, 0), others: []podCounts{{4, 4}}}, 1, 0, 4, 0},
		{"older ReplicaSets drain first, within maxUnavailable",
			basicCanary{replicas: 4, weight: 50, maxSurge: 1, maxUnavailable: 1, canary: pc(2, 2), stable: pc(2, 2), others: []podCounts{{1, 1}}}, 2, 2, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.maxWeight = 100
			res := basicCanaryCounts(tc.in)
			if res.canary != tc.canary || res.stable != tc.stable || res.canaryTarget != tc.canaryTarget || res.stableTarget != tc.stableTarget {
				t.Errorf("got canary %d stable %d (targets %d/%d), want %d %d (%d/%d)", res.canary, res.stable, res.canaryTarget, res.stableTarget,
					tc.canary, tc.stable, tc.canaryTarget, tc.stableTarget)
			}
		})
	}
}

// TestBasicCanaryCountsInvariants checks, on random inputs, that one round never goes above
// replicas+maxSurge pods, and never removes available pods below replicas-maxUnavailable
// (or below what was available, when that was already less), counting that a ReplicaSet
// loses its unavailable pods first.
func TestBasicCanaryCountsInvariants(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := range 20000 {
		replicas := int32(r.Intn(12))
		surge, unavail := int32(r.Intn(4)), int32(r.Intn(4))
		if surge == 0 && unavail == 0 {
			unavail = 1
		}
		rnd := func() *podCounts {
			spec := int32(r.Intn(int(replicas) + 2))
			return &podCounts{spec: spec, available: int32(r.Intn(int(spec) + 1))}
		}
		in := basicCanary{replicas: replicas, weight: int32(r.Intn(101)), maxWeight: 100, maxSurge: surge, maxUnavailable: unavail, canary: rnd(), stable: rnd()}
		if r.Intn(3) == 0 {
			in.others = []podCounts{*rnd()}
		}
		res := basicCanaryCounts(in)
		before := in.canary.spec + in.stable.spec
		after := res.canary + res.stable
		availBefore := in.canary.usable() + in.stable.usable()
		lost := max(0, in.canary.spec-res.canary-in.canary.unavailable()) + max(0, in.stable.spec-res.stable-in.stable.unavailable())
		for j, o := range in.others {
			before += o.spec
			after += res.others[j]
			availBefore += o.usable()
			lost += max(0, o.spec-res.others[j]-o.unavailable())
		}
		if after > max(before, replicas+surge) {
			t.Fatalf("case %d %+v: %d pods after, above %d", i, in, after, replicas+surge)
		}
		if lost > 0 && availBefore-lost < min(availBefore, replicas-unavail) {
			t.Fatalf("case %d %+v -> %+v: availability %d -> %d, below %d", i, in, res, availBefore, availBefore-lost, replicas-unavail)
		}
	}
}

func TestWeightToReplicasAndBack(t *testing.T) {
	for _, tc := range []struct{ replicas, weight, pods int32 }{
		{10, 10, 1}, {10, 15, 2}, {5, 20, 1}, {5, 21, 2}, {3, 100, 3}, {3, 0, 0}, {0, 50, 0},
	} {
		if got := weightToReplicas(tc.replicas, tc.weight, 100); got != tc.pods {
			t.Errorf("weightToReplicas(%d, %d) = %d, want %d", tc.replicas, tc.weight, got, tc.pods)
		}
		if tc.replicas > 0 && weightToReplicas(tc.replicas, weightCarried(tc.replicas, tc.pods, 100), 100) > tc.pods {
			t.Errorf("weightCarried(%d, %d) needs more pods than that", tc.replicas, tc.pods)
		}
	}
	if w := weightCarried(10, 3, 100); w != 30 {
		t.Errorf("weightCarried(10, 3) = %d, want 30", w)
	}
	if w := withMinPods(1, ptrInt32(3), 10); w != 3 {
		t.Errorf("withMinPods = %d, want 3", w)
	}
	if w := withMinPods(0, ptrInt32(3), 10); w != 0 {
		t.Errorf("withMinPods keeps zero at zero, got %d", w)
	}
}

func TestProgressMet(t *testing.T) {
	pct := &v1alpha1.ReplicaProgressThreshold{Type: v1alpha1.ProgressTypePercentage, Value: 70}
	pods := &v1alpha1.ReplicaProgressThreshold{Type: v1alpha1.ProgressTypePods, Value: 2}
	for _, tc := range []struct {
		t                  *v1alpha1.ReplicaProgressThreshold
		available, desired int32
		want               bool
	}{
		{nil, 3, 3, true}, {nil, 2, 3, false},
		{pct, 7, 10, true}, {pct, 6, 10, false}, {pct, 0, 0, true},
		{pods, 2, 10, true}, {pods, 1, 10, false}, {pods, 1, 1, true},
	} {
		if got := progressMet(tc.t, tc.available, tc.desired); got != tc.want {
			t.Errorf("progressMet(%v, %d, %d) = %v", tc.t, tc.available, tc.desired, got)
		}
	}
}

func TestSurgeAndUnavailable(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int) *intstr.IntOrString { v := intstr.FromInt(n); return &v }
	for _, tc := range []struct {
		surge, unavail *intstr.IntOrString
		replicas       int32
		s, u           int32
	}{
		{nil, nil, 5, 2, 1},       // 25% rounds up for surge, down for unavailable
		{nil, nil, 1, 1, 0},       //
		{num(0), num(0), 4, 0, 1}, // both zero: one pod may go, as for a Deployment
		{pct("50%"), num(0), 3, 2, 0},
	} {
		s, u := surgeAndUnavailable(tc.surge, tc.unavail, tc.replicas)
		if s != tc.s || u != tc.u {
			t.Errorf("surgeAndUnavailable(%v, %v, %d) = %d/%d, want %d/%d", tc.surge, tc.unavail, tc.replicas, s, u, tc.s, tc.u)
		}
	}
}
