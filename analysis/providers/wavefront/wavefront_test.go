package wavefront_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/analysis/providers/wavefront"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // Unix 1777636800

type request struct {
	method, path string
	query        map[string][]string
	header       http.Header
}

// fakeWavefront serves the shapes of Wavefront's documented chart API
// (https://docs.wavefront.com/wavefront_api.html, Query API: GET /api/v2/chart/api with q, s,
// e, g, p, i; a bearer token; the answer's timeseries[].data holds [epoch seconds, value]
// pairs) on 127.0.0.1.
func fakeWavefront(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = request{method: r.Method, path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func measure(srv *httptest.Server, query string) (analysis.Value, error) {
	p := wavefront.New(wavefront.Options{
		Namespace: "flotilla-system",
		Secrets:   credentials.Static{"flotilla-system/wavefront-api-tokens": {srv.URL: "wf-s3cret-token"}},
		Now:       func() time.Time { return now },
	})
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: srv.URL, Query: query}},
	}})
}

func TestChartQuery(t *testing.T) {
	srv, got := fakeWavefront(t, 200, `{"name":"q","query":"q","granularity":1,"warnings":"slow query","timeseries":[
		{"label":"errors","host":"h","tags":{},"data":[[1777636740,0.5],[1777636795,0.25],[1777636900,0.75]]}]}`)
	v, err := measure(srv, `sum(rate(ts(errors, app="checkout")))`)
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/api/v2/chart/api" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	want := `map[e:[1777636800000] g:[s] i:[true] p:[1] q:[sum(rate(ts(errors, app="checkout")))] s:[1777636800000] strict:[false]]`
	if fmt.Sprint(got.query) != want {
		t.Errorf("query = %v\nwant %s", got.query, want)
	}
	if got.header.Get("Authorization") != "Bearer wf-s3cret-token" {
		t.Errorf("Authorization = %q", got.header.Get("Authorization"))
	}
	if v.Result != 0.25 || v.Metadata["timestamps"] != "1777636795" || v.Metadata["drift"] != "-5" || v.Metadata["warnings"] != "slow query" {
		t.Errorf("value = %#v, metadata %v", v.Result, v.Metadata)
	}
}

func TestSeveralSeries(t *testing.T) {
	srv, _ := fakeWavefront(t, 200, `{"timeseries":[{"label":"a","data":[[1777636800,1]]},{"label":"b","data":[[1777636790,2]]}]}`)
	v, err := measure(srv, "q")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(v.Result) != "[1 2]" || v.Text != "[1,2]" || v.Metadata["drift"] != "[0,-10]" {
		t.Errorf("value = %#v %q %v", v.Result, v.Text, v.Metadata)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"unauthorized", `{"status":{"result":"ERROR","message":"unauthorized","code":401}}`, 401, "HTTP 401"},
		{"malformed", `{"timeseries":[`, 200, "not JSON"},
		{"no series", `{"timeseries":[]}`, 200, "no time series"},
		{"no points", `{"timeseries":[{"label":"a","data":[]}]}`, 200, "no data points"},
		{"query error", `{"errorType":"QUERY_ERROR","errorMessage":"Unknown function"}`, 200, "Unknown function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeWavefront(t, tc.status, tc.body)
			v, err := measure(srv, "q")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

func TestMissingToken(t *testing.T) {
	p := wavefront.New(wavefront.Options{Namespace: "ns", Secrets: credentials.Static{"ns/wavefront-api-tokens": {"other.wavefront.com": "t"}}})
	_, err := p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{Provider: v1alpha1.MetricProvider{
		Wavefront: &v1alpha1.WavefrontMetric{Address: "example.wavefront.com", Query: "q"},
	}}})
	if err == nil || !strings.Contains(err.Error(), `no token for address "example.wavefront.com"`) {
		t.Fatalf("err = %v", err)
	}
}
