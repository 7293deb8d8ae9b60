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

// Package traefik shifts a Rollout's traffic with a Traefik TraefikService of the weighted
// round robin kind: the weights of its stable and canary entries (spec.weighted.services)
// are the Rollout's weights.
//
// Mirroring is Flotilla's own addition (Argo Rollouts has none for Traefik). A
// setMirrorRoute step creates a TraefikService of the mirroring kind, named after the
// managed route and owned by the Rollout, whose main service is the stable entry as it was
// and which mirrors a percentage of its requests to the canary Service; the weighted
// TraefikService's stable entry then points at it, keeping its weight. Removing the route
// puts the stable entry back as it was and deletes the mirroring TraefikService. Traefik
// cannot choose which requests to mirror, so the step's match must take every request
// (`match: [{}]`), and the percentage applies to the stable share of the traffic. One
// mirror route is active at a time.
//
// Header routes are not supported: routing by header is done by a Traefik IngressRoute,
// which Flotilla does not edit.
package traefik

import (
	"context"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "traefik"

// Kind is the kind of object the router edits and creates.
const Kind = "TraefikService"

// kindService and kindTraefikService are the kinds an entry of a TraefikService refers to.
const (
	kindService        = "Service"
	kindTraefikService = "TraefikService"
)

// DefaultGroupVersion is the group and version of the TraefikService of Traefik v3. Traefik
// v2 serves traefik.containo.us/v1alpha1 instead (see WithGroupVersion).
var DefaultGroupVersion = schema.GroupVersion{Group: "traefik.io", Version: "v1alpha1"}

// Option configures a Router.
type Option func(*Router)

// WithGroupVersion makes the router use TraefikServices of gv, such as
// traefik.containo.us/v1alpha1 for Traefik v2.
func WithGroupVersion(gv schema.GroupVersion) Option {
	return func(r *Router) { r.gvk = gv.WithKind(Kind) }
}

// Router implements trafficrouting.Router with a weighted TraefikService.
type Router struct {
	c    client.Client
	ro   *v1alpha1.Rollout
	name string // the weighted TraefikService
	gvk  schema.GroupVersionKind
	api  string       // the base URL of Traefik's API, "" when VerifyWeight cannot ask
	http *http.Client // for Traefik's API
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Traefik router of ro, which must configure
// spec.strategy.canary.trafficRouting.traefik.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.Traefik == nil || tr.Traefik.WeightedTraefikServiceName == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName is not set")
	}
	r := &Router{c: c, ro: ro, name: tr.Traefik.WeightedTraefikServiceName, gvk: DefaultGroupVersion.WithKind(Kind)}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type is "traefik".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: Traefik routes by Service.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// SetHeaderRoute supports only the removal of a route (a route with no matches), which has
// nothing to do.
func (r *Router) SetHeaderRoute(_ context.Context, route *v1alpha1.SetHeaderRoute) error {
	if route == nil || len(route.Match) == 0 {
		return nil
	}
	return trafficrouting.Invalid(Type, "header routes are not supported by the traefik router (route %q)", route.Name)
}

// SetWeight sets the weights of the canary entry (weight), of each additional destination's
// entry, and of the stable entry (the rest of 100) of the weighted TraefikService. Entries
// that have the weights already are not written.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	ts, err := r.get(ctx, r.name)
	if err != nil {
		return err
	}
	services, err := r.weightedServices(ts)
	if err != nil {
		return err
	}
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	stable, err := r.stableEntry(ts, services, stableSvc)
	if err != nil {
		return err
	}
	want := map[int]int32{stable: trafficrouting.StableWeight(trafficrouting.DefaultMaxTrafficWeight, weight, additional...)}
	for _, d := range append([]v1alpha1.WeightDestination{{ServiceName: canarySvc, Weight: weight}}, additional...) {
		i, err := r.serviceEntry(ts, services, d.ServiceName)
		if err != nil {
			return err
		}
		want[i] = d.Weight
	}

	var p trafficrouting.JSONPatch
	for i, entry := range services {
		w, ok := want[i]
		if !ok {
			continue
		}
		if have, ok := entry["weight"].(int64); ok && have == int64(w) {
			continue
		}
		p.Test(entryPath(i, "name"), entry["name"])
		p.Add(entryPath(i, "weight"), int64(w))
	}
	return r.patch(ctx, ts, p)
}

// SetMirrorRoute mirrors route.Percentage (all when unset) of the stable share of the
// requests to the canary Service, through a mirroring TraefikService named route.Name. A
// route with no matches removes it.
func (r *Router) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	if route == nil {
		return nil
	}
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, route.Name); err != nil {
		return err
	}
	if len(route.Match) == 0 {
		return r.removeMirror(ctx, route.Name)
	}
	if err := checkMirrorMatches(route.Match); err != nil {
		return err
	}
	percent := int64(100)
	if route.Percentage != nil {
		percent = int64(*route.Percentage)
	}

	ts, err := r.get(ctx, r.name)
	if err != nil {
		return err
	}
	services, err := r.weightedServices(ts)
	if err != nil {
		return err
	}
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	stable, err := r.stableEntry(ts, services, stableSvc)
	if err != nil {
		return err
	}
	canary, err := r.serviceEntry(ts, services, canarySvc)
	if err != nil {
		return err
	}
	stableEntry := services[stable]

	// The main service of the mirroring TraefikService is the stable entry as the user wrote
	// it; once the entry points at the mirroring service, that is where it is kept.
	var main map[string]any
	if active, ok := mirrorRef(stableEntry); ok {
		if active != route.Name {
			return trafficrouting.Invalid(Type, "mirror route %q is active on TraefikService %s/%s; the traefik router mirrors through one route at a time, so remove it (setMirrorRoute without match) before %q",
				active, ts.GetNamespace(), ts.GetName(), route.Name)
		}
		if main, err = r.mirrorMain(ctx, route.Name); err != nil {
			return err
		}
	} else {
		main = without(stableEntry, "weight")
	}
	mirror := without(services[canary], "weight")
	mirror["percent"] = percent
	mirroring := without(main)
	mirroring["mirrors"] = []any{mirror}

	want := &unstructured.Unstructured{}
	want.SetGroupVersionKind(r.gvk)
	want.SetNamespace(r.ro.Namespace)
	want.SetName(route.Name)
	want.SetLabels(ts.GetLabels())
	want.Object["spec"] = map[string]any{"mirroring": mirroring}
	// The mirroring service exists before the stable entry points at it, so that Traefik
	// never sees a reference to a missing service.
	if err := trafficrouting.EnsureOwnedSpec(ctx, r.c, r.ro, Type, want); err != nil {
		return err
	}
	if _, ok := mirrorRef(stableEntry); ok {
		return nil
	}
	ref := map[string]any{"name": route.Name, "kind": kindTraefikService}
	if w, ok := stableEntry["weight"]; ok {
		ref["weight"] = w
	}
	var p trafficrouting.JSONPatch
	p.Test(entryPath(stable), stableEntry)
	p.Replace(entryPath(stable), ref)
	return r.patch(ctx, ts, p)
}

// RemoveManagedRoutes removes every mirror route: the stable entry is put back as it was
// and the mirroring TraefikServices are deleted.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	tr, err := trafficrouting.TrafficRouting(r.ro)
	if err != nil {
		return err
	}
	for _, route := range tr.ManagedRoutes {
		if err := r.removeMirror(ctx, route.Name); err != nil {
			return err
		}
	}
	return nil
}

// removeMirror points the stable entry back at the stable Service if it points at the
// mirroring TraefikService name, then deletes that TraefikService if the Rollout owns it.
func (r *Router) removeMirror(ctx context.Context, name string) error {
	ts, err := r.get(ctx, r.name)
	if err != nil {
		return err
	}
	services, err := r.weightedServices(ts)
	if err != nil {
		return err
	}
	for i, entry := range services {
		if active, ok := mirrorRef(entry); !ok || active != name {
			continue
		}
		main, err := r.mirrorMain(ctx, name)
		if err != nil {
			return err
		}
		restored := without(main)
		if w, ok := entry["weight"]; ok {
			restored["weight"] = w
		}
		var p trafficrouting.JSONPatch
		p.Test(entryPath(i), entry)
		p.Replace(entryPath(i), restored)
		if err := r.patch(ctx, ts, p); err != nil {
			return err
		}
		break
	}
	return trafficrouting.DeleteOwned(ctx, r.c, r.ro, r.gvk, r.ro.Namespace, name)
}

// mirrorMain reads the main service of the mirroring TraefikService name, that is the stable
// entry as it was before the mirror route.
func (r *Router) mirrorMain(ctx context.Context, name string) (map[string]any, error) {
	mts, err := r.get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("the stable entry of TraefikService %s/%s points at the mirroring TraefikService %s, which holds the entry to restore: %w",
			r.ro.Namespace, r.name, name, err)
	}
	mirroring, ok, _ := unstructured.NestedMap(mts.Object, "spec", "mirroring")
	if !ok {
		return nil, trafficrouting.Invalid(Type, "TraefikService %s/%s has no spec.mirroring", mts.GetNamespace(), name)
	}
	return without(mirroring, "mirrors", "maxBodySize", "mirrorBody"), nil
}

func (r *Router) get(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(r.gvk)
	err := r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: name}, obj)
	return obj, trafficrouting.ReadError(err, r.gvk.GroupKind(), r.ro.Namespace, name)
}

func (r *Router) patch(ctx context.Context, obj *unstructured.Unstructured, p trafficrouting.JSONPatch) error {
	if err := trafficrouting.ApplyJSONPatch(ctx, r.c, obj, p); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// weightedServices returns spec.weighted.services of ts as maps.
func (r *Router) weightedServices(ts *unstructured.Unstructured) ([]map[string]any, error) {
	list, ok, _ := unstructured.NestedSlice(ts.Object, "spec", "weighted", "services")
	if !ok {
		return nil, &trafficrouting.RouteNotFoundError{Kind: Kind, Namespace: ts.GetNamespace(), Name: ts.GetName(),
			Route: "weighted round robin (spec.weighted.services)"}
	}
	out := make([]map[string]any, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, trafficrouting.Invalid(Type, "TraefikService %s/%s: spec.weighted.services[%d] is not an object", ts.GetNamespace(), ts.GetName(), i)
		}
		out[i] = m
	}
	return out, nil
}

// serviceEntry is the index of the entry that refers to the Kubernetes Service svc.
func (r *Router) serviceEntry(ts *unstructured.Unstructured, services []map[string]any, svc string) (int, error) {
	for i, e := range services {
		kind, _ := e["kind"].(string)
		if name, _ := e["name"].(string); name == svc && (kind == "" || kind == kindService) {
			return i, nil
		}
	}
	return -1, &trafficrouting.RouteNotFoundError{Kind: Kind, Namespace: ts.GetNamespace(), Name: ts.GetName(),
		Route: fmt.Sprintf("entry for Service %q in spec.weighted.services", svc)}
}

// stableEntry is the index of the stable entry: the one that refers to the stable Service, or
// to a mirroring TraefikService of a managed route while a mirror route is active.
func (r *Router) stableEntry(ts *unstructured.Unstructured, services []map[string]any, svc string) (int, error) {
	for i, e := range services {
		if name, ok := mirrorRef(e); ok && trafficrouting.ManagedRouteIndex(r.ro, name) >= 0 {
			return i, nil
		}
	}
	return r.serviceEntry(ts, services, svc)
}

// mirrorRef returns the name an entry refers to when it refers to a TraefikService.
func mirrorRef(entry map[string]any) (string, bool) {
	kind, _ := entry["kind"].(string)
	name, _ := entry["name"].(string)
	return name, kind == kindTraefikService
}

// checkMirrorMatches accepts only matches that take every request: Traefik's mirroring
// service mirrors whatever reaches it.
func checkMirrorMatches(matches []v1alpha1.RouteMatch) error {
	for _, m := range matches {
		if m.Method != nil || len(m.Headers) > 0 || (m.Path != nil && (m.Path.Prefix != "/" || m.Path.Exact != "" || m.Path.Regex != "")) {
			return trafficrouting.Invalid(Type, "a Traefik mirroring service mirrors every request it receives, so a mirror route cannot match on method, headers or a path other than prefix \"/\"; use match: [{}]")
		}
	}
	return nil
}

// entryPath is the JSON pointer of spec.weighted.services[i], with more tokens after it.
func entryPath(i int, more ...any) string {
	return trafficrouting.Pointer(append([]any{"spec", "weighted", "services", i}, more...)...)
}

// without returns a shallow copy of m without the given keys.
func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}
