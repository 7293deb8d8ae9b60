// Package nginx shifts traffic with ingress-nginx's canary Ingress.
//
// For every stable Ingress the Rollout names, the router keeps a canary Ingress,
// <rollout>-<stable ingress>-canary, owned by the Rollout. It holds the stable Ingress's
// rules whose paths lead to the stable Service, pointed at the canary Service instead (other
// paths are left out), the stable Ingress's TLS and ingress class, the annotations of
// additionalIngressAnnotations and canaryIngressAnnotations, and the canary annotations
// (with the configured prefix, nginx.ingress.kubernetes.io by default):
//
//	canary: "true"
//	canary-weight: the weight
//	canary-weight-total: trafficRouting.maxTrafficWeight, when it is set
//
// The canary Ingress exists only while it carries traffic: it is created when the weight
// leaves 0 or a header route is set, and deleted once the weight is back at 0 with no header
// route (on abort and on completion), which changes no request's destination, since at
// weight 0 ingress-nginx sends everything to the stable Ingress anyway.
//
// Header routes go beyond Argo Rollouts, whose nginx router has none: SetHeaderRoute puts
// canary-by-header and canary-by-header-value (an exact match) or canary-by-header-pattern
// (a regex, or a prefix turned into ^<quoted prefix>) on the canary Ingress, which
// ingress-nginx checks before the weight. It can route by one header, so a route must have
// exactly one match, and one header route can be active at a time; the annotation
// rollouts.flotilla.dev/header-route names it. Those annotations win over the same keys in
// additionalIngressAnnotations while the route is active. Mirror routes are not supported by
// ingress-nginx's canary, and SetMirrorRoute does nothing (another router of the Rollout
// may carry them).
//
// The canary Ingress is written with server-side apply (field manager flotilla-spoke), so
// annotations and labels that other controllers add to it stay; it is read first and not
// written when it already is as wanted. The stable Ingress is only read.
package nginx

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "nginx"

// DefaultAnnotationPrefix is ingress-nginx's annotation prefix unless trafficRouting.nginx
// sets annotationPrefix.
const DefaultAnnotationPrefix = "nginx.ingress.kubernetes.io"

// HeaderRouteAnnotation is the annotation of a canary Ingress that names the managed route
// its canary-by-header annotations belong to.
const HeaderRouteAnnotation = "rollouts.flotilla.dev/header-route"

// CanaryIngressSuffix ends the name of every canary Ingress.
const CanaryIngressSuffix = "-canary"

// ingressClassAnnotation is the legacy ingress class, which the canary Ingress must share
// with the stable one.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

var ingressGK = networkingv1.SchemeGroupVersion.WithKind("Ingress").GroupKind()

// Router is the nginx traffic router of one Rollout.
type Router struct {
	c      client.Client
	ro     *v1alpha1.Rollout
	cfg    *v1alpha1.NginxTrafficRouting
	prefix string
	stable string
	canary string
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the nginx router of ro, which must configure trafficRouting.nginx and name its
// stable and canary Services. c reads and writes Ingresses in ro's namespace.
func New(c client.Client, ro *v1alpha1.Rollout) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.Nginx == nil {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.nginx is not set")
	}
	stable, canary := trafficrouting.Services(ro, false)
	if stable == "" || canary == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.stableService and canaryService are both required")
	}
	r := &Router{c: c, ro: ro, cfg: tr.Nginx, prefix: tr.Nginx.AnnotationPrefix, stable: stable, canary: canary}
	if r.prefix == "" {
		r.prefix = DefaultAnnotationPrefix
	}
	if len(r.stableIngresses()) == 0 {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.nginx needs stableIngress or stableIngresses")
	}
	return r, nil
}

// Type returns "nginx".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: the canary Ingress routes by Service.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// VerifyWeight returns VerificationUnsupported: ingress-nginx does not report the weights it
// applies.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

// SetMirrorRoute does nothing: ingress-nginx's canary cannot mirror.
func (r *Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error { return nil }

// CanaryIngressName is the name of the canary Ingress of the stable Ingress stable, cut to
// the 253 characters a name may have.
func CanaryIngressName(rollout, stable string) string {
	prefix := rollout + "-" + stable
	if limit := 253 - len(CanaryIngressSuffix); len(prefix) > limit {
		prefix = prefix[:limit]
	}
	return prefix + CanaryIngressSuffix
}

// headerRoute is the header route a canary Ingress carries.
type headerRoute struct {
	name    string
	header  string
	value   string // canary-by-header-value
	pattern string // canary-by-header-pattern
}

// state is what a canary Ingress should carry.
type state struct {
	weight int32
	header *headerRoute
}

// SetWeight sends weight to the canary through every canary Ingress. Additional
// destinations are ignored: ingress-nginx splits between two backends only.
func (r *Router) SetWeight(ctx context.Context, weight int32, _ ...v1alpha1.WeightDestination) error {
	return r.each(ctx, func(current state) state {
		current.weight = weight
		return current
	})
}

// SetHeaderRoute sets or, without matches, removes the header route route.Name.
func (r *Router) SetHeaderRoute(ctx context.Context, route *v1alpha1.SetHeaderRoute) error {
	if route == nil {
		return nil
	}
	if err := trafficrouting.CheckManagedRoute(Type, r.ro, route.Name); err != nil {
		return err
	}
	var want *headerRoute
	if len(route.Match) > 0 {
		var err error
		if want, err = r.headerRoute(route); err != nil {
			return err
		}
	}
	var conflict error
	err := r.each(ctx, func(current state) state {
		switch {
		case current.header != nil && current.header.name != route.Name:
			if want != nil {
				conflict = trafficrouting.Invalid(Type, "ingress-nginx routes by one header at a time and header route %q is active: remove it before setting %q",
					current.header.name, route.Name)
			}
		default:
			current.header = want
		}
		return current
	})
	if conflict != nil {
		return conflict
	}
	return err
}

// RemoveManagedRoutes removes the header route. A canary Ingress left at weight 0 is deleted.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	return r.each(ctx, func(current state) state {
		current.header = nil
		return current
	})
}

func (r *Router) headerRoute(route *v1alpha1.SetHeaderRoute) (*headerRoute, error) {
	if len(route.Match) != 1 {
		return nil, trafficrouting.Invalid(Type, "header route %q has %d matches; ingress-nginx routes by exactly one header", route.Name, len(route.Match))
	}
	m := route.Match[0]
	h := &headerRoute{name: route.Name, header: m.HeaderName}
	switch v := m.HeaderValue; {
	case v == nil:
		return nil, trafficrouting.Invalid(Type, "header route %q: match on %s has no headerValue", route.Name, m.HeaderName)
	case v.Exact != "":
		h.value = v.Exact
	case v.Prefix != "":
		h.pattern = "^" + regexp.QuoteMeta(v.Prefix)
	case v.Regex != "":
		h.pattern = v.Regex
	default:
		return nil, trafficrouting.Invalid(Type, "header route %q: match on %s sets none of exact, prefix and regex", route.Name, m.HeaderName)
	}
	return h, nil
}

func (r *Router) stableIngresses() []string {
	if len(r.cfg.StableIngresses) > 0 {
		return r.cfg.StableIngresses
	}
	if r.cfg.StableIngress != "" {
		return []string{r.cfg.StableIngress}
	}
	return nil
}

// each brings the canary Ingress of every stable Ingress to change(its current state).
func (r *Router) each(ctx context.Context, change func(state) state) error {
	for _, name := range r.stableIngresses() {
		if err := r.reconcile(ctx, name, change); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router) reconcile(ctx context.Context, stableName string, change func(state) state) error {
	ns := r.ro.Namespace
	canaryName := CanaryIngressName(r.ro.Name, stableName)
	current := &networkingv1.Ingress{}
	err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: canaryName}, current)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return trafficrouting.ReadError(err, ingressGK, ns, canaryName)
	}
	if exists && !metav1.IsControlledBy(current, r.ro) {
		return trafficrouting.Invalid(Type, "Ingress %s/%s exists and does not belong to Rollout %s: delete or rename it", ns, canaryName, r.ro.Name)
	}
	var have state
	if exists {
		have = r.stateOf(current)
	}
	want := change(have)
	if want.weight == 0 && want.header == nil {
		if !exists {
			return nil
		}
		err := r.c.Delete(ctx, current, client.Preconditions{UID: &current.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting canary Ingress %s/%s: %w", ns, canaryName, err)
		}
		return nil
	}
	stableIngress := &networkingv1.Ingress{}
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: stableName}, stableIngress); err != nil {
		return trafficrouting.ReadError(err, ingressGK, ns, stableName)
	}
	desired, err := r.canaryIngress(stableIngress, canaryName, want)
	if err != nil {
		return err
	}
	if exists && upToDate(current, desired) {
		return nil
	}
	return r.apply(ctx, desired)
}

// stateOf reads the weight and header route a canary Ingress carries.
func (r *Router) stateOf(ing *networkingv1.Ingress) state {
	a := ing.Annotations
	var s state
	if w, err := strconv.ParseInt(a[r.key("canary-weight")], 10, 32); err == nil {
		s.weight = int32(w)
	}
	if name := a[HeaderRouteAnnotation]; name != "" {
		s.header = &headerRoute{
			name:    name,
			header:  a[r.key("canary-by-header")],
			value:   a[r.key("canary-by-header-value")],
			pattern: a[r.key("canary-by-header-pattern")],
		}
	}
	return s
}

func (r *Router) key(name string) string { return r.prefix + "/" + name }

// canaryIngress builds the canary Ingress of stable that carries s.
func (r *Router) canaryIngress(stable *networkingv1.Ingress, name string, s state) (*networkingv1.Ingress, error) {
	ing := &networkingv1.Ingress{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       r.ro.Namespace,
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{trafficrouting.ControllerReference(r.ro)},
		},
		Spec: networkingv1.IngressSpec{IngressClassName: stable.Spec.IngressClassName},
	}
	for _, tls := range stable.Spec.TLS {
		ing.Spec.TLS = append(ing.Spec.TLS, *tls.DeepCopy())
	}
	for _, rule := range stable.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil && p.Backend.Service.Name == r.stable {
				p = *p.DeepCopy()
				p.Backend.Service.Name = r.canary
				paths = append(paths, p)
			}
		}
		if len(paths) > 0 {
			ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
				Host:             rule.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
			})
		}
	}
	if len(ing.Spec.Rules) == 0 {
		return nil, trafficrouting.Invalid(Type, "Ingress %s/%s has no path whose backend is the stable Service %s", stable.Namespace, stable.Name, r.stable)
	}

	a := ing.Annotations
	if class, ok := stable.Annotations[ingressClassAnnotation]; ok {
		a[ingressClassAnnotation] = class
	}
	for k, v := range r.cfg.AdditionalIngressAnnotations {
		if !strings.HasPrefix(k, r.prefix+"/") {
			k = r.key(k)
		}
		a[k] = v
	}
	for k, v := range r.cfg.CanaryIngressAnnotations {
		a[k] = v
	}
	a[r.key("canary")] = "true"
	a[r.key("canary-weight")] = strconv.Itoa(int(s.weight))
	if tr, _ := trafficrouting.TrafficRouting(r.ro); tr.MaxTrafficWeight != nil {
		a[r.key("canary-weight-total")] = strconv.Itoa(int(*tr.MaxTrafficWeight))
	}
	if h := s.header; h != nil {
		for _, k := range []string{"canary-by-header", "canary-by-header-value", "canary-by-header-pattern"} {
			delete(a, r.key(k))
		}
		a[HeaderRouteAnnotation] = h.name
		a[r.key("canary-by-header")] = h.header
		if h.value != "" {
			a[r.key("canary-by-header-value")] = h.value
		}
		if h.pattern != "" {
			a[r.key("canary-by-header-pattern")] = h.pattern
		}
	}
	return ing, nil
}
