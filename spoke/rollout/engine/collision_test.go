package engine

import (
	"testing"

	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestHashCollision: a ReplicaSet that has the desired hash but was made from another
// template raises status.collisionCount, and the new ReplicaSet gets the hash that mixes
// the count in, as a Deployment's does.
func TestHashCollision(t *testing.T) {
	v1 := rs("demo:v1", 1, 5, 5)
	v1.TemplateDigest = TemplateDigest(podTemplate("demo:v1"))
	// A ReplicaSet of another template that happens to carry v2's hash.
	squatter := rs("demo:v0", 1, 0, 0)
	squatter.Name, squatter.PodTemplateHash = rsName("demo:v2"), hashOf("demo:v2")
	squatter.TemplateDigest = TemplateDigest(podTemplate("demo:v0"))
	newHash := PodTemplateHash(podTemplate("demo:v2"), ptr.To[int32](1))

	ro := midUpdate(canaryRollout(5, setWeight(20), pauseForever()), 0)
	runEngineCases(t, []engineCase{{
		name:     "collision: count 1, the new ReplicaSet under the next hash",
		ro:       ro,
		obs:      observed(v1, squatter),
		contains: []string{"CreateReplicaSet demo-" + newHash + " replicas=1 revision=2", "ScaleReplicaSet " + v1.Name + " replicas=4"},
		events:   []string{EventReasonHashCollision},
		check: func(t *testing.T, p Plan) {
			if p.Status.CollisionCount == nil || *p.Status.CollisionCount != 1 {
				t.Errorf("collisionCount = %v, want 1", p.Status.CollisionCount)
			}
			if p.Status.CurrentPodHash != newHash {
				t.Errorf("currentPodHash = %s, want %s", p.Status.CurrentPodHash, newHash)
			}
			if c := createOf(t, p); c.Annotations[AnnotationTemplateDigest] != TemplateDigest(podTemplate("demo:v2")) {
				t.Errorf("the new ReplicaSet records digest %q", c.Annotations[AnnotationTemplateDigest])
			}
		},
	}, {
		name: "after the collision: the count stays, the ReplicaSet of the new hash is the canary",
		ro: func() *v1alpha1.Rollout {
			r := ro.DeepCopy()
			r.Status.CollisionCount = ptr.To[int32](1)
			r.Status.CurrentPodHash = newHash
			return r
		}(),
		obs: func() Observed {
			c := rs("demo:v2", 2, 1, 1)
			c.Name, c.PodTemplateHash = "demo-"+newHash, newHash
			c.TemplateDigest = TemplateDigest(podTemplate("demo:v2"))
			return observed(func() ReplicaSet {
				r := v1
				r.Replicas, r.CurrentReplicas, r.AvailableReplicas, r.ReadyReplicas = 4, 4, 4, 4
				return r
			}(), squatter, c)
		}(),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			if *p.Status.CollisionCount != 1 || p.Status.CurrentPodHash != newHash {
				t.Errorf("collisionCount %d current %s", *p.Status.CollisionCount, p.Status.CurrentPodHash)
			}
			wantPauses(t, p, v1alpha1.PauseReasonCanaryPauseStep)
		},
	}, {
		name: "the same hash and the same digest is the Rollout's own ReplicaSet, not a collision",
		ro:   ro,
		obs: observed(v1, func() ReplicaSet {
			r := rs("demo:v2", 2, 0, 0)
			r.TemplateDigest = TemplateDigest(podTemplate("demo:v2"))
			return r
		}()),
		contains: []string{"ScaleReplicaSet " + rsName("demo:v2") + " replicas=1"},
		check: func(t *testing.T, p Plan) {
			if p.Status.CollisionCount != nil {
				t.Errorf("collisionCount = %d", *p.Status.CollisionCount)
			}
		},
	}})
}

// TestTemplateFoundByDigest: once collisionCount moved, a template that comes back is
// found by its digest in the ReplicaSet made from it, whose hash mixed in an older count.
func TestTemplateFoundByDigest(t *testing.T) {
	v1 := rs("demo:v1", 1, 0, 0)
	v1.TemplateDigest = TemplateDigest(podTemplate("demo:v1"))
	v2 := rs("demo:v2", 2, 5, 5)
	ro := canaryRollout(5, setWeight(20))
	ro.Status.CollisionCount = ptr.To[int32](3)
	ro.Status.StableRS, ro.Status.CurrentPodHash = v2.PodTemplateHash, v2.PodTemplateHash
	p := Reconcile(ro, observed(v1, v2))
	if p.Status.CurrentPodHash != v1.PodTemplateHash {
		t.Fatalf("currentPodHash %s, want v1's ReplicaSet %s; actions %v", p.Status.CurrentPodHash, v1.PodTemplateHash, actionStrings(p))
	}
	for _, a := range p.Actions {
		if _, ok := a.(CreateReplicaSet); ok {
			t.Fatalf("created a ReplicaSet for a template that has one: %v", actionStrings(p))
		}
	}
}
