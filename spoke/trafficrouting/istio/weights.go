package istio

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Route kinds of a VirtualService, as named in its spec.
const (
	httpRoutes = "http"
	tlsRoutes  = "tls"
	tcpRoutes  = "tcp"
)

// routeRef is one route of a VirtualService whose destinations the router weighs.
type routeRef struct {
	kind  string
	index int
	// managed is true for a managed mirror route, whose destinations copy the weighted ones.
	managed bool
}

// SetWeight sends weight to the canary, each additional destination its weight, and the
// rest of 100 to the stable version, in every weighted route of every VirtualService.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	return r.eachVirtualService(ctx, false, func(vs *virtualService) (trafficrouting.JSONPatch, error) {
		refs, err := r.weightedRoutes(vs)
		if err != nil {
			return nil, err
		}
		var tests, changes, removes, appends trafficrouting.JSONPatch
		for _, ref := range refs {
			r.weigh(vs, ref, weight, additional, &tests, &changes, &removes, &appends)
		}
		// Tests first, then the changes in place, removals from the highest index down, and
		// appends, so that every index still points where it did when the object was read.
		return slices.Concat(tests, changes, removes, appends), nil
	})
}

// weightedRoutes finds the routes of vs whose weights the router sets.
func (r *Router) weightedRoutes(vs *virtualService) ([]routeRef, error) {
	var refs []routeRef
	http := vs.routes(httpRoutes)
	switch {
	case len(vs.cfg.Routes) > 0:
		for _, name := range vs.cfg.Routes {
			i := slices.IndexFunc(http, func(route any) bool { return str(route, "name") == name })
			if i < 0 {
				return nil, vs.notFound(fmt.Sprintf("HTTP route %q", name))
			}
			refs = append(refs, routeRef{kind: httpRoutes, index: i})
		}
	case len(http) > 0:
		var own []int
		for i, route := range http {
			if trafficrouting.ManagedRouteIndex(r.ro, str(route, "name")) < 0 {
				own = append(own, i)
			}
		}
		switch len(own) {
		case 0:
			return nil, vs.notFound("HTTP route other than the managed routes")
		case 1:
			refs = append(refs, routeRef{kind: httpRoutes, index: own[0]})
		default:
			return nil, trafficrouting.Invalid(Type, "VirtualService %s has %d HTTP routes: list the ones to weigh in virtualService.routes", vs, len(own))
		}
	}
	for i, route := range http {
		if _, mirror := route.(map[string]any)["mirror"]; mirror && trafficrouting.ManagedRouteIndex(r.ro, str(route, "name")) >= 0 {
			refs = append(refs, routeRef{kind: httpRoutes, index: i, managed: true})
		}
	}

	tls, err := r.portRoutes(vs, tlsRoutes, len(vs.cfg.TLSRoutes), func(i int) (int64, []string) {
		return vs.cfg.TLSRoutes[i].Port, vs.cfg.TLSRoutes[i].SNIHosts
	})
	if err != nil {
		return nil, err
	}
	tcp, err := r.portRoutes(vs, tcpRoutes, len(vs.cfg.TCPRoutes), func(i int) (int64, []string) {
		return vs.cfg.TCPRoutes[i].Port, nil
	})
	if err != nil {
		return nil, err
	}
	refs = append(append(refs, tls...), tcp...)
	if len(refs) == 0 {
		return nil, vs.notFound("HTTP, TLS or TCP route")
	}
	for _, ref := range refs {
		if !ref.managed {
			if err := r.checkDestinations(vs, ref); err != nil {
				return nil, err
			}
		}
	}
	return refs, nil
}

// portRoutes finds the TLS or TCP routes that n entries of the Rollout select by port (and,
// for TLS, by SNI hosts), or the one route of the kind when n is 0.
func (r *Router) portRoutes(vs *virtualService, kind string, n int, entry func(int) (int64, []string)) ([]routeRef, error) {
	routes := vs.routes(kind)
	if n == 0 {
		switch len(routes) {
		case 0:
			return nil, nil
		case 1:
			return []routeRef{{kind: kind, index: 0}}, nil
		default:
			return nil, trafficrouting.Invalid(Type, "VirtualService %s has %d %s routes: list the ones to weigh in virtualService.%sRoutes",
				vs, len(routes), kind, kind)
		}
	}
	var refs []routeRef
	for e := range n {
		port, sni := entry(e)
		found := false
		for i, route := range routes {
			if routeMatches(route, kind, port, sni) {
				refs = append(refs, routeRef{kind: kind, index: i})
				found = true
			}
		}
		if !found {
			desc := fmt.Sprintf("%s route on port %d", kind, port)
			if kind == tlsRoutes {
				desc += fmt.Sprintf(" with SNI hosts %v", sni)
			}
			return nil, vs.notFound(desc)
		}
	}
	return refs, nil
}

// routeMatches reports whether the matches of a TLS or TCP route name exactly one port, the
// given one (0 when they name none), and, for TLS, exactly the SNI hosts sni.
func routeMatches(route any, kind string, port int64, sni []string) bool {
	matches, _ := route.(map[string]any)["match"].([]any)
	ports := map[int64]bool{}
	hosts := map[string]bool{}
	for _, m := range matches {
		mm, _ := m.(map[string]any)
		p, _ := mm["port"].(int64)
		ports[p] = true
		hostList, _ := mm["sniHosts"].([]any)
		for _, h := range hostList {
			if s, ok := h.(string); ok {
				hosts[s] = true
			}
		}
	}
	if len(ports) > 1 || (len(ports) == 1 && !ports[port]) || (len(ports) == 0 && port != 0) {
		return false
	}
	if kind != tlsRoutes {
		return true
	}
	want := map[string]bool{}
	for _, h := range sni {
		want[h] = true
	}
	if len(want) != len(hosts) {
		return false
	}
	for h := range want {
		if !hosts[h] {
			return false
		}
	}
	return true
}

// role is what a destination of a weighted route stands for.
type role int

const (
	roleOther role = iota
	roleCanary
	roleStable
	roleAdditional
	roleAdditionalSubset
)

func (r *Router) roleOf(dest any, additional []v1alpha1.WeightDestination) (role, int) {
	host := shortHost(str(dest, "destination", "host"))
	subset := str(dest, "destination", "subset")
	dr := r.cfg.DestinationRule
	switch {
	case (r.canary != "" && host == r.canary) || (dr != nil && subset != "" && subset == dr.CanarySubsetName):
		return roleCanary, 0
	case (r.stable != "" && host == r.stable) || (dr != nil && subset != "" && subset == dr.StableSubsetName):
		return roleStable, 0
	}
	if i := slices.IndexFunc(additional, func(d v1alpha1.WeightDestination) bool { return d.ServiceName == host }); i >= 0 {
		return roleAdditional, i
	}
	if dr != nil && subset != "" && slices.Contains(dr.AdditionalSubsetNames, subset) {
		return roleAdditionalSubset, 0
	}
	return roleOther, 0
}

// checkDestinations returns an InvalidConfigError unless the route has a canary and a stable
// destination.
func (r *Router) checkDestinations(vs *virtualService, ref routeRef) error {
	dests, _ := vs.routes(ref.kind)[ref.index].(map[string]any)["route"].([]any)
	var canary, stable bool
	for _, d := range dests {
		switch role, _ := r.roleOf(d, nil); role {
		case roleCanary:
			canary = true
		case roleStable:
			stable = true
		}
	}
	what := func(version, svc, subset string) string {
		if r.cfg.DestinationRule != nil {
			return fmt.Sprintf("the %s subset %s", version, subset)
		}
		return fmt.Sprintf("the %s Service %s", version, svc)
	}
	dr := r.cfg.DestinationRule
	if dr == nil {
		dr = &v1alpha1.IstioDestinationRule{}
	}
	route := fmt.Sprintf("%s route %d", ref.kind, ref.index)
	if name := str(vs.routes(ref.kind)[ref.index], "name"); name != "" {
		route = fmt.Sprintf("%s route %q", ref.kind, name)
	}
	switch {
	case !canary:
		return trafficrouting.Invalid(Type, "%s of VirtualService %s has no destination for %s", route, vs, what("canary", r.canary, dr.CanarySubsetName))
	case !stable:
		return trafficrouting.Invalid(Type, "%s of VirtualService %s has no destination for %s", route, vs, what("stable", r.stable, dr.StableSubsetName))
	}
	return nil
}

// weigh adds to the patches what gives the destinations of one route their weights.
func (r *Router) weigh(vs *virtualService, ref routeRef, weight int32, additional []v1alpha1.WeightDestination,
	tests, changes, removes, appends *trafficrouting.JSONPatch) {
	route, _ := vs.routes(ref.kind)[ref.index].(map[string]any)
	dests, _ := route["route"].([]any)
	base := []any{"spec", ref.kind, ref.index}
	at := func(tokens ...any) string { return trafficrouting.Pointer(append(slices.Clone(base), tokens...)...) }

	stableWeight := trafficrouting.StableWeight(trafficrouting.DefaultMaxTrafficWeight, weight, additional...)
	for _, d := range dests {
		if role, _ := r.roleOf(d, additional); role == roleAdditionalSubset {
			w, _ := d.(map[string]any)["weight"].(int64)
			stableWeight = max(stableWeight-int32(w), 0)
		}
	}

	tested := false
	test := func(j int, d any) {
		if !tested {
			if name := str(route, "name"); name != "" {
				tests.Test(at("name"), name)
			}
			tested = true
		}
		tests.Test(at("route", j, "destination", "host"), str(d, "destination", "host"))
	}
	present := map[int]bool{}
	var remove []int
	for j, d := range dests {
		role, i := r.roleOf(d, additional)
		var want int32
		switch role {
		case roleCanary:
			want = weight
		case roleStable:
			want = stableWeight
		case roleAdditional:
			want = additional[i].Weight
			present[i] = true
		case roleAdditionalSubset:
			continue
		default:
			remove = append(remove, j)
			continue
		}
		if have, _ := d.(map[string]any)["weight"].(int64); have != int64(want) {
			test(j, d)
			changes.Add(at("route", j, "weight"), int64(want))
		}
	}
	for _, j := range slices.Backward(remove) {
		test(j, dests[j])
		removes.Remove(at("route", j))
	}
	var missing []v1alpha1.WeightDestination
	for i, d := range additional {
		if !present[i] {
			missing = append(missing, d)
		}
	}
	sort.Slice(missing, func(a, b int) bool { return missing[a].ServiceName < missing[b].ServiceName })
	for _, d := range missing {
		if !tested && len(dests) > 0 {
			test(0, dests[0])
		}
		appends.Add(at("route", "-"), map[string]any{"destination": map[string]any{"host": d.ServiceName}, "weight": int64(d.Weight)})
	}
}
