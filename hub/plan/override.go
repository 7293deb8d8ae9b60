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
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// OverrideError says why an override cannot be applied to the template.
type OverrideError struct {
	// Field is the override's field at fault: "spec.overrides[2].images[0]".
	Field string
	// Message says what is wrong.
	Message string
}

func (e *OverrideError) Error() string { return e.Field + ": " + e.Message }

func overrideErrorf(field, format string, args ...any) *OverrideError {
	return &OverrideError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ApplyOverrides returns a copy of tmpl with the overrides applied in order (a later one
// wins), each as replicas, then images, then env, then patches (types: ClusterOverride). tmpl
// is not changed. indices are the overrides' positions in spec.overrides, for the error
// messages; nil means 0, 1, 2...
//
// It refuses, with an *OverrideError naming the field: an image or env override for a
// container the pod template does not have (or for a Rollout that uses workloadRef and has
// no pod template), a patch at a path outside RolloutPatch's allow-list, a patch below an
// object the template does not have (canary fields on a blue-green Rollout), and a patch
// value that does not fit the Rollout's schema.
func ApplyOverrides(tmpl *fleetv1alpha1.RolloutTemplate, overrides []fleetv1alpha1.ClusterOverride, indices []int) (*fleetv1alpha1.RolloutTemplate, error) {
	out := tmpl.DeepCopy()
	for i := range overrides {
		idx := i
		if indices != nil {
			idx = indices[i]
		}
		next, err := applyOverride(out, &overrides[i], fieldIndex("spec.overrides", idx))
		if err != nil {
			return nil, err
		}
		out = next
	}
	return out, nil
}

// Render is the Rollout template of one placed cluster: the template with the overrides that
// the plan says apply to it.
func (p *Plan) Render(spec *fleetv1alpha1.FleetRolloutSpec, cluster string) (*fleetv1alpha1.RolloutTemplate, error) {
	cp := p.Cluster(cluster)
	if cp == nil {
		return nil, fmt.Errorf("cluster %q is not placed", cluster)
	}
	ovs := make([]fleetv1alpha1.ClusterOverride, len(cp.Overrides))
	for i, k := range cp.Overrides {
		ovs[i] = spec.Overrides[k]
	}
	return ApplyOverrides(&spec.Template, ovs, cp.Overrides)
}

// applyOverride applies one override to t, which it may change, and returns the result.
func applyOverride(t *fleetv1alpha1.RolloutTemplate, o *fleetv1alpha1.ClusterOverride, field string) (*fleetv1alpha1.RolloutTemplate, error) {
	if o.Replicas != nil {
		if *o.Replicas < 0 {
			return nil, overrideErrorf(field+".replicas", "must not be negative, got %d", *o.Replicas)
		}
		r := *o.Replicas
		t.Spec.Replicas = &r
	}
	for i := range o.Images {
		im := &o.Images[i]
		f := fieldIndex(field+".images", i)
		if strings.TrimSpace(im.Image) == "" {
			return nil, overrideErrorf(f+".image", "must not be empty")
		}
		c, err := container(t, im.Container, f)
		if err != nil {
			return nil, err
		}
		c.Image = im.Image
	}
	for i := range o.Env {
		e := &o.Env[i]
		f := fieldIndex(field+".env", i)
		c, err := container(t, e.Container, f)
		if err != nil {
			return nil, err
		}
		c.Env = mergeEnv(c.Env, e.Env)
	}
	for i := range o.Patches {
		next, err := applyPatch(t, &o.Patches[i], fieldIndex(field+".patches", i))
		if err != nil {
			return nil, err
		}
		t = next
	}
	return t, nil
}

// container finds a container or init container of the pod template by name.
func container(t *fleetv1alpha1.RolloutTemplate, name, field string) (*corev1.Container, error) {
	pt := t.Spec.Template
	if pt == nil {
		return nil, overrideErrorf(field+".container",
			"the Rollout takes its pod template from workloadRef, so there is no container %q to override", name)
	}
	for i := range pt.Spec.Containers {
		if pt.Spec.Containers[i].Name == name {
			return &pt.Spec.Containers[i], nil
		}
	}
	for i := range pt.Spec.InitContainers {
		if pt.Spec.InitContainers[i].Name == name {
			return &pt.Spec.InitContainers[i], nil
		}
	}
	return nil, overrideErrorf(field+".container", "the pod template has no container or init container %q (it has %s)",
		name, containerNames(&pt.Spec))
}

func containerNames(ps *corev1.PodSpec) string {
	var names []string
	for i := range ps.InitContainers {
		names = append(names, fmt.Sprintf("%q (init)", ps.InitContainers[i].Name))
	}
	for i := range ps.Containers {
		names = append(names, fmt.Sprintf("%q", ps.Containers[i].Name))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// mergeEnv sets vars in env by name: a variable that exists is replaced where it stands, a new
// one is appended, in the order given. The result shares nothing with vars.
func mergeEnv(env, vars []corev1.EnvVar) []corev1.EnvVar {
	for i := range vars {
		v := *vars[i].DeepCopy()
		replaced := false
		for j := range env {
			if env[j].Name == v.Name {
				env[j], replaced = v, true
				break
			}
		}
		if !replaced {
			env = append(env, v)
		}
	}
	return env
}

// planOverrides records which overrides apply to each placed cluster, and checks each
// override against the template once: overrides never add or remove containers, so an
// override that applies to the template alone applies after any other.
func planOverrides(spec *fleetv1alpha1.FleetRolloutSpec, ix *index, p *Plan, ps *problems) {
	for k := range spec.Overrides {
		o := &spec.Overrides[k]
		field := fieldIndex("spec.overrides", k)
		m := newMatcher(o.ClusterSelector, o.ClusterNames, field, ps)
		if unknown := ix.unknownNames(&m); len(unknown) > 0 {
			ps.warnf(CodeUnmatchedOverride, field+".clusterNames",
				"names %s, for which there is no MemberCluster", nameList(unknown))
		}
		matched := 0
		for i := range p.Clusters {
			if c := ix.byName[p.Clusters[i].Name]; c != nil && m.matches(c) {
				p.Clusters[i].Overrides = append(p.Clusters[i].Overrides, k)
				matched++
			}
		}
		if matched == 0 {
			ps.warnf(CodeUnmatchedOverride, field, "matches no placed cluster, so it changes nothing")
		}
		if _, err := applyOverride(spec.Template.DeepCopy(), o, field); err != nil {
			var oe *OverrideError
			msg := err.Error()
			f := field
			if errors.As(err, &oe) {
				f, msg = oe.Field, oe.Message
			}
			ps.errorf(CodeInvalidOverride, f, "%s", msg)
		}
	}
}
