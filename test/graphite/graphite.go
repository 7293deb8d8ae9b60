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

// Package graphite runs a real Graphite for tests: Debian's graphite-carbon (carbon-cache,
// storing whisper files with one-second resolution) and graphite-web (the render API, served
// by Django's development server and reading carbon's cache through carbonlink), both on free
// 127.0.0.1 ports with their state in a test folder, started and stopped by pid through
// test/harness. It is the setup of analysis/providers/graphite's real-Graphite test, made
// importable for the tests that drive the provider through the AnalysisRun controller.
//
// Tests fail, never skip, when the packages are missing: `make test` installs them.
package graphite

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	carbonBinary = "/usr/bin/carbon-cache"
	pythonBinary = "/usr/bin/python3"
	startTimeout = time.Minute
)

// Server is a running carbon-cache and graphite-web.
type Server struct {
	url      string
	lineAddr string
	web      *harness.Process
}

// Start starts carbon-cache and graphite-web, waits until both serve, and stops them in
// t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	harness.HandleSignals(os.Stderr)
	for _, bin := range []string{carbonBinary, pythonBinary} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing: run `make test`, which installs Debian's graphite-carbon and graphite-web packages", bin)
		}
	}
	dir := harness.TempDir(t, "flotilla-graphite-")
	ports := make([]int, 4)
	for i := range ports {
		p, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	line, pickle, query, web := ports[0], ports[1], ports[2], ports[3]
	for _, sub := range []string{"storage/whisper", "storage/lists", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("carbon.conf", fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s/storage/
LOCAL_DATA_DIR = %[1]s/storage/whisper/
WHITELISTS_DIR = %[1]s/storage/lists/
CONF_DIR = %[1]s/
LOG_DIR = %[1]s/log/
PID_DIR = %[1]s/
ENABLE_LOGROTATION = False
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 500
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[2]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[3]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[4]d
CACHE_WRITE_STRATEGY = sorted
WHISPER_AUTOFLUSH = False
`, dir, line, pickle, query))
	write("storage-schemas.conf", "[default]\npattern = .*\nretentions = 1s:1h\n")
	write("flotilla_local_settings.py", fmt.Sprintf(`SECRET_KEY = 'flotilla-test'
STORAGE_DIR = '%[1]s/storage'
WHISPER_DIR = '%[1]s/storage/whisper/'
LOG_DIR = '%[1]s/log'
INDEX_FILE = '%[1]s/index'
CARBONLINK_HOSTS = ['127.0.0.1:%[2]d']
DATABASES = {'default': {'NAME': '%[1]s/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
`, dir, query))

	start := func(spec harness.ProcessSpec) *harness.Process {
		spec.Dir, spec.LogFile = dir, filepath.Join(dir, spec.Name+".log")
		p, err := harness.StartProcess(spec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.Stop(ctx); err != nil {
				t.Errorf("stopping %s: %v", p, err)
			}
		})
		return p
	}
	carbon := start(harness.ProcessSpec{Name: "carbon-cache", Path: carbonBinary, Args: []string{
		"--config=" + filepath.Join(dir, "carbon.conf"), "--nodaemon", "--logfile=-", "--pidfile=" + filepath.Join(dir, "carbon.pid"), "start",
	}})
	env := []string{"GRAPHITE_SETTINGS_MODULE=flotilla_local_settings", "PYTHONPATH=" + dir, "DJANGO_SETTINGS_MODULE=graphite.settings"}
	migrate := start(harness.ProcessSpec{Name: "graphite-migrate", Path: pythonBinary, Args: []string{"-m", "django", "migrate", "--noinput"}, Env: env})
	select {
	case <-migrate.Done():
		if _, err := migrate.Exited(); err != nil {
			t.Fatalf("graphite-web migrate failed (%v):\n%s", err, migrate.LogTail(20))
		}
	case <-time.After(startTimeout):
		t.Fatalf("graphite-web migrate did not finish in %s:\n%s", startTimeout, migrate.LogTail(20))
	}
	s := &Server{url: fmt.Sprintf("http://127.0.0.1:%d", web), lineAddr: fmt.Sprintf("127.0.0.1:%d", line)}
	s.web = start(harness.ProcessSpec{Name: "graphite-web", Path: pythonBinary, Env: env, Args: []string{
		"-m", "django", "runserver", fmt.Sprintf("127.0.0.1:%d", web), "--noreload",
	}})
	wait := func(what string, p *harness.Process, check func(ctx context.Context) error) {
		err := harness.WaitFor(context.Background(), what, startTimeout, func(ctx context.Context) (bool, string, error) {
			if exited, err := p.Exited(); exited {
				return false, "", fmt.Errorf("%s exited (%w):\n%s", p, err, p.LogTail(20))
			}
			err := check(ctx)
			return err == nil, fmt.Sprint(err), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wait("carbon-cache to listen", carbon, func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.lineAddr)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	wait("graphite-web to serve", s.web, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/render?target=none&format=json", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /render: %s", resp.Status)
		}
		return nil
	})
	return s
}

// URL is graphite-web's base URL, such as http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// StopWeb stops graphite-web (carbon keeps running), so that queries fail.
func (s *Server) StopWeb(ctx context.Context) error { return s.web.Stop(ctx) }

// Feed sends the series <prefix>.requests (1000) and <prefix>.errors (the current value of
// errorsPerMille) for the current second to carbon twice a second, until ctx ends. Errors are
// reported with t.Errorf.
func (s *Server) Feed(ctx context.Context, t testing.TB, prefix string, errorsPerMille *atomic.Int64) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.lineAddr)
	if err != nil {
		t.Errorf("connecting to carbon: %v", err)
		return
	}
	defer func() { _ = conn.Close() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now().Unix()
		if _, err := fmt.Fprintf(conn, "%[1]s.requests 1000 %[2]d\n%[1]s.errors %[3]d %[2]d\n", prefix, now, errorsPerMille.Load()); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
