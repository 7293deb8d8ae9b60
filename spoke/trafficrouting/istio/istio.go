// Package istio shifts traffic with Istio VirtualServices and, for subset-level routing, a
// DestinationRule.
//
// Weights. In each VirtualService the Rollout names (virtualService, or virtualServices,
// "name" or "name.namespace"), the router edits the routes it is told to: the HTTP routes
// named in routes (or the one HTTP route that is not a managed route when routes is unset),
// the TLS routes whose match has the port and exactly the SNI hosts of an entry of tlsRoutes
// (or the one TLS route when tlsRoutes is unset), the TCP routes of a port of tcpRoutes (or
// the one TCP route), and the managed mirror routes, which carry a copy of the weighted
// destinations. In those routes the destination of the canary gets the weight, each
// additional destination (an experiment's Service) its weight, a destination of one of the
// DestinationRule's additionalSubsetNames keeps its weight, the stable destination gets the
// rest of 100, and any other destination is removed, as in Argo Rollouts. Destinations are
// told apart by host (the part of destination.host before the first dot is the canary or the
// stable Service: host-level routing) or, with a destinationRule, by subset (subset-level
// routing).
//
// Subsets. With a destinationRule, UpdateHash points its canary and stable subsets at the
// pods of a pod-template hash, through the label rollouts-pod-template-hash (WithHashLabel
// changes it). Subsets for additional destinations are added under the Service's name and
// removed once they are no longer asked for; the annotation rollouts.flotilla.dev/managed-subsets
// lists them, so that the user's other subsets are never touched (Argo Rollouts removes them).
//
// Header and mirror routes. SetHeaderRoute adds the HTTP route route.Name with one match
// that holds every header condition (all must hold) and the canary as its only destination.
// SetMirrorRoute adds the HTTP route route.Name with a match per request condition (any one
// may hold), the weighted destinations of the first weighted HTTP route, and a mirror of
// route.Percentage (100 by default) of the requests to the canary. The canary destination
// is the canary Service, or the DestinationRule's host and canary subset, on the port of the
// weighted route's first destination. Managed routes sit at the top of spec.http, in the
// order of trafficRouting.managedRoutes; RemoveManagedRoutes removes them all. They are added
// to every VirtualService of the Rollout.
//
// The VirtualServices and the DestinationRule belong to the user. The router changes them
// with JSON patches that name only the entries it changes and test, before changing one,
// the name of its route or subset and the host of its destination, so that a concurrent
// edit makes the patch fail rather than change the wrong entry; it reads first and sends
// nothing when nothing differs. The API version of each kind is the one the cluster prefers.
package istio

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "istio"

// DefaultHashLabel is the pod label that holds the pod-template hash of a ReplicaSet.
const DefaultHashLabel = "rollouts-pod-template-hash"

// ManagedSubsetsAnnotation is the annotation of a DestinationRule that lists the subsets the
// router added for additional destinations.
const ManagedSubsetsAnnotation = "rollouts.flotilla.dev/managed-subsets"

// The kinds the router edits.
var (
	VirtualServiceKind  = schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	DestinationRuleKind = schema.GroupKind{Group: "networking.istio.io", Kind: "DestinationRule"}
)

// Option configures a Router.
type Option func(*Router)

// WithHashLabel makes UpdateHash select pods by the label key instead of DefaultHashLabel.
func WithHashLabel(key string) Option {
	return func(r *Router) { r.hashLabel = key }
}

// Router is the Istio traffic router of one Rollout.
type Router struct {
	c         client.Client
	ro        *v1alpha1.Rollout
	cfg       *v1alpha1.IstioTrafficRouting
	stable    string
	canary    string
	hashLabel string
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Istio router of ro, which must configure trafficRouting.istio, and name
// its stable and canary Services unless it routes by DestinationRule subsets. c reads and
// patches VirtualServices and DestinationRules.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.Istio == nil {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.istio is not set")
	}
	r := &Router{c: c, ro: ro, cfg: tr.Istio, hashLabel: DefaultHashLabel}
	r.stable, r.canary = trafficrouting.Services(ro, false)
	if tr.Istio.DestinationRule == nil && (r.stable == "" || r.canary == "") {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.stableService and canaryService are required without istio.destinationRule")
	}
	if len(r.virtualServices()) == 0 {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.istio needs virtualService or virtualServices")
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type returns "istio".
func (r *Router) Type() string { return Type }

// VerifyWeight returns VerificationUnsupported: Istio does not report what its proxies apply.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

func (r *Router) virtualServices() []v1alpha1.IstioVirtualService {
	if len(r.cfg.VirtualServices) > 0 {
		return r.cfg.VirtualServices
	}
	if r.cfg.VirtualService != nil {
		return []v1alpha1.IstioVirtualService{*r.cfg.VirtualService}
	}
	return nil
}

// namespaceName splits a VirtualService reference, "name" or "name.namespace".
func (r *Router) namespaceName(ref string) (string, string) {
	if name, ns, ok := strings.Cut(ref, "."); ok && !strings.Contains(ns, ".") {
		return ns, name
	}
	return r.ro.Namespace, ref
}

// get reads the object gk namespace/name in the version the cluster prefers.
func (r *Router) get(ctx context.Context, gk schema.GroupKind, namespace, name string) (*unstructured.Unstructured, error) {
	m, err := r.c.RESTMapper().RESTMapping(gk)
	if err != nil {
		return nil, trafficrouting.ReadError(err, gk, namespace, name)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(m.GroupVersionKind)
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		return nil, trafficrouting.ReadError(err, gk, namespace, name)
	}
	return obj, nil
}

// eachVirtualService reads every VirtualService, asks patch for the changes to it and sends
// them. With skipMissing, a VirtualService that does not exist is passed over.
func (r *Router) eachVirtualService(ctx context.Context, skipMissing bool, patch func(*virtualService) (trafficrouting.JSONPatch, error)) error {
	for _, cfg := range r.virtualServices() {
		ns, name := r.namespaceName(cfg.Name)
		obj, err := r.get(ctx, VirtualServiceKind, ns, name)
		if skipMissing && trafficrouting.Reason(err) == trafficrouting.ReasonObjectNotFound {
			continue
		}
		if err != nil {
			return err
		}
		p, err := patch(&virtualService{obj: obj, cfg: cfg})
		if err != nil {
			return err
		}
		if err := trafficrouting.ApplyJSONPatch(ctx, r.c, obj, p); err != nil {
			return fmt.Errorf("patching VirtualService %s/%s: %w", ns, name, err)
		}
	}
	return nil
}

// virtualService is a VirtualService read from the cluster and the Rollout's entry for it.
type virtualService struct {
	obj *unstructured.Unstructured
	cfg v1alpha1.IstioVirtualService
}

func (vs *virtualService) routes(kind string) []any {
	l, _, _ := unstructured.NestedSlice(vs.obj.Object, "spec", kind)
	return l
}

func (vs *virtualService) String() string {
	return vs.obj.GetNamespace() + "/" + vs.obj.GetName()
}

func (vs *virtualService) notFound(route string) error {
	return &trafficrouting.RouteNotFoundError{Kind: VirtualServiceKind.Kind, Namespace: vs.obj.GetNamespace(), Name: vs.obj.GetName(), Route: route}
}

// str returns the string at the path of fields below m, or "".
func str(m any, fields ...string) string {
	for _, f := range fields {
		mm, ok := m.(map[string]any)
		if !ok {
			return ""
		}
		m = mm[f]
	}
	s, _ := m.(string)
	return s
}

// shortHost is the part of a destination host before the first dot: the Service's name.
func shortHost(host string) string {
	name, _, _ := strings.Cut(host, ".")
	return name
}
