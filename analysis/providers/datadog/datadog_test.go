package datadog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/analysis/providers/datadog"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // Unix 1777636800

type request struct {
	method, path, rawQuery, body string
	header                       http.Header
}

// fakeDatadog serves the request and response shapes of Datadog's public API reference
// (https://docs.datadoghq.com/api/latest/metrics/: "Query timeseries points" for v1 and
// "Query scalar data across multiple products" for v2) on 127.0.0.1.
func fakeDatadog(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = request{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, body: string(b), header: r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func provider(srv *httptest.Server) *datadog.Provider {
	return datadog.New(datadog.Options{
		Namespace: "flotilla-system",
		Secrets: credentials.Static{"flotilla-system/datadog": {
			"address": srv.URL, "api-key": "dd-api-s3cret", "app-key": "dd-app-s3cret",
		}},
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return now },
	})
}

func measure(p *datadog.Provider, dd *v1alpha1.DatadogMetric) (analysis.Value, error) {
	return p.Measure(context.Background(), analysis.Request{Namespace: "shop", Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Datadog: dd},
	}})
}

func checkKeys(t *testing.T, h http.Header) {
	t.Helper()
	if h.Get("DD-API-KEY") != "dd-api-s3cret" || h.Get("DD-APPLICATION-KEY") != "dd-app-s3cret" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}
}

func TestV1Query(t *testing.T) {
	srv, got := fakeDatadog(t, 200, `{"status":"ok","res_type":"time_series","series":[
		{"metric":"trace.http.request.errors","pointlist":[[1777636500000,0.02],[1777636740000,0.01],[1777636800000,null]]}]}`)
	v, err := measure(provider(srv), &v1alpha1.DatadogMetric{Query: "avg:trace.http.request.errors{service:checkout}", Interval: "5m"})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/api/v1/query" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	if want := "from=1777636500&query=avg%3Atrace.http.request.errors%7Bservice%3Acheckout%7D&to=1777636800"; got.rawQuery != want {
		t.Errorf("query = %s, want %s", got.rawQuery, want)
	}
	checkKeys(t, got.header)
	if v.Result != 0.01 || v.Text != "0.01" {
		t.Errorf("value = %#v %q, want the last non-null point 0.01", v.Result, v.Text)
	}
}

func TestV1NoData(t *testing.T) {
	srv, _ := fakeDatadog(t, 200, `{"status":"ok","series":[]}`)
	v, err := measure(provider(srv), &v1alpha1.DatadogMetric{Query: "q"})
	if err != nil || v.Result != nil {
		t.Fatalf("Measure = %#v, %v; want a nil result", v, err)
	}
}

func TestV2FormulaQuery(t *testing.T) {
	srv, got := fakeDatadog(t, 200, `{"data":{"type":"scalar_response","attributes":{"columns":[
		{"name":"a / b","type":"number","values":[0.0042],"meta":{"unit":null}}]}}}`)
	v, err := measure(provider(srv), &v1alpha1.DatadogMetric{
		APIVersion: "v2", Interval: "10m", Aggregator: "avg", Formula: "a / b",
		Queries: map[string]string{"b": "sum:requests{*}.as_count()", "a": "sum:errors{*}.as_count()"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.path != "/api/v2/query/scalar" || got.rawQuery != "" {
		t.Errorf("request = %s %s?%s", got.method, got.path, got.rawQuery)
	}
	checkKeys(t, got.header)
	want := `{"data":{"type":"scalar_request","attributes":{"from":1777636200000,"to":1777636800000,"queries":[` +
		`{"aggregator":"avg","data_source":"metrics","name":"a","query":"sum:errors{*}.as_count()"},` +
		`{"aggregator":"avg","data_source":"metrics","name":"b","query":"sum:requests{*}.as_count()"}],` +
		`"formulas":[{"formula":"a / b"}]}}}`
	if got.body != want {
		t.Errorf("body:\n got %s\nwant %s", got.body, want)
	}
	if v.Result != 0.0042 {
		t.Errorf("Result = %#v", v.Result)
	}
}

func TestV2SingleQueryDefaultsAndGroups(t *testing.T) {
	srv, got := fakeDatadog(t, 200, `{"data":{"type":"scalar_response","attributes":{"columns":[
		{"name":"region","type":"group","values":[["us-east"],["eu-west"],["ap-south"]]},
		{"name":"query","type":"number","values":[0.5,null,0.25]}]}}}`)
	v, err := measure(provider(srv), &v1alpha1.DatadogMetric{APIVersion: "v2", Query: "avg:latency{*} by {region}"})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatal(err)
	}
	attrs := body["data"].(map[string]any)["attributes"].(map[string]any)
	if fmt.Sprint(attrs["queries"]) != "[map[aggregator:last data_source:metrics name:query query:avg:latency{*} by {region}]]" ||
		attrs["from"] != float64(1777636500000) || fmt.Sprint(attrs["formulas"]) != "[]" {
		t.Errorf("attributes = %v", attrs)
	}
	if fmt.Sprint(v.Result) != "[0.5 0.25]" {
		t.Errorf("Result = %#v, want the two non-null groups", v.Result)
	}
	if v.Metadata[datadog.MetadataGroups] != `[{"name":"us-east","value":0.5},{"name":"ap-south","value":0.25}]` {
		t.Errorf("Metadata = %v", v.Metadata)
	}
}

func TestCredentialSources(t *testing.T) {
	srv, got := fakeDatadog(t, 200, `{"status":"ok","series":[{"pointlist":[[1,1]]}]}`)
	secrets := credentials.Static{
		"shop/team-dd":            {"address": srv.URL, "api-key": "team-api", "app-key": "team-app"},
		"flotilla-system/team-dd": {"address": srv.URL, "api-key": "ctrl-api", "app-key": "ctrl-app"},
	}
	env := map[string]string{"DD_API_KEY": "env-api", "DD_APP_KEY": "env-app", "DD_ADDRESS": srv.URL}
	for _, tc := range []struct {
		name    string
		ref     *v1alpha1.SecretRef
		env     map[string]string
		wantKey string
	}{
		{"namespaced secretRef", &v1alpha1.SecretRef{Name: "team-dd", Namespaced: true}, env, "team-api"},
		{"secretRef in the controller namespace", &v1alpha1.SecretRef{Name: "team-dd"}, env, "ctrl-api"},
		{"environment", nil, env, "env-api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := datadog.New(datadog.Options{Namespace: "flotilla-system", Secrets: secrets, Getenv: func(k string) string { return tc.env[k] }})
			if _, err := measure(p, &v1alpha1.DatadogMetric{Query: "q", SecretRef: tc.ref}); err != nil {
				t.Fatal(err)
			}
			if got.header.Get("DD-API-KEY") != tc.wantKey {
				t.Errorf("DD-API-KEY = %q, want %q", got.header.Get("DD-API-KEY"), tc.wantKey)
			}
		})
	}
	p := datadog.New(datadog.Options{Namespace: "flotilla-system", Secrets: credentials.Static{}, Getenv: func(string) string { return "" }})
	if _, err := measure(p, &v1alpha1.DatadogMetric{Query: "q"}); err == nil || !strings.Contains(err.Error(), "flotilla-system/datadog") {
		t.Errorf("no credentials: err = %v", err)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, version, body string
		status              int
		want                string
	}{
		{"v1 forbidden", "v1", `{"errors":["Forbidden"]}`, 403, "authentication refused"},
		{"v1 malformed", "v1", `{"series":[{"pointlist":[[1,`, 200, "not JSON"},
		{"v1 error status", "v1", `{"status":"error","error":"Rate limit"}`, 200, "Rate limit"},
		{"v2 server error", "v2", `{"errors":["Internal Server Error"]}`, 500, "HTTP 500"},
		{"v2 malformed", "v2", `not json`, 200, "not JSON"},
		{"v2 query errors", "v2", `{"data":{"attributes":{"columns":[]}},"errors":"unknown metric"}`, 200, "unknown metric"},
		{"v2 non-number", "v2", `{"data":{"attributes":{"columns":[{"type":"number","values":["x"]}]}}}`, 200, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeDatadog(t, tc.status, tc.body)
			v, err := measure(provider(srv), &v1alpha1.DatadogMetric{APIVersion: tc.version, Query: "q"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks a key: %v", err)
			}
		})
	}
}

func TestKeysStayOutOfErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid key "+r.Header.Get("DD-API-KEY"), http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	_, err := measure(provider(srv), &v1alpha1.DatadogMetric{Query: "q"})
	if err == nil || strings.Contains(err.Error(), "dd-api-s3cret") {
		t.Fatalf("err = %v, want an error without the key", err)
	}
}
