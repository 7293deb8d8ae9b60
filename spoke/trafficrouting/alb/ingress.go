package alb

import (
	"encoding/json"
	"reflect"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// rootPaths are the paths of ing whose backend is the Service root.
func rootPaths(ing *networkingv1.Ingress, root string) []networkingv1.HTTPIngressPath {
	var out []networkingv1.HTTPIngressPath
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == root {
				out = append(out, p)
			}
		}
	}
	return out
}

// activeRoutes are the managed routes that have paths in ing.
func (r *Router) activeRoutes(ing *networkingv1.Ingress) map[string]bool {
	active := map[string]bool{}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && trafficrouting.ManagedRouteIndex(r.ro, p.Backend.Service.Name) >= 0 {
				active[p.Backend.Service.Name] = true
			}
		}
	}
	return active
}

// setRoutePaths makes the paths of every rule of ing start with the paths of the active
// routes, in the order of managedRoutes, followed by the rule's other paths as they are. A
// route's paths copy the rule's root paths with the route as backend. The patch tests each
// rule's paths before it replaces them.
func (r *Router) setRoutePaths(p *trafficrouting.JSONPatch, ing *networkingv1.Ingress, active map[string]bool) {
	tr, _ := trafficrouting.TrafficRouting(r.ro)
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var routes, others, roots []networkingv1.HTTPIngressPath
		for _, path := range rule.HTTP.Paths {
			switch {
			case path.Backend.Service != nil && trafficrouting.ManagedRouteIndex(r.ro, path.Backend.Service.Name) >= 0:
				// a route path: rebuilt below
			case path.Backend.Service != nil && path.Backend.Service.Name == r.root:
				roots = append(roots, path)
				others = append(others, path)
			default:
				others = append(others, path)
			}
		}
		for _, m := range tr.ManagedRoutes {
			if !active[m.Name] {
				continue
			}
			for _, root := range roots {
				path := *root.DeepCopy()
				path.Backend = networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: m.Name, Port: networkingv1.ServiceBackendPort{Name: UseAnnotation}}}
				routes = append(routes, path)
			}
		}
		want := slices.Concat(routes, others)
		if equality.Semantic.DeepEqual(want, rule.HTTP.Paths) {
			continue
		}
		at := trafficrouting.Pointer("spec", "rules", i, "http", "paths")
		p.Test(at, rule.HTTP.Paths)
		p.Replace(at, want)
	}
}

// setAnnotation adds to p what sets the annotation key of ing to value, if it has another
// value. Values that are JSON count as equal when they hold the same JSON.
func setAnnotation(p *trafficrouting.JSONPatch, ing *networkingv1.Ingress, key, value string) {
	have, ok := ing.Annotations[key]
	if ok && sameJSON(have, value) {
		return
	}
	if ing.Annotations == nil {
		ing.Annotations = map[string]string{}
		p.Add(trafficrouting.Pointer("metadata", "annotations"), map[string]string{})
	}
	ing.Annotations[key] = value
	p.Add(trafficrouting.Pointer("metadata", "annotations", key), value)
}

// removeAnnotation adds to p what removes the annotation key of ing, if it has it.
func removeAnnotation(p *trafficrouting.JSONPatch, ing *networkingv1.Ingress, key string) {
	if _, ok := ing.Annotations[key]; !ok {
		return
	}
	delete(ing.Annotations, key)
	p.Remove(trafficrouting.Pointer("metadata", "annotations", key))
}

func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
