package engine

import (
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// This file holds the replica arithmetic: how many pods the canary and the stable version
// run for a weight, within maxSurge and maxUnavailable. It is plain integer arithmetic on
// pod counts, with no knowledge of steps or status.

// podCounts is what the arithmetic needs of one ReplicaSet.
type podCounts struct {
	spec      int32 // spec.replicas
	available int32 // status.availableReplicas
}

// usable is how many of the pods the ReplicaSet is asked for are available.
func (p podCounts) usable() int32 { return min(p.spec, p.available) }

// unavailable is how many of the pods the ReplicaSet is asked for are not available. The
// ReplicaSet controller deletes those first when scaled down, so dropping them costs no
// availability.
func (p podCounts) unavailable() int32 { return p.spec - p.usable() }

func countsOf(rs *ReplicaSet) *podCounts {
	if rs == nil {
		return nil
	}
	return &podCounts{spec: rs.Replicas, available: rs.AvailableReplicas}
}

// surgeAndUnavailable resolves maxSurge (rounded up) and maxUnavailable (rounded down) for
// replicas pods, with the 25% defaults. When both come to zero, one pod may be unavailable,
// as for a Deployment, so that an update can always move.
func surgeAndUnavailable(surge, unavailable *intstr.IntOrString, replicas int32) (int32, int32) {
	def := intstr.FromString("25%")
	if surge == nil {
		surge = &def
	}
	if unavailable == nil {
		unavailable = &def
	}
	s, err := intstr.GetScaledValueFromIntOrPercent(surge, int(replicas), true)
	if err != nil {
		s = 0
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(unavailable, int(replicas), false)
	if err != nil {
		u = 0
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

// weightSplit returns the canary and stable pod counts whose ratio comes closest to
// weight/maxWeight. The total is replicas, or replicas+1 when a surge is allowed and it
// comes closer. For a weight strictly between 0 and maxWeight both versions keep at least
// one pod, unless a single replica without surge makes that impossible. On a tie the count
// without surge wins, then the larger canary.
func weightSplit(replicas, weight, maxWeight, surge int32) (canary, stable int32) {
	switch {
	case replicas <= 0:
		return 0, 0
	case weight <= 0:
		return 0, replicas
	case weight >= maxWeight:
		return replicas, 0
	}
	exact := int64(replicas) * int64(weight)
	floor := int32(exact / int64(maxWeight))
	ceil := floor
	if exact%int64(maxWeight) != 0 {
		ceil++
	}
	bothVersions := replicas > 1 || surge > 0
	totals := []int32{replicas}
	if surge > 0 {
		totals = append(totals, replicas+1)
	}
	found := false
	var bestC, bestT int32
	var bestNum, bestDen int64
	for _, total := range totals {
		for _, c := range []int32{ceil, floor} {
			if bothVersions && (c < 1 || total-c < 1) {
				continue
			}
			// Distance of c/total from weight/maxWeight, times maxWeight: |c*M - w*total| / total.
			num := int64(c)*int64(maxWeight) - int64(weight)*int64(total)
			if num < 0 {
				num = -num
			}
			den := int64(total)
			if !found || num*bestDen < bestNum*den {
				found, bestC, bestT, bestNum, bestDen = true, c, total, num, den
			}
		}
	}
	if !found {
		return 0, replicas
	}
	return bestC, bestT - bestC
}

// basicCanary is the input of basicCanaryCounts.
type basicCanary struct {
	replicas, weight, maxWeight, maxSurge, maxUnavailable int32
	// canary is the new ReplicaSet, nil when it does not exist yet.
	canary *podCounts
	// stable is the stable ReplicaSet, nil when there is none (or it is the new one): the
	// new ReplicaSet then gets every replica.
	stable *podCounts
	// others are the remaining ReplicaSets, the ones to scale down first first.
	others []podCounts
}

// basicCanaryResult is what basicCanaryCounts decides for this reconcile.
type basicCanaryResult struct {
	// canaryTarget and stableTarget are the counts the weight asks for.
	canaryTarget, stableTarget int32
	// canary and stable are the counts to set now, within maxSurge and maxUnavailable.
	canary, stable int32
	// others are the counts to set now for basicCanary.others, in the same order.
	others []int32
}

// basicCanaryCounts moves the pod counts toward the weight without a traffic router, where
// the weight is the share of pods. Pods are added first, within maxSurge (the stable
// version first, so an abort refills it before the canary shrinks); pods are then removed
// within maxUnavailable, counting that a ReplicaSet loses its unavailable pods first. Older
// ReplicaSets are drained before the canary or the stable one is.
func basicCanaryCounts(in basicCanary) basicCanaryResult {
	res := basicCanaryResult{canaryTarget: in.replicas, others: make([]int32, len(in.others))}
	if in.stable != nil {
		res.canaryTarget, res.stableTarget = weightSplit(in.replicas, in.weight, in.maxWeight, in.maxSurge)
	}
	var canary, stable, othersSpec, usable int32
	if in.canary != nil {
		canary = in.canary.spec
		usable += in.canary.usable()
	}
	if in.stable != nil {
		stable = in.stable.spec
		usable += in.stable.usable()
	}
	for i, o := range in.others {
		othersSpec += o.spec
		usable += o.usable()
		res.others[i] = o.spec
	}

	room := in.replicas + in.maxSurge - canary - stable - othersSpec
	if in.stable != nil && stable < res.stableTarget && room > 0 {
		add := min(room, res.stableTarget-stable)
		stable += add
		room -= add
	}
	if canary < res.canaryTarget && room > 0 {
		canary += min(room, res.canaryTarget-canary)
	}

	budget := usable - (in.replicas - in.maxUnavailable)
	if othersSpec > 0 {
		for i, o := range in.others {
			drop := min(o.spec, o.unavailable()+max(budget, 0))
			budget -= max(0, drop-o.unavailable())
			res.others[i] = o.spec - drop
		}
		res.canary, res.stable = canary, stable
		return res
	}
	increasing := in.canary == nil || res.canaryTarget >= in.canary.spec
	switch {
	case increasing && in.stable != nil && stable > res.stableTarget:
		stable = drain(*in.stable, res.stableTarget, budget)
	case !increasing && canary > res.canaryTarget:
		canary = drain(*in.canary, res.canaryTarget, budget)
	}
	res.canary, res.stable = canary, stable
	return res
}

// drain is how far p may shrink toward target: its unavailable pods, plus what the
// availability budget allows.
func drain(p podCounts, target, budget int32) int32 {
	return max(target, p.spec-p.unavailable()-max(budget, 0))
}

// weightToReplicas is the pod count that carries weight out of maxWeight of replicas pods,
// rounded up.
func weightToReplicas(replicas, weight, maxWeight int32) int32 {
	if weight <= 0 || replicas <= 0 {
		return 0
	}
	n := (int64(replicas)*int64(weight) + int64(maxWeight) - 1) / int64(maxWeight)
	return int32(min(n, int64(replicas)))
}

// weightCarried is the largest weight that available pods can carry: the inverse of
// weightToReplicas.
func weightCarried(replicas, available, maxWeight int32) int32 {
	if replicas <= 0 || available >= replicas {
		return maxWeight
	}
	if available <= 0 {
		return 0
	}
	return int32(int64(available) * int64(maxWeight) / int64(replicas))
}

// withMinPods raises a non-zero count to minPodsPerReplicaSet, capped at replicas.
func withMinPods(count int32, minPods *int32, replicas int32) int32 {
	if count == 0 || minPods == nil {
		return count
	}
	return max(count, min(*minPods, replicas))
}

// progressMet reports whether available pods of a ReplicaSet asked for desired ones are
// enough for the next step, per replicaProgressThreshold (all of them when unset). A Pods
// threshold above desired asks for desired.
func progressMet(t *v1alpha1.ReplicaProgressThreshold, available, desired int32) bool {
	if t == nil || t.Value <= 0 {
		return available >= desired
	}
	if t.Type == v1alpha1.ProgressTypePercentage {
		return int64(available)*100 >= int64(t.Value)*int64(desired)
	}
	return available >= min(t.Value, desired)
}
