package trafficrouting

import (
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// DefaultMaxTrafficWeight is the weight that stands for all the traffic when
// trafficRouting.maxTrafficWeight is unset.
const DefaultMaxTrafficWeight int32 = 100

// TrafficRouting returns ro's spec.strategy.canary.trafficRouting, or an error when ro has
// none: a router cannot be built for such a Rollout.
func TrafficRouting(ro *v1alpha1.Rollout) (*v1alpha1.RolloutTrafficRouting, error) {
	if ro == nil || ro.Spec.Strategy.Canary == nil || ro.Spec.Strategy.Canary.TrafficRouting == nil {
		return nil, errors.New("the Rollout has no spec.strategy.canary.trafficRouting")
	}
	return ro.Spec.Strategy.Canary.TrafficRouting, nil
}

// MaxTrafficWeight is the weight that stands for all of ro's traffic.
func MaxTrafficWeight(ro *v1alpha1.Rollout) int32 {
	if tr, err := TrafficRouting(ro); err == nil && tr.MaxTrafficWeight != nil {
		return *tr.MaxTrafficWeight
	}
	return DefaultMaxTrafficWeight
}

// Services returns the Services that serve ro's stable and canary versions. With pingPong
// they are the ping and pong Services in the roles status.canary.stablePingPong gives them
// (ping is stable when it is unset); preferPingPong says whether pingPong wins when
// stableService and canaryService are set too (the ALB router's rule), otherwise it is used
// only when they are not.
func Services(ro *v1alpha1.Rollout, preferPingPong bool) (stable, canary string) {
	c := ro.Spec.Strategy.Canary
	if c == nil {
		return "", ""
	}
	if c.PingPong != nil && (preferPingPong || (c.StableService == "" && c.CanaryService == "")) {
		if ro.Status.Canary != nil && ro.Status.Canary.StablePingPong == v1alpha1.PPPong {
			return c.PingPong.PongService, c.PingPong.PingService
		}
		return c.PingPong.PingService, c.PingPong.PongService
	}
	return c.StableService, c.CanaryService
}

// StableWeight is the weight left to the stable version when the canary has canary and
// each additional destination its own weight, out of total; never below zero.
func StableWeight(total, canary int32, additional ...v1alpha1.WeightDestination) int32 {
	w := total - canary
	for _, d := range additional {
		w -= d.Weight
	}
	return max(w, 0)
}

// ControllerReference is the ownerReference that makes ro the controller of an object a
// router creates for it, so that the object is garbage-collected with the Rollout.
func ControllerReference(ro *v1alpha1.Rollout) metav1.OwnerReference {
	return *metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))
}

// ManagedRouteIndex is the position of the route name in ro's
// trafficRouting.managedRoutes, which is also its precedence (0 is matched first), or -1
// when it is not listed.
func ManagedRouteIndex(ro *v1alpha1.Rollout, name string) int {
	tr, err := TrafficRouting(ro)
	if err != nil {
		return -1
	}
	for i, r := range tr.ManagedRoutes {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// CheckManagedRoute returns an InvalidConfigError when the route name is not listed in ro's
// trafficRouting.managedRoutes: a router edits only routes it may own.
func CheckManagedRoute(router string, ro *v1alpha1.Rollout, name string) error {
	if name == "" {
		return Invalid(router, "a header or mirror route needs a name")
	}
	if ManagedRouteIndex(ro, name) < 0 {
		return Invalid(router, "route %q is not listed in spec.strategy.canary.trafficRouting.managedRoutes", name)
	}
	return nil
}
