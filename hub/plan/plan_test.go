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
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// fleet is the fleet most cases plan over: five prod clusters on three continents and a dev one.
func fleet() []Cluster {
	return []Cluster{
		mc("us-east-1", "env=prod", "continent=america", "region=us-east"),
		mc("us-west-1", "env=prod", "continent=america", "region=us-west"),
		mc("br-south-1", "env=prod", "continent=america", "region=br"),
		mc("eu-west-1", "env=prod", "continent=europe", "region=eu-west"),
		mc("eu-central-1", "env=prod", "continent=europe", "region=eu-central"),
		mc("ap-south-1", "env=prod", "continent=asia", "region=ap-south"),
		mc("dev-1", "env=dev", "continent=america"),
	}
}

func spec(placement fleetv1alpha1.Placement, waves ...fleetv1alpha1.Wave) *fleetv1alpha1.FleetRolloutSpec {
	return &fleetv1alpha1.FleetRolloutSpec{Placement: placement, Waves: waves}
}

var prod = fleetv1alpha1.Placement{ClusterSelector: sel("env=prod")}

func wave(name string, s *metav1.LabelSelector, ns ...string) fleetv1alpha1.Wave {
	w := fleetv1alpha1.Wave{Name: name, ClusterSelector: s}
	if len(ns) > 0 {
		w.ClusterNames = names(ns...)
	}
	return w
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name     string
		spec     *fleetv1alpha1.FleetRolloutSpec
		clusters []Cluster
		started  map[string][]string

		placed      []string
		waves       map[string][]string // every wave's Clusters
		maintenance map[string][]string
		departed    map[string][]string
		late        map[string][]string
		problems    []string // "Severity/Code", in order
		messages    []string // substrings of Problems.Message()
	}{
		{
			name: "the documented example: canary by name, a continent, then the rest",
			spec: spec(prod, wave("canary", nil, "us-east-1"), wave("americas", sel("continent=america")),
				wave("rest", nil)),
			placed: []string{"ap-south-1", "br-south-1", "eu-central-1", "eu-west-1", "us-east-1", "us-west-1"},
			waves: map[string][]string{"canary": {"us-east-1"}, "americas": {"br-south-1", "us-west-1"},
				"rest": {"ap-south-1", "eu-central-1", "eu-west-1"}},
		},
		{
			name: "placement is the union of selector and names",
			spec: spec(fleetv1alpha1.Placement{ClusterSelector: sel("continent=europe"), ClusterNames: names("dev-1")},
				wave("all", nil)),
			placed: []string{"dev-1", "eu-central-1", "eu-west-1"},
			waves:  map[string][]string{"all": {"dev-1", "eu-central-1", "eu-west-1"}},
		},
		{
			name:   "placement by names only",
			spec:   spec(fleetv1alpha1.Placement{ClusterNames: names("ap-south-1", "eu-west-1")}, wave("all", nil)),
			placed: []string{"ap-south-1", "eu-west-1"},
			waves:  map[string][]string{"all": {"ap-south-1", "eu-west-1"}},
		},
		{
			name:   "an empty selector places every cluster",
			spec:   spec(fleetv1alpha1.Placement{ClusterSelector: &metav1.LabelSelector{}}, wave("all", nil)),
			placed: []string{"ap-south-1", "br-south-1", "dev-1", "eu-central-1", "eu-west-1", "us-east-1", "us-west-1"},
		},
		{
			name: "a wave takes the union of its selector and names",
			spec: spec(prod, wave("first", sel("continent=asia"), "eu-west-1"), wave("rest", nil)),
			waves: map[string][]string{"first": {"ap-south-1", "eu-west-1"},
				"rest": {"br-south-1", "eu-central-1", "us-east-1", "us-west-1"}},
		},
		{
			name:     "placement names a cluster that does not exist",
			spec:     spec(fleetv1alpha1.Placement{ClusterNames: names("eu-west-1", "mars-1")}, wave("all", nil)),
			placed:   []string{"eu-west-1"},
			problems: []string{"Error/UnknownCluster"},
			messages: []string{`spec.placement.clusterNames: names "mars-1", for which there is no MemberCluster`},
		},
		{
			name:     "placement selects nothing: one problem, no noise about the waves",
			spec:     spec(fleetv1alpha1.Placement{ClusterSelector: sel("env=staging")}, wave("canary", nil, "dev-1"), wave("rest", nil)),
			placed:   []string{},
			problems: []string{"Error/NoClusters", "Error/NotPlaced"},
			messages: []string{"spec.placement: selects no MemberCluster (7 registered)"},
		},
		{
			name:        "every placed cluster in maintenance is a warning",
			spec:        spec(fleetv1alpha1.Placement{ClusterNames: names("eu-west-1")}, wave("all", nil)),
			clusters:    []Cluster{inMaintenance(mc("eu-west-1"))},
			waves:       map[string][]string{"all": nil},
			maintenance: map[string][]string{"all": {"eu-west-1"}},
			problems:    []string{"Warning/NoClusters", "Warning/EmptyWave"},
		},
		{
			name: "two waves name the same cluster",
			spec: spec(prod, wave("canary", nil, "us-east-1"), wave("americas", nil, "us-east-1", "us-west-1"),
				wave("rest", nil)),
			waves:    map[string][]string{"canary": {"us-east-1"}, "americas": {"us-west-1"}},
			problems: []string{"Error/WaveOverlap"},
			messages: []string{`spec.waves[1].clusterNames: waves "canary" and "americas" overlap: wave "americas" names "us-east-1", but it is already in wave "canary"`},
		},
		{
			name: "a later wave names a cluster an earlier wave's selector took",
			spec: spec(prod, wave("americas", sel("continent=america")), wave("canary", nil, "us-east-1", "eu-west-1"),
				wave("rest", nil)),
			problems: []string{"Error/WaveOverlap"},
			messages: []string{`waves "americas" and "canary" overlap`, `names "us-east-1"`},
		},
		{
			name: "selectors that overlap are not a problem: the first wave wins",
			spec: spec(prod, wave("america", sel("continent=america")), wave("prod", sel("env=prod"))),
			waves: map[string][]string{"america": {"br-south-1", "us-east-1", "us-west-1"},
				"prod": {"ap-south-1", "eu-central-1", "eu-west-1"}},
		},
		{
			name:     "a wave whose selector matches no placed cluster",
			spec:     spec(prod, wave("canary", sel("region=moon")), wave("rest", nil)),
			problems: []string{"Error/EmptyWave"},
			messages: []string{`spec.waves[0]: wave "canary" selects no placed cluster: check its clusterSelector`},
		},
		{
			name:     "a wave that matches only clusters outside placement",
			spec:     spec(prod, wave("dev", sel("env=dev")), wave("rest", nil)),
			problems: []string{"Error/EmptyWave"},
		},
		{
			name: "a wave whose clusters all belong to earlier waves",
			spec: spec(prod, wave("america", sel("continent=america")), wave("canary", sel("region=us-east")),
				wave("rest", nil)),
			problems: []string{"Error/EmptyWave"},
			messages: []string{`every cluster wave "canary" selects ("us-east-1") already belongs to an earlier wave`},
		},
		{
			name:     "a last catch-all wave left with nothing is only a warning",
			spec:     spec(prod, wave("all", sel("env=prod")), wave("rest", nil)),
			waves:    map[string][]string{"rest": nil},
			problems: []string{"Warning/EmptyWave"},
		},
		{
			name:     "placed clusters that no wave selects",
			spec:     spec(prod, wave("america", sel("continent=america")), wave("europe", sel("continent=europe"))),
			problems: []string{"Error/UnwavedCluster"},
			messages: []string{`spec.waves: placement selects "ap-south-1", but no wave selects it`},
		},
		{
			name:     "a wave names a cluster that does not exist",
			spec:     spec(prod, wave("canary", nil, "us-east-1", "us-east-9"), wave("rest", nil)),
			problems: []string{"Error/UnknownCluster"},
			messages: []string{`spec.waves[0].clusterNames: wave "canary" names "us-east-9", for which there is no MemberCluster`},
		},
		{
			name:     "a wave names a cluster that placement does not select",
			spec:     spec(prod, wave("canary", nil, "us-east-1", "dev-1"), wave("rest", nil)),
			waves:    map[string][]string{"canary": {"us-east-1"}},
			problems: []string{"Error/NotPlaced"},
			messages: []string{`wave "canary" names "dev-1", which spec.placement does not select`},
		},
		{
			name: "an invalid selector",
			spec: spec(prod, wave("bad", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "region", Operator: "Near", Values: []string{"x"}}}}, "us-east-1"), wave("rest", nil)),
			waves:    map[string][]string{"bad": {"us-east-1"}},
			problems: []string{"Error/InvalidSelector"},
			messages: []string{"spec.waves[0].clusterSelector: the selector is not valid"},
		},
		{
			name: "a cluster in maintenance is left out of its wave and does not fall into the catch-all",
			spec: spec(prod, wave("europe", sel("continent=europe")), wave("rest", nil)),
			clusters: []Cluster{mc("eu-west-1", "env=prod", "continent=europe"),
				inMaintenance(mc("eu-central-1", "env=prod", "continent=europe")), mc("us-east-1", "env=prod")},
			waves:       map[string][]string{"europe": {"eu-west-1"}, "rest": {"us-east-1"}},
			maintenance: map[string][]string{"europe": {"eu-central-1"}},
		},
		{
			name: "a wave entirely in maintenance will be skipped: a warning",
			spec: spec(prod, wave("europe", sel("continent=europe")), wave("rest", nil)),
			clusters: []Cluster{inMaintenance(mc("eu-west-1", "env=prod", "continent=europe")),
				mc("us-east-1", "env=prod")},
			waves:    map[string][]string{"europe": nil, "rest": {"us-east-1"}},
			problems: []string{"Warning/EmptyWave"},
			messages: []string{`every cluster of wave "europe" ("eu-west-1") is in maintenance`},
		},
		{
			name: "started waves keep their clusters; newcomers fall through or are late",
			spec: spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")),
				wave("europe", sel("continent=europe"))),
			clusters: []Cluster{
				mc("us-east-1", "env=prod", "continent=america"),
				mc("us-west-1", "env=prod", "continent=asia"), // relabelled after america started
				inMaintenance(mc("br-south-1", "env=prod", "continent=america")),
				mc("mx-1", "env=prod", "continent=america"), // joined after america started
				mc("eu-west-1", "env=prod", "continent=europe"),
			},
			started: map[string][]string{"canary": {"us-east-1"}, "america": {"br-south-1", "us-west-1", "gone-1"}},
			waves: map[string][]string{"canary": {"us-east-1"}, "america": {"br-south-1", "gone-1", "us-west-1"},
				"europe": {"eu-west-1"}},
			maintenance: map[string][]string{"america": {"br-south-1"}},
			departed:    map[string][]string{"america": {"gone-1"}},
			late:        map[string][]string{"america": {"mx-1"}},
		},
		{
			name: "a newcomer whose first wave started joins a later wave that selects it",
			spec: spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")),
				wave("rest", nil)),
			clusters: []Cluster{mc("us-east-1", "env=prod", "continent=america"),
				mc("us-west-1", "env=prod", "continent=america"), mc("mx-1", "env=prod", "continent=america")},
			started: map[string][]string{"canary": {"us-east-1"}, "america": {"us-west-1"}},
			waves:   map[string][]string{"america": {"us-west-1"}, "rest": {"mx-1"}},
		},
		{
			name:     "a started wave's name of a cluster deleted since only warns: its clusters are fixed",
			spec:     spec(prod, wave("canary", nil, "us-east-1", "gone-1"), wave("rest", nil)),
			clusters: []Cluster{mc("us-east-1", "env=prod"), mc("eu-west-1", "env=prod")},
			started:  map[string][]string{"canary": {"gone-1", "us-east-1"}},
			waves:    map[string][]string{"canary": {"gone-1", "us-east-1"}, "rest": {"eu-west-1"}},
			departed: map[string][]string{"canary": {"gone-1"}},
			problems: []string{"Warning/UnknownCluster"},
		},
		{
			name:     "a cluster recorded in two started waves",
			spec:     spec(prod, wave("a", nil, "us-east-1"), wave("rest", nil)),
			clusters: []Cluster{mc("us-east-1", "env=prod")},
			started:  map[string][]string{"a": {"us-east-1"}, "rest": {"us-east-1"}},
			problems: []string{"Error/InconsistentHistory"},
		},
		{
			name:     "a cluster passed twice",
			spec:     spec(prod, wave("all", nil)),
			clusters: []Cluster{mc("a", "env=prod"), mc("a", "env=prod")},
			problems: []string{"Error/InconsistentHistory"},
		},
		{
			name: "wave settings the schema should have refused",
			spec: spec(prod, fleetv1alpha1.Wave{Name: "all", MaxConcurrency: ios("0%"), MaxFailures: ios("101%"),
				BakeTime: "soon"}),
			problems: []string{"Error/InvalidWave", "Error/InvalidWave", "Error/InvalidWave"},
			messages: []string{"spec.waves[0].maxConcurrency", "spec.waves[0].maxFailures", "spec.waves[0].bakeTime"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clusters := tc.clusters
			if clusters == nil {
				clusters = fleet()
			}
			p, ps := Compute(Input{Spec: tc.spec, Clusters: clusters, Started: tc.started})
			if got := problemCodes(ps); !reflect.DeepEqual(got, tc.problems) {
				t.Fatalf("problems %v, want %v:\n%s", got, tc.problems, ps.Message())
			}
			for _, m := range tc.messages {
				if !strings.Contains(ps.Message(), m) {
					t.Errorf("problems %q do not say %q", ps.Message(), m)
				}
			}
			if tc.placed != nil && !reflect.DeepEqual(p.Placed, tc.placed) {
				t.Errorf("placed %v, want %v", p.Placed, tc.placed)
			}
			check := func(what string, want map[string][]string, got func(*Wave) []string) {
				for name, w := range want {
					pw := p.Wave(name)
					if pw == nil {
						t.Fatalf("no wave %q in %s", name, p)
					}
					if g := got(pw); !reflect.DeepEqual(g, w) {
						t.Errorf("wave %q %s %v, want %v", name, what, g, w)
					}
				}
			}
			check("clusters", tc.waves, func(w *Wave) []string { return w.Clusters })
			check("maintenance", tc.maintenance, func(w *Wave) []string { return w.Maintenance })
			check("departed", tc.departed, func(w *Wave) []string { return w.Departed })
			check("late", tc.late, func(w *Wave) []string { return w.Late })
		})
	}
}

func TestComputeClusterPlans(t *testing.T) {
	s := spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")),
		wave("europe", sel("continent=europe")), wave("rest", nil))
	s.Overrides = []fleetv1alpha1.ClusterOverride{
		{ClusterSelector: sel("continent=europe"), Replicas: new(int32(6))},
		{ClusterNames: names("eu-west-1", "us-east-1"), Replicas: new(int32(8))},
	}
	s.Template = template(t, canaryTemplate)
	clusters := fleet()
	clusters[4] = inMaintenance(clusters[4]) // eu-central-1
	p, ps := Compute(Input{Spec: s, Clusters: clusters})
	if len(ps) > 0 {
		t.Fatalf("problems: %s", ps.Message())
	}
	want := []ClusterPlan{
		{Name: "ap-south-1", Wave: "rest"},
		{Name: "br-south-1", Wave: "america"},
		{Name: "eu-central-1", Wave: "europe", Maintenance: true, Overrides: []int{0}},
		{Name: "eu-west-1", Wave: "europe", Overrides: []int{0, 1}},
		{Name: "us-east-1", Wave: "canary", Overrides: []int{1}},
		{Name: "us-west-1", Wave: "america"},
	}
	if !reflect.DeepEqual(p.Clusters, want) {
		t.Fatalf("clusters\n got %+v\nwant %+v", p.Clusters, want)
	}
	if p.Cluster("dev-1") != nil || p.Cluster("eu-west-1").Wave != "europe" {
		t.Errorf("Cluster lookup is wrong")
	}
	if w := p.Wave("europe"); w.Index != 2 || w.Spec != &s.Waves[2] || w.CatchAll || !p.Wave("rest").CatchAll {
		t.Errorf("wave metadata is wrong: %+v", w)
	}
	if p.Wave("nope") != nil {
		t.Errorf("unknown wave found")
	}
}

// TestComputeIsDeterministic plans the same fleet given in many orders.
func TestComputeIsDeterministic(t *testing.T) {
	s := spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")), wave("rest", nil))
	want, _ := Compute(Input{Spec: s, Clusters: fleet()})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		c := fleet()
		r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		got, _ := Compute(Input{Spec: s, Clusters: c})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("plan depends on the order of the clusters:\n got %s\nwant %s", got, want)
		}
	}
}

func TestProblems(t *testing.T) {
	ps := Problems{
		{Severity: SeverityWarning, Code: CodeUnmatchedOverride, Field: "spec.overrides[0]", Message: "matches nothing"},
		{Severity: SeverityError, Code: CodeNoClusters, Field: "spec.placement", Message: "selects nothing"},
	}
	if !ps.HasErrors() || len(ps.Errors()) != 1 || len(ps.Warnings()) != 1 || !ps.Has(CodeUnmatchedOverride) || ps.Has(CodeEmptyWave) {
		t.Fatalf("filters are wrong: %+v", ps)
	}
	if got := ps.Reason(); got != fleetv1alpha1.ReasonNoClusters {
		t.Errorf("reason %q, want NoClusters", got)
	}
	if got := ps.Message(); got != "spec.overrides[0]: matches nothing; spec.placement: selects nothing" {
		t.Errorf("message %q", got)
	}
	ps = append(ps, Problem{Severity: SeverityError, Code: CodeEmptyWave, Field: "spec.waves[0]", Message: "empty"})
	if got := ps.Reason(); got != fleetv1alpha1.ReasonInvalidSpec {
		t.Errorf("reason %q, want InvalidSpec", got)
	}
	if got := ps.Warnings().Reason(); got != "" {
		t.Errorf("warnings alone have reason %q", got)
	}

	var many Problems
	for range 200 {
		many = append(many, Problem{Severity: SeverityError, Field: "spec.waves", Message: strings.Repeat("x", 60)})
	}
	msg := many.Message()
	if len(msg) > maxMessage+40 || !strings.HasSuffix(msg, "more") {
		t.Errorf("a long message is not cut: %d bytes, ends %q", len(msg), msg[len(msg)-20:])
	}

	if got := nameList([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}); !strings.HasSuffix(got, `"j" and 2 more`) {
		t.Errorf("nameList = %s", got)
	}
}

func TestClustersFrom(t *testing.T) {
	ready := []metav1.Condition{{Type: fleetv1alpha1.ConditionReachable, Status: metav1.ConditionTrue},
		{Type: fleetv1alpha1.ConditionAgentReady, Status: metav1.ConditionTrue}}
	noAgent := []metav1.Condition{{Type: fleetv1alpha1.ConditionReachable, Status: metav1.ConditionTrue},
		{Type: fleetv1alpha1.ConditionAgentReady, Status: metav1.ConditionFalse}}
	members := []fleetv1alpha1.MemberCluster{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"env": "prod"}},
			Status: fleetv1alpha1.MemberClusterStatus{Conditions: ready}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: fleetv1alpha1.MemberClusterSpec{Maintenance: true},
			Status: fleetv1alpha1.MemberClusterStatus{Conditions: noAgent}},
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
	}
	got := ClustersFrom(members)
	want := []Cluster{{Name: "a", Labels: map[string]string{"env": "prod"}, Reachable: true},
		{Name: "b", Maintenance: true}, {Name: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestStartedFrom(t *testing.T) {
	s := &journal.RolloutState{Revision: 3, Waves: []journal.WaveState{
		{Name: "canary", Started: true, Clusters: []string{"us-east-1"}},
		{Name: "america", Approvals: map[fleetv1alpha1.ApprovalStage]journal.Approval{fleetv1alpha1.ApprovalStageBefore: {ApprovedBy: "alice"}}},
	}}
	got := StartedFrom(s, 3)
	if want := map[string][]string{"canary": {"us-east-1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	got["canary"][0] = "changed"
	if s.Waves[0].Clusters[0] != "us-east-1" {
		t.Errorf("StartedFrom shares the journal's slices")
	}
	if StartedFrom(s, 4) != nil || StartedFrom(nil, 3) != nil {
		t.Errorf("a run of another revision started waves")
	}
}

// TestExamplesPlanCleanly plans the FleetRollouts the docs and the demo ship, over fleets
// shaped like the ones they describe: neither may report a problem.
func TestExamplesPlanCleanly(t *testing.T) {
	for _, tc := range []struct {
		file     string
		clusters []Cluster
		waves    map[string][]string
	}{
		{file: "../../docs/examples/fleetrollout.yaml", clusters: fleet(),
			waves: map[string][]string{"canary": {"us-east-1"}, "americas": {"br-south-1", "us-west-1"},
				"rest": {"ap-south-1", "eu-central-1", "eu-west-1"}}},
		{file: "../../examples/fleet/checkout.yaml",
			clusters: []Cluster{mc("us-east", "env=prod", "region=us-east"), mc("eu-west", "env=prod", "region=eu-west"),
				mc("ap-south", "env=prod", "region=ap-south")},
			waves: map[string][]string{"us-east": {"us-east"}, "eu-west": {"eu-west"}, "ap-south": {"ap-south"}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var fr fleetv1alpha1.FleetRollout
			if err := yaml.UnmarshalStrict(data, &fr); err != nil {
				t.Fatal(err)
			}
			p, ps := Compute(Input{Spec: &fr.Spec, Clusters: tc.clusters})
			if len(ps) > 0 {
				t.Fatalf("problems: %s", ps.Message())
			}
			for name, want := range tc.waves {
				if got := p.Wave(name).Clusters; !reflect.DeepEqual(got, want) {
					t.Errorf("wave %s: %v, want %v", name, got, want)
				}
			}
			for _, c := range p.Placed {
				if _, err := p.Render(&fr.Spec, c); err != nil {
					t.Errorf("render %s: %v", c, err)
				}
			}
			if _, err := RevisionHash(&fr.Spec, "default"); err != nil {
				t.Error(err)
			}
		})
	}
}
