// Command crdtrim shrinks generated CRDs by dropping the field descriptions inside embedded
// Kubernetes pod specs.
//
// A Rollout, an Experiment, a job metric and a FleetRollout each embed a PodTemplateSpec,
// whose descriptions are two thirds of the CRD's size and are the same text that
// `kubectl explain pod.spec` already gives. Without them the CRDs are about a third of the
// size, which keeps the API server's OpenAPI work and every client's discovery cache small.
// The descriptions of Flotilla's own fields are kept.
//
//	go run ./hack/crdtrim DIR...
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crdtrim DIR...")
		os.Exit(2)
	}
	for _, dir := range os.Args[1:] {
		if err := trimDir(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crdtrim:", err)
			os.Exit(1)
		}
	}
}

func trimDir(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		trim(doc, false)
		out, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(f, append([]byte("---\n"), out...), 0o644); err != nil { //nolint:gosec // CRDs are public
			return err
		}
	}
	return nil
}

// trim walks a schema. Below a pod spec (an object schema with both containers and
// restartPolicy properties) it deletes every description.
func trim(node any, inPod bool) {
	switch n := node.(type) {
	case map[string]any:
		if inPod {
			delete(n, "description")
		}
		below := inPod || isPodSpec(n)
		for _, v := range n {
			trim(v, below)
		}
	case []any:
		for _, v := range n {
			trim(v, inPod)
		}
	}
}

func isPodSpec(n map[string]any) bool {
	props, ok := n["properties"].(map[string]any)
	if !ok {
		return false
	}
	_, containers := props["containers"]
	_, restart := props["restartPolicy"]
	return containers && restart
}
