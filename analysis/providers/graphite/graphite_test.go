package graphite_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/graphite"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

type request struct {
	method, path string
	query        map[string][]string
}

// fakeGraphite serves the render API's documented JSON format
// (https://graphite.readthedocs.io/en/latest/render_api.html#json: a list of
// {"target", "datapoints": [[value, timestamp], ...]}) on 127.0.0.1.
func fakeGraphite(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*got = request{method: r.Method, path: r.URL.Path, query: r.URL.Query()}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func measure(address, query string) (analysis.Value, error) {
	return graphite.New(graphite.Options{}).Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{Address: address, Query: query}},
	}})
}

func TestRenderQuery(t *testing.T) {
	srv, got := fakeGraphite(t, 200, `[{"target":"asPercent","tags":{},"datapoints":[[98.5,1777636740],[null,1777636800],[99.25,1777636860]]},
		{"target":"other","datapoints":[[1,1]]}]`)
	v, err := measure(srv.URL+"/graphite", `target=summarize(
		asPercent(sumSeries(stats.app.checkout.status.{2xx,3xx}.count), sumSeries(stats.app.checkout.status.*.count)),
		'5min', 'avg')
		&from=-10min`)
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodGet || got.path != "/graphite/render" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	want := `map[format:[json] from:[-10min] target:[summarize(asPercent(sumSeries(stats.app.checkout.status.{2xx,3xx}.count),sumSeries(stats.app.checkout.status.*.count)),'5min','avg')]]`
	if fmt.Sprint(got.query) != want {
		t.Errorf("query = %v\nwant %s", got.query, want)
	}
	if fmt.Sprint(v.Result) != "[98.5 99.25]" || v.Text != "[98.5,99.25]" {
		t.Errorf("value = %#v %q", v.Result, v.Text)
	}
}

func TestBareTarget(t *testing.T) {
	srv, got := fakeGraphite(t, 200, `[{"target":"x","datapoints":[["0.5",1]]}]`)
	v, err := measure(srv.URL, "seriesByTag('name=requests','status=5xx')")
	if err != nil {
		t.Fatal(err)
	}
	if got.query["target"][0] != "seriesByTag('name=requests','status=5xx')" {
		t.Errorf("target = %v", got.query["target"])
	}
	if fmt.Sprint(v.Result) != "[0.5]" {
		t.Errorf("Result = %#v", v.Result)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"server error", `Traceback ...`, 500, "HTTP 500"},
		{"malformed", `[{"target":`, 200, "not a JSON list"},
		{"no series", `[]`, 200, "no series"},
		{"only nulls", `[{"target":"a","datapoints":[[null,1],[null,2]]}]`, 200, "has no values"},
		{"bad value", `[{"target":"a","datapoints":[["x",1]]}]`, 200, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeGraphite(t, tc.status, tc.body)
			v, err := measure(srv.URL, "target=a")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
	if _, err := measure("", "target=a"); err == nil || !strings.Contains(err.Error(), "address is required") {
		t.Errorf("no address: err = %v", err)
	}
	if _, err := measure("http://127.0.0.1:1", "from=-5min"); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Errorf("no target: err = %v", err)
	}
}
