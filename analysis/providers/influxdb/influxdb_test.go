// The tests run against a local HTTP server in the shape of InfluxDB's documented v2 query
// API, not against Debian's influxdb package: Debian ships InfluxDB 1.6, which has neither
// Flux nor the /api/v2/query endpoint (Flux arrived in 1.7 behind a flag, /api/v2/query in
// 1.8), and Flux is the only query language of this provider, as of Argo Rollouts'.
package influxdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/analysis/providers/influxdb"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

type request struct {
	method, uri string
	header      http.Header
	body        string
}

// fakeInflux serves InfluxDB's documented v2 query API
// (https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery: POST /api/v2/query?org=,
// a Token authorization, a JSON body with the Flux query and dialect, answered with annotated
// CSV, or with a JSON {code, message} error) on 127.0.0.1.
func fakeInflux(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = request{method: r.Method, uri: r.URL.RequestURI(), header: r.Header.Clone(), body: string(b)}
		if status == 200 {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func measure(srv *httptest.Server, profile string) (analysis.Value, error) {
	p := influxdb.New(influxdb.Options{Namespace: "flotilla-system", Secrets: credentials.Static{
		"flotilla-system/influxdb":   {"address": srv.URL, "authToken": "influx-s3cret", "org": "platform team"},
		"flotilla-system/my-profile": {"address": srv.URL + "/", "authToken": "other-token", "org": "o2"},
	}})
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: profile, Query: fluxQuery}},
	}})
}

const fluxQuery = `from(bucket: "app_istio")
  |> range(start: -15m)
  |> filter(fn: (r) => r["_measurement"] == "istio:istio_requests_errors_percentage:rate1m:5xx")`

const twoTables = "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n" +
	"#group,false,false,true,true,false,false,true,true\r\n" +
	"#default,_result,,,,,,,\r\n" +
	",result,table,_start,_stop,_time,_value,_field,_measurement\r\n" +
	",,0,2026-05-01T11:45:00Z,2026-05-01T12:00:00Z,2026-05-01T11:50:00Z,0.005,rate,errors\r\n" +
	",,0,2026-05-01T11:45:00Z,2026-05-01T12:00:00Z,2026-05-01T11:55:00Z,0.0075,rate,errors\r\n" +
	"\r\n" +
	"#datatype,string,long,dateTime:RFC3339,long,string\r\n" +
	"#group,false,false,false,false,true\r\n" +
	"#default,_result,,,,\r\n" +
	",result,table,_time,_value,_field\r\n" +
	",,1,2026-05-01T11:50:00Z,42,count\r\n" +
	"\r\n"

func TestFluxQuery(t *testing.T) {
	srv, got := fakeInflux(t, 200, twoTables)
	v, err := measure(srv, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.uri != "/api/v2/query?org=platform+team" {
		t.Errorf("request = %s %s", got.method, got.uri)
	}
	if got.header.Get("Authorization") != "Token influx-s3cret" || got.header.Get("Content-Type") != "application/json" || got.header.Get("Accept") != "application/csv" {
		t.Errorf("headers = %v", got.header)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatal(err)
	}
	if body["query"] != fluxQuery || body["type"] != "flux" ||
		fmt.Sprint(body["dialect"]) != "map[annotations:[datatype group default] delimiter:, header:true]" {
		t.Errorf("body = %s", got.body)
	}
	want := []any{0.005, 0.0075, int64(42)}
	if fmt.Sprintf("%#v", v.Result) != fmt.Sprintf("%#v", want) {
		t.Errorf("Result = %#v, want %#v", v.Result, want)
	}
	if v.Text != "[0.005 0.0075 42]" {
		t.Errorf("Text = %q", v.Text)
	}
}

func TestTypesAndProfile(t *testing.T) {
	srv, got := fakeInflux(t, 200, "#datatype,string,long,boolean,dateTime:RFC3339\n#group,false,false,false,false\n#default,_result,,true,\n,result,table,_value,_time\n,,0,false,2026-05-01T12:00:00Z\n,,0,,2026-05-01T12:00:00Z\n")
	v, err := measure(srv, "my-profile")
	if err != nil {
		t.Fatal(err)
	}
	if got.uri != "/api/v2/query?org=o2" || got.header.Get("Authorization") != "Token other-token" {
		t.Errorf("request = %s %v", got.uri, got.header)
	}
	if fmt.Sprint(v.Result) != "[false true]" {
		t.Errorf("Result = %#v, want the value and then the column default", v.Result)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"bad request", `{"code":"invalid","message":"compilation failed: error at @1:1-1:5: undefined identifier frm"}`, 400, "invalid: compilation failed"},
		{"unauthorized", `{"code":"unauthorized","message":"unauthorized access"}`, 401, "unauthorized access"},
		{"error table", "#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,\"runtime error: bucket not found\",897\n", 200, "bucket not found"},
		{"no records", "", 200, "no results"},
		{"malformed CSV", "#datatype,string,double\n,result,_value\n,\"unterminated,1\n", 200, "not annotated CSV"},
		{"bad double", "#datatype,string,double\n#default,_result,\n,result,_value\n,,abc\n", 200, "_value \"abc\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeInflux(t, tc.status, tc.body)
			v, err := measure(srv, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
			if strings.Contains(err.Error(), "influx-s3cret") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
	p := influxdb.New(influxdb.Options{Namespace: "ns", Secrets: credentials.Static{"ns/influxdb": {"address": "http://x"}}})
	_, err := p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Query: "q"}}}})
	if err == nil || !strings.Contains(err.Error(), "needs the keys address, authToken and org") {
		t.Errorf("incomplete profile: err = %v", err)
	}
}
