package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// TestExpectations: a cache that lags our create, our scale or our status write makes the
// reconcile wait (so it cannot create the ReplicaSet twice or plan from the status it
// replaced); once the cache shows them, or the timeout passed, it goes on.
func TestExpectations(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "demo"}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(rv string) *v1alpha1.Rollout {
		return &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo", ResourceVersion: rv}}
	}
	v1 := engine.ReplicaSet{Name: "demo-v1", Replicas: 5}
	cases := []struct {
		name  string
		write func(x *expectations)
		ro    *v1alpha1.Rollout
		rss   []engine.ReplicaSet
		now   time.Time
		want  bool
	}{
		{"nothing written", func(*expectations) {}, at("1"), []engine.ReplicaSet{v1}, t0, false},
		{"created, not in the cache yet", func(x *expectations) { x.replicaSet(key, "demo-v2", anyReplicas, t0) }, at("1"), []engine.ReplicaSet{v1}, t0, true},
		{"created, in the cache at any size", func(x *expectations) { x.replicaSet(key, "demo-v2", anyReplicas, t0) },
			at("1"), []engine.ReplicaSet{v1, {Name: "demo-v2", Replicas: 3}}, t0, false},
		{"scaled, the cache shows the old size", func(x *expectations) { x.replicaSet(key, "demo-v1", 4, t0) }, at("1"), []engine.ReplicaSet{v1}, t0, true},
		{"scaled, the cache shows the new size", func(x *expectations) { x.replicaSet(key, "demo-v1", 5, t0) }, at("1"), []engine.ReplicaSet{v1}, t0, false},
		{"status written, the cache shows the Rollout it replaced", func(x *expectations) { x.statusWritten(key, "7", t0) }, at("7"), nil, t0, true},
		{"status written, the cache shows a later Rollout", func(x *expectations) { x.statusWritten(key, "7", t0) }, at("8"), nil, t0, false},
		{"another Rollout's writes do not hold this one", func(x *expectations) { x.statusWritten(types.NamespacedName{Namespace: "ns", Name: "other"}, "7", t0) }, at("7"), nil, t0, false},
		{"given up after the timeout", func(x *expectations) { x.replicaSet(key, "demo-v2", anyReplicas, t0) }, at("1"), nil, t0.Add(expectationTimeout), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var x expectations
			tc.write(&x)
			behind, after := x.behind(key, tc.ro, tc.rss, tc.now)
			if behind != tc.want {
				t.Fatalf("behind = %v, want %v", behind, tc.want)
			}
			if behind && after != t0.Add(expectationTimeout).Sub(tc.now) {
				t.Errorf("requeue after %s, want the end of the timeout", after)
			}
			if !behind && x.m[key] != nil {
				t.Errorf("a met expectation is kept")
			}
		})
	}
}
