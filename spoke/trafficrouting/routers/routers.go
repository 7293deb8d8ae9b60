// Package routers builds the traffic router of a Rollout from its trafficRouting block:
// one router per configured mesh or ingress, driven together as one trafficrouting.Router,
// so that a Rollout can shift Istio and Nginx traffic in the same step.
package routers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/ambassador"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/apisix"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/gatewayapi"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/istio"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/nginx"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/smi"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/traefik"
)

// GatewayAPIPlugin is the name of Argo Rollouts' Gateway API plugin. Its configuration has
// the fields of trafficRouting.gatewayAPI, so a Rollout that uses the plugin is served by
// the built-in gatewayapi router without change.
const GatewayAPIPlugin = "argoproj-labs/gatewayAPI"

// Options configure what a router needs beyond the cluster's API server.
type Options struct {
	// TraefikAPI is the base URL of Traefik's API (such as http://traefik-api.traefik:8080),
	// which the traefik router asks to verify weights; empty means it cannot verify.
	TraefikAPI string
	// ALBWeights reads the weights AWS load balancers apply, which the alb router compares
	// to verify weights (such as an elbv2.Reader); nil means it cannot verify.
	ALBWeights alb.WeightReader
}

// Builder returns a function that builds a Rollout's router as New does, with opts.
func Builder(opts Options) func(client.Client, *v1alpha1.Rollout) (trafficrouting.Router, error) {
	return func(c client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
		return build(c, ro, opts)
	}
}

// New builds the router of ro: every router its trafficRouting names, in a fixed order.
// Routers that need more than the cluster (see Options) are built without it.
func New(c client.Client, ro *v1alpha1.Rollout) (trafficrouting.Router, error) {
	return build(c, ro, Options{})
}

func build(c client.Client, ro *v1alpha1.Rollout, opts Options) (trafficrouting.Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, trafficrouting.Invalid("trafficRouting", "%s", err.Error())
	}
	ro, err = withPluginConfig(ro, tr)
	if err != nil {
		return nil, err
	}
	tr = ro.Spec.Strategy.Canary.TrafficRouting

	type build func() (trafficrouting.Router, error)
	var builds []build
	add := func(set bool, b build) {
		if set {
			builds = append(builds, b)
		}
	}
	add(tr.Istio != nil, func() (trafficrouting.Router, error) { return istio.New(c, ro) })
	add(tr.Nginx != nil, func() (trafficrouting.Router, error) { return nginx.New(c, ro) })
	add(tr.ALB != nil, func() (trafficrouting.Router, error) {
		var o []alb.Option
		if opts.ALBWeights != nil {
			o = append(o, alb.WithWeightReader(opts.ALBWeights))
		}
		return alb.New(c, ro, o...)
	})
	add(tr.SMI != nil, func() (trafficrouting.Router, error) { return smi.New(c, ro) })
	add(tr.Traefik != nil, func() (trafficrouting.Router, error) {
		var o []traefik.Option
		if opts.TraefikAPI != "" {
			o = append(o, traefik.WithAPI(opts.TraefikAPI))
		}
		return traefik.New(c, ro, o...)
	})
	add(tr.GatewayAPI != nil, func() (trafficrouting.Router, error) { return gatewayapi.New(c, ro) })
	add(tr.Apisix != nil, func() (trafficrouting.Router, error) { return apisix.New(c, ro) })
	add(tr.Ambassador != nil, func() (trafficrouting.Router, error) { return ambassador.New(c, ro) })
	if tr.AppMesh != nil {
		return nil, trafficrouting.Invalid("appMesh", "App Mesh is not supported by Flotilla (AWS retired App Mesh); use gatewayAPI or istio")
	}
	for name := range tr.Plugins {
		if name != GatewayAPIPlugin {
			return nil, trafficrouting.Invalid("plugins", "the traffic router plugin %q is not supported; Flotilla builds its routers in (the %s plugin's configuration works as trafficRouting.gatewayAPI)", name, GatewayAPIPlugin)
		}
	}
	if len(builds) == 0 {
		return nil, trafficrouting.Invalid("trafficRouting", "no traffic router is configured")
	}
	var all Multi
	for _, b := range builds {
		r, err := b()
		if err != nil {
			return nil, err
		}
		all = append(all, r)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

// withPluginConfig returns ro with the Gateway API plugin's configuration moved into
// trafficRouting.gatewayAPI, when the plugin is used and gatewayAPI is not set.
func withPluginConfig(ro *v1alpha1.Rollout, tr *v1alpha1.RolloutTrafficRouting) (*v1alpha1.Rollout, error) {
	raw, ok := tr.Plugins[GatewayAPIPlugin]
	if !ok || tr.GatewayAPI != nil {
		return ro, nil
	}
	cfg := &v1alpha1.GatewayAPITrafficRouting{}
	if err := json.Unmarshal(raw.Raw, cfg); err != nil {
		return nil, trafficrouting.Invalid("plugins", "the %s plugin's configuration does not read as trafficRouting.gatewayAPI: %v", GatewayAPIPlugin, err)
	}
	out := ro.DeepCopy()
	out.Spec.Strategy.Canary.TrafficRouting.GatewayAPI = cfg
	delete(out.Spec.Strategy.Canary.TrafficRouting.Plugins, GatewayAPIPlugin)
	return out, nil
}

// Multi drives several routers as one: every call goes to each router in order and stops
// at the first error, so the step waits until all of them have the change.
type Multi []trafficrouting.Router

// Type lists the routers' types.
func (m Multi) Type() string {
	s := ""
	for i, r := range m {
		if i > 0 {
			s += "+"
		}
		s += r.Type()
	}
	return s
}

func (m Multi) each(f func(trafficrouting.Router) error) error {
	for _, r := range m {
		if err := f(r); err != nil {
			return fmt.Errorf("%s: %w", r.Type(), err)
		}
	}
	return nil
}

// UpdateHash tells every router the canary and stable hashes.
func (m Multi) UpdateHash(ctx context.Context, canaryHash, stableHash string, additional ...v1alpha1.WeightDestination) error {
	return m.each(func(r trafficrouting.Router) error { return r.UpdateHash(ctx, canaryHash, stableHash, additional...) })
}

// SetWeight sets the weight on every router.
func (m Multi) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	return m.each(func(r trafficrouting.Router) error { return r.SetWeight(ctx, weight, additional...) })
}

// SetHeaderRoute sets the header route on every router.
func (m Multi) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	return m.each(func(r trafficrouting.Router) error { return r.SetHeaderRoute(ctx, route) })
}

// SetMirrorRoute sets the mirror route on every router.
func (m Multi) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	return m.each(func(r trafficrouting.Router) error { return r.SetMirrorRoute(ctx, route) })
}

// RemoveManagedRoutes removes the managed routes of every router; it tries them all and
// returns every error.
func (m Multi) RemoveManagedRoutes(ctx context.Context) error {
	var errs []error
	for _, r := range m {
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Type(), err))
		}
	}
	return errors.Join(errs...)
}

// VerifyWeight is Verified when every router that can tell has verified the weight, Pending
// when one has not, and Unsupported when none can tell.
func (m Multi) VerifyWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	out := trafficrouting.VerificationUnsupported
	for _, r := range m {
		v, err := r.VerifyWeight(ctx, weight, additional...)
		if err != nil {
			return trafficrouting.VerificationPending, fmt.Errorf("%s: %w", r.Type(), err)
		}
		switch v {
		case trafficrouting.VerificationPending:
			return v, nil
		case trafficrouting.VerificationVerified:
			out = v
		}
	}
	return out, nil
}
