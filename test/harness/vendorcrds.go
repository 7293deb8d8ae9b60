package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// ModuleDir downloads module@version through the Go module proxy (or finds it in the module
// cache) and returns the folder that holds its files. Routers' CRDs are data that ship inside
// their Go modules; tests load them from there instead of keeping copies.
func ModuleDir(module, version string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir() // outside any module, so no go.mod is touched
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go mod download %s@%s: %w: %s", module, version, err, ee.Stderr)
		}
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return info.Dir, nil
}

// ModuleFiles returns the paths of files (relative to the module root, globs allowed) inside
// module@version, failing the test when the module or a file cannot be had.
func ModuleFiles(t testing.TB, module, version string, files ...string) []string {
	t.Helper()
	dir, err := ModuleDir(module, version)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		matches, err := filepath.Glob(filepath.Join(dir, f))
		if err != nil || len(matches) == 0 {
			t.Fatalf("%s@%s has no file %s", module, version, f)
		}
		out = append(out, matches...)
	}
	return out
}
