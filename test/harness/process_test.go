package harness

import (
	"strings"
	"testing"
)

// TestKill kills a running process, sees it reaped, and refuses to kill it a second time:
// a test that kills a process must learn when it had died on its own.
func TestKill(t *testing.T) {
	p, err := StartProcess(ProcessSpec{Name: "sleep", Path: "/bin/sleep", Args: []string{"60"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	exited, waitErr := p.Exited()
	if !exited || waitErr == nil || !strings.Contains(waitErr.Error(), "killed") {
		t.Fatalf("after Kill: exited %v (%v), want exited by SIGKILL", exited, waitErr)
	}
	if err := p.Kill(); err == nil || !strings.Contains(err.Error(), "already exited") {
		t.Errorf("a second Kill: %v, want an error saying it had already exited", err)
	}
}
