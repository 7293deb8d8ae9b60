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

// Package gatewayapi shifts a Rollout's traffic with Kubernetes Gateway API routes
// (HTTPRoute, GRPCRoute, TCPRoute), Flotilla's own first-class router for what Argo Rollouts
// does with its Gateway API plugin.
//
// Weights: every rule of a configured route that has a backendRef named after the stable
// Service and one named after the canary Service gets the canary weight on the canary ref and
// the rest of maxTrafficWeight on the stable one (and additional destinations theirs, on refs
// that name them). As with Argo's plugin, the name decides, whatever the ref's kind, so an
// implementation's own backend kinds work too. Rules that reference only one of the two are
// left alone: a rule whose only backend got weight 0 would fail every request.
//
// Header and mirror routes are rules that Flotilla adds to the route. Each is named after its
// managed route (the rule's `name`, which Gateway API has in its standard channel since
// v1.2), so a rule whose name is listed in trafficRouting.managedRoutes belongs to Flotilla.
// They sit before the user's rules, in the order of managedRoutes; Gateway API itself ranks
// rules by how specific their matches are, and the managed rules are always at least as
// specific as the rule they are made from:
//   - a header route (HTTPRoute, GRPCRoute; with httpRoute/grpcRoute, or with httpRoutes and
//     grpcRoutes entries that set useHeaderRoutes) copies the first rule that routes to the
//     stable and canary Services, adds the header matches to each of its matches, and sends
//     everything to the canary;
//   - a mirror route (HTTPRoute) copies that rule, replaces the parts of its matches that the
//     step's matches set (one match for each pair), keeps its backends and weights, and adds
//     a RequestMirror filter to the canary Service with the step's percentage.
package gatewayapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "gatewayAPI"

// Group is the Gateway API group.
const Group = "gateway.networking.k8s.io"

// Kinds of route the router edits.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTCPRoute  = "TCPRoute"
)

// ruleName is the pattern of a Gateway API rule name (a DNS subdomain).
var ruleName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// Option configures a Router.
type Option func(*Router)

// Router implements trafficrouting.Router with Gateway API routes.
type Router struct {
	c         client.Client
	ro        *v1alpha1.Rollout
	namespace string
	routes    []route
}

// route is one configured route.
type route struct {
	kind, name string
	// headerRoutes says whether setHeaderRoute adds its rules to the route.
	headerRoutes bool
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Gateway API router of ro, which must configure
// spec.strategy.canary.trafficRouting.gatewayAPI.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	cfg := tr.GatewayAPI
	if cfg == nil {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.gatewayAPI is not set")
	}
	r := &Router{c: c, ro: ro, namespace: cfg.Namespace}
	if r.namespace == "" {
		r.namespace = ro.Namespace
	}
	add := func(kind, single string, list []v1alpha1.GatewayAPIRoute) {
		if single != "" {
			r.routes = append(r.routes, route{kind: kind, name: single, headerRoutes: kind != KindTCPRoute})
		}
		for _, l := range list {
			r.routes = append(r.routes, route{kind: kind, name: l.Name, headerRoutes: l.UseHeaderRoutes && kind != KindTCPRoute})
		}
	}
	add(KindHTTPRoute, cfg.HTTPRoute, cfg.HTTPRoutes)
	add(KindGRPCRoute, cfg.GRPCRoute, cfg.GRPCRoutes)
	add(KindTCPRoute, cfg.TCPRoute, cfg.TCPRoutes)
	if len(r.routes) == 0 {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.gatewayAPI names no route")
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type is "gatewayAPI".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: Gateway API routes to Services.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// VerifyWeight is not supported: route status tells whether a route is accepted, not which
// weights the data plane applies.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

// SetWeight sets the backend weights of every rule that routes to both the stable and the
// canary Service, in every configured route. Routes whose weights are right already are not
// written.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	want := append([]v1alpha1.WeightDestination{
		{ServiceName: stableSvc, Weight: trafficrouting.StableWeight(trafficrouting.MaxTrafficWeight(r.ro), weight, additional...)},
		{ServiceName: canarySvc, Weight: weight},
	}, additional...)
	var errs []error
	for _, rt := range r.routes {
		obj, rules, err := r.get(ctx, rt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var p trafficrouting.JSONPatch
		found := false
		for i, rule := range rules {
			refs := backendRefs(rule)
			if r.refIndex(obj, refs, stableSvc) < 0 || r.refIndex(obj, refs, canarySvc) < 0 {
				continue
			}
			found = true
			for _, d := range want {
				svc, w := d.ServiceName, d.Weight
				j := r.refIndex(obj, refs, svc)
				if j < 0 {
					errs = append(errs, &trafficrouting.RouteNotFoundError{Kind: rt.kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
						Route: fmt.Sprintf("backendRef to Service %q in rule %d, which routes to the stable and canary Services", svc, i)})
					continue
				}
				if have, ok := refs[j]["weight"].(int64); ok && have == int64(w) {
					continue
				}
				p.Test(trafficrouting.Pointer("spec", "rules", i, "backendRefs", j, "name"), svc)
				p.Add(trafficrouting.Pointer("spec", "rules", i, "backendRefs", j, "weight"), int64(w))
			}
		}
		if !found {
			errs = append(errs, noBaseRule(rt.kind, obj, stableSvc, canarySvc))
			continue
		}
		if err := r.patch(ctx, obj, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SetHeaderRoute adds, changes or (with no matches) removes the header rule route.Name in
// every HTTPRoute and GRPCRoute that takes header routes.
func (r *Router) SetHeaderRoute(ctx context.Context, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	if err := r.checkRouteName(hr.Name); err != nil {
		return err
	}
	var errs []error
	n := 0
	for _, rt := range r.routes {
		if !rt.headerRoutes {
			continue
		}
		n++
		errs = append(errs, r.setManagedRule(ctx, rt, hr.Name, len(hr.Match) == 0, func(base map[string]any, canaryRef map[string]any) (map[string]any, error) {
			return headerRule(hr, base, canaryRef)
		}))
	}
	if n == 0 && len(hr.Match) > 0 {
		return trafficrouting.Invalid(Type, "no route takes header routes: set httpRoute or grpcRoute, or useHeaderRoutes on an entry of httpRoutes or grpcRoutes")
	}
	return errors.Join(errs...)
}

// SetMirrorRoute adds, changes or (with no matches) removes the mirror rule route.Name in
// every HTTPRoute.
func (r *Router) SetMirrorRoute(ctx context.Context, mr *v1alpha1.SetMirrorRoute) error {
	if mr == nil {
		return nil
	}
	if err := r.checkRouteName(mr.Name); err != nil {
		return err
	}
	var errs []error
	n := 0
	for _, rt := range r.routes {
		if rt.kind != KindHTTPRoute {
			continue
		}
		n++
		errs = append(errs, r.setManagedRule(ctx, rt, mr.Name, len(mr.Match) == 0, func(base map[string]any, canaryRef map[string]any) (map[string]any, error) {
			return mirrorRule(mr, base, canaryRef)
		}))
	}
	if n == 0 && len(mr.Match) > 0 {
		return trafficrouting.Invalid(Type, "mirror routes need an HTTPRoute: set httpRoute or httpRoutes")
	}
	return errors.Join(errs...)
}

// RemoveManagedRoutes removes every rule named after a managed route from every HTTPRoute and
// GRPCRoute, leaving the user's rules as they are.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	var errs []error
	for _, rt := range r.routes {
		if rt.kind == KindTCPRoute {
			continue
		}
		obj, rules, err := r.get(ctx, rt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var p trafficrouting.JSONPatch
		for i := len(rules) - 1; i >= 0; i-- { // from the end, so that earlier indexes hold
			if name, _ := rules[i]["name"].(string); name != "" && trafficrouting.ManagedRouteIndex(r.ro, name) >= 0 {
				p.Test(trafficrouting.Pointer("spec", "rules", i, "name"), name)
				p.Remove(trafficrouting.Pointer("spec", "rules", i))
			}
		}
		if err := r.patch(ctx, obj, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setManagedRule makes the rule name of route rt what build returns from the route's base
// rule (the first of the user's rules that routes to the stable and canary Services), or
// removes it when remove is set. It writes only when the rule differs.
func (r *Router) setManagedRule(ctx context.Context, rt route, name string, remove bool,
	build func(base, canaryRef map[string]any) (map[string]any, error)) error {
	obj, rules, err := r.get(ctx, rt)
	if err != nil {
		return err
	}
	at := -1
	for i, rule := range rules {
		if n, _ := rule["name"].(string); n == name {
			at = i
			break
		}
	}
	var p trafficrouting.JSONPatch
	if remove {
		if at >= 0 {
			p.Test(trafficrouting.Pointer("spec", "rules", at, "name"), name)
			p.Remove(trafficrouting.Pointer("spec", "rules", at))
		}
		return r.patch(ctx, obj, p)
	}

	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	var base map[string]any
	var canaryRef map[string]any
	for _, rule := range rules {
		if n, _ := rule["name"].(string); n != "" && trafficrouting.ManagedRouteIndex(r.ro, n) >= 0 {
			continue
		}
		refs := backendRefs(rule)
		if c := r.refIndex(obj, refs, canarySvc); c >= 0 && r.refIndex(obj, refs, stableSvc) >= 0 {
			base, canaryRef = rule, refs[c]
			break
		}
	}
	if base == nil {
		return noBaseRule(rt.kind, obj, stableSvc, canarySvc)
	}
	built, err := build(base, canaryRef)
	if err != nil {
		return err
	}
	built["name"] = name
	want, err := trafficrouting.UnstructuredValue(built)
	if err != nil {
		return err
	}

	pos := at
	if at >= 0 {
		if trafficrouting.SameValue(rules[at], want) {
			return nil
		}
		p.Test(trafficrouting.Pointer("spec", "rules", at, "name"), name)
		p.Replace(trafficrouting.Pointer("spec", "rules", at), want)
	} else {
		// Managed rules come first, in the order of managedRoutes.
		mine := trafficrouting.ManagedRouteIndex(r.ro, name)
		pos = len(rules)
		for i, rule := range rules {
			n, _ := rule["name"].(string)
			if k := trafficrouting.ManagedRouteIndex(r.ro, n); n == "" || k < 0 || k > mine {
				pos = i
				break
			}
		}
		if pos < len(rules) {
			p.Test(trafficrouting.Pointer("spec", "rules", pos), rules[pos])
		}
		p.Add(trafficrouting.Pointer("spec", "rules", pos), want)
	}
	// A route CRD older than the fields a managed rule needs (a rule's name, the percent of a
	// mirror) would drop them silently; a dry run shows it before anything changes.
	if err := r.checkKept(ctx, obj, p, pos, want); err != nil {
		return err
	}
	return r.patch(ctx, obj, p)
}

// checkKept sends p as a dry run and fails when the rule at pos of the answer lost a field of
// want that the CRD does not know.
func (r *Router) checkKept(ctx context.Context, obj *unstructured.Unstructured, p trafficrouting.JSONPatch, pos int, want any) error {
	data, err := jsonPatchBytes(p)
	if err != nil {
		return err
	}
	dry := obj.DeepCopy()
	if err := r.c.Patch(ctx, dry, client.RawPatch(types.JSONPatchType, data), client.DryRunAll, client.FieldOwner(trafficrouting.FieldManager)); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	got, _, _ := unstructured.NestedSlice(dry.Object, "spec", "rules")
	if pos >= len(got) {
		return fmt.Errorf("%s %s/%s: the dry run returned %d rules", obj.GetKind(), obj.GetNamespace(), obj.GetName(), len(got))
	}
	if missing := missingPaths(want, got[pos], ""); len(missing) > 0 {
		return trafficrouting.Invalid(Type, "the %s CRD of this cluster drops %v of the rule Flotilla adds; install Gateway API v1.2 or later (rule names, mirror percent)",
			obj.GetKind(), missing)
	}
	return nil
}

// get reads the route rt and its rules.
func (r *Router) get(ctx context.Context, rt route) (*unstructured.Unstructured, []map[string]any, error) {
	gk := schema.GroupKind{Group: Group, Kind: rt.kind}
	mapping, err := r.c.RESTMapper().RESTMapping(gk)
	if err != nil {
		return nil, nil, trafficrouting.ReadError(err, gk, r.namespace, rt.name)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(mapping.GroupVersionKind)
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: rt.name}, obj); err != nil {
		return nil, nil, trafficrouting.ReadError(err, gk, r.namespace, rt.name)
	}
	list, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
	rules := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		rules = append(rules, m)
	}
	return obj, rules, nil
}

func (r *Router) patch(ctx context.Context, obj *unstructured.Unstructured, p trafficrouting.JSONPatch) error {
	if err := trafficrouting.ApplyJSONPatch(ctx, r.c, obj, p); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// refIndex is the index of the backendRef named svc in the Rollout's namespace, or -1. As
// in Argo Rollouts' Gateway API plugin, the name decides, whatever the ref's group and kind:
// a Kubernetes Service, or a backend of the implementation's own named after it (a Traefik
// TraefikService, say).
func (r *Router) refIndex(route *unstructured.Unstructured, refs []map[string]any, svc string) int {
	for i, ref := range refs {
		name, _ := ref["name"].(string)
		ns, _ := ref["namespace"].(string)
		if ns == "" {
			ns = route.GetNamespace()
		}
		if name == svc && ns == r.ro.Namespace {
			return i
		}
	}
	return -1
}

// checkRouteName checks that name is a managed route and can name a Gateway API rule.
func (r *Router) checkRouteName(name string) error {
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, name); err != nil {
		return err
	}
	if len(name) > 253 || !ruleName.MatchString(name) {
		return trafficrouting.Invalid(Type, "managed route %q cannot name a Gateway API rule: use lower-case letters, digits, '-' and '.'", name)
	}
	return nil
}

func noBaseRule(kind string, obj *unstructured.Unstructured, stable, canary string) error {
	return &trafficrouting.RouteNotFoundError{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
		Route: fmt.Sprintf("rule with backendRefs to both Service %q (stable) and Service %q (canary)", stable, canary)}
}

func backendRefs(rule map[string]any) []map[string]any {
	list, _ := rule["backendRefs"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}
