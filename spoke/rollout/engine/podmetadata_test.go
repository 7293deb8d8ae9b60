package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func roleMD(role string) *v1alpha1.PodTemplateMetadata {
	return &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": role}, Annotations: map[string]string{"example.com/" + role: "yes"}}
}

// withRole is an observed ReplicaSet whose template and pods carry md.
func withRole(r ReplicaSet, md *v1alpha1.PodTemplateMetadata) ReplicaSet {
	r.PodMetadata = md
	addMetadata(&r.Template.Labels, md.Labels)
	addMetadata(&r.Template.Annotations, md.Annotations)
	return r
}

func syncOf(t *testing.T, p Plan, rsName string) *SyncPodMetadata {
	t.Helper()
	for _, a := range p.Actions {
		if s, ok := a.(SyncPodMetadata); ok && s.ReplicaSet == rsName {
			return &s
		}
	}
	return nil
}

func createOf(t *testing.T, p Plan) CreateReplicaSet {
	t.Helper()
	for _, a := range p.Actions {
		if c, ok := a.(CreateReplicaSet); ok {
			return c
		}
	}
	t.Fatalf("no CreateReplicaSet in %v", actionStrings(p))
	return CreateReplicaSet{}
}

// TestPodMetadata: canaryMetadata/stableMetadata and previewMetadata/activeMetadata go on
// the pod template of the ReplicaSet of each role, and move in place (template and pods)
// when a ReplicaSet changes role.
func TestPodMetadata(t *testing.T) {
	v1, v2 := rsName("demo:v1"), rsName("demo:v2")
	canary := func(steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
		ro := canaryRollout(5, steps...)
		ro.Spec.Strategy.Canary.CanaryMetadata = roleMD("canary")
		ro.Spec.Strategy.Canary.StableMetadata = roleMD("stable")
		return ro
	}
	bg := blueGreenRollout(3)
	bg.Spec.Strategy.BlueGreen.PreviewMetadata = roleMD("preview")
	bg.Spec.Strategy.BlueGreen.ActiveMetadata = roleMD("active")
	bgSvcs := map[string]string{"demo-active": hashOf("demo:v1"), "demo-preview": hashOf("demo:v1")}

	wantCreated := func(role string) func(t *testing.T, p Plan) {
		return func(t *testing.T, p Plan) {
			c := createOf(t, p)
			if c.Template.Labels["role"] != role || c.Template.Annotations["example.com/"+role] != "yes" {
				t.Errorf("pod template metadata %v %v, want role %s", c.Template.Labels, c.Template.Annotations, role)
			}
			if c.Template.Labels["app"] != "demo" || c.Template.Labels[LabelPodTemplateHash] != c.PodTemplateHash {
				t.Errorf("the template lost its own labels: %v", c.Template.Labels)
			}
			if _, ok := c.Labels["role"]; ok {
				t.Errorf("the ReplicaSet's own labels carry the role: %v", c.Labels)
			}
			if got := parsePodMetadata(c.Annotations[AnnotationPodMetadata]); !sameMetadata(got, roleMD(role)) {
				t.Errorf("recorded metadata %q, want role %s", c.Annotations[AnnotationPodMetadata], role)
			}
		}
	}
	wantSync := func(name, role string, old, wanted *v1alpha1.PodTemplateMetadata) func(t *testing.T, p Plan) {
		return func(t *testing.T, p Plan) {
			s := syncOf(t, p, name)
			if s == nil {
				t.Fatalf("no SyncPodMetadata for %s in %v", name, actionStrings(p))
			}
			if s.Role != role || !sameMetadata(s.Old, old) || !sameMetadata(s.New, wanted) {
				t.Errorf("sync %s: role %s old %+v new %+v", name, s.Role, s.Old, s.New)
			}
		}
	}
	both := func(checks ...func(*testing.T, Plan)) func(*testing.T, Plan) {
		return func(t *testing.T, p Plan) {
			for _, c := range checks {
				c(t, p)
			}
		}
	}
	promoted := midUpdate(canary(setWeight(20)), 1)

	runEngineCases(t, []engineCase{{
		name:    "first deploy: the only ReplicaSet is stable and is born with stableMetadata",
		ro:      canary(setWeight(20)),
		obs:     observed(),
		actions: []string{"CreateReplicaSet " + v1 + " replicas=5 revision=1"},
		check:   wantCreated("stable"),
	}, {
		name:    "an update: the canary ReplicaSet is born with canaryMetadata; the stable pods keep theirs",
		ro:      midUpdate(canary(setWeight(20), pauseForever()), 0),
		obs:     observed(withRole(rs("demo:v1", 1, 5, 5), roleMD("stable"))),
		actions: []string{"CreateReplicaSet " + v2 + " replicas=1 revision=2", "ScaleReplicaSet " + v1 + " replicas=4"},
		check:   wantCreated("canary"),
	}, {
		name: "promotion: the canary's pods turn stable in place, then the old stable pods lose their role",
		ro:   promoted,
		obs:  observed(withRole(rs("demo:v1", 1, 0, 0), roleMD("stable")), withRole(rs("demo:v2", 2, 5, 5), roleMD("canary"))),
		actions: []string{
			"SyncPodMetadata " + v2 + " role=stable",
			"SyncPodMetadata " + v1 + " role=none",
		},
		check: both(wantSync(v2, "stable", roleMD("canary"), roleMD("stable")), wantSync(v1, "none", roleMD("stable"), nil)),
	}, {
		name: "steady, every ReplicaSet with its role's metadata: nothing to do",
		ro: func() *v1alpha1.Rollout {
			ro := canary(setWeight(20))
			ro.Status = promoted.Status
			ro.Spec.Template = podTemplate("demo:v2")
			ro.Status.StableRS = hashOf("demo:v2")
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 0, 0), withRole(rs("demo:v2", 2, 5, 5), roleMD("stable"))),
		actions: nil,
	}, {
		name: "the spec's stableMetadata changes: the stable pods follow, keys no longer wanted go",
		ro: func() *v1alpha1.Rollout {
			ro := canary(setWeight(20))
			ro.Spec.Strategy.Canary.StableMetadata = &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"tier": "gold"}}
			ro.Status.StableRS, ro.Status.CurrentPodHash = hashOf("demo:v1"), hashOf("demo:v1")
			return ro
		}(),
		obs:     observed(withRole(rs("demo:v1", 1, 5, 5), roleMD("stable"))),
		actions: []string{"SyncPodMetadata " + v1 + " role=stable"},
		check:   wantSync(v1, "stable", roleMD("stable"), &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"tier": "gold"}}),
	}, {
		name:     "blue-green: the new ReplicaSet is born with previewMetadata",
		ro:       midUpdate(bg, 0),
		obs:      observed(withRole(rs("demo:v1", 1, 3, 3), roleMD("active"))).with(bgSvcs),
		contains: []string{"CreateReplicaSet " + v2 + " replicas=3 revision=2"},
		check:    wantCreated("preview"),
	}, {
		name: "blue-green promotion: the new pods turn active in place, the old ones lose their role",
		ro:   midUpdate(bg, 0),
		obs: observed(withRole(rs("demo:v1", 1, 3, 3), roleMD("active")), withRole(rs("demo:v2", 2, 3, 3), roleMD("preview"))).
			with(map[string]string{"demo-active": hashOf("demo:v2"), "demo-preview": hashOf("demo:v2")}),
		contains: []string{"SyncPodMetadata " + v2 + " role=active", "SyncPodMetadata " + v1 + " role=none"},
		check:    both(wantSync(v2, "active", roleMD("preview"), roleMD("active")), wantSync(v1, "none", roleMD("active"), nil)),
	}})
}

// TestPodMetadataInvalid: a role may not change a label the ReplicaSets select on.
func TestPodMetadataInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		md   *v1alpha1.PodTemplateMetadata
		want string
	}{
		{"a selector label", &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"app": "other"}}, `spec.strategy.canary.canaryMetadata.labels: "app" is a label the selector`},
		{"the hash label", &v1alpha1.PodTemplateMetadata{Labels: map[string]string{LabelPodTemplateHash: "x"}}, `"rollouts-pod-template-hash" is a label the selector`},
		{"a bad label value", &v1alpha1.PodTemplateMetadata{Labels: map[string]string{"role": "not ok!"}}, `spec.strategy.canary.canaryMetadata.labels[role]: value "not ok!"`},
		{"a bad annotation key", &v1alpha1.PodTemplateMetadata{Annotations: map[string]string{"a b": "x"}}, `spec.strategy.canary.canaryMetadata.annotations: key "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro := canaryRollout(2, setWeight(50))
			ro.Spec.Strategy.Canary.CanaryMetadata = tc.md
			p := Reconcile(ro, observed())
			c := findCondition(&p.Status, v1alpha1.RolloutInvalidSpec)
			if c == nil || !strings.Contains(c.Message, tc.want) {
				t.Fatalf("InvalidSpec condition %+v, want a message with %q", c, tc.want)
			}
			if len(actionStrings(p)) != 0 {
				t.Errorf("actions on an invalid spec: %v", actionStrings(p))
			}
		})
	}
}

// TestMetadataDiff: only the role's keys change; other keys stay as they are.
func TestMetadataDiff(t *testing.T) {
	cur := map[string]string{"app": "demo", "role": "canary", "canary-only": "1", "injected-by-mesh": "x"}
	old := map[string]string{"role": "canary", "canary-only": "1"}
	wanted := map[string]string{"role": "stable"}
	c := MetadataDiff(cur, old, wanted)
	if !maps.Equal(c.Set, map[string]string{"role": "stable"}) || !slices.Equal(c.Remove, []string{"canary-only"}) {
		t.Errorf("diff %+v", c)
	}
	if c := MetadataDiff(map[string]string{"role": "stable"}, old, wanted); !c.Empty() {
		t.Errorf("a pod already in its role: %+v", c)
	}
}
