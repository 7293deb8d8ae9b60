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

// Package apisix shifts a Rollout's traffic with an Apache APISIX ApisixRoute: the weights
// of the stable and canary backends of its configured HTTP rules.
//
// A header route is a second ApisixRoute, named after the managed route and owned by the
// Rollout. It holds a copy of each configured rule (and only those), with the canary as its
// only backend, a priority one above the rule's, and the header conditions added to the
// rule's match.exprs; it is deleted when the route is removed. Mirror routes are not
// supported.
package apisix

import (
	"context"
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "apisix"

// Kind is the kind of object the router edits and creates.
const Kind = "ApisixRoute"

// DefaultGroupVersion is the group and version of ApisixRoute that the router uses.
var DefaultGroupVersion = schema.GroupVersion{Group: "apisix.apache.org", Version: "v2"}

// Option configures a Router.
type Option func(*Router)

// WithGroupVersion makes the router use ApisixRoutes of gv.
func WithGroupVersion(gv schema.GroupVersion) Option {
	return func(r *Router) { r.gvk = gv.WithKind(Kind) }
}

// Router implements trafficrouting.Router with an ApisixRoute.
type Router struct {
	c     client.Client
	ro    *v1alpha1.Rollout
	name  string   // the ApisixRoute
	rules []string // the names of its HTTP rules to edit
	gvk   schema.GroupVersionKind
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the APISIX router of ro, which must configure
// spec.strategy.canary.trafficRouting.apisix.route. Without route.rules, the rule to edit is
// the one named like the ApisixRoute.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.Apisix == nil || tr.Apisix.Route == nil || tr.Apisix.Route.Name == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.apisix.route.name is not set")
	}
	r := &Router{c: c, ro: ro, name: tr.Apisix.Route.Name, rules: tr.Apisix.Route.Rules, gvk: DefaultGroupVersion.WithKind(Kind)}
	if len(r.rules) == 0 {
		r.rules = []string{r.name}
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type is "apisix".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: APISIX routes to Services.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// VerifyWeight is not supported.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

// SetMirrorRoute supports only the removal of a route, which has nothing to do.
func (r *Router) SetMirrorRoute(_ context.Context, route *v1alpha1.SetMirrorRoute) error {
	if route == nil || len(route.Match) == 0 {
		return nil
	}
	return trafficrouting.Invalid(Type, "mirror routes are not supported by the apisix router (route %q)", route.Name)
}

// SetWeight sets the weights of the canary backend (weight), of each additional
// destination's backend, and of the stable backend (the rest of 100) in every configured
// rule. Backends that have the weights already are not written.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	route, rules, err := r.get(ctx)
	if err != nil {
		return err
	}
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	want := append([]v1alpha1.WeightDestination{
		{ServiceName: stableSvc, Weight: trafficrouting.StableWeight(trafficrouting.DefaultMaxTrafficWeight, weight, additional...)},
		{ServiceName: canarySvc, Weight: weight},
	}, additional...)
	var p trafficrouting.JSONPatch
	for _, ruleName := range r.rules {
		i, err := r.ruleIndex(route, rules, ruleName)
		if err != nil {
			return err
		}
		backends := backendsOf(rules[i])
		for _, d := range want {
			j, err := r.backendIndex(route, ruleName, backends, d.ServiceName)
			if err != nil {
				return err
			}
			if have, ok := backends[j]["weight"].(int64); ok && have == int64(d.Weight) {
				continue
			}
			p.Test(trafficrouting.Pointer("spec", "http", i, "name"), ruleName)
			p.Test(trafficrouting.Pointer("spec", "http", i, "backends", j, "serviceName"), d.ServiceName)
			p.Add(trafficrouting.Pointer("spec", "http", i, "backends", j, "weight"), int64(d.Weight))
		}
	}
	if err := trafficrouting.ApplyJSONPatch(ctx, r.c, route, p); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", Kind, route.GetNamespace(), route.GetName(), err)
	}
	return nil
}

// SetHeaderRoute creates or updates the ApisixRoute route.Name that sends requests with the
// matching headers to the canary, or deletes it when the route has no matches.
func (r *Router) SetHeaderRoute(ctx context.Context, hr *v1alpha1.SetHeaderRoute) error {
	if hr == nil {
		return nil
	}
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, hr.Name); err != nil {
		return err
	}
	if len(hr.Match) == 0 {
		return trafficrouting.DeleteOwned(ctx, r.c, r.ro, r.gvk, r.ro.Namespace, hr.Name)
	}
	if hr.Name == r.name {
		return trafficrouting.Invalid(Type, "header route %q has the name of the ApisixRoute it copies", hr.Name)
	}
	exprs := make([]any, 0, len(hr.Match))
	for _, m := range hr.Match {
		if m.HeaderValue == nil {
			return trafficrouting.Invalid(Type, "header route %q: header %q has no headerValue", hr.Name, m.HeaderName)
		}
		exprs = append(exprs, headerExpr(m.HeaderName, *m.HeaderValue))
	}

	route, rules, err := r.get(ctx)
	if err != nil {
		return err
	}
	_, canarySvc := trafficrouting.Services(r.ro, false)
	http := make([]any, 0, len(r.rules))
	for _, ruleName := range r.rules {
		i, err := r.ruleIndex(route, rules, ruleName)
		if err != nil {
			return err
		}
		v, err := trafficrouting.UnstructuredValue(rules[i])
		if err != nil {
			return err
		}
		rule := v.(map[string]any)
		backends := backendsOf(rule)
		j, err := r.backendIndex(route, ruleName, backends, canarySvc)
		if err != nil {
			return err
		}
		canary := backends[j]
		canary["weight"] = int64(100)
		rule["backends"] = []any{canary}
		priority, _ := rule["priority"].(int64)
		rule["priority"] = priority + 1
		match, _ := rule["match"].(map[string]any)
		if match == nil {
			match = map[string]any{}
		}
		have, _ := match["exprs"].([]any)
		match["exprs"] = append(have, exprs...)
		rule["match"] = match
		http = append(http, rule)
	}
	spec := map[string]any{"http": http}
	if class, ok, _ := unstructured.NestedString(route.Object, "spec", "ingressClassName"); ok {
		spec["ingressClassName"] = class
	}
	want := &unstructured.Unstructured{}
	want.SetGroupVersionKind(r.gvk)
	want.SetNamespace(r.ro.Namespace)
	want.SetName(hr.Name)
	want.SetLabels(route.GetLabels())
	specValue, err := trafficrouting.UnstructuredValue(spec)
	if err != nil {
		return err
	}
	want.Object["spec"] = specValue
	return trafficrouting.EnsureOwnedSpec(ctx, r.c, r.ro, Type, want)
}

// RemoveManagedRoutes deletes every header-route ApisixRoute the Rollout owns.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	tr, err := trafficrouting.TrafficRouting(r.ro)
	if err != nil {
		return err
	}
	for _, route := range tr.ManagedRoutes {
		if route.Name == r.name {
			continue
		}
		if err := trafficrouting.DeleteOwned(ctx, r.c, r.ro, r.gvk, r.ro.Namespace, route.Name); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) get(ctx context.Context) (*unstructured.Unstructured, []map[string]any, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(r.gvk)
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: r.name}, obj); err != nil {
		return nil, nil, trafficrouting.ReadError(err, r.gvk.GroupKind(), r.ro.Namespace, r.name)
	}
	list, _, _ := unstructured.NestedSlice(obj.Object, "spec", "http")
	rules := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		rules = append(rules, m)
	}
	return obj, rules, nil
}

func (r *Router) ruleIndex(route *unstructured.Unstructured, rules []map[string]any, name string) (int, error) {
	for i, rule := range rules {
		if n, _ := rule["name"].(string); n == name {
			return i, nil
		}
	}
	return -1, &trafficrouting.RouteNotFoundError{Kind: Kind, Namespace: route.GetNamespace(), Name: route.GetName(),
		Route: fmt.Sprintf("HTTP rule %q (spec.http[].name)", name)}
}

func (r *Router) backendIndex(route *unstructured.Unstructured, rule string, backends []map[string]any, svc string) (int, error) {
	for j, b := range backends {
		if n, _ := b["serviceName"].(string); n == svc {
			return j, nil
		}
	}
	return -1, &trafficrouting.RouteNotFoundError{Kind: Kind, Namespace: route.GetNamespace(), Name: route.GetName(),
		Route: fmt.Sprintf("backend for Service %q in HTTP rule %q", svc, rule)}
}

func backendsOf(rule map[string]any) []map[string]any {
	list, _ := rule["backends"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// headerExpr is the APISIX expression that a header matches v. A prefix becomes a regular
// expression anchored at the start.
func headerExpr(name string, v v1alpha1.StringMatch) map[string]any {
	subject := map[string]any{"scope": "Header", "name": name}
	switch {
	case v.Regex != "":
		return map[string]any{"subject": subject, "op": "RegexMatch", "value": v.Regex}
	case v.Prefix != "":
		return map[string]any{"subject": subject, "op": "RegexMatch", "value": "^" + regexp.QuoteMeta(v.Prefix)}
	default:
		return map[string]any{"subject": subject, "op": "Equal", "value": v.Exact}
	}
}
