package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpus reads the API server test's cases: "# want:" lines and whether a "# patch:" line
// makes the case an update (which an offline create cannot reproduce).
func corpus(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "api", "testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in api/testdata/%s: %v", dir, err)
	}
	out := map[string][]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "# patch:") {
			continue
		}
		var want []string
		for line := range strings.Lines(string(raw)) {
			if w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want:"); ok {
				want = append(want, strings.TrimSpace(w))
			}
		}
		out[f] = want
	}
	return out
}

// TestLintInvalidCorpus: for every invalid manifest the API server test refuses on create,
// lint refuses it too, and its output holds each message the API server's error holds.
func TestLintInvalidCorpus(t *testing.T) {
	l, err := NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range corpus(t, "invalid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close() //nolint:errcheck // read only
			var out bytes.Buffer
			bad, err := l.LintFile(context.Background(), path, f, &out)
			if err != nil {
				t.Fatal(err)
			}
			if bad != 1 {
				t.Fatalf("lint found %d invalid objects, want 1:\n%s", bad, out.String())
			}
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("lint output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestLintValidCorpus: every manifest the API server accepts, lint accepts.
func TestLintValidCorpus(t *testing.T) {
	l, err := NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	for path := range corpus(t, "valid") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close() //nolint:errcheck // read only
			var out bytes.Buffer
			bad, err := l.LintFile(context.Background(), path, f, &out)
			if err != nil || bad != 0 {
				t.Fatalf("lint refused a manifest the API server accepts (%v):\n%s", err, out.String())
			}
		})
	}
}
