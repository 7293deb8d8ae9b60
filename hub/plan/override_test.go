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
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

func env(kv ...string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(kv))
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

func patch(path, value string) fleetv1alpha1.RolloutPatch {
	return fleetv1alpha1.RolloutPatch{Path: path, Value: raw(value)}
}

func TestApplyOverrides(t *testing.T) {
	cases := []struct {
		name      string
		base      string
		overrides []fleetv1alpha1.ClusterOverride
		check     func(t *testing.T, got *fleetv1alpha1.RolloutTemplate)
		wantErr   string // substring of the error; the field comes first
	}{
		{name: "replicas", overrides: []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(6))}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if *got.Spec.Replicas != 6 {
					t.Errorf("replicas %d", *got.Spec.Replicas)
				}
			}},
		{name: "replicas zero is allowed", overrides: []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(0))}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if *got.Spec.Replicas != 0 {
					t.Errorf("replicas %d", *got.Spec.Replicas)
				}
			}},
		{name: "negative replicas", overrides: []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(-1))}},
			wantErr: "spec.overrides[0].replicas: must not be negative"},
		{name: "a later override wins", overrides: []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(6))}, {Replicas: new(int32(8))}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if *got.Spec.Replicas != 8 {
					t.Errorf("replicas %d, want the later 8", *got.Spec.Replicas)
				}
			}},
		{name: "images of a container and an init container", overrides: []fleetv1alpha1.ClusterOverride{{Images: []fleetv1alpha1.ImageOverride{
			{Container: "proxy", Image: "registry.example.com/proxy:2.1"}, {Container: "migrate", Image: "registry.example.com/shop-migrate:1.1"}}}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				ps := got.Spec.Template.Spec
				if ps.Containers[1].Image != "registry.example.com/proxy:2.1" || ps.InitContainers[0].Image != "registry.example.com/shop-migrate:1.1" ||
					ps.Containers[0].Image != "registry.example.com/shop:1.0" {
					t.Errorf("images %s %s %s", ps.InitContainers[0].Image, ps.Containers[0].Image, ps.Containers[1].Image)
				}
			}},
		{name: "an image for an unknown container",
			overrides: []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(1))}, {Images: []fleetv1alpha1.ImageOverride{{Container: "web", Image: "x"}}}},
			wantErr:   `spec.overrides[1].images[0].container: the pod template has no container or init container "web"`},
		{name: "an empty image", overrides: []fleetv1alpha1.ClusterOverride{{Images: []fleetv1alpha1.ImageOverride{{Container: "shop", Image: " "}}}},
			wantErr: "spec.overrides[0].images[0].image: must not be empty"},
		{name: "an image for a workloadRef Rollout", base: workloadRefTemplate,
			overrides: []fleetv1alpha1.ClusterOverride{{Images: []fleetv1alpha1.ImageOverride{{Container: "shop", Image: "x"}}}},
			wantErr:   "takes its pod template from workloadRef"},
		{name: "env replaces a variable where it stands and appends new ones in order",
			overrides: []fleetv1alpha1.ClusterOverride{{Env: []fleetv1alpha1.EnvOverride{
				{Container: "shop", Env: env("REGION=eu-west", "CURRENCY=EUR", "LOCALE=fr")}}}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				want := env("LOG_LEVEL=info", "REGION=eu-west", "CURRENCY=EUR", "LOCALE=fr")
				if !reflect.DeepEqual(got.Spec.Template.Spec.Containers[0].Env, want) {
					t.Errorf("env %v, want %v", got.Spec.Template.Spec.Containers[0].Env, want)
				}
			}},
		{name: "env of a container that has none, across two overrides",
			overrides: []fleetv1alpha1.ClusterOverride{
				{Env: []fleetv1alpha1.EnvOverride{{Container: "proxy", Env: env("A=1")}}},
				{Env: []fleetv1alpha1.EnvOverride{{Container: "proxy", Env: env("A=2", "B=3")}}}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if want := env("A=2", "B=3"); !reflect.DeepEqual(got.Spec.Template.Spec.Containers[1].Env, want) {
					t.Errorf("env %v, want %v", got.Spec.Template.Spec.Containers[1].Env, want)
				}
			}},
		{name: "env for an unknown container",
			overrides: []fleetv1alpha1.ClusterOverride{{Env: []fleetv1alpha1.EnvOverride{{Container: "web", Env: env("A=1")}}}},
			wantErr:   "spec.overrides[0].env[0].container"},
		{name: "within an override: replicas, images, env, then patches",
			overrides: []fleetv1alpha1.ClusterOverride{{
				Replicas: new(int32(3)),
				Images:   []fleetv1alpha1.ImageOverride{{Container: "shop", Image: "shop:2"}},
				Patches: []fleetv1alpha1.RolloutPatch{
					patch("spec.template.spec.containers[shop].resources", `{"limits":{"cpu":"1"}}`)},
			}},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				c := got.Spec.Template.Spec.Containers[0]
				if *got.Spec.Replicas != 3 || c.Image != "shop:2" || c.Resources.Limits.Cpu().String() != "1" ||
					c.Resources.Requests.Cpu().String() != "100m" {
					t.Errorf("got replicas %d image %s resources %v", *got.Spec.Replicas, c.Image, c.Resources)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runOverride(t, tc.base, tc.overrides, tc.check, tc.wantErr)
		})
	}
}

// runOverride applies overrides to a template (canaryTemplate by default) and checks the
// result, or the error; either way the template must not have changed.
func runOverride(t *testing.T, base string, overrides []fleetv1alpha1.ClusterOverride,
	check func(*testing.T, *fleetv1alpha1.RolloutTemplate), wantErr string) {
	t.Helper()
	if base == "" {
		base = canaryTemplate
	}
	tmpl := template(t, base)
	pristine := tmpl.DeepCopy()
	got, err := ApplyOverrides(&tmpl, overrides, nil)
	if !reflect.DeepEqual(&tmpl, pristine) {
		t.Fatalf("ApplyOverrides changed the template")
	}
	if wantErr != "" {
		var oe *OverrideError
		if err == nil || !strings.Contains(err.Error(), wantErr) || !errors.As(err, &oe) {
			t.Fatalf("error %v, want an *OverrideError containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	check(t, got)
}

func TestApplyOverridesDoesNotAlias(t *testing.T) {
	tmpl := template(t, canaryTemplate)
	ov := []fleetv1alpha1.ClusterOverride{{Replicas: new(int32(6)), Env: []fleetv1alpha1.EnvOverride{{Container: "shop", Env: env("A=1")}}}}
	got, err := ApplyOverrides(&tmpl, ov, nil)
	if err != nil {
		t.Fatal(err)
	}
	*ov[0].Replicas = 9
	ov[0].Env[0].Env[0].Value = "changed"
	if *got.Spec.Replicas != 6 || got.Spec.Template.Spec.Containers[0].Env[2].Value != "1" {
		t.Fatalf("the result shares memory with the override")
	}
}

func TestApplyPatches(t *testing.T) {
	q := resource.MustParse
	cases := []struct {
		name    string
		base    string
		patches []fleetv1alpha1.RolloutPatch
		check   func(t *testing.T, got *fleetv1alpha1.RolloutTemplate)
		wantErr string
	}{
		{name: "metadata.labels merge and ignore the hub's keys",
			patches: []fleetv1alpha1.RolloutPatch{patch("metadata.labels", `{"tier":"gold","fleet.flotilla.dev/revision":"9"}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				want := map[string]string{"app.kubernetes.io/name": "shop", "tier": "gold"}
				if !reflect.DeepEqual(got.Metadata.Labels, want) {
					t.Errorf("labels %v, want %v", got.Metadata.Labels, want)
				}
			}},
		{name: "metadata.annotations on a template without any",
			patches: []fleetv1alpha1.RolloutPatch{patch("metadata.annotations", `{"team":"shop"}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if got.Metadata.Annotations["team"] != "shop" {
					t.Errorf("annotations %v", got.Metadata.Annotations)
				}
			}},
		{name: "null removes a key",
			patches: []fleetv1alpha1.RolloutPatch{patch("metadata.labels", `{"app.kubernetes.io/name":null}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if len(got.Metadata.Labels) != 0 {
					t.Errorf("labels %v", got.Metadata.Labels)
				}
			}},
		{name: "null as the whole value removes the field",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `null`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if got.Spec.Template.Spec.NodeSelector != nil {
					t.Errorf("nodeSelector %v", got.Spec.Template.Spec.NodeSelector)
				}
			}},
		{name: "spec.minReadySeconds",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.minReadySeconds", `30`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				if got.Spec.MinReadySeconds != 30 {
					t.Errorf("minReadySeconds %d", got.Spec.MinReadySeconds)
				}
			}},
		{name: "pod template labels and annotations",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.metadata.labels", `{"zone":"a"}`),
				patch("spec.template.metadata.annotations", `{"prometheus.io/scrape":"true"}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				m := got.Spec.Template.ObjectMeta
				if m.Labels["app"] != "shop" || m.Labels["zone"] != "a" || m.Annotations["prometheus.io/scrape"] != "true" {
					t.Errorf("pod metadata %v %v", m.Labels, m.Annotations)
				}
			}},
		{name: "nodeSelector merges",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `{"disk":"ssd"}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				want := map[string]string{"kubernetes.io/os": "linux", "disk": "ssd"}
				if !reflect.DeepEqual(got.Spec.Template.Spec.NodeSelector, want) {
					t.Errorf("nodeSelector %v", got.Spec.Template.Spec.NodeSelector)
				}
			}},
		{name: "affinity, tolerations, topologySpreadConstraints, priorityClassName",
			patches: []fleetv1alpha1.RolloutPatch{
				patch("spec.template.spec.affinity", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"pool","operator":"In","values":["web"]}]}]}}}`),
				patch("spec.template.spec.tolerations", `[{"key":"dedicated","operator":"Equal","value":"web","effect":"NoSchedule"}]`),
				patch("spec.template.spec.topologySpreadConstraints", `[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule"}]`),
				patch("spec.template.spec.priorityClassName", `"high"`),
			},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				ps := got.Spec.Template.Spec
				if ps.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "web" ||
					len(ps.Tolerations) != 1 || ps.Tolerations[0].Effect != corev1.TaintEffectNoSchedule ||
					len(ps.TopologySpreadConstraints) != 1 || ps.TopologySpreadConstraints[0].MaxSkew != 1 ||
					ps.PriorityClassName != "high" {
					t.Errorf("pod spec %+v", ps)
				}
			}},
		{name: "a container's resources merge",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers[shop].resources", `{"requests":{"cpu":"500m"},"limits":{"memory":"1Gi"}}`)},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				r := got.Spec.Template.Spec.Containers[0].Resources
				if !r.Requests.Cpu().Equal(q("500m")) || !r.Requests.Memory().Equal(q("128Mi")) || !r.Limits.Memory().Equal(q("1Gi")) {
					t.Errorf("resources %v", r)
				}
				if len(got.Spec.Template.Spec.Containers[1].Resources.Requests) != 0 {
					t.Errorf("the other container changed")
				}
			}},
		{name: "canary steps replace the list; maxSurge, maxUnavailable and analysis",
			patches: []fleetv1alpha1.RolloutPatch{
				patch("spec.strategy.canary.steps", `[{"setWeight":10},{"pause":{}},{"setWeight":50}]`),
				patch("spec.strategy.canary.maxSurge", `"25%"`),
				patch("spec.strategy.canary.maxUnavailable", `0`),
				patch("spec.strategy.canary.analysis", `{"templates":[{"templateName":"latency"}],"startingStep":1}`),
			},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				c := got.Spec.Strategy.Canary
				if len(c.Steps) != 3 || *c.Steps[0].SetWeight != 10 || c.Steps[1].Pause == nil ||
					*c.MaxSurge != intstr.FromString("25%") || *c.MaxUnavailable != intstr.FromInt32(0) ||
					c.Analysis.Templates[0].TemplateName != "latency" || *c.Analysis.StartingStep != 1 ||
					c.StableService != "shop-stable" {
					t.Errorf("canary %+v", c)
				}
			}},
		{name: "blue-green settings", base: blueGreenTemplate,
			patches: []fleetv1alpha1.RolloutPatch{
				patch("spec.strategy.blueGreen.autoPromotionEnabled", `false`),
				patch("spec.strategy.blueGreen.autoPromotionSeconds", `60`),
				patch("spec.strategy.blueGreen.scaleDownDelaySeconds", `120`),
			},
			check: func(t *testing.T, got *fleetv1alpha1.RolloutTemplate) {
				bg := got.Spec.Strategy.BlueGreen
				if *bg.AutoPromotionEnabled || bg.AutoPromotionSeconds != 60 || *bg.ScaleDownDelaySeconds != 120 ||
					bg.ActiveService != "shop-active" || got.Spec.Strategy.Canary != nil {
					t.Errorf("blueGreen %+v", bg)
				}
			}},

		{name: "the selector may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("spec.selector", `{}`)},
			wantErr: `spec.overrides[0].patches[0].path: path "spec.selector" is not allowed`},
		{name: "replicas have their own field", patches: []fleetv1alpha1.RolloutPatch{patch("spec.replicas", `3`)},
			wantErr: "replicas, images and env have their own override fields"},
		{name: "the containers list may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers", `[]`)},
			wantErr: "is not allowed"},
		{name: "a container's image may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers[shop].image", `"x"`)},
			wantErr: "is not allowed"},
		{name: "traffic routing may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("spec.strategy.canary.trafficRouting", `{}`)},
			wantErr: "is not allowed"},
		{name: "the name may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("metadata.name", `"x"`)},
			wantErr: "is not allowed"},
		{name: "workloadRef may not be patched", patches: []fleetv1alpha1.RolloutPatch{patch("spec.workloadRef", `{}`)},
			wantErr: "is not allowed"},
		{name: "a prefix trick is not a path", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector.x", `"y"`)},
			wantErr: "is not allowed"},
		{name: "a container name must be a DNS label", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers[Shop].resources", `{}`)},
			wantErr: "is not allowed"},
		{name: "resources of an unknown container", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers[web].resources", `{}`)},
			wantErr: `path "spec.template.spec.containers[web].resources" does not apply to the template: the pod template has no container "web" (it has "shop", "proxy")`},
		{name: "init containers are not containers[NAME]", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.containers[migrate].resources", `{}`)},
			wantErr: `no container "migrate"`},
		{name: "canary settings on a blue-green Rollout", base: blueGreenTemplate,
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.strategy.canary.steps", `[]`)},
			wantErr: "spec.strategy.canary is not set: the Rollout's strategy is not canary"},
		{name: "blue-green settings on a canary Rollout",
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.strategy.blueGreen.autoPromotionEnabled", `true`)},
			wantErr: "the Rollout's strategy is not blueGreen"},
		{name: "a pod template patch on a workloadRef Rollout", base: workloadRefTemplate,
			patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `{"a":"b"}`)},
			wantErr: "spec.template is not set: the Rollout takes its pod template from workloadRef"},
		{name: "a value of the wrong type", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `5`)},
			wantErr: "spec.overrides[0].patches[0].value: the value does not fit spec.template.spec.nodeSelector: spec.template.spec.nodeSelector is number, not map[string]string"},
		{name: "a wrong scalar type", patches: []fleetv1alpha1.RolloutPatch{patch("spec.minReadySeconds", `"thirty"`)},
			wantErr: "does not fit spec.minReadySeconds: spec.minReadySeconds is string, not int32"},
		{name: "an unknown field inside the value", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.affinity", `{"nodeAfinity":{}}`)},
			wantErr: "nodeAfinity"},
		{name: "a field name in the wrong case", patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.affinity", `{"NodeAffinity":{}}`)},
			wantErr: "NodeAffinity"},
		{name: "a missing value", patches: []fleetv1alpha1.RolloutPatch{{Path: "spec.minReadySeconds"}},
			wantErr: "spec.overrides[0].patches[0].value: a value is required"},
		{name: "a value that is not JSON", patches: []fleetv1alpha1.RolloutPatch{patch("spec.minReadySeconds", `{`)},
			wantErr: "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runOverride(t, tc.base, []fleetv1alpha1.ClusterOverride{{Patches: tc.patches}}, tc.check, tc.wantErr)
		})
	}
}

func TestCheckPatchPath(t *testing.T) {
	for _, p := range PatchPaths {
		if err := CheckPatchPath(p); err != nil {
			t.Errorf("allowed path %q refused: %v", p, err)
		}
	}
	for _, p := range []string{"spec.template.spec.containers[a].resources", "spec.template.spec.containers[a-1].resources"} {
		if err := CheckPatchPath(p); err != nil {
			t.Errorf("allowed path %q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "spec", "metadata", "spec.template", "spec.template.spec", "spec.strategy",
		"spec.template.spec.containers[].resources", "spec.template.spec.containers[a-].resources",
		"spec.template.spec.containers[a].resources.limits", "spec.template.spec.initContainers[a].resources",
		"spec.template.spec.serviceAccountName", "spec.template.spec.volumes", "spec.strategy.canary.stableService",
		"spec.strategy.blueGreen.activeService", "spec.rollbackWindow", "metadata.labels "} {
		if err := CheckPatchPath(p); err == nil {
			t.Errorf("path %q allowed", p)
		}
	}
}

func TestRender(t *testing.T) {
	s := spec(prod, wave("all", nil))
	s.Template = template(t, canaryTemplate)
	s.Overrides = []fleetv1alpha1.ClusterOverride{
		{ClusterSelector: sel("continent=europe"), Replicas: new(int32(6)),
			Env: []fleetv1alpha1.EnvOverride{{Container: "shop", Env: env("CURRENCY=EUR")}}},
		{ClusterNames: names("eu-west-1"), Replicas: new(int32(8)),
			Patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `{"pool":"web"}`)}},
	}
	p, ps := Compute(Input{Spec: s, Clusters: fleet()})
	if len(ps) > 0 {
		t.Fatal(ps.Message())
	}
	for _, tc := range []struct {
		cluster  string
		replicas int32
		currency bool
		pool     bool
	}{
		{"eu-west-1", 8, true, true}, {"eu-central-1", 6, true, false}, {"us-east-1", 4, false, false},
	} {
		got, err := p.Render(s, tc.cluster)
		if err != nil {
			t.Fatalf("%s: %v", tc.cluster, err)
		}
		c := got.Spec.Template.Spec.Containers[0]
		hasCurrency := len(c.Env) == 3 && c.Env[2].Value == "EUR"
		if *got.Spec.Replicas != tc.replicas || hasCurrency != tc.currency || (got.Spec.Template.Spec.NodeSelector["pool"] == "web") != tc.pool {
			t.Errorf("%s: replicas %d env %v nodeSelector %v", tc.cluster, *got.Spec.Replicas, c.Env, got.Spec.Template.Spec.NodeSelector)
		}
	}
	if _, err := p.Render(s, "dev-1"); err == nil {
		t.Errorf("rendered a cluster that is not placed")
	}
	// A failing override names its index in spec.overrides, not in the cluster's list.
	s.Overrides[1].Images = []fleetv1alpha1.ImageOverride{{Container: "web", Image: "x"}}
	if _, err := p.Render(s, "eu-west-1"); err == nil || !strings.HasPrefix(err.Error(), "spec.overrides[1].images[0]") {
		t.Errorf("error %v, want one naming spec.overrides[1]", err)
	}
}
