/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package prometheus runs a real Prometheus server for tests (Debian's prometheus
// package, /usr/bin/prometheus), scraping an in-test exporter whose error rate the test
// sets. The server listens on a free 127.0.0.1 port, keeps its TSDB and log in a test
// folder, scrapes every second, runs in its own process group with Pdeathsig (through
// test/harness) and is stopped by pid when the test ends.
//
// Tests fail, never skip, when the binary is missing: `make test` installs it.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/test/harness"
)

// BinaryEnv names an environment variable that overrides where the prometheus binary is.
const BinaryEnv = "FLOTILLA_PROMETHEUS"

// ScrapeInterval is how often the server scrapes its targets.
const ScrapeInterval = time.Second

// startTimeout bounds how long the server may take to become ready.
const startTimeout = time.Minute

// Binary finds the prometheus binary: $FLOTILLA_PROMETHEUS, then prometheus on PATH, then
// /usr/bin/prometheus.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus", nil
	}
	return "", errors.New("the prometheus binary is not installed (not on PATH, not /usr/bin/prometheus): " +
		"run `make test`, which installs Debian's prometheus package, or `apt-get install prometheus`")
}

// Server is a running Prometheus.
type Server struct {
	proc    *harness.Process
	url     string
	dir     string
	targets []string
}

// Start starts Prometheus scraping targets (host:port on 127.0.0.1, path /metrics) every
// second, waits until it is ready, and stops it in t.Cleanup. It fails the test when the
// binary is missing or the server does not come up.
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	harness.HandleSignals(os.Stderr)
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := harness.TempDir(t, "flotilla-prometheus-")
	s := &Server{dir: dir, targets: targets}
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stopping prometheus: %v", err)
		}
	})
	return s
}

func (s *Server) writeConfig() (string, error) {
	quoted := make([]string, len(s.targets))
	for i, target := range s.targets {
		quoted[i] = fmt.Sprintf("%q", target)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: exporter
    static_configs:
      - targets: [%[2]s]
`, ScrapeInterval, strings.Join(quoted, ", "))
	path := filepath.Join(s.dir, "prometheus.yml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

func (s *Server) start(bin string) error {
	cfg, err := s.writeConfig()
	if err != nil {
		return err
	}
	var lastErr error
	for range 3 { // another program may take the free port before prometheus binds it
		port, err := harness.FreePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		proc, err := harness.StartProcess(harness.ProcessSpec{
			Name: "prometheus",
			Path: bin,
			Args: []string{
				"--config.file=" + cfg,
				"--storage.tsdb.path=" + filepath.Join(s.dir, "data"),
				"--storage.tsdb.retention.time=1h",
				"--web.listen-address=" + addr,
				"--log.level=info",
			},
			Dir:         s.dir,
			LogFile:     filepath.Join(s.dir, "prometheus.log"),
			StopTimeout: 10 * time.Second,
		})
		if err != nil {
			return err
		}
		s.proc, s.url = proc, "http://"+addr
		lastErr = harness.WaitFor(context.Background(), "prometheus at "+s.url+" to be ready", startTimeout, s.ready)
		if lastErr == nil {
			return nil
		}
		_ = proc.Stop(context.Background())
		if !strings.Contains(proc.LogTail(30), "address already in use") {
			break
		}
	}
	return fmt.Errorf("%w; log %s ends with:\n%s", lastErr, s.proc.LogPath(), s.proc.LogTail(20))
}

// ready is a harness.Condition: GET /-/ready answers 200, and the process still runs.
func (s *Server) ready(ctx context.Context) (bool, string, error) {
	if exited, err := s.proc.Exited(); exited {
		return false, "", fmt.Errorf("prometheus exited: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/-/ready", nil)
	if err != nil {
		return false, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return notYet(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK, "GET /-/ready: " + resp.Status, nil
}

// URL is the server's base URL, such as http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// Pid is the process id of the server.
func (s *Server) Pid() int { return s.proc.Pid() }

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string { return s.proc.LogTail(n) }

// Stop stops the server (SIGTERM to its process group, then SIGKILL) and waits for it to
// exit. It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	if s.proc == nil {
		return nil
	}
	return s.proc.Stop(ctx)
}

// notYet is a Condition's result for a transient error, which is what was seen.
func notYet(err error) (bool, string, error) { return false, err.Error(), nil }
