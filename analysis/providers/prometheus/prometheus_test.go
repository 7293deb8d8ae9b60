package prometheus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/prometheus"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// seen is one request a fake server received.
type seen struct {
	method, path string
	header       http.Header
	form         url.Values
}

// fakeAPI serves the Prometheus HTTP API shapes (https://prometheus.io/docs/prometheus/latest/querying/api/)
// on 127.0.0.1 and records every request.
type fakeAPI struct {
	t      *testing.T
	mu     sync.Mutex
	seen   []seen
	status int
	body   string
	delay  time.Duration
	noPost bool
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("parsing the form: %v", err)
	}
	f.mu.Lock()
	f.seen = append(f.seen, seen{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), form: r.Form})
	f.mu.Unlock()
	if f.noPost && r.Method == http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, f.body)
}

func (f *fakeAPI) last() seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		f.t.Fatal("the server received no request")
	}
	return f.seen[len(f.seen)-1]
}

const vectorBody = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1714000000.5,"0.95"]}]}}`

var fixedNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newFake(t *testing.T, body string) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, body: body}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func measure(t *testing.T, p *prometheus.Provider, pm *v1alpha1.PrometheusMetric) (analysis.Value, error) {
	t.Helper()
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Prometheus: pm},
	}})
}

func TestInstantQueryRequestAndResult(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	p := prometheus.New(prometheus.Options{Now: func() time.Time { return fixedNow }})
	v, err := measure(t, p, &v1alpha1.PrometheusMetric{
		Address: srv.URL + "/prom/",
		Query:   `sum(up{job="a"})`,
		Headers: []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant-a"}},
		Authentication: &v1alpha1.Authentication{
			BasicAuth: &v1alpha1.BasicAuthConfig{Username: "grafana", Password: "s3cret"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.last()
	if got.method != http.MethodPost || got.path != "/prom/api/v1/query" {
		t.Errorf("request = %s %s, want POST /prom/api/v1/query", got.method, got.path)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := url.Values{"query": {`sum(up{job="a"})`}, "time": {"1777636800"}}
	if got.form.Encode() != want.Encode() {
		t.Errorf("form = %s, want %s", got.form.Encode(), want.Encode())
	}
	if got.header.Get("X-Scope-OrgID") != "tenant-a" {
		t.Errorf("custom header missing: %v", got.header)
	}
	if auth := got.header.Get("Authorization"); auth != "Basic Z3JhZmFuYTpzM2NyZXQ=" {
		t.Errorf("Authorization = %q, want basic grafana:s3cret", auth)
	}
	if list, ok := v.Result.([]float64); !ok || len(list) != 1 || list[0] != 0.95 {
		t.Errorf("Result = %#v, want []float64{0.95}", v.Result)
	}
	if v.Text != "[0.95]" || v.Metadata[prometheus.MetadataQuery] != `sum(up{job="a"})` {
		t.Errorf("Text %q, Metadata %v", v.Text, v.Metadata)
	}
}

func TestBearerTokenHeader(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	p := prometheus.New(prometheus.Options{DefaultAddress: srv.URL})
	if _, err := measure(t, p, &v1alpha1.PrometheusMetric{
		Query:   "up",
		Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer abc.def"}},
	}); err != nil {
		t.Fatal(err)
	}
	if auth := f.last().header.Get("Authorization"); auth != "Bearer abc.def" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestRangeQueryRequest(t *testing.T) {
	f, srv := newFake(t, `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"pod":"a"},"values":[[1,"1"],[2,"2"]]},
		{"metric":{"pod":"b"},"values":[[1,"3"],[2,"NaN"]]}]}}`)
	p := prometheus.New(prometheus.Options{Now: func() time.Time { return fixedNow }})
	v, err := measure(t, p, &v1alpha1.PrometheusMetric{
		Address: srv.URL,
		Query:   "latency",
		RangeQuery: &v1alpha1.PrometheusRangeQueryArgs{
			Start: `now() - duration("10m")`, End: `now() - duration("30s")`, Step: "1m",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.last()
	if got.path != "/api/v1/query_range" {
		t.Errorf("path = %s", got.path)
	}
	want := url.Values{"query": {"latency"}, "start": {"1777636200"}, "end": {"1777636770"}, "step": {"60"}}
	if got.form.Encode() != want.Encode() {
		t.Errorf("form = %s, want %s", got.form.Encode(), want.Encode())
	}
	list, ok := v.Result.([]float64)
	if !ok || len(list) != 4 || list[0] != 1 || list[2] != 3 || !math.IsNaN(list[3]) {
		t.Errorf("Result = %#v, want [1 2 3 NaN]", v.Result)
	}
	if v.Text != "[1,2,3,NaN]" {
		t.Errorf("Text = %q", v.Text)
	}
}

func TestResultShapes(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       any
	}{
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"0.5"]}}`, 0.5},
		{"vector of two", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"+Inf"]}]}}`, []float64{1, math.Inf(1)}},
		{"empty vector is nil", `{"status":"success","data":{"resultType":"vector","result":[]}}`, nil},
		{"empty matrix is nil", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, tc.body)
			v, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q"})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(v.Result) != fmt.Sprint(tc.want) {
				t.Errorf("Result = %#v, want %#v", v.Result, tc.want)
			}
		})
	}
}

func TestWarningsInMetadata(t *testing.T) {
	_, srv := newFake(t, `{"status":"success","warnings":["partial response"],"data":{"resultType":"scalar","result":[1,"1"]}}`)
	v, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Metadata[prometheus.MetadataWarnings] != "partial response" {
		t.Errorf("Metadata = %v", v.Metadata)
	}
}

func TestFallsBackToGET(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	f.noPost = true
	if _, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "up"}); err != nil {
		t.Fatal(err)
	}
	got := f.last()
	if got.method != http.MethodGet || got.form.Get("query") != "up" {
		t.Errorf("retry = %s with %v, want GET with the query", got.method, got.form)
	}
}

// TestFailuresAreErrors checks that nothing but a well-formed success becomes a value.
func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"bad query", `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`, 400, "bad_data: parse error at char 3"},
		{"unavailable", `upstream down`, 503, "HTTP 503"},
		{"malformed JSON", `{"status":"success","data":`, 200, "not JSON"},
		{"status error in 200", `{"status":"error","error":"boom"}`, 200, "boom"},
		{"string result", `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`, 200, "not supported"},
		{"value not a number", `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"abc"]}]}}`, 200, "not a number"},
		{"no data", `{"status":"success"}`, 200, "no data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, tc.body)
			f.status = tc.status
			v, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	neg := int64(-1)
	for _, tc := range []struct {
		name string
		pm   v1alpha1.PrometheusMetric
		want string
	}{
		{"no address", v1alpha1.PrometheusMetric{Query: "q"}, "no address"},
		{"not a URL", v1alpha1.PrometheusMetric{Address: "prometheus:9090", Query: "q"}, "not a URL"},
		{"negative timeout", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", Timeout: &neg}, "negative"},
		{"range without start", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", RangeQuery: &v1alpha1.PrometheusRangeQueryArgs{Step: "1m"}}, "start is required"},
		{"range without step", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", RangeQuery: &v1alpha1.PrometheusRangeQueryArgs{Start: "now()"}}, "step is required"},
		{"bad start", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", RangeQuery: &v1alpha1.PrometheusRangeQueryArgs{Start: "yesterday", Step: "1m"}}, "rangeQuery.start"},
		{"basic auth without password", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", Authentication: &v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuthConfig{Username: "u"}}}, "password is required"},
		{"oauth2 without secret", v1alpha1.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "q", Authentication: &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "c"}}}, "clientSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm := tc.pm
			if _, err := measure(t, prometheus.New(prometheus.Options{}), &pm); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	f.delay = 10 * time.Second
	one := int64(1)
	start := time.Now()
	_, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q", Timeout: &one})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a 1s timeout took %s", took)
	}
}

func TestInsecure(t *testing.T) {
	f := &fakeAPI{t: t, body: vectorBody}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	p := prometheus.New(prometheus.Options{})
	if _, err := measure(t, p, &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without insecure: err = %v, want a certificate error", err)
	}
	if _, err := measure(t, p, &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q", Insecure: true}); err != nil {
		t.Fatalf("with insecure: %v", err)
	}
}

// tokenServer is an OAuth2 token endpoint (RFC 6749 section 4.4) on 127.0.0.1.
type tokenServer struct {
	t      *testing.T
	mu     sync.Mutex
	calls  int
	status int
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if s.status != 0 {
		http.Error(w, `{"error":"invalid_client"}`, s.status)
		return
	}
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || !ok || id != "flotilla" || secret != "client-s3cret" ||
		r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "metrics.read tenant" {
		s.t.Errorf("token request: %s basic=%v %q/%q form=%v", r.Method, ok, id, secret, r.PostForm)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-123", "token_type": "bearer", "expires_in": 3600})
}

func TestOAuth2ClientCredentials(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	ts := &tokenServer{t: t}
	tokenSrv := httptest.NewServer(ts)
	t.Cleanup(tokenSrv.Close)
	p := prometheus.New(prometheus.Options{})
	pm := &v1alpha1.PrometheusMetric{Address: srv.URL, Query: "q", Authentication: &v1alpha1.Authentication{
		OAuth2: &v1alpha1.OAuth2Config{TokenURL: tokenSrv.URL + "/oauth/token", ClientID: "flotilla", ClientSecret: "client-s3cret", Scopes: []string{"metrics.read", "tenant"}},
	}}
	for range 2 {
		if _, err := measure(t, p, pm); err != nil {
			t.Fatal(err)
		}
		if auth := f.last().header.Get("Authorization"); auth != "Bearer tok-123" {
			t.Errorf("Authorization = %q, want Bearer tok-123", auth)
		}
	}
	if ts.calls != 1 {
		t.Errorf("token endpoint called %d times, want 1 (the token is cached until it expires)", ts.calls)
	}
}

// TestSecretsStayOutOfErrors: a back end that echoes the request must not get a password,
// a client secret or a header value into the error.
func TestSecretsStayOutOfErrors(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = fmt.Fprintf(w, "auth=%s key=%s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	}))
	t.Cleanup(echo.Close)
	_, err := measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{
		Address: echo.URL, Query: "q",
		Headers:        []v1alpha1.WebMetricHeader{{Key: "X-Api-Key", Value: "header-s3cret"}},
		Authentication: &v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuthConfig{Username: "u", Password: "pw-s3cret"}},
	})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "header-s3cret") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error leaks a secret or redacted nothing: %v", err)
	}

	ts := &tokenServer{t: t, status: http.StatusUnauthorized}
	tokenSrv := httptest.NewServer(ts)
	t.Cleanup(tokenSrv.Close)
	_, err = measure(t, prometheus.New(prometheus.Options{}), &v1alpha1.PrometheusMetric{
		Address: echo.URL, Query: "q",
		Authentication: &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: tokenSrv.URL + "/?client_secret=client-s3cret", ClientID: "c", ClientSecret: "client-s3cret"}},
	})
	if err == nil || strings.Contains(err.Error(), "client-s3cret") {
		t.Errorf("token failure: err = %v, want an error without the client secret", err)
	}
}

// TestSigV4 covers Amazon Managed Prometheus: with a sigv4 block the request is signed for
// service "aps" in the metric's region with the credentials from the environment.
func TestSigV4(t *testing.T) {
	f, srv := newFake(t, vectorBody)
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAPROM", "AWS_SECRET_ACCESS_KEY": "aws-s3cret", "AWS_SESSION_TOKEN": "sess", "HOME": "/nonexistent"}
	p := prometheus.New(prometheus.Options{Now: func() time.Time { return fixedNow }, Getenv: func(k string) string { return env[k] }})
	if _, err := measure(t, p, &v1alpha1.PrometheusMetric{
		Address: srv.URL + "/workspaces/ws-1", Query: "up",
		Authentication: &v1alpha1.Authentication{Sigv4: &v1alpha1.Sigv4Config{Region: "eu-central-1"}},
	}); err != nil {
		t.Fatal(err)
	}
	got := f.last()
	auth := got.header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIAPROM/20260501/eu-central-1/aps/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=") {
		t.Errorf("Authorization = %q", auth)
	}
	if got.header.Get("X-Amz-Security-Token") != "sess" || got.path != "/workspaces/ws-1/api/v1/query" {
		t.Errorf("request = %s %v", got.path, got.header)
	}
}
