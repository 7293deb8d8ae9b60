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
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

func TestComputeGates(t *testing.T) {
	outlier := func(name string, scope fleetv1alpha1.OutlierScope, dev string, minClusters int32) fleetv1alpha1.Gate {
		return fleetv1alpha1.Gate{Name: name, Outlier: &fleetv1alpha1.OutlierGate{Scope: scope, MaxDeviation: dev, MinClusters: minClusters}}
	}
	cases := []struct {
		name     string
		mod      func(*fleetv1alpha1.FleetRolloutSpec)
		problems []string
		messages []string
	}{
		{name: "a fleet outlier gate of scope Wave cannot judge the one-cluster canary",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Gates = []fleetv1alpha1.Gate{outlier("latency", fleetv1alpha1.OutlierScopeWave, "3", 3)}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{`spec.gates[0].outlier.minClusters: gate "latency" compares the clusters of a wave and needs at least 3 measured clusters, but wave "canary" has 1, wave "america" has 2`}},
		{name: "scope Fleet compares with every placed cluster: fine",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Gates = []fleetv1alpha1.Gate{outlier("latency", fleetv1alpha1.OutlierScopeFleet, "3", 3)}
			}},
		{name: "scope Fleet with fewer placed clusters than minClusters",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Gates = []fleetv1alpha1.Gate{outlier("latency", fleetv1alpha1.OutlierScopeFleet, "3", 10)}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{"needs at least 10 measured clusters, but placement selects 6"}},
		{name: "a wave's own outlier gate is checked against that wave only",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Waves[2].Gates = []fleetv1alpha1.Gate{outlier("latency", "", "", 0)}
			}},
		{name: "a wave's outlier gate on a small wave",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Waves[1].Gates = []fleetv1alpha1.Gate{outlier("latency", "", "", 0)}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{`spec.waves[1].gates[0].outlier.minClusters`, `wave "america" has 2`}},
		{name: "maintenance shrinking a wave below minClusters is a warning",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Waves[1].Gates = []fleetv1alpha1.Gate{outlier("latency", "", "", 3)}
				s.Placement = fleetv1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}}
			},
			problems: []string{"Warning/InvalidGate"},
			messages: []string{`with clusters in maintenance or gone wave "america" has 2 taking part now`}},
		{name: "an unreadable maxDeviation",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Gates = []fleetv1alpha1.Gate{outlier("latency", fleetv1alpha1.OutlierScopeFleet, "1e3", 3)}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{`spec.gates[0].outlier.maxDeviation: gate "latency": maxDeviation "1e3"`}},
		{name: "an unreadable minDeviation",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				g := outlier("latency", fleetv1alpha1.OutlierScopeFleet, "", 3)
				g.Outlier.MinDeviation = "-0.5"
				s.Gates = []fleetv1alpha1.Gate{g}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{`spec.gates[0].outlier.minDeviation: gate "latency": minDeviation "-0.5"`}},
		{name: "an unreadable aggregate maxFailures",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Waves[0].Gates = []fleetv1alpha1.Gate{{Name: "healthy", Aggregate: &fleetv1alpha1.AggregateGate{MaxFailures: ios("150%")}}}
			},
			problems: []string{"Error/InvalidGate"},
			messages: []string{"spec.waves[0].gates[0].aggregate.maxFailures"}},
		{name: "aggregate and analysis gates have nothing to check here",
			mod: func(s *fleetv1alpha1.FleetRolloutSpec) {
				s.Gates = []fleetv1alpha1.Gate{
					{Name: "healthy", Aggregate: &fleetv1alpha1.AggregateGate{RequireAllHealthy: true, MaxFailures: ios("10%")}},
					{Name: "rate", Analysis: &fleetv1alpha1.AnalysisGate{Templates: []fleetv1alpha1.AnalysisTemplateRef{{TemplateName: "x"}}}},
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")), wave("rest", nil))
			tc.mod(s)
			clusters := fleet()
			clusters[6] = inMaintenance(clusters[6]) // dev-1
			_, ps := Compute(Input{Spec: s, Clusters: clusters})
			if got := problemCodes(ps); !reflect.DeepEqual(got, tc.problems) {
				t.Fatalf("problems %v, want %v:\n%s", got, tc.problems, ps.Message())
			}
			for _, m := range tc.messages {
				if !strings.Contains(ps.Message(), m) {
					t.Errorf("problems %q do not say %q", ps.Message(), m)
				}
			}
		})
	}
}

func TestComputeOverrides(t *testing.T) {
	cases := []struct {
		name     string
		override fleetv1alpha1.ClusterOverride
		problems []string
		messages []string
	}{
		{name: "an override that matches clusters", override: fleetv1alpha1.ClusterOverride{
			ClusterSelector: sel("continent=europe"), Replicas: new(int32(6))}},
		{name: "an override that matches no placed cluster is a warning", override: fleetv1alpha1.ClusterOverride{
			ClusterSelector: sel("continent=antarctica"), Replicas: new(int32(6))},
			problems: []string{"Warning/UnmatchedOverride"},
			messages: []string{"spec.overrides[0]: matches no placed cluster, so it changes nothing"}},
		{name: "an override that matches only a cluster outside placement", override: fleetv1alpha1.ClusterOverride{
			ClusterNames: names("dev-1"), Replicas: new(int32(1))},
			problems: []string{"Warning/UnmatchedOverride"}},
		{name: "an override that names an unknown cluster", override: fleetv1alpha1.ClusterOverride{
			ClusterNames: names("eu-west-1", "mars-1"), Replicas: new(int32(6))},
			problems: []string{"Warning/UnmatchedOverride"},
			messages: []string{`spec.overrides[0].clusterNames: names "mars-1", for which there is no MemberCluster`}},
		{name: "an override of an unknown container", override: fleetv1alpha1.ClusterOverride{
			ClusterNames: names("eu-west-1"),
			Images:       []fleetv1alpha1.ImageOverride{{Container: "web", Image: "x:1"}}},
			problems: []string{"Error/InvalidOverride"},
			messages: []string{`spec.overrides[0].images[0].container: the pod template has no container or init container "web" (it has "migrate" (init), "shop", "proxy")`}},
		{name: "a patch of a forbidden path", override: fleetv1alpha1.ClusterOverride{
			ClusterNames: names("eu-west-1"),
			Patches:      []fleetv1alpha1.RolloutPatch{{Path: "spec.selector", Value: raw(`{"matchLabels":{"app":"x"}}`)}}},
			problems: []string{"Error/InvalidOverride"},
			messages: []string{`spec.overrides[0].patches[0].path: path "spec.selector" is not allowed in a patch`}},
		{name: "a patch that does not fit the template", override: fleetv1alpha1.ClusterOverride{
			ClusterNames: names("eu-west-1"),
			Patches:      []fleetv1alpha1.RolloutPatch{{Path: "spec.strategy.blueGreen.autoPromotionSeconds", Value: raw(`30`)}}},
			problems: []string{"Error/InvalidOverride"},
			messages: []string{"spec.strategy.blueGreen is not set"}},
		{name: "an invalid override selector", override: fleetv1alpha1.ClusterOverride{
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}, Replicas: new(int32(1))},
			problems: []string{"Error/InvalidSelector", "Warning/UnmatchedOverride"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(prod, wave("all", nil))
			s.Template = template(t, canaryTemplate)
			s.Overrides = []fleetv1alpha1.ClusterOverride{tc.override}
			_, ps := Compute(Input{Spec: s, Clusters: fleet()})
			if got := problemCodes(ps); !reflect.DeepEqual(got, tc.problems) {
				t.Fatalf("problems %v, want %v:\n%s", got, tc.problems, ps.Message())
			}
			for _, m := range tc.messages {
				if !strings.Contains(ps.Message(), m) {
					t.Errorf("problems %q do not say %q", ps.Message(), m)
				}
			}
		})
	}
}
