package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/web"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

type request struct {
	method, uri, body string
	header            http.Header
}

// endpoint is a local HTTP endpoint on 127.0.0.1 that records the request and answers with
// a fixed status and body.
func endpoint(t *testing.T, status int, body string, tls bool) (*httptest.Server, *request) {
	got := &request{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = request{method: r.Method, uri: r.URL.RequestURI(), body: string(b), header: r.Header.Clone()}
		if r.URL.Query().Get("sleep") != "" {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, got
}

func measure(p *web.Provider, wm *v1alpha1.WebMetric) (analysis.Value, error) {
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Web: wm},
	}})
}

func TestGETWithHeadersAndJSONPath(t *testing.T) {
	srv, got := endpoint(t, 200, `{"data":{"ok":true,"rate":0.97,"pods":["a","b"]}}`, false)
	p := web.New(web.Options{})
	v, err := measure(p, &v1alpha1.WebMetric{
		URL:      srv.URL + "/api/health?service=checkout",
		Headers:  []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer s3cret-token"}, {Key: "X-Team", Value: "payments"}},
		JSONPath: "{$.data.rate}",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.uri != "/api/health?service=checkout" || got.body != "" {
		t.Errorf("request = %s %s %q", got.method, got.uri, got.body)
	}
	if got.header.Get("Authorization") != "Bearer s3cret-token" || got.header.Get("X-Team") != "payments" {
		t.Errorf("headers = %v", got.header)
	}
	if v.Result != 0.97 || v.Text != "0.97" {
		t.Errorf("value = %#v %q", v.Result, v.Text)
	}

	for _, tc := range []struct {
		path string
		want string
	}{
		{"{$.data.ok}", "true"},
		{"{$.data.pods}", "[a b]"},
		{"{$.data.pods[1]}", "b"},
		{"", "map[data:map[ok:true pods:[a b] rate:0.97]]"},
	} {
		v, err := measure(p, &v1alpha1.WebMetric{URL: srv.URL, JSONPath: tc.path})
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if fmt.Sprint(v.Result) != tc.want {
			t.Errorf("%q: Result = %#v, want %s", tc.path, v.Result, tc.want)
		}
	}
}

func TestPOSTBodies(t *testing.T) {
	srv, got := endpoint(t, 201, `{"verdict":"pass"}`, false)
	p := web.New(web.Options{})
	if _, err := measure(p, &v1alpha1.WebMetric{Method: "POST", URL: srv.URL + "/judge", Body: "plain text"}); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.body != "plain text" || got.header.Get("Content-Type") == "application/json" {
		t.Errorf("body request = %s %q %v", got.method, got.body, got.header)
	}
	v, err := measure(p, &v1alpha1.WebMetric{
		Method: "PUT", URL: srv.URL + "/judge", JSONPath: "{$.verdict}",
		JSONBody: &runtime.RawExtension{Raw: []byte(`{"service":"checkout","window":"5m"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPut || got.body != `{"service":"checkout","window":"5m"}` || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("jsonBody request = %s %q %v", got.method, got.body, got.header)
	}
	if v.Result != "pass" {
		t.Errorf("Result = %#v", v.Result)
	}
}

func TestPlainTextBody(t *testing.T) {
	srv, _ := endpoint(t, 200, "OK", false)
	v, err := measure(web.New(web.Options{}), &v1alpha1.WebMetric{URL: srv.URL})
	if err != nil || v.Result != "OK" || v.Text != "OK" {
		t.Fatalf("Measure = %#v, %v", v, err)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	p := web.New(web.Options{})
	for _, tc := range []struct {
		name, body string
		status     int
		wm         v1alpha1.WebMetric
		want       string
	}{
		{name: "non-2xx", status: 500, body: `{"ok":true}`, want: "HTTP 500"},
		{name: "path matches nothing", status: 200, body: `{"data":{}}`, wm: v1alpha1.WebMetric{JSONPath: "{$.data.ok}"}, want: "not found"},
		{name: "empty list", status: 200, body: `{"items":[]}`, wm: v1alpha1.WebMetric{JSONPath: "{$.items[*]}"}, want: "matched nothing"},
		{name: "bad jsonPath", status: 200, body: `{}`, wm: v1alpha1.WebMetric{JSONPath: "{$.data"}, want: "jsonPath"},
		{name: "body with GET", status: 200, body: `{}`, wm: v1alpha1.WebMetric{Body: "x"}, want: "POST or PUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := endpoint(t, tc.status, tc.body, false)
			wm := tc.wm
			wm.URL = srv.URL
			v, err := measure(p, &wm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
	if _, err := measure(p, &v1alpha1.WebMetric{URL: "http://127.0.0.1:1/"}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("connection refused: err = %v", err)
	}
}

func TestTimeoutSeconds(t *testing.T) {
	srv, _ := endpoint(t, 200, "{}", false)
	start := time.Now()
	_, err := measure(web.New(web.Options{}), &v1alpha1.WebMetric{URL: srv.URL + "/?sleep=1", TimeoutSeconds: 1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a 1s timeout took %s", time.Since(start))
	}
}

func TestInsecure(t *testing.T) {
	srv, _ := endpoint(t, 200, `{"ok":1}`, true)
	p := web.New(web.Options{})
	if _, err := measure(p, &v1alpha1.WebMetric{URL: srv.URL}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without insecure: err = %v, want a certificate error", err)
	}
	if v, err := measure(p, &v1alpha1.WebMetric{URL: srv.URL, Insecure: true, JSONPath: "{$.ok}"}); err != nil || v.Result != 1.0 {
		t.Fatalf("with insecure: %#v, %v", v, err)
	}
}

func TestSecretHeaderStaysOutOfErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad key "+r.Header.Get("X-Api-Key"), http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	_, err := measure(web.New(web.Options{}), &v1alpha1.WebMetric{
		URL:     srv.URL + "/?api_key=query-s3cret",
		Headers: []v1alpha1.WebMetricHeader{{Key: "X-Api-Key", Value: "header-s3cret"}},
	})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("err = %v, want HTTP 403 without secrets", err)
	}
}
