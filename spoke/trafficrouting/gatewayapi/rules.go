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

package gatewayapi

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// maxMatches is the most matches a Gateway API rule may have.
const maxMatches = 64

// headerRule builds the rule of a header route from the base rule: the base rule's matches,
// each with the header matches added, and the canary as its only backend. HTTPRoute and
// GRPCRoute header matches have the same shape.
func headerRule(hr *v1alpha1.SetHeaderRoute, base, canaryRef map[string]any) (map[string]any, error) {
	rule, err := copyMap(base)
	if err != nil {
		return nil, err
	}
	headers := make([]map[string]any, 0, len(hr.Match))
	for _, m := range hr.Match {
		if m.HeaderValue == nil {
			return nil, trafficrouting.Invalid(Type, "header route %q: header %q has no headerValue", hr.Name, m.HeaderName)
		}
		headers = append(headers, headerMatch(m.HeaderName, *m.HeaderValue))
	}
	matches, _ := rule["matches"].([]any)
	if len(matches) == 0 {
		matches = []any{map[string]any{}} // a GRPCRoute rule without matches takes every call
	}
	out := make([]any, 0, len(matches))
	for _, m := range matches {
		mm, _ := m.(map[string]any)
		mm["headers"] = mergeHeaders(mm["headers"], headers)
		out = append(out, mm)
	}
	rule["matches"] = out
	ref, err := copyMap(canaryRef)
	if err != nil {
		return nil, err
	}
	ref["weight"] = int64(1)
	rule["backendRefs"] = []any{ref}
	return rule, nil
}

// mirrorRule builds the rule of a mirror route from the base rule: one match for each pair
// of a base match and a step match (the step's path, method and headers replacing the base
// match's), the base rule's backends and filters, and a RequestMirror filter to the canary.
func mirrorRule(mr *v1alpha1.SetMirrorRoute, base, canaryRef map[string]any) (map[string]any, error) {
	rule, err := copyMap(base)
	if err != nil {
		return nil, err
	}
	baseMatches, _ := rule["matches"].([]any)
	if len(baseMatches) == 0 {
		baseMatches = []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}}
	}
	var out []any
	for _, bm := range baseMatches {
		for _, sm := range mr.Match {
			m, err := copyMap(bm.(map[string]any))
			if err != nil {
				return nil, err
			}
			if sm.Path != nil {
				m["path"] = pathMatch(*sm.Path)
			}
			if sm.Method != nil {
				if sm.Method.Exact == "" {
					return nil, trafficrouting.Invalid(Type, "mirror route %q: Gateway API matches a method exactly; use method.exact", mr.Name)
				}
				m["method"] = strings.ToUpper(sm.Method.Exact)
			}
			if len(sm.Headers) > 0 {
				names := make([]string, 0, len(sm.Headers))
				for n := range sm.Headers {
					names = append(names, n)
				}
				sort.Strings(names)
				headers := make([]map[string]any, 0, len(names))
				for _, n := range names {
					headers = append(headers, headerMatch(n, sm.Headers[n]))
				}
				m["headers"] = mergeHeaders(m["headers"], headers)
			}
			out = append(out, m)
		}
	}
	if len(out) > maxMatches {
		return nil, trafficrouting.Invalid(Type, "mirror route %q needs %d matches (the base rule's times the step's), more than the %d a rule may have",
			mr.Name, len(out), maxMatches)
	}
	rule["matches"] = out

	target := map[string]any{"group": "", "kind": "Service"}
	for _, k := range []string{"group", "kind", "name", "namespace", "port"} {
		if v, ok := canaryRef[k]; ok {
			target[k] = v
		}
	}
	mirror := map[string]any{"backendRef": target}
	if mr.Percentage != nil {
		mirror["percent"] = int64(*mr.Percentage)
	}
	filters, _ := rule["filters"].([]any)
	rule["filters"] = append(filters, map[string]any{"type": "RequestMirror", "requestMirror": mirror})
	return rule, nil
}

// headerMatch is a Gateway API header match (HTTP or gRPC). A prefix becomes a regular
// expression anchored at the start.
func headerMatch(name string, v v1alpha1.StringMatch) map[string]any {
	switch {
	case v.Regex != "":
		return map[string]any{"name": name, "type": "RegularExpression", "value": v.Regex}
	case v.Prefix != "":
		return map[string]any{"name": name, "type": "RegularExpression", "value": "^" + regexp.QuoteMeta(v.Prefix) + ".*"}
	default:
		return map[string]any{"name": name, "type": "Exact", "value": v.Exact}
	}
}

func pathMatch(v v1alpha1.StringMatch) map[string]any {
	switch {
	case v.Regex != "":
		return map[string]any{"type": "RegularExpression", "value": v.Regex}
	case v.Prefix != "":
		return map[string]any{"type": "PathPrefix", "value": v.Prefix}
	default:
		return map[string]any{"type": "Exact", "value": v.Exact}
	}
}

// mergeHeaders returns the header matches of have whose names (case-insensitively) are not
// among add's, followed by add.
func mergeHeaders(have any, add []map[string]any) []any {
	taken := map[string]bool{}
	for _, h := range add {
		taken[strings.ToLower(h["name"].(string))] = true
	}
	var out []any
	list, _ := have.([]any)
	for _, h := range list {
		m, _ := h.(map[string]any)
		if n, _ := m["name"].(string); !taken[strings.ToLower(n)] {
			out = append(out, m)
		}
	}
	for _, h := range add {
		out = append(out, h)
	}
	return out
}

// missingPaths lists the fields of want that got lacks.
func missingPaths(want, got any, at string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{at}
		}
		var out []string
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, at+"."+k)
				continue
			}
			out = append(out, missingPaths(v, gv, at+"."+k)...)
		}
		sort.Strings(out)
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{at}
		}
		var out []string
		for i := range w {
			out = append(out, missingPaths(w[i], g[i], at+"[]")...)
		}
		return out
	default:
		return nil
	}
}

func copyMap(m map[string]any) (map[string]any, error) {
	v, err := trafficrouting.UnstructuredValue(m)
	if err != nil {
		return nil, err
	}
	out, _ := v.(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

func jsonPatchBytes(p trafficrouting.JSONPatch) ([]byte, error) { return json.Marshal(p) }
