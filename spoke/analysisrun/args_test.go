package analysisrun_test

import (
	"errors"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/analysisrun"
)

// TestFieldValue: the fieldRef paths Argo Rollouts reads from a Rollout.
func TestFieldValue(t *testing.T) {
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(rolloutYAML), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace, ro.UID = "shop", "6b0c2f4e-8f7a-4c1e-9a57-000000000001"
	ro.Annotations = map[string]string{"owner": "team-a", "note": `say "hi"`}
	ro.Status.Phase = v1alpha1.RolloutPhasePaused
	ro.Status.ControllerPause = true
	ro.Status.ObservedGeneration = 1000000
	for _, tc := range []struct{ path, want string }{
		{"metadata.name", "checkout"},
		{"metadata.namespace", "shop"},
		{"metadata.uid", "6b0c2f4e-8f7a-4c1e-9a57-000000000001"},
		{"metadata.labels['team']", "payments"},
		{`metadata.annotations["owner"]`, "team-a"},
		{"metadata.labels['absent']", ""},
		{"metadata.annotations", "note=\"say \\\"hi\\\"\"\nowner=\"team-a\"\n"},
		{"spec.replicas", "3"},
		{"spec.strategy.canary.steps[0].setWeight", "20"},
		{"spec.template.spec.containers[0].image", "registry.invalid/checkout:2"},
		{"status.phase", "Paused"},
		{"status.controllerPause", "true"},
		{"status.observedGeneration", "1000000"},
	} {
		got, err := analysisrun.FieldValue(ro, tc.path)
		if err != nil || got != tc.want {
			t.Errorf("FieldValue(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	for _, path := range []string{
		"spec.strategy.canary.steps[7].setWeight", // no such step
		"spec.strategy.canary",                    // not a primitive value
		"spec.nothing",
		"metadata.generateName.x",
		"kind",
		"status.phase.x",
	} {
		if got, err := analysisrun.FieldValue(ro, path); !errors.Is(err, analysis.ErrNotFound) {
			t.Errorf("FieldValue(%s) = %q, %v; want an error that wraps ErrNotFound", path, got, err)
		}
	}
}
