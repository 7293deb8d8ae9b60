package skywalking_test

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
	"github.com/flotilla-io/flotilla/analysis/providers/skywalking"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const query = `query queryData($duration: Duration!) {
  service_apdex: readMetricsValues(
    condition: { name: "service_apdex", entity: { scope: Service, serviceName: "checkout", normal: true } },
    duration: $duration) { label values { values { value } } }
}`

type request struct {
	method, uri string
	header      http.Header
	body        map[string]any
}

// fakeOAP serves the SkyWalking OAP GraphQL query protocol
// (https://skywalking.apache.org/docs/main/latest/en/api/query-protocol/: POST /graphql with
// a query and a Duration variable, answered with data or errors) on 127.0.0.1.
func fakeOAP(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		*got = request{method: r.Method, uri: r.URL.RequestURI(), header: r.Header.Clone()}
		_ = json.Unmarshal(raw, &got.body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func measure(srv *httptest.Server, interval v1alpha1.TemplatedDurationString) (analysis.Value, error) {
	p := skywalking.New(skywalking.Options{Now: func() time.Time { return now }})
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{
		SkyWalking: &v1alpha1.SkyWalkingMetric{Address: srv.URL, Query: query, Interval: interval},
	}}})
}

func TestGraphQLQuery(t *testing.T) {
	srv, got := fakeOAP(t, 200, `{"data":{"service_apdex":{"label":null,"values":{"values":[{"value":9950},{"value":10000}]}}}}`)
	v, err := measure(srv, "3m")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.uri != "/graphql" || !strings.HasPrefix(got.header.Get("Content-Type"), "application/json") {
		t.Errorf("request = %s %s %v", got.method, got.uri, got.header)
	}
	if got.body["query"] != query || fmt.Sprint(got.body["variables"]) != "map[duration:map[end:2026-05-01 1200 start:2026-05-01 1157 step:MINUTE]]" {
		t.Errorf("body = %v", got.body)
	}
	data, ok := v.Result.(map[string]any)
	if !ok {
		t.Fatalf("Result = %#v", v.Result)
	}
	values := data["service_apdex"].(map[string]any)["values"].(map[string]any)["values"].([]any)
	if len(values) != 2 || values[0].(map[string]any)["value"] != 9950.0 {
		t.Errorf("values = %v", values)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"server error", `oops`, 500, "HTTP 500"},
		{"graphql errors", `{"data":null,"errors":[{"message":"Validation error of type FieldUndefined"}]}`, 200, "FieldUndefined"},
		{"null data", `{"data":null}`, 200, "no results"},
		{"malformed", `{"data":`, 200, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeOAP(t, tc.status, tc.body)
			v, err := measure(srv, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}
