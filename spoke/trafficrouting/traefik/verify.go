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

package traefik

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// providerName is the suffix Traefik's API gives the services of its Kubernetes CRD
// provider.
const providerName = "kubernetescrd"

// apiTimeout bounds one request to Traefik's API.
const apiTimeout = 5 * time.Second

// WithAPI makes VerifyWeight ask Traefik's API at base (such as
// http://traefik-api.traefik:8080, Traefik's "traefik" entry point with the API on) which
// weights Traefik runs for the weighted TraefikService. Without it the router cannot verify.
func WithAPI(base string) Option {
	return func(r *Router) {
		r.api = strings.TrimSuffix(base, "/")
		r.http = &http.Client{Timeout: apiTimeout}
	}
}

// VerifyWeight asks Traefik's API (see WithAPI) for the weighted service it built from the
// TraefikService, and reports Verified when the stable, canary and additional entries run
// exactly the weights SetWeight writes for weight; Pending while Traefik has not loaded the
// service or runs other weights. Without an API address it is Unsupported. An unreachable
// API is an error, never a success.
func (r *Router) VerifyWeight(ctx context.Context, weight int32, additional ...v1alpha1.WeightDestination) (trafficrouting.Verification, error) {
	if r.api == "" {
		return trafficrouting.VerificationUnsupported, nil
	}
	ts, err := r.get(ctx, r.name)
	if err != nil {
		return trafficrouting.VerificationPending, err
	}
	want, err := r.wantMembers(ts, weight, additional)
	if err != nil {
		return trafficrouting.VerificationPending, err
	}
	running, found, err := r.runningWeights(ctx, normalize(ts.GetNamespace()+"-"+ts.GetName())+"@"+providerName)
	if err != nil || !found {
		return trafficrouting.VerificationPending, err
	}
	for member, w := range want {
		if have, ok := running[member]; !ok || have != w {
			return trafficrouting.VerificationPending, nil
		}
	}
	return trafficrouting.VerificationVerified, nil
}

// wantMembers are the weights SetWeight gives the entries of ts, by the name Traefik gives
// each entry's service.
func (r *Router) wantMembers(ts *unstructured.Unstructured, weight int32, additional []v1alpha1.WeightDestination) (map[string]int, error) {
	services, err := r.weightedServices(ts)
	if err != nil {
		return nil, err
	}
	stableSvc, canarySvc := trafficrouting.Services(r.ro, false)
	stable, err := r.stableEntry(ts, services, stableSvc)
	if err != nil {
		return nil, err
	}
	want := map[string]int{memberName(ts.GetNamespace(), services[stable]): int(trafficrouting.StableWeight(trafficrouting.DefaultMaxTrafficWeight, weight, additional...))}
	for _, d := range append([]v1alpha1.WeightDestination{{ServiceName: canarySvc, Weight: weight}}, additional...) {
		i, err := r.serviceEntry(ts, services, d.ServiceName)
		if err != nil {
			return nil, err
		}
		want[memberName(ts.GetNamespace(), services[i])] = int(d.Weight)
	}
	return want, nil
}

// runningWeights reads the weighted service id from Traefik's API: the weight of each
// member (1 when Traefik shows none, its default). found is false when Traefik does not run
// the service (yet).
func (r *Router) runningWeights(ctx context.Context, id string) (weights map[string]int, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	u := r.api + "/api/http/services/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, fmt.Errorf("traefik API address %q: %w", r.api, err)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("asking Traefik's API: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, false, fmt.Errorf("reading Traefik's answer to GET %s: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("traefik's API answered GET %s with %s", u, resp.Status)
	}
	var svc struct {
		Weighted *struct {
			Services []struct {
				Name   string `json:"name"`
				Weight *int   `json:"weight"`
			} `json:"services"`
		} `json:"weighted"`
	}
	if err := json.Unmarshal(body, &svc); err != nil {
		return nil, false, fmt.Errorf("traefik's answer to GET %s is not a service: %w", u, err)
	}
	if svc.Weighted == nil {
		return nil, false, fmt.Errorf("traefik runs %s, but not as a weighted service", id)
	}
	weights = map[string]int{}
	for _, m := range svc.Weighted.Services {
		w := 1
		if m.Weight != nil {
			w = *m.Weight
		}
		weights[m.Name] = w
	}
	return weights, true, nil
}

// memberName is the name Traefik's Kubernetes CRD provider gives the service of an entry of
// a weighted TraefikService of namespace ns: <namespace>-<name>[-<port>], with every run of
// characters other than letters and digits turned into one "-". A reference to a service
// of another provider (name@provider) keeps its name.
func memberName(ns string, entry map[string]any) string {
	name, _ := entry["name"].(string)
	if n, _ := entry["namespace"].(string); n != "" {
		ns = n
	}
	port := ""
	switch p := entry["port"].(type) {
	case int64:
		if p != 0 {
			port = fmt.Sprint(p)
		}
	case float64:
		if p != 0 {
			port = fmt.Sprint(int64(p))
		}
	case string:
		port = p
	}
	if port != "" {
		return normalize(ns + "-" + name + "-" + port)
	}
	svc, pvd, cross := strings.Cut(name, "@")
	if !cross || pvd == providerName {
		return normalize(ns + "-" + svc)
	}
	return normalize(svc) + "@" + pvd
}

// normalize is how Traefik names its services: runs of characters other than letters and
// digits become one "-".
func normalize(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsNumber(c) }), "-")
}
