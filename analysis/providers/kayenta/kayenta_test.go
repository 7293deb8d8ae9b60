package kayenta_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/kayenta"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type call struct {
	method, uri, body string
}

// fakeKayenta serves Kayenta's REST API shapes (the canary-config and canary controllers of
// the Kayenta standalone API, https://github.com/spinnaker/kayenta/blob/master/docs/):
// GET /canaryConfig lists configs, POST /canary/{configId} starts a judgement and answers
// its canaryExecutionId, GET /canary/{id} reports it, incomplete `polls` times before it
// is complete with the given score. It runs on 127.0.0.1.
type fakeKayenta struct {
	mu         sync.Mutex
	calls      []call
	polls      int
	score      float64
	startCode  int
	statusBody string
}

func (f *fakeKayenta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{method: r.Method, uri: r.URL.RequestURI(), body: string(b)})
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/canaryConfig":
		_, _ = io.WriteString(w, `[{"id":"cfg-other","name":"other","applications":["shop"]},{"id":"cfg-42","name":"checkout-canary","updatedTimestamp":1,"applications":["shop"]}]`)
	case r.Method == http.MethodPost && r.URL.Path == "/canary/cfg-42":
		if f.startCode != 0 {
			w.WriteHeader(f.startCode)
			_, _ = io.WriteString(w, `{"error":"Bad Request","message":"no such account"}`)
			return
		}
		_, _ = io.WriteString(w, `{"canaryExecutionId":"01HXEXEC"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/canary/01HXEXEC":
		if f.statusBody != "" {
			_, _ = io.WriteString(w, f.statusBody)
			return
		}
		if f.polls > 0 {
			f.polls--
			_, _ = io.WriteString(w, `{"complete":false,"status":"running"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"complete": true, "status": "succeeded",
			"result": map[string]any{"judgeResult": map[string]any{"score": map[string]any{"score": f.score, "classification": "Pass"}}}})
	default:
		http.NotFound(w, r)
	}
}

func metric(address string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: "kayenta", Interval: "15m", Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
		Address: address, Application: "shop", CanaryConfigName: "checkout-canary",
		MetricsAccountName: "prom-account", ConfigurationAccountName: "config-account", StorageAccountName: "storage-account",
		Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
		Scopes: []v1alpha1.KayentaScope{{
			Name:            "default",
			ControlScope:    v1alpha1.ScopeDetail{Scope: "app=checkout,track=stable", Region: "us-east-1", Step: 60},
			ExperimentScope: v1alpha1.ScopeDetail{Scope: "app=checkout,track=canary", Region: "us-east-1", Step: 60},
		}},
	}}}
}

func run(t *testing.T, f *fakeKayenta) (analysis.Value, []analysis.Value) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p := kayenta.New(kayenta.Options{Now: func() time.Time { return now }})
	m := metric(srv.URL)
	v, err := p.Measure(context.Background(), analysis.Request{Metric: m})
	if err != nil {
		t.Fatal(err)
	}
	var pending []analysis.Value
	for v.Pending {
		pending = append(pending, v)
		if len(pending) > 10 {
			t.Fatal("the judgement never completed")
		}
		inFlight := &v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, Metadata: v.Metadata}
		if v, err = p.Measure(context.Background(), analysis.Request{Metric: m, InFlight: inFlight}); err != nil {
			t.Fatal(err)
		}
	}
	return v, pending
}

func TestJudgementStartsThenPolls(t *testing.T) {
	f := &fakeKayenta{polls: 2, score: 93.7}
	v, pending := run(t, f)
	if len(pending) != 3 || pending[0].Metadata[kayenta.MetadataExecutionID] != "01HXEXEC" {
		t.Fatalf("pending values = %v, want the start and two incomplete polls, with the execution ID", pending)
	}
	if v.Result != 93.7 || v.Text != "93" || v.Verdict != v1alpha1.AnalysisPhaseSuccessful || v.Metadata[kayenta.MetadataExecutionID] != "01HXEXEC" {
		t.Errorf("final value = %#v", v)
	}
	if len(f.calls) != 5 {
		t.Fatalf("calls = %v", f.calls)
	}
	if c := f.calls[0]; c.method != http.MethodGet || c.uri != "/canaryConfig?application=shop&configurationAccountName=config-account" {
		t.Errorf("config lookup = %s %s", c.method, c.uri)
	}
	start := f.calls[1]
	if start.method != http.MethodPost || start.uri != "/canary/cfg-42?application=shop&configurationAccountName=config-account&metricsAccountName=prom-account&storageAccountName=storage-account" {
		t.Errorf("start = %s %s", start.method, start.uri)
	}
	want := `{"scopes":{"default":{"controlScope":{"scope":"app=checkout,track=stable","location":"us-east-1","step":60,"start":"2026-05-01T11:45:00Z","end":"2026-05-01T12:00:00Z"},` +
		`"experimentScope":{"scope":"app=checkout,track=canary","location":"us-east-1","step":60,"start":"2026-05-01T11:45:00Z","end":"2026-05-01T12:00:00Z"}}},"thresholds":{"marginal":75,"pass":90}}`
	if start.body != want {
		t.Errorf("start body:\n got %s\nwant %s", start.body, want)
	}
	for _, c := range f.calls[2:] {
		if c.method != http.MethodGet || c.uri != "/canary/01HXEXEC" {
			t.Errorf("poll = %s %s", c.method, c.uri)
		}
	}
}

func TestVerdicts(t *testing.T) {
	for score, want := range map[float64]v1alpha1.AnalysisPhase{
		90: v1alpha1.AnalysisPhaseSuccessful, 80: v1alpha1.AnalysisPhaseInconclusive, 74.9: v1alpha1.AnalysisPhaseFailed,
	} {
		if v, _ := run(t, &fakeKayenta{score: score}); v.Verdict != want {
			t.Errorf("score %v: verdict %s, want %s", score, v.Verdict, want)
		}
	}
}

func TestFailuresAreErrors(t *testing.T) {
	srv := httptest.NewServer(&fakeKayenta{startCode: 400})
	t.Cleanup(srv.Close)
	p := kayenta.New(kayenta.Options{Now: func() time.Time { return now }})
	if _, err := p.Measure(context.Background(), analysis.Request{Metric: metric(srv.URL)}); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("start refused: err = %v", err)
	}
	for body, want := range map[string]string{
		`{"complete":true,"status":"terminal"}`: "no result.judgeResult.score.score",
		`{"status":"running"}`:                  "no complete field",
		`{"complete":`:                          "not JSON",
	} {
		f := &fakeKayenta{statusBody: body}
		srv := httptest.NewServer(f)
		in := &v1alpha1.Measurement{Metadata: map[string]string{kayenta.MetadataExecutionID: "01HXEXEC"}}
		v, err := p.Measure(context.Background(), analysis.Request{Metric: metric(srv.URL), InFlight: in})
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("status %s: Measure = %#v, %v; want an error with %q", body, v, err, want)
		}
	}
	m := metric("http://127.0.0.1:1")
	m.Provider.Kayenta.CanaryConfigName = "missing"
	srv2 := httptest.NewServer(&fakeKayenta{})
	t.Cleanup(srv2.Close)
	m.Provider.Kayenta.Address = srv2.URL
	if _, err := p.Measure(context.Background(), analysis.Request{Metric: m}); err == nil || !strings.Contains(err.Error(), `no canary config named "missing"`) {
		t.Errorf("missing config: err = %v", err)
	}
	m = metric(srv2.URL)
	m.Provider.Kayenta.Lookback = true
	if _, err := p.Measure(context.Background(), analysis.Request{Metric: m}); err == nil || !strings.Contains(err.Error(), "lookback") {
		t.Errorf("lookback without start: err = %v", err)
	}
}
