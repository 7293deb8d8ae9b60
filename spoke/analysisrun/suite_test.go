package analysisrun_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/analysis/providers/job"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/analysisrun"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The tests of this package share one API server (etcd and kube-apiserver, no controllers)
// and one manager running the AnalysisRun controller, each test in its own namespace. The
// Job provider's tests need Jobs to really run and start their own full control plane (see
// job_test.go).

// credentialsNS is the controller's namespace, where the providers' shared credential
// Secrets live (Deps.Namespace).
const credentialsNS = "flotilla-system"

var (
	env *harness.Env
	// logs captures every line the manager and the controller log, for the secret test.
	logs syncBuffer
	// getenv is the environment the providers see (AWS_* for CloudWatch), set by tests.
	getenv = testEnv{vars: map[string]string{}}
	// vendors routes the host names of the vendors' public APIs to the local servers that
	// stand in for them (see vendorNet).
	vendors = &vendorNet{hosts: map[string]string{}}
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	harness.HandleSignals(os.Stderr)
	dir, err := os.MkdirTemp("", "flotilla-analysisrun-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	keep := true
	defer func() {
		if keep {
			fmt.Fprintf(os.Stderr, "API server logs and the controller's log kept in %s\n", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()
	env, err = harness.StartEnv(harness.EnvOptions{
		Dir: dir, CRDDirs: []string{harness.SpokeCRDDir}, Scheme: harness.NewScheme(v1alpha1.AddToScheme),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	stopped, err := startController(ctx, env.Config)
	if err != nil {
		cancel()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-stopped; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		code = 1
	}
	if err := os.WriteFile(dir+"/controller.log", logs.Bytes(), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	keep = code != 0 || os.Getenv(harness.KeepLogsEnv) != ""
	return code
}

// startController creates the credentials namespace and runs a manager with the AnalysisRun
// controller (logging at debug level into logs) until ctx ends.
func startController(ctx context.Context, cfg *rest.Config) (<-chan error, error) {
	c := env.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: credentialsNS}}); err != nil {
		return nil, err
	}
	pool, err := vendorCertPool()
	if err != nil {
		return nil, err
	}
	mgr, err := newManager(cfg, zap.New(zap.WriteTo(&logs), zap.UseDevMode(true), zap.Level(zapcore.DebugLevel)))
	if err != nil {
		return nil, err
	}
	httpClient := &http.Client{Transport: vendors.transport(pool)}
	r := &analysisrun.Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("flotilla-spoke"),
		Providers: providers.New(providers.Deps{
			HTTPClient: httpClient,
			Secrets:    analysisrun.SecretReader{Reader: mgr.GetAPIReader()},
			Namespace:  credentialsNS,
			Getenv:     getenv.get,
			Extra:      []analysis.Provider{job.New(job.Options{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()})},
		}),
		MaxConcurrentReconciles: 4,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, nil
}

// newManager is a manager for tests: no metrics or probe endpoints, and controller names
// that may repeat (the Job test runs a second manager in the same process).
func newManager(cfg *rest.Config, log logr.Logger) (manager.Manager, error) {
	return ctrl.NewManager(cfg, manager.Options{
		Scheme:                 harness.NewScheme(v1alpha1.AddToScheme),
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: new(true)},
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// testEnv is the environment the providers read.
type testEnv struct {
	mu   sync.Mutex
	vars map[string]string
}

func (e *testEnv) get(key string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[key]
}

// set sets the variables for the rest of the test.
func (e *testEnv) set(t *testing.T, vars map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, v := range vars {
		e.vars[k] = v
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for k := range vars {
			delete(e.vars, k)
		}
	})
}

// vendorNet is the providers' network: a vendor's public host name (such as
// wavefront.example.com) is dialled at the 127.0.0.1 address of the local server that stands
// in for it, and TLS trusts the certificate of Go's httptest servers (valid for
// *.example.com). Every other address must be on 127.0.0.1: nothing leaves the machine.
type vendorNet struct {
	mu    sync.Mutex
	hosts map[string]string
}

func (n *vendorNet) route(t *testing.T, host string, srv *httptest.Server) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts[host] = srv.Listener.Addr().String()
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.hosts, host)
	})
}

func (n *vendorNet) transport(pool *x509.CertPool) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			n.mu.Lock()
			target, routed := n.hosts[host]
			n.mu.Unlock()
			switch {
			case routed:
				addr = target
			case host != "127.0.0.1":
				return nil, fmt.Errorf("test network: %s is neither 127.0.0.1 nor a routed vendor host", addr)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
}

// vendorCertPool trusts the certificate every httptest TLS server presents.
func vendorCertPool() (*x509.CertPool, error) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool, nil
}

// vendor is a local HTTP server on 127.0.0.1 that stands in for a vendor's API: it records
// every request and answers "METHOD /path" from its routes.
type vendor struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []recorded
	routes map[string]reply
}

type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
}

type reply struct {
	status      int
	contentType string
	body        string
}

func newVendor(t *testing.T, tlsServer bool, routes map[string]reply) *vendor {
	v := &vendor{routes: routes}
	h := http.HandlerFunc(v.serve)
	if tlsServer {
		v.Server = httptest.NewTLSServer(h)
	} else {
		v.Server = httptest.NewServer(h)
	}
	t.Cleanup(v.Close)
	return v
}

func (v *vendor) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	v.seen = append(v.seen, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
	rep, ok := v.routes[r.Method+" "+r.URL.Path]
	v.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if rep.contentType == "" {
		rep.contentType = "application/json"
	}
	w.Header().Set("Content-Type", rep.contentType)
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	_, _ = io.WriteString(w, rep.body)
}

// requests returns what the server received so far.
func (v *vendor) requests() []recorded {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]recorded(nil), v.seen...)
}

// first returns the first request the server received, failing the test if there was none.
func (v *vendor) first(t *testing.T) recorded {
	t.Helper()
	seen := v.requests()
	if len(seen) == 0 {
		t.Fatal("the server received no request")
	}
	return seen[0]
}

// createRun creates an AnalysisRun in namespace ns of the shared API server.
func createRun(t *testing.T, ns, name string, spec v1alpha1.AnalysisRunSpec) *v1alpha1.AnalysisRun {
	t.Helper()
	return createRunIn(t, env.Client, ns, name, spec)
}

// createRunIn creates an AnalysisRun with client c.
func createRunIn(t *testing.T, c client.Client, ns, name string, spec v1alpha1.AnalysisRunSpec) *v1alpha1.AnalysisRun {
	t.Helper()
	run := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Create(ctx, run); err != nil {
		t.Fatalf("creating AnalysisRun %s: %v", name, err)
	}
	return run
}

// waitRun waits until the run satisfies done, and fails the test with the run's last seen
// state after timeout.
func waitRun(t *testing.T, run *v1alpha1.AnalysisRun, what string, timeout time.Duration, done func(*v1alpha1.AnalysisRun) bool) *v1alpha1.AnalysisRun {
	t.Helper()
	return waitRunIn(t, env.Client, run, what, timeout, done)
}

// waitRunIn is waitRun with client c.
func waitRunIn(t *testing.T, c client.Client, run *v1alpha1.AnalysisRun, what string, timeout time.Duration, done func(*v1alpha1.AnalysisRun) bool) *v1alpha1.AnalysisRun {
	t.Helper()
	got := &v1alpha1.AnalysisRun{}
	err := harness.WaitFor(context.Background(), fmt.Sprintf("AnalysisRun %s: %s", run.Name, what), timeout,
		func(ctx context.Context) (bool, string, error) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(run), got); err != nil {
				return notYet(err)
			}
			return done(got), describe(got), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitCompleted waits until the run reached a final phase.
func waitCompleted(t *testing.T, run *v1alpha1.AnalysisRun, timeout time.Duration) *v1alpha1.AnalysisRun {
	t.Helper()
	return waitRun(t, run, "a final phase", timeout, func(r *v1alpha1.AnalysisRun) bool { return r.Status.Phase.Completed() })
}

// describe summarizes a run for failure messages.
func describe(r *v1alpha1.AnalysisRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %q (%s)", r.Status.Phase, r.Status.Message)
	for _, m := range r.Status.MetricResults {
		fmt.Fprintf(&b, "; metric %s %s count=%d error=%d (%s)", m.Name, m.Phase, m.Count, m.Error, m.Message)
		if n := len(m.Measurements); n > 0 {
			last := m.Measurements[n-1]
			fmt.Fprintf(&b, " last measurement %s value=%q message=%q", last.Phase, last.Value, last.Message)
		}
	}
	return b.String()
}

// metricResult returns the result of the metric name, failing the test if there is none.
func metricResult(t *testing.T, r *v1alpha1.AnalysisRun, name string) v1alpha1.MetricResult {
	t.Helper()
	for _, m := range r.Status.MetricResults {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no result for metric %s: %s", name, describe(r))
	return v1alpha1.MetricResult{}
}

// condition returns the run's condition typ, failing the test if it has none.
func condition(t *testing.T, r *v1alpha1.AnalysisRun, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(r.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition: %+v", typ, r.Status.Conditions)
	}
	return *c
}

// runEvents waits until the run has events with every reason in want, and returns all of
// its events (events.k8s.io, as the controller's recorder writes them).
func runEvents(t *testing.T, run *v1alpha1.AnalysisRun, want ...string) []eventsv1.Event {
	t.Helper()
	var mine []eventsv1.Event
	err := harness.WaitFor(context.Background(), fmt.Sprintf("events %v on AnalysisRun %s", want, run.Name), 30*time.Second,
		func(ctx context.Context) (bool, string, error) {
			var list eventsv1.EventList
			if err := env.Client.List(ctx, &list, client.InNamespace(run.Namespace)); err != nil {
				return notYet(err)
			}
			mine = mine[:0]
			reasons := map[string]bool{}
			for _, e := range list.Items {
				if e.Regarding.Name == run.Name && e.Regarding.Kind == "AnalysisRun" {
					mine = append(mine, e)
					reasons[e.Reason] = true
				}
			}
			var have []string
			for r := range reasons {
				have = append(have, r)
			}
			sort.Strings(have)
			for _, w := range want {
				if !reasons[w] {
					return false, "reasons " + strings.Join(have, ", "), nil
				}
			}
			return true, "", nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return mine
}

// createSecret creates a Secret with string data.
func createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatalf("creating Secret %s/%s: %v", ns, name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := env.Client.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting Secret %s/%s: %v", ns, name, err)
		}
	})
}

// patchRun applies a JSON merge patch to the run's spec or metadata.
func patchRun(t *testing.T, run *v1alpha1.AnalysisRun, patch string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj := &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: run.Name}}
	if err := env.Client.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("patching AnalysisRun %s: %v", run.Name, err)
	}
}

// gatherLabels returns every label value of every series in controller-runtime's registry,
// as "metric{label=value}" strings.
func gatherLabels(t *testing.T) []string {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				out = append(out, fmt.Sprintf("%s{%s=%s}", f.GetName(), l.GetName(), l.GetValue()))
			}
		}
	}
	return out
}

// gaugeValue returns the value of the gauge name with exactly the labels want, and whether
// there is such a series.
func gaugeValue(t *testing.T, name string, want map[string]string) (float64, bool) {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// toJSON renders v for assertions about what an object holds.
func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// notYet is a wait condition's result for a transient error, which is what was seen.
func notYet(err error) (bool, string, error) { return false, err.Error(), nil }
