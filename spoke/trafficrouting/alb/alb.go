// Package alb shifts traffic with the annotations of the AWS Load Balancer Controller.
//
// The user's Ingress routes a path to the root Service (alb.rootService, the stable Service
// by default) with port name use-annotation, and the router keeps the forward action of that
// Service in the annotation <prefix>/actions.<root Service> (prefix alb.ingress.kubernetes.io
// unless alb.annotationPrefix is set):
//
//	{"Type":"forward","ForwardConfig":{"TargetGroups":[
//	  {"ServiceName":"<canary>","ServicePort":"<port>","Weight":<weight>},
//	  ... one per additional destination ...
//	  {"ServiceName":"<stable>","ServicePort":"<port>","Weight":<the rest>}],
//	  "TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":<n>}}}
//
// with the stickiness part only when alb.stickinessConfig is enabled. With pingPong, the
// ping and pong Services stand in for the stable and canary ones.
//
// A header route <name> is the annotation <prefix>/actions.<name>, a forward of everything to
// the canary, the annotation <prefix>/conditions.<name>, an http-header condition per header
// (exact values only: matches on one header name become one condition with several values),
// and, in every rule that routes to the root Service, one path per root path with the same
// path and path type and the backend <name>:use-annotation. Route paths come first in a
// rule, in the order of trafficRouting.managedRoutes, so the load balancer checks them
// before the weighted action. Unlike Argo Rollouts, which adds a "/*" path to every rule of
// the Ingress, the router adds paths only to the rules of the root Service and copies their
// paths, so that other hosts and paths of a shared Ingress keep their own backends.
//
// The Ingress belongs to the user. The router changes it with JSON patches that name only
// its own annotations and, in the rules it touches, test the paths list before replacing
// it, and writes nothing when the Ingress already is as wanted. Mirror routes are not
// supported by the load balancer, and SetMirrorRoute does nothing (another router of the
// Rollout may carry them).
//
// VerifyWeight needs the weights the load balancer applies, which only the AWS API knows.
// With a WeightReader (WithWeightReader; package elbv2 reads them from the ELBv2 API) it
// finds, for each Ingress, the forward actions of its load balancer that include the target
// group of the stable Service (the weighted action; a header route's action forwards to the
// canary alone), and reports Verified when each of them gives the canary, each additional
// destination and the stable Service exactly the weights SetWeight wrote, Pending when one
// gives other weights. A load balancer the reader cannot find or read, or one with no
// weighted action, is an error, never a success. Without a reader it reports
// VerificationUnsupported.
package alb

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "alb"

// DefaultAnnotationPrefix is the AWS Load Balancer Controller's annotation prefix unless
// trafficRouting.alb sets annotationPrefix.
const DefaultAnnotationPrefix = "alb.ingress.kubernetes.io"

// UseAnnotation is the port name of a backend whose action an annotation gives.
const UseAnnotation = "use-annotation"

var ingressGK = networkingv1.SchemeGroupVersion.WithKind("Ingress").GroupKind()

// WeightReader reads the weights that the load balancer in front of an Ingress applies.
type WeightReader interface {
	// ForwardWeights returns the weights of every forward action of the load balancer of
	// ing, each as the weights of the target groups of ing's Services at servicePort, by
	// Service name. An Ingress without a load balancer yet, or a load balancer that cannot
	// be read, is an error.
	ForwardWeights(ctx context.Context, ing *networkingv1.Ingress, servicePort int32) ([]map[string]int32, error)
}

// Option configures a Router.
type Option func(*Router)

// WithWeightReader makes VerifyWeight compare the weights that reader returns with the
// wanted ones, instead of reporting VerificationUnsupported.
func WithWeightReader(reader WeightReader) Option {
	return func(r *Router) { r.reader = reader }
}

// Router is the ALB traffic router of one Rollout.
type Router struct {
	c      client.Client
	ro     *v1alpha1.Rollout
	cfg    *v1alpha1.ALBTrafficRouting
	prefix string
	stable string
	canary string
	root   string
	reader WeightReader
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the ALB router of ro, which must configure trafficRouting.alb and name its
// stable and canary Services (or pingPong with alb.rootService). c reads and patches
// Ingresses in ro's namespace.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.ALB == nil {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.alb is not set")
	}
	r := &Router{c: c, ro: ro, cfg: tr.ALB, prefix: tr.ALB.AnnotationPrefix, root: tr.ALB.RootService}
	r.stable, r.canary = trafficrouting.Services(ro, true)
	if r.stable == "" || r.canary == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary needs stableService and canaryService, or pingPong")
	}
	if r.prefix == "" {
		r.prefix = DefaultAnnotationPrefix
	}
	if r.root == "" {
		r.root = ro.Spec.Strategy.Canary.StableService
	}
	if r.root == "" {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.alb.rootService is required with pingPong")
	}
	if len(r.ingresses()) == 0 {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.alb needs ingress or ingresses")
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type returns "alb".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: the target groups follow the Services.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// SetMirrorRoute does nothing: the load balancer cannot mirror.
func (r *Router) SetMirrorRoute(context.Context, *v1alpha1.SetMirrorRoute) error { return nil }

// ActionKey is the annotation that holds the action of the Service or route name.
func (r *Router) ActionKey(name string) string { return r.prefix + "/actions." + name }

// ConditionKey is the annotation that holds the conditions of the route name.
func (r *Router) ConditionKey(name string) string { return r.prefix + "/conditions." + name }

// SetWeight sends weight to the canary and each additional destination its weight, out of
// maxTrafficWeight, and the rest to the stable Service.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	groups := []targetGroup{r.group(r.canary, weight)}
	for _, d := range additional {
		groups = append(groups, r.group(d.ServiceName, d.Weight))
	}
	groups = append(groups, r.group(r.stable, trafficrouting.StableWeight(trafficrouting.MaxTrafficWeight(r.ro), weight, additional...)))
	value, err := r.forward(groups)
	if err != nil {
		return err
	}
	return r.each(ctx, func(ing *networkingv1.Ingress) (trafficrouting.JSONPatch, error) {
		if err := r.checkRoot(ing); err != nil {
			return nil, err
		}
		var p trafficrouting.JSONPatch
		setAnnotation(&p, ing, r.ActionKey(r.root), value)
		return p, nil
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
	var action, conditions string
	if len(route.Match) > 0 {
		var err error
		if action, err = r.forward([]targetGroup{r.group(r.canary, trafficrouting.MaxTrafficWeight(r.ro))}); err != nil {
			return err
		}
		if conditions, err = headerConditions(route); err != nil {
			return err
		}
	}
	return r.each(ctx, func(ing *networkingv1.Ingress) (trafficrouting.JSONPatch, error) {
		var p trafficrouting.JSONPatch
		active := r.activeRoutes(ing)
		if len(route.Match) > 0 {
			if err := r.checkRoot(ing); err != nil {
				return nil, err
			}
			setAnnotation(&p, ing, r.ActionKey(route.Name), action)
			setAnnotation(&p, ing, r.ConditionKey(route.Name), conditions)
			active[route.Name] = true
		} else {
			removeAnnotation(&p, ing, r.ActionKey(route.Name))
			removeAnnotation(&p, ing, r.ConditionKey(route.Name))
			delete(active, route.Name)
		}
		r.setRoutePaths(&p, ing, active)
		return p, nil
	})
}

// RemoveManagedRoutes removes every header route of managedRoutes: their annotations and
// their paths.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	tr, _ := trafficrouting.TrafficRouting(r.ro)
	return r.each(ctx, func(ing *networkingv1.Ingress) (trafficrouting.JSONPatch, error) {
		var p trafficrouting.JSONPatch
		for _, m := range tr.ManagedRoutes {
			removeAnnotation(&p, ing, r.ActionKey(m.Name))
			removeAnnotation(&p, ing, r.ConditionKey(m.Name))
		}
		r.setRoutePaths(&p, ing, nil)
		return p, nil
	})
}

// VerifyWeight compares the weights of the load balancers' weighted actions with the wanted
// ones (see the package documentation), or returns VerificationUnsupported without a
// WeightReader.
func (r *Router) VerifyWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	if r.reader == nil {
		return trafficrouting.VerificationUnsupported, nil
	}
	want := map[string]int32{r.canary: weight, r.stable: trafficrouting.StableWeight(trafficrouting.MaxTrafficWeight(r.ro), weight, additional...)}
	for _, d := range additional {
		want[d.ServiceName] = d.Weight
	}
	out := trafficrouting.VerificationVerified
	for _, name := range r.ingresses() {
		ing := &networkingv1.Ingress{}
		if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: name}, ing); err != nil {
			return trafficrouting.VerificationPending, trafficrouting.ReadError(err, ingressGK, r.ro.Namespace, name)
		}
		actions, err := r.reader.ForwardWeights(ctx, ing, r.cfg.ServicePort)
		if err != nil {
			return trafficrouting.VerificationPending, fmt.Errorf("reading the load balancer weights of Ingress %s/%s: %w", ing.Namespace, name, err)
		}
		weighted := 0
		for _, a := range actions {
			if _, ok := a[r.stable]; !ok {
				continue
			}
			weighted++
			for svc, w := range want {
				if have, ok := a[svc]; !ok || have != w {
					out = trafficrouting.VerificationPending
				}
			}
		}
		if weighted == 0 {
			return trafficrouting.VerificationPending, fmt.Errorf("the load balancer of Ingress %s/%s has no forward action to the target group of Service %s port %d (yet)",
				ing.Namespace, name, r.stable, r.cfg.ServicePort)
		}
	}
	return out, nil
}

// checkRoot returns an InvalidConfigError unless ing routes to the root Service through
// the action annotation.
func (r *Router) checkRoot(ing *networkingv1.Ingress) error {
	roots := rootPaths(ing, r.root)
	if len(roots) == 0 {
		return trafficrouting.Invalid(Type, "Ingress %s/%s has no path whose backend is the Service %s", ing.Namespace, ing.Name, r.root)
	}
	for _, p := range roots {
		if p.Backend.Service.Port.Name != UseAnnotation {
			return trafficrouting.Invalid(Type, "path %s of Ingress %s/%s leads to Service %s without port name %s, so the load balancer would ignore the action annotation",
				p.Path, ing.Namespace, ing.Name, r.root, UseAnnotation)
		}
	}
	return nil
}

func (r *Router) ingresses() []string {
	if len(r.cfg.Ingresses) > 0 {
		return r.cfg.Ingresses
	}
	if r.cfg.Ingress != "" {
		return []string{r.cfg.Ingress}
	}
	return nil
}

// each reads every Ingress, asks patch for the changes to it and sends them.
func (r *Router) each(ctx context.Context, patch func(*networkingv1.Ingress) (trafficrouting.JSONPatch, error)) error {
	for _, name := range r.ingresses() {
		ing := &networkingv1.Ingress{}
		if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: name}, ing); err != nil {
			return trafficrouting.ReadError(err, ingressGK, r.ro.Namespace, name)
		}
		p, err := patch(ing)
		if err != nil {
			return err
		}
		if err := trafficrouting.ApplyJSONPatch(ctx, r.c, ing, p); err != nil {
			return fmt.Errorf("patching Ingress %s/%s: %w", r.ro.Namespace, name, err)
		}
	}
	return nil
}

func (r *Router) group(service string, weight int32) targetGroup {
	return targetGroup{ServiceName: service, ServicePort: strconv.Itoa(int(r.cfg.ServicePort)), Weight: new(int64(weight))}
}

// forward is the JSON of a forward action to groups.
func (r *Router) forward(groups []targetGroup) (string, error) {
	a := action{Type: "forward", ForwardConfig: forwardConfig{TargetGroups: groups}}
	if s := r.cfg.StickinessConfig; s != nil && s.Enabled {
		a.ForwardConfig.TargetGroupStickinessConfig = &stickiness{Enabled: true, DurationSeconds: s.DurationSeconds}
	}
	data, err := json.Marshal(a)
	return string(data), err
}

// headerConditions is the JSON of the conditions of a header route: exact matches only, the
// values of one header name in one condition.
func headerConditions(route *v1alpha1.SetHeaderRoute) (string, error) {
	var conds []condition
	index := map[string]int{}
	for _, m := range route.Match {
		if m.HeaderValue == nil || m.HeaderValue.Exact == "" || m.HeaderValue.Prefix != "" || m.HeaderValue.Regex != "" {
			return "", trafficrouting.Invalid(Type, "header route %q: the load balancer matches header %s by exact values only", route.Name, m.HeaderName)
		}
		if i, ok := index[m.HeaderName]; ok {
			conds[i].HTTPHeaderConfig.Values = append(conds[i].HTTPHeaderConfig.Values, m.HeaderValue.Exact)
			continue
		}
		index[m.HeaderName] = len(conds)
		conds = append(conds, condition{Field: "http-header", HTTPHeaderConfig: headerConfig{
			HTTPHeaderName: m.HeaderName, Values: []string{m.HeaderValue.Exact}}})
	}
	data, err := json.Marshal(conds)
	return string(data), err
}

// action, forwardConfig, targetGroup and stickiness are the AWS Load Balancer Controller's
// action annotation; condition and headerConfig its condition annotation.
type action struct {
	Type          string        `json:"Type"`
	ForwardConfig forwardConfig `json:"ForwardConfig"`
}

type forwardConfig struct {
	TargetGroups                []targetGroup `json:"TargetGroups"`
	TargetGroupStickinessConfig *stickiness   `json:"TargetGroupStickinessConfig,omitempty"`
}

type targetGroup struct {
	ServiceName string `json:"ServiceName,omitempty"`
	ServicePort string `json:"ServicePort,omitempty"`
	Weight      *int64 `json:"Weight,omitempty"`
}

type stickiness struct {
	Enabled         bool  `json:"Enabled"`
	DurationSeconds int64 `json:"DurationSeconds"`
}

type condition struct {
	Field            string       `json:"field"`
	HTTPHeaderConfig headerConfig `json:"httpHeaderConfig"`
}

type headerConfig struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
}
