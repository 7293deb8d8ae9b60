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

package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// PatchPaths are the paths a RolloutPatch may use, besides
// spec.template.spec.containers[NAME].resources: the allow-list of RolloutPatch's comment and
// of its CEL rule (fleetrollout_types.go).
var PatchPaths = []string{
	"metadata.labels", "metadata.annotations",
	"spec.minReadySeconds",
	"spec.template.metadata.labels", "spec.template.metadata.annotations",
	"spec.template.spec.nodeSelector", "spec.template.spec.affinity", "spec.template.spec.tolerations",
	"spec.template.spec.topologySpreadConstraints", "spec.template.spec.priorityClassName",
	"spec.strategy.canary.steps", "spec.strategy.canary.maxSurge", "spec.strategy.canary.maxUnavailable",
	"spec.strategy.canary.analysis",
	"spec.strategy.blueGreen.autoPromotionEnabled", "spec.strategy.blueGreen.autoPromotionSeconds",
	"spec.strategy.blueGreen.scaleDownDelaySeconds",
}

var (
	allowedPaths = func() map[string]bool {
		m := make(map[string]bool, len(PatchPaths))
		for _, p := range PatchPaths {
			m[p] = true
		}
		return m
	}()
	containerResourcesPath = regexp.MustCompile(`^spec[.]template[.]spec[.]containers\[([a-z0-9]([-a-z0-9]*[a-z0-9])?)\][.]resources$`)
)

// mustExist are objects a patch may not create: creating spec.template next to workloadRef,
// or canary settings on a blue-green Rollout (or the reverse), would give the member a Rollout
// that is invalid, or another kind of release than the template's.
var mustExist = map[string]string{
	"spec.template":           "the Rollout takes its pod template from workloadRef",
	"spec.strategy.canary":    "the Rollout's strategy is not canary",
	"spec.strategy.blueGreen": "the Rollout's strategy is not blueGreen",
}

// reservedPrefix is the prefix of the hub's own label and annotation keys, which a patch of
// metadata.labels or metadata.annotations may not set (they are ignored, as the API says).
const reservedPrefix = "fleet.flotilla.dev/"

// CheckPatchPath returns nil when path is in RolloutPatch's allow-list.
func CheckPatchPath(path string) error {
	if allowedPaths[path] || containerResourcesPath.MatchString(path) {
		return nil
	}
	return fmt.Errorf("path %q is not allowed in a patch: use metadata.labels|annotations, spec.minReadySeconds, "+
		"spec.template.metadata.labels|annotations, spec.template.spec.nodeSelector|affinity|tolerations|"+
		"topologySpreadConstraints|priorityClassName, spec.template.spec.containers[NAME].resources, "+
		"spec.strategy.canary.steps|maxSurge|maxUnavailable|analysis or "+
		"spec.strategy.blueGreen.autoPromotionEnabled|autoPromotionSeconds|scaleDownDelaySeconds; "+
		"replicas, images and env have their own override fields", path)
}

// applyPatch merges p.Value at p.Path of t (RFC 7386: objects merge and null removes a key,
// lists and scalars replace) and returns the result, read back strictly into the template's
// types so that a value of the wrong shape or with an unknown field is refused.
func applyPatch(t *fleetv1alpha1.RolloutTemplate, p *fleetv1alpha1.RolloutPatch, field string) (*fleetv1alpha1.RolloutTemplate, error) {
	if err := CheckPatchPath(p.Path); err != nil {
		return nil, overrideErrorf(field+".path", "%v", err)
	}
	value, err := patchValue(p)
	if err != nil {
		return nil, overrideErrorf(field+".value", "%v", err)
	}
	doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(t)
	if err != nil {
		return nil, fmt.Errorf("%s: the template cannot be converted: %w", field, err)
	}

	parent, key, err := locate(doc, p.Path)
	if err != nil {
		return nil, overrideErrorf(field+".path", "path %q does not apply to the template: %v", p.Path, err)
	}
	if strings.HasPrefix(p.Path, "metadata.") {
		value = dropReserved(value)
	}
	if value == nil {
		delete(parent, key)
	} else {
		parent[key] = mergePatch(parent[key], value)
	}

	out, err := readBack(doc)
	if err != nil {
		return nil, overrideErrorf(field+".value", "the value does not fit %s: %v", p.Path, err)
	}
	return out, nil
}

// readBack converts the patched document into a template, strictly: unknown fields, fields in
// the wrong case and values of the wrong type are errors. The unstructured converter decides
// (it matches field names exactly, as the API server does); encoding/json only explains a
// type error better ("cannot unmarshal string into Go struct field ... of type int32").
func readBack(doc map[string]any) (*fleetv1alpha1.RolloutTemplate, error) {
	out := &fleetv1alpha1.RolloutTemplate{}
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(doc, out, true)
	if err == nil {
		return out, nil
	}
	if b, merr := json.Marshal(doc); merr == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var typeErr *json.UnmarshalTypeError
		if derr := dec.Decode(&fleetv1alpha1.RolloutTemplate{}); errors.As(derr, &typeErr) {
			return nil, fmt.Errorf("%s is %s, not %s", typeErr.Field, typeErr.Value, typeErr.Type)
		}
	}
	return nil, err
}

// patchValue decodes the patch's value into plain JSON values (maps, slices, strings,
// int64, float64, bool, nil).
func patchValue(p *fleetv1alpha1.RolloutPatch) (any, error) {
	raw := p.Value.Raw
	if len(raw) == 0 && p.Value.Object != nil {
		b, err := utiljson.Marshal(p.Value.Object)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("a value is required (null removes the field)")
	}
	var v any
	if err := utiljson.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return v, nil
}

// locate walks doc to the object holding the last segment of path and returns it with that
// segment. It creates the objects on the way that may be created, and fails on those in
// mustExist and on a container that does not exist.
func locate(doc map[string]any, path string) (map[string]any, string, error) {
	if m := containerResourcesPath.FindStringSubmatch(path); m != nil {
		spec, _, err := locate(doc, "spec.template.spec.containers")
		if err != nil {
			return nil, "", err
		}
		list, _ := spec["containers"].([]any)
		var names []string
		for _, item := range list {
			c, ok := item.(map[string]any)
			if !ok {
				continue
			}
			if c["name"] == m[1] {
				return c, "resources", nil
			}
			if n, ok := c["name"].(string); ok {
				names = append(names, fmt.Sprintf("%q", n))
			}
		}
		return nil, "", fmt.Errorf("the pod template has no container %q (it has %s)", m[1], strings.Join(names, ", "))
	}
	segs := strings.Split(path, ".")
	cur := doc
	for i, s := range segs[:len(segs)-1] {
		prefix := strings.Join(segs[:i+1], ".")
		next, ok := cur[s].(map[string]any)
		if !ok || next == nil {
			if why, required := mustExist[prefix]; required {
				return nil, "", fmt.Errorf("%s is not set: %s", prefix, why)
			}
			if cur[s] != nil {
				return nil, "", fmt.Errorf("%s is not an object", prefix)
			}
			next = map[string]any{}
			cur[s] = next
		}
		cur = next
	}
	return cur, segs[len(segs)-1], nil
}

// mergePatch is RFC 7386's MergePatch(target, patch): it may change target and returns the
// merged value.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok || t == nil {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// dropReserved removes the keys under fleet.flotilla.dev/ from a labels or annotations value.
func dropReserved(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k := range m {
		if strings.HasPrefix(k, reservedPrefix) {
			delete(m, k)
		}
	}
	return m
}
