package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinary builds the plugin and checks what only main decides: every verb is wired, and
// the exit code of a failing command (lint of an invalid manifest exits 1).
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubectl-flotilla")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, help)
	}
	for _, verb := range []string{"get", "list", "promote", "abort", "retry", "pause", "resume", "restart", "set", "undo", "status", "lint", "version"} {
		if !strings.Contains(string(help), "\n  "+verb+" ") {
			t.Errorf("--help does not list %s:\n%s", verb, help)
		}
	}
	for _, flag := range []string{"--kubeconfig", "--context", "--namespace"} {
		if !strings.Contains(string(help), flag) {
			t.Errorf("--help lacks the kubeconfig flag %s", flag)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: rollouts.flotilla.dev/v1alpha1\nkind: AnalysisTemplate\nmetadata:\n  name: x\nspec: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "lint", "-f", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "AnalysisTemplate/x: AnalysisTemplate.rollouts.flotilla.dev \"x\" is invalid") {
		t.Errorf("lint of an invalid manifest: %v\n%s", err, out)
	}
}
