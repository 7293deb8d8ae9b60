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

// Package ambassador shifts a Rollout's traffic with Ambassador (Emissary-ingress)
// Mappings. For each stable Mapping the Rollout names, it creates a canary Mapping,
// "<name>-canary", owned by the Rollout: a copy of the stable Mapping's spec that routes to
// the canary Service with spec.weight set to the canary weight; Ambassador sends that share
// of the Mapping's traffic to it and the rest to the stable Mapping. The canary Mapping is
// created at the first weight above zero, follows the weight (zero included), and is
// deleted by RemoveManagedRoutes when the rollout completes or aborts. The stable Mapping is
// only read.
//
// The group and version are the ones the cluster prefers for Mapping in getambassador.io
// (v2 with Emissary 3.x, whose other versions need its conversion webhook), unless
// WithGroupVersion says otherwise. Header and mirror routes are not supported.
package ambassador

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// Type is the router's name in spec.strategy.canary.trafficRouting.
const Type = "ambassador"

// Kind is the kind of object the router reads and creates.
const Kind = "Mapping"

// Group is Ambassador's API group.
const Group = "getambassador.io"

// canarySuffix is appended to a stable Mapping's name to name its canary Mapping.
const canarySuffix = "-canary"

// Option configures a Router.
type Option func(*Router)

// WithGroupVersion makes the router use Mappings of gv, such as getambassador.io/v3alpha1,
// instead of the version the cluster prefers.
func WithGroupVersion(gv schema.GroupVersion) Option {
	return func(r *Router) { r.gv = gv }
}

// Router implements trafficrouting.Router with Ambassador Mappings.
type Router struct {
	c        client.Client
	ro       *v1alpha1.Rollout
	mappings []string
	gv       schema.GroupVersion // empty: the cluster's preferred version
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Ambassador router of ro, which must configure
// spec.strategy.canary.trafficRouting.ambassador.
func New(c client.Client, ro *v1alpha1.Rollout, opts ...Option) (*Router, error) {
	tr, err := trafficrouting.TrafficRouting(ro)
	if err != nil {
		return nil, err
	}
	if tr.Ambassador == nil || len(tr.Ambassador.Mappings) == 0 {
		return nil, trafficrouting.Invalid(Type, "spec.strategy.canary.trafficRouting.ambassador.mappings is empty")
	}
	r := &Router{c: c, ro: ro, mappings: tr.Ambassador.Mappings}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Type is "ambassador".
func (r *Router) Type() string { return Type }

// UpdateHash does nothing: Ambassador routes to Services.
func (r *Router) UpdateHash(context.Context, string, string, ...v1alpha1.WeightDestination) error {
	return nil
}

// VerifyWeight is not supported.
func (r *Router) VerifyWeight(context.Context, int32, ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	return trafficrouting.VerificationUnsupported, nil
}

// SetHeaderRoute supports only the removal of a route, which has nothing to do.
func (r *Router) SetHeaderRoute(_ context.Context, route *v1alpha1.SetHeaderRoute) error {
	if route == nil || len(route.Match) == 0 {
		return nil
	}
	return trafficrouting.Invalid(Type, "header routes are not supported by the ambassador router (route %q)", route.Name)
}

// SetMirrorRoute supports only the removal of a route, which has nothing to do.
func (r *Router) SetMirrorRoute(_ context.Context, route *v1alpha1.SetMirrorRoute) error {
	if route == nil || len(route.Match) == 0 {
		return nil
	}
	return trafficrouting.Invalid(Type, "mirror routes are not supported by the ambassador router (route %q)", route.Name)
}

// SetWeight gives each canary Mapping the weight, creating it (from its stable Mapping) when
// the weight is above zero and it does not exist yet.
func (r *Router) SetWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) error {
	if len(additional) > 0 {
		return trafficrouting.Invalid(Type, "the ambassador router cannot send traffic to experiment destinations")
	}
	gvk, err := r.gvk()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range r.mappings {
		errs = append(errs, r.setCanaryWeight(ctx, gvk, name, weight))
	}
	return errors.Join(errs...)
}

func (r *Router) setCanaryWeight(ctx context.Context, gvk schema.GroupVersionKind, stableName string, weight int32) error {
	canaryName := CanaryMappingName(stableName)
	canary := &unstructured.Unstructured{}
	canary.SetGroupVersionKind(gvk)
	err := trafficrouting.ReadError(r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: canaryName}, canary),
		gvk.GroupKind(), r.ro.Namespace, canaryName)
	var notFound *trafficrouting.ObjectNotFoundError
	switch {
	case errors.As(err, &notFound):
		if weight == 0 {
			return nil
		}
		want, err := r.canaryMapping(ctx, gvk, stableName, weight)
		if err != nil {
			return err
		}
		return trafficrouting.EnsureOwnedSpec(ctx, r.c, r.ro, Type, want)
	case err != nil:
		return err
	}
	if !metav1.IsControlledBy(canary, r.ro) {
		return trafficrouting.Invalid(Type, "Mapping %s/%s exists and does not belong to Rollout %s: the canary Mapping of %s needs that name",
			r.ro.Namespace, canaryName, r.ro.Name, stableName)
	}
	if have, ok, _ := unstructured.NestedInt64(canary.Object, "spec", "weight"); ok && have == int64(weight) {
		return nil
	}
	var p trafficrouting.JSONPatch
	p.Add(trafficrouting.Pointer("spec", "weight"), int64(weight))
	if err := trafficrouting.ApplyJSONPatch(ctx, r.c, canary, p); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", Kind, r.ro.Namespace, canaryName, err)
	}
	return nil
}

// canaryMapping builds the canary Mapping of the stable Mapping stableName.
func (r *Router) canaryMapping(ctx context.Context, gvk schema.GroupVersionKind, stableName string, weight int32) (*unstructured.Unstructured, error) {
	stable := &unstructured.Unstructured{}
	stable.SetGroupVersionKind(gvk)
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: r.ro.Namespace, Name: stableName}, stable); err != nil {
		return nil, trafficrouting.ReadError(err, gvk.GroupKind(), r.ro.Namespace, stableName)
	}
	if w, ok, _ := unstructured.NestedFieldNoCopy(stable.Object, "spec", "weight"); ok && w != nil && w != int64(0) {
		return nil, trafficrouting.Invalid(Type, "Mapping %s/%s sets spec.weight (%v); the stable Mapping must not, since its canary Mapping takes the weight",
			r.ro.Namespace, stableName, w)
	}
	spec, ok, _ := unstructured.NestedMap(stable.Object, "spec")
	if !ok {
		return nil, trafficrouting.Invalid(Type, "Mapping %s/%s has no spec", r.ro.Namespace, stableName)
	}
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	service, _ := spec["service"].(string)
	canaryService, ok := replaceService(service, stableSvc, canarySvc)
	if !ok {
		return nil, &trafficrouting.RouteNotFoundError{Kind: Kind, Namespace: r.ro.Namespace, Name: stableName,
			Route: fmt.Sprintf("spec.service that names the stable Service %q (it is %q)", stableSvc, service)}
	}
	spec["service"] = canaryService
	spec["weight"] = int64(weight)

	want := &unstructured.Unstructured{}
	want.SetGroupVersionKind(gvk)
	want.SetNamespace(r.ro.Namespace)
	want.SetName(CanaryMappingName(stableName))
	want.SetLabels(stable.GetLabels())
	want.Object["spec"] = spec
	return want, nil
}

// RemoveManagedRoutes deletes the canary Mappings the Rollout owns.
func (r *Router) RemoveManagedRoutes(ctx context.Context) error {
	gvk, err := r.gvk()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range r.mappings {
		errs = append(errs, trafficrouting.DeleteOwned(ctx, r.c, r.ro, gvk, r.ro.Namespace, CanaryMappingName(name)))
	}
	return errors.Join(errs...)
}

// gvk is the Mapping kind to use: the configured version, or the one the cluster prefers.
func (r *Router) gvk() (schema.GroupVersionKind, error) {
	if !r.gv.Empty() {
		return r.gv.WithKind(Kind), nil
	}
	gk := schema.GroupKind{Group: Group, Kind: Kind}
	m, err := r.c.RESTMapper().RESTMapping(gk)
	if err != nil {
		return schema.GroupVersionKind{}, trafficrouting.ReadError(err, gk, r.ro.Namespace, "")
	}
	return m.GroupVersionKind, nil
}

// CanaryMappingName is the name of the canary Mapping of the stable Mapping name: name with
// "-canary" appended, name cut so that the result fits in 253 characters.
func CanaryMappingName(name string) string {
	if limit := 253 - len(canarySuffix); len(name) > limit {
		name = name[:limit]
	}
	return name + canarySuffix
}

// replaceService returns the Mapping service with its host's Service name (the first label
// of the host) changed from stable to canary, keeping a scheme, namespace and port:
// "web-stable.shop:8080" becomes "web-canary.shop:8080".
func replaceService(service, stable, canary string) (string, bool) {
	prefix, rest := "", service
	if i := strings.Index(rest, "://"); i >= 0 {
		prefix, rest = rest[:i+3], rest[i+3:]
	}
	host, tail := rest, ""
	if i := strings.IndexAny(rest, ":/"); i >= 0 {
		host, tail = rest[:i], rest[i:]
	}
	name, domain, _ := strings.Cut(host, ".")
	if name != stable {
		return "", false
	}
	if domain != "" {
		domain = "." + domain
	}
	out := prefix + canary + domain + tail
	if _, err := url.Parse(out); err != nil {
		return "", false
	}
	return out, true
}
