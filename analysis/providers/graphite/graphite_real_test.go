package graphite_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/graphite"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	carbonBinary = "/usr/bin/carbon-cache"
	pythonBinary = "/usr/bin/python3"
	startTimeout = time.Minute
)

// realGraphite is Debian's graphite-carbon (carbon-cache, storing whisper files with one
// second resolution) and graphite-web (the render API, served by Django's server and
// reading carbon's cache through carbonlink), both on 127.0.0.1 ports with their state in a
// test folder, started and stopped by pid through test/harness.
type realGraphite struct {
	url      string
	lineAddr string
	web      *harness.Process
}

func startGraphite(t *testing.T) *realGraphite {
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
	g := &realGraphite{url: fmt.Sprintf("http://127.0.0.1:%d", web), lineAddr: fmt.Sprintf("127.0.0.1:%d", line)}
	g.web = start(harness.ProcessSpec{Name: "graphite-web", Path: pythonBinary, Env: env, Args: []string{
		"-m", "django", "runserver", fmt.Sprintf("127.0.0.1:%d", web), "--noreload",
	}})
	wait := func(what string, p *harness.Process, check func(ctx context.Context) error) {
		err := harness.WaitFor(context.Background(), what, startTimeout, func(ctx context.Context) (bool, string, error) {
			if exited, err := p.Exited(); exited {
				return false, "", fmt.Errorf("%s exited (%w):\n%s", p, err, p.LogTail(20))
			}
			if err := check(ctx); err != nil {
				return notYet(err)
			}
			return true, "", nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wait("carbon-cache to listen", carbon, func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", g.lineAddr)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	wait("graphite-web to serve", g.web, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url+"/render?target=none&format=json", nil)
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
	return g
}

// feed sends requests and errors counts for the current second to carbon twice a second,
// with errors the given share (in thousandths) of 1000 requests, until ctx ends.
func (g *realGraphite) feed(ctx context.Context, t *testing.T, errorsPerMille *atomic.Int64) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", g.lineAddr)
	if err != nil {
		t.Errorf("connecting to carbon: %v", err)
		return
	}
	defer func() { _ = conn.Close() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now().Unix()
		if _, err := fmt.Fprintf(conn, "checkout.requests 1000 %d\ncheckout.errors %d %d\n", now, errorsPerMille.Load(), now); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestRealGraphite runs the provider against Debian's graphite-carbon and graphite-web:
// an asPercent() error rate over series the test feeds follows the rate the test sets, and
// once graphite-web is stopped a measurement is an error.
func TestRealGraphite(t *testing.T) {
	g := startGraphite(t)
	var perMille atomic.Int64
	perMille.Store(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.feed(ctx, t, &perMille)

	p := graphite.New(graphite.Options{})
	req := analysis.Request{Metric: v1alpha1.Metric{Name: "error-rate", Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{
		Address: g.url,
		Query:   "target=asPercent(checkout.errors, checkout.requests)\n&from=-20s",
	}}}}
	waitFor := func(want float64) {
		t.Helper()
		err := harness.WaitFor(context.Background(), fmt.Sprintf("an error rate of %v%%", want), time.Minute, func(ctx context.Context) (bool, string, error) {
			v, err := p.Measure(ctx, req)
			if err != nil {
				return notYet(err)
			}
			list, _ := v.Result.([]float64)
			return len(list) > 0 && math.Abs(list[len(list)-1]-want) < 1e-9, "result " + v.Text, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(10)
	perMille.Store(1)
	waitFor(0.1)

	stopCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := g.web.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	v, err := p.Measure(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Measure after graphite-web stopped = %#v, %v; want a connection error", v, err)
	}
}

// notYet is a wait condition's result for a transient error, which is what was seen.
func notYet(err error) (bool, string, error) { return false, err.Error(), nil }
