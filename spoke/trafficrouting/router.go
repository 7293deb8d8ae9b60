// Package trafficrouting is the interface between the Rollout controller and the traffic
// routers of a cluster (Nginx, ALB, Istio, SMI, Traefik, APISIX, Ambassador, Gateway API).
// Each router lives in its own package below this one and implements Router; the controller
// never imports a router's types.
package trafficrouting

import (
	"context"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Router shifts a Rollout's traffic between its stable and canary versions through one
// router. Every method is idempotent: it reads the router's objects, and writes only when
// they differ from what it asks for, with the spoke's own field manager, so fields that the
// user or another controller owns are never overwritten.
//
// Methods return errors a person can act on (the VirtualService does not exist, the route is
// not found, the router's CRD is not installed); the controller reports them as a condition
// and an event, and pauses rather than moves on.
type Router interface {
	// Type is the router's name in spec.strategy.canary.trafficRouting, such as "istio".
	Type() string

	// UpdateHash tells routers that route by pod-template hash (Istio DestinationRule
	// subsets) which hashes are canary and stable. Routers that route by Service do nothing.
	UpdateHash(ctx context.Context, canaryHash, stableHash string, additional ...v1alpha1.WeightDestination) error

	// SetWeight sends weight (0 to maxTrafficWeight, 100 by default) to the canary, each
	// additional destination (experiment templates) its own weight, and the rest to stable.
	SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error

	// SetHeaderRoute routes requests that match route.Match to the canary, under the managed
	// route route.Name. A route with no matches removes that managed route.
	SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error

	// SetMirrorRoute mirrors route.Percentage of the requests that match route.Match to the
	// canary, under the managed route route.Name. A route with no matches removes it.
	SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error

	// VerifyWeight reports whether the data plane applies the weight. Routers that cannot
	// tell return VerificationUnsupported.
	VerifyWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) (Verification, error)

	// RemoveManagedRoutes removes every header and mirror route that SetHeaderRoute and
	// SetMirrorRoute added, leaving the user's own routes as they were.
	RemoveManagedRoutes(ctx context.Context) error
}

// Verification is what a router can say about whether its data plane applies a weight.
type Verification int

const (
	// VerificationUnsupported means the router cannot report what its data plane applies.
	VerificationUnsupported Verification = iota
	// VerificationPending means the data plane does not apply the weight yet.
	VerificationPending
	// VerificationVerified means the data plane applies the weight.
	VerificationVerified
)
