package engine

import (
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func TestPodTemplateHash(t *testing.T) {
	h := PodTemplateHash(podTemplate("demo:v1"), nil)
	if h != PodTemplateHash(podTemplate("demo:v1"), nil) {
		t.Fatal("not deterministic")
	}
	if len(h) == 0 || len(h) > 10 {
		t.Errorf("hash %q", h)
	}
	if h == PodTemplateHash(podTemplate("demo:v2"), nil) {
		t.Error("a new image gives the same hash")
	}
	if h == PodTemplateHash(podTemplate("demo:v1"), ptrInt32(1)) {
		t.Error("the collision count does not change the hash")
	}
	labelled := podTemplate("demo:v1")
	labelled.Labels[LabelPodTemplateHash] = h
	if PodTemplateHash(labelled, nil) != h {
		t.Error("a ReplicaSet's template does not hash to its own label")
	}
	// A known value guards against an accidental change of the algorithm, which would give
	// every existing Rollout a new ReplicaSet.
	if h != "5f7c99fd98" {
		t.Errorf("hash of the demo template = %s; changing it replaces every pod of every Rollout", h)
	}
}

func TestStepsHash(t *testing.T) {
	a := StepsHash([]v1alpha1.CanaryStep{setWeight(20), pauseForever()})
	if a != StepsHash([]v1alpha1.CanaryStep{setWeight(20), pauseForever()}) || a == StepsHash([]v1alpha1.CanaryStep{setWeight(30), pauseForever()}) {
		t.Error("steps hash")
	}
}

func TestRunNames(t *testing.T) {
	if got := boundName("short"); got != "short" {
		t.Errorf("boundName = %q", got)
	}
	long := ""
	for range 30 {
		long += "abcdefghij"
	}
	b := boundName(long + "-tail")
	if len(b) != 240 || b[len(b)-5:] != "-tail" || b != boundName(long+"-tail") {
		t.Errorf("boundName(long) = %q (%d)", b, len(b))
	}
	for _, tc := range []struct {
		name string
		n    int
	}{{"r-1", 1}, {"r-1.2", 2}, {"r-1.10", 10}, {"r-12", 0}, {"r-1.x", 0}, {"r-1.1", 0}} {
		if got := ordinalOf(tc.name, "r-1"); got != tc.n {
			t.Errorf("ordinalOf(%q) = %d, want %d", tc.name, got, tc.n)
		}
	}
}
