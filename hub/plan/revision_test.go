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
	"fmt"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

func revisionSpec(t *testing.T) *fleetv1alpha1.FleetRolloutSpec {
	s := spec(prod, wave("canary", nil, "us-east-1"), wave("rest", nil))
	s.Template = template(t, canaryTemplate)
	s.Companions = []runtime.RawExtension{raw(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"shop-stable"},"spec":{"ports":[{"port":80}]}}`)}
	s.Overrides = []fleetv1alpha1.ClusterOverride{{ClusterSelector: sel("continent=europe"), Replicas: new(int32(6)),
		Patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `{"pool": "web", "disk": "ssd"}`)}}}
	return s
}

func TestRevisionHash(t *testing.T) {
	base := revisionSpec(t)
	h0, err := RevisionHash(base, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h0) {
		t.Fatalf("hash %q is not 32 hex characters", h0)
	}
	cases := []struct {
		name    string
		mod     func(s *fleetv1alpha1.FleetRolloutSpec)
		ns      string
		changed bool
	}{
		{name: "nothing changed", mod: func(*fleetv1alpha1.FleetRolloutSpec) {}},
		{name: "a new image is a new revision", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) { s.Template.Spec.Template.Spec.Containers[0].Image = "shop:2" }},
		{name: "a template label is a new revision", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) { s.Template.Metadata.Labels["tier"] = "gold" }},
		{name: "a changed companion is a new revision", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Companions[0] = raw(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"shop-stable"},"spec":{"ports":[{"port":8080}]}}`)
			}},
		{name: "companions in another order are a new revision (they apply in order)", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Companions = append([]runtime.RawExtension{raw(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)}, s.Companions...)
			}},
		{name: "the same companion with other key order and spacing is not", mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
			s.Companions[0] = raw(`{ "kind": "Service", "spec": {"ports": [ {"port": 80} ]}, "metadata": {"name": "shop-stable"}, "apiVersion": "v1" }`)
		}},
		{name: "a changed override is a new revision", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) { *s.Overrides[0].Replicas = 7 }},
		{name: "a patch value with other key order is not", mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
			s.Overrides[0].Patches[0] = patch("spec.template.spec.nodeSelector", `{"disk":"ssd","pool":"web"}`)
		}},
		{name: "an override that matches no cluster today still counts", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Overrides = append(s.Overrides, fleetv1alpha1.ClusterOverride{ClusterNames: names("mars-1"), Replicas: new(int32(1))})
			}},
		{name: "another target namespace is a new revision", changed: true,
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) { s.TargetNamespace = "shop-v2" }},
		{name: "making the default target namespace explicit is not",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) { s.TargetNamespace = "shop" }},
		{name: "the same spec in another FleetRollout namespace is a new revision", ns: "other", changed: true,
			mod: func(*fleetv1alpha1.FleetRolloutSpec) {}},
		{name: "placement, waves, gates and policies are not", mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
			s.Placement = fleetv1alpha1.Placement{ClusterNames: names("eu-west-1")}
			s.Waves = append(s.Waves, wave("late", nil))
			s.Waves[0].MaxConcurrency = ios("50%")
			s.Gates = []fleetv1alpha1.Gate{{Name: "g", Aggregate: &fleetv1alpha1.AggregateGate{RequireAllHealthy: true}}}
			s.FailurePolicy.Action = fleetv1alpha1.FailureRollbackAll
			s.Paused = true
			s.AbortRevision = new(int64(3))
			s.RevisionHistoryLimit = new(int32(3))
			s.ProgressDeadlineSeconds = new(int32(600))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := revisionSpec(t)
			tc.mod(s)
			ns := tc.ns
			if ns == "" {
				ns = "shop"
			}
			h, err := RevisionHash(s, ns)
			if err != nil {
				t.Fatal(err)
			}
			if (h != h0) != tc.changed {
				t.Errorf("hash changed %v, want %v", h != h0, tc.changed)
			}
		})
	}
}

func TestClusterHash(t *testing.T) {
	s := revisionSpec(t)
	p, _ := Compute(Input{Spec: s, Clusters: fleet()})
	hash := func(cluster string) string {
		r, err := p.Render(s, cluster)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ClusterHash(r, s.Companions, "shop")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if hash("us-east-1") != hash("ap-south-1") {
		t.Errorf("two clusters without overrides hash differently")
	}
	if hash("eu-west-1") == hash("us-east-1") || hash("eu-west-1") != hash("eu-central-1") {
		t.Errorf("the override does not show in the cluster hash")
	}
}

// BenchmarkPlan1000Clusters plans a FleetRollout over 1,000 MemberClusters in 5 waves: a
// canary of two named clusters, three waves by region selector, and a catch-all, with two
// overrides (one with a patch) and a fleet outlier gate.
func BenchmarkPlan1000Clusters(b *testing.B) {
	regions := []string{"us-east", "us-west", "eu-west", "eu-central", "ap-south"}
	clusters := make([]Cluster, 1000)
	for i := range clusters {
		clusters[i] = mc(fmt.Sprintf("%s-%03d", regions[i%5], i), "env=prod", "region="+regions[i%5], fmt.Sprintf("rack=r%d", i%7))
		clusters[i].Maintenance = i%97 == 0
	}
	s := spec(prod,
		wave("canary", nil, "us-east-000", "eu-west-002"),
		wave("us", selIn("region", "us-east", "us-west")),
		wave("eu", selIn("region", "eu-west", "eu-central")),
		wave("rack0", sel("rack=r0")),
		wave("rest", nil))
	s.Template = template(b, canaryTemplate)
	s.Overrides = []fleetv1alpha1.ClusterOverride{
		{ClusterSelector: sel("region=eu-west"), Replicas: new(int32(6))},
		{ClusterSelector: sel("rack=r3"), Patches: []fleetv1alpha1.RolloutPatch{patch("spec.template.spec.nodeSelector", `{"pool":"web"}`)}},
	}
	s.Gates = []fleetv1alpha1.Gate{{Name: "latency", Outlier: &fleetv1alpha1.OutlierGate{Scope: fleetv1alpha1.OutlierScopeFleet}}}
	b.ReportAllocs()
	for b.Loop() {
		p, ps := Compute(Input{Spec: s, Clusters: clusters})
		if ps.HasErrors() || len(p.Placed) != 1000 || len(p.Waves) != 5 {
			b.Fatalf("plan %s: %s", p, ps.Message())
		}
	}
}
