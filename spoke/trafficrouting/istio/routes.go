package istio

import (
	"context"
	"slices"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// SetHeaderRoute adds, replaces or, without matches, removes the header route route.Name in
// every VirtualService.
func (r *Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if route == nil {
		return nil
	}
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, route.Name); err != nil {
		return err
	}
	var headers map[string]any
	if len(route.Match) > 0 {
		headers = map[string]any{}
		for _, m := range route.Match {
			if _, dup := headers[m.HeaderName]; dup {
				return trafficrouting.Invalid(Type, "header route %q matches header %s twice; Istio holds one condition per header", route.Name, m.HeaderName)
			}
			sm, err := stringMatch(route.Name, m.HeaderValue)
			if err != nil {
				return err
			}
			headers[m.HeaderName] = sm
		}
	}
	dest, err := r.canaryHost(ctx)
	if err != nil {
		return err
	}
	return r.eachVirtualService(ctx, false, func(vs *virtualService) (trafficrouting.JSONPatch, error) {
		if headers == nil {
			return r.placeRoute(vs, route.Name, nil)
		}
		canary, err := r.canaryDestination(vs, dest)
		if err != nil {
			return nil, err
		}
		return r.placeRoute(vs, route.Name, map[string]any{
			"name":  route.Name,
			"match": []any{map[string]any{"headers": headers}},
			"route": []any{map[string]any{"destination": canary, "weight": int64(100)}},
		})
	})
}

// SetMirrorRoute adds, replaces or, without matches, removes the mirror route route.Name in
// every VirtualService.
func (r *Router) SetMirrorRoute(ctx context.Context, route *v1alpha1.SetMirrorRoute) error {
	if route == nil {
		return nil
	}
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, route.Name); err != nil {
		return err
	}
	var matches []any
	for _, m := range route.Match {
		match := map[string]any{}
		for field, sm := range map[string]*v1alpha1.StringMatch{"method": m.Method, "uri": m.Path} {
			if sm != nil {
				v, err := stringMatch(route.Name, sm)
				if err != nil {
					return err
				}
				match[field] = v
			}
		}
		if len(m.Headers) > 0 {
			headers := map[string]any{}
			for name, sm := range m.Headers {
				v, err := stringMatch(route.Name, &sm)
				if err != nil {
					return err
				}
				headers[name] = v
			}
			match["headers"] = headers
		}
		matches = append(matches, match)
	}
	percentage := int32(100)
	if route.Percentage != nil {
		percentage = *route.Percentage
	}
	dest, err := r.canaryHost(ctx)
	if err != nil {
		return err
	}
	return r.eachVirtualService(ctx, false, func(vs *virtualService) (trafficrouting.JSONPatch, error) {
		if len(matches) == 0 {
			return r.placeRoute(vs, route.Name, nil)
		}
		refs, err := r.weightedRoutes(vs)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(refs, func(ref routeRef) bool { return ref.kind == httpRoutes && !ref.managed })
		if i < 0 {
			return nil, vs.notFound("weighted HTTP route to copy the destinations of")
		}
		weighted, _ := vs.routes(httpRoutes)[refs[i].index].(map[string]any)
		canary, err := r.canaryDestination(vs, dest)
		if err != nil {
			return nil, err
		}
		destinations, err := trafficrouting.UnstructuredValue(weighted["route"])
		if err != nil {
			return nil, err
		}
		return r.placeRoute(vs, route.Name, map[string]any{
			"name":             route.Name,
			"match":            matches,
			"route":            destinations,
			"mirror":           canary,
			"mirrorPercentage": map[string]any{"value": int64(percentage)},
		})
	})
}

// RemoveManagedRoutes removes every managed route from every VirtualService. A
// VirtualService that does not exist has none.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	return r.eachVirtualService(ctx, true, func(vs *virtualService) (trafficrouting.JSONPatch, error) {
		var p trafficrouting.JSONPatch
		http := vs.routes(httpRoutes)
		for i := len(http) - 1; i >= 0; i-- {
			if name := str(http[i], "name"); trafficrouting.ManagedRouteIndex(r.ro, name) >= 0 {
				p.Test(trafficrouting.Pointer("spec", httpRoutes, i, "name"), name)
				p.Remove(trafficrouting.Pointer("spec", httpRoutes, i))
			}
		}
		return p, nil
	})
}

// placeRoute returns the patch that makes want the managed route name of vs, at its place
// among the managed routes at the top of spec.http, or removes the route when want is nil.
func (r *Router) placeRoute(vs *virtualService, name string, want map[string]any) (trafficrouting.JSONPatch, error) {
	http := vs.routes(httpRoutes)
	if want != nil && len(http) == 0 {
		return nil, vs.notFound("HTTP route (header and mirror routes are HTTP routes)")
	}
	have := slices.IndexFunc(http, func(route any) bool { return str(route, "name") == name })
	var p trafficrouting.JSONPatch
	if want == nil {
		if have >= 0 {
			p.Test(trafficrouting.Pointer("spec", httpRoutes, have, "name"), name)
			p.Remove(trafficrouting.Pointer("spec", httpRoutes, have))
		}
		return p, nil
	}
	rest := slices.Clone(http)
	if have >= 0 {
		rest = slices.Delete(rest, have, have+1)
	}
	order := trafficrouting.ManagedRouteIndex(r.ro, name)
	at := 0
	for at < len(rest) {
		other := trafficrouting.ManagedRouteIndex(r.ro, str(rest[at], "name"))
		if other < 0 || other > order {
			break
		}
		at++
	}
	if have == at && trafficrouting.SameValue(http[have], want) {
		return nil, nil
	}
	if have >= 0 {
		p.Test(trafficrouting.Pointer("spec", httpRoutes, have, "name"), name)
		p.Remove(trafficrouting.Pointer("spec", httpRoutes, have))
	}
	if at > 0 {
		p.Test(trafficrouting.Pointer("spec", httpRoutes, at-1, "name"), str(rest[at-1], "name"))
	}
	p.Add(trafficrouting.Pointer("spec", httpRoutes, at), want)
	return p, nil
}

// canaryHost is the host of the canary destination: the canary Service, or the
// DestinationRule's host with subset-level routing.
func (r *Router) canaryHost(ctx context.Context) (string, error) {
	dr := r.cfg.DestinationRule
	if dr == nil {
		return r.canary, nil
	}
	obj, err := r.get(ctx, DestinationRuleKind, r.ro.Namespace, dr.Name)
	if err != nil {
		return "", err
	}
	host := str(obj.Object, "spec", "host")
	if host == "" {
		return "", trafficrouting.Invalid(Type, "DestinationRule %s/%s has no spec.host", r.ro.Namespace, dr.Name)
	}
	return host, nil
}

// canaryDestination is the destination of the canary for a managed route of vs: host, the
// canary subset with subset-level routing, and the port of the first weighted HTTP route's
// first destination, if it has one.
func (r *Router) canaryDestination(vs *virtualService, host string) (map[string]any, error) {
	dest := map[string]any{"host": host}
	if dr := r.cfg.DestinationRule; dr != nil {
		dest["subset"] = dr.CanarySubsetName
	}
	refs, err := r.weightedRoutes(vs)
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if ref.kind != httpRoutes || ref.managed {
			continue
		}
		dests, _ := vs.routes(httpRoutes)[ref.index].(map[string]any)["route"].([]any)
		if len(dests) > 0 {
			if port, ok := dests[0].(map[string]any)["destination"].(map[string]any)["port"]; ok {
				dest["port"] = port
			}
		}
		break
	}
	return dest, nil
}

// stringMatch is an Istio StringMatch.
func stringMatch(route string, m *v1alpha1.StringMatch) (map[string]any, error) {
	switch {
	case m == nil:
	case m.Exact != "":
		return map[string]any{"exact": m.Exact}, nil
	case m.Prefix != "":
		return map[string]any{"prefix": m.Prefix}, nil
	case m.Regex != "":
		return map[string]any{"regex": m.Regex}, nil
	}
	return nil, trafficrouting.Invalid(Type, "route %q has a string match with none of exact, prefix and regex", route)
}
