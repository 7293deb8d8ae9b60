// Package smi shifts traffic with a Service Mesh Interface TrafficSplit.
//
// The router keeps one TrafficSplit, smi.trafficSplitName or the Rollout's name, owned by the
// Rollout:
//
//	spec:
//	  service: <smi.rootService, or the stable Service>
//	  backends:
//	  - {service: <canary Service>, weight: <weight>}
//	  - ... one per additional destination ...
//	  - {service: <stable Service>, weight: <the rest of 100>}
//
// It speaks the TrafficSplit version the cluster serves (the API server's preferred one:
// v1alpha4 with the CRD of smi-sdk-go v0.5.0), or the one WithAPIVersion pins; v1alpha1 gives
// weights as quantities, later versions as integers. A TrafficSplit of that name that the
// Rollout does not control is an error, never taken over. The TrafficSplit is created on the
// first SetWeight and patched only when its spec differs.
//
// The TrafficSplit is not deleted on completion or abort: the mesh sends the root Service's
// traffic by it, and with a root Service that selects the pods of both versions, deleting it
// would spread the traffic over them instead of keeping it on the stable version. SetWeight(0)
// leaves it with every request on the stable Service, and it goes away with the Rollout
// (garbage collection by its ownerReference). SMI has no header or mirror routes in Argo
// Rollouts' model: SetHeaderRoute, SetMirrorRoute and RemoveManagedRoutes do nothing.
package smi

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "smi"

// TrafficSplitKind is the kind the router writes.
var TrafficSplitKind = schema.GroupKind{Group: "split.smi-spec.io", Kind: "TrafficSplit"}

// Versions are the TrafficSplit versions the router can write.
var Versions = []string{"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}

// Option configures a Router.
type Option func(*Router)

// WithAPIVersion makes the router write TrafficSplits of version (one of Versions) instead
// of the version the cluster prefers.
func WithAPIVersion(version string) Option {
	return func(r *Router) { r.version = version }
}

// Router is the SMI traffic router of one Rollout.
type Router struct {
	c       client.Client
	ro      *v1alpha1.Rollout
	name    string
	root    string
	stable  string
	canary  string
	version string
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the SMI router of ro, which must configure trafficRouting.smi and name its
// stable and canary Services. c reads and writes TrafficSplits in ro's namespace.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.SMI == nil {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.smi is not set")
	}
	r := &Router{c: c, ro: ro, name: tr.SMI.TrafficSplitName, root: tr.SMI.RootService}
	r.stable, r.canary = trafficrouting.Services(ro, false)
	if r.stable == "" || r.canary == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.stableService and canaryService are both required")
	}
	if r.name == "" {
		r.name = ro.Name
	}
	if r.root == "" {
		r.root = r.stable
	}
	for _, o := range opts {
		o(r)
	}
	if r.version != "" && !slices.Contains(Versions, r.version) {
		return nil, trafficrouting.Invalid(Type, "TrafficSplit version %s is not one of %v", r.version, Versions)
	}
	return r, nil
}

// Type returns "smi".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: the backends are Services.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute does nothing: a TrafficSplit has no header routes here.
func (r *Router) SetHeaderRoute(context.Context, *v1alpha1.SetHeaderRoute) error { return nil }

// SetMirrorRoute does nothing: a TrafficSplit cannot mirror.
func (r *Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error { return nil }

// RemoveManagedRoutes does nothing: the router adds no routes.
func (r *Router) RemoveManagedRoutes(context.Context) error { return nil }

// VerifyWeight returns VerificationUnsupported: meshes do not report what they apply.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

// SetWeight makes the TrafficSplit send weight to the canary, each additional destination
// its weight, and the rest of 100 to the stable Service.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	gvk, err := r.gvk()
	if err != nil {
		return err
	}
	backends := []any{r.backend(gvk.Version, r.canary, weight)}
	for _, d := range additional {
		backends = append(backends, r.backend(gvk.Version, d.ServiceName, d.Weight))
	}
	stableWeight := trafficrouting.StableWeight(trafficrouting.DefaultMaxTrafficWeight, weight, additional...)
	backends = append(backends, r.backend(gvk.Version, r.stable, stableWeight))

	want := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"service": r.root, "backends": backends},
	}}
	want.SetGroupVersionKind(gvk)
	want.SetNamespace(r.ro.Namespace)
	want.SetName(r.name)
	return trafficrouting.EnsureOwnedSpec(ctx, r.c, r.ro, Type, want)
}

// gvk is the TrafficSplit version to write: the pinned one, or the one the cluster prefers.
func (r *Router) gvk() (schema.GroupVersionKind, error) {
	m, err := r.c.RESTMapper().RESTMapping(TrafficSplitKind)
	if err != nil {
		return schema.GroupVersionKind{}, trafficrouting.ReadError(err, TrafficSplitKind, r.ro.Namespace, r.name)
	}
	if r.version != "" && r.version != m.GroupVersionKind.Version {
		if _, err := r.c.RESTMapper().RESTMapping(TrafficSplitKind, r.version); err != nil {
			return schema.GroupVersionKind{}, trafficrouting.Invalid(Type, "the cluster does not serve TrafficSplit %s, the version the router is configured with (it prefers %s)",
				r.version, m.GroupVersionKind.Version)
		}
		return TrafficSplitKind.WithVersion(r.version), nil
	}
	if !slices.Contains(Versions, m.GroupVersionKind.Version) {
		return schema.GroupVersionKind{}, trafficrouting.Invalid(Type, "the cluster prefers TrafficSplit %s, which the router does not know (it knows %v): configure the router with one of those",
			m.GroupVersionKind.Version, Versions)
	}
	return m.GroupVersionKind, nil
}

func (r *Router) backend(version, service string, weight int32) map[string]any {
	b := map[string]any{"service": service, "weight": int64(weight)}
	if version == "v1alpha1" {
		b["weight"] = resource.NewQuantity(int64(weight), resource.DecimalExponent).String()
	}
	return b
}
