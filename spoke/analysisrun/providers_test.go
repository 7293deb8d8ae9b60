package analysisrun_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/analysis/providers/kayenta"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Each test here runs one measurement of one provider end to end through the AnalysisRun
// controller: an AnalysisRun is created in the API server, the controller resolves it,
// calls the provider, judges the value and writes the status. The SaaS back ends are local
// HTTP servers on 127.0.0.1 that answer with the response shapes of each vendor's public
// API documentation (the same shapes as the provider packages' own tests), and each test
// asserts the exact request the provider sent: method, path, query, headers and auth.
// Prometheus and Graphite run for real (prometheus_test.go, graphite_test.go), the Job
// provider on a full control plane (job_test.go).

// oneMetric is the spec of a run with one metric measured once.
func oneMetric(m v1alpha1.Metric) v1alpha1.AnalysisRunSpec {
	return v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m}}
}

// wantSuccessful checks that the run and each named metric are Successful after exactly one
// measurement.
func wantSuccessful(t *testing.T, r *v1alpha1.AnalysisRun, metrics ...string) {
	t.Helper()
	if r.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("run: %s", describe(r))
	}
	for _, name := range metrics {
		m := metricResult(t, r, name)
		if m.Phase != v1alpha1.AnalysisPhaseSuccessful || m.Count != 1 || m.Successful != 1 || len(m.Measurements) != 1 {
			t.Fatalf("metric %s: %s", name, describe(r))
		}
	}
}

// TestWeb: a GET with headers to a local endpoint, the value picked by jsonPath; the run's
// events tell each phase change.
func TestWeb(t *testing.T) {
	ns := env.Namespace(t)
	srv := newVendor(t, false, map[string]reply{"GET /api/health": {body: `{"data":{"ok":true,"rate":0.97}}`}})
	run := createRun(t, ns, "web", oneMetric(v1alpha1.Metric{
		Name: "success-rate", SuccessCondition: "result >= 0.95",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
			URL:      srv.URL + "/api/health?service=checkout",
			Headers:  []v1alpha1.WebMetricHeader{{Key: "X-Team", Value: "payments"}},
			JSONPath: "{$.data.rate}",
		}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "success-rate")
	if v := got.Status.MetricResults[0].Measurements[0].Value; v != "0.97" {
		t.Errorf("value = %q, want 0.97", v)
	}
	req := srv.first(t)
	if req.Method != http.MethodGet || req.Path != "/api/health" || req.RawQuery != "service=checkout" || req.Header.Get("X-Team") != "payments" {
		t.Errorf("request = %+v", req)
	}
	if c := condition(t, got, v1alpha1.AnalysisRunConditionCompleted); c.Status != "True" || c.Reason != "Successful" || c.ObservedGeneration != got.Generation {
		t.Errorf("Completed condition = %+v", c)
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	runEvents(t, run, "AnalysisRunSuccessful", "MetricSuccessful")
}

// TestDatadog: v1 (GET /api/v1/query) and v2 with a formula (POST /api/v2/query/scalar), the
// keys read live from a Secret in the run's namespace (secretRef, namespaced).
func TestDatadog(t *testing.T) {
	ns := env.Namespace(t)
	// https://docs.datadoghq.com/api/latest/metrics/: "Query timeseries points" (v1) and
	// "Query scalar data across multiple products" (v2).
	srv := newVendor(t, false, map[string]reply{
		"GET /api/v1/query": {body: `{"status":"ok","res_type":"time_series","series":[
			{"metric":"trace.http.request.errors","pointlist":[[1777636500000,0.02],[1777636740000,0.004],[1777636800000,null]]}]}`},
		"POST /api/v2/query/scalar": {body: `{"data":{"type":"scalar_response","attributes":{"columns":[
			{"name":"a / b","type":"number","values":[0.003],"meta":{"unit":null}}]}}}`},
	})
	createSecret(t, ns, "datadog-keys", map[string]string{"address": srv.URL, "api-key": "dd-api-key-1", "app-key": "dd-app-key-1"})
	ref := &v1alpha1.SecretRef{Name: "datadog-keys", Namespaced: true}
	run := createRun(t, ns, "datadog", v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{
		{Name: "v1", SuccessCondition: "result < 0.01", Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{
			Query: "avg:trace.http.request.errors{service:checkout}", Interval: "5m", SecretRef: ref,
		}}},
		{Name: "v2", SuccessCondition: "result < 0.01", Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{
			APIVersion: "v2", Interval: "10m", Aggregator: "avg", Formula: "a / b", SecretRef: ref,
			Queries: map[string]string{"a": "sum:errors{service:checkout}.as_count()", "b": "sum:requests{service:checkout}.as_count()"},
		}}},
	}})
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "v1", "v2")
	if v := metricResult(t, got, "v1").Measurements[0].Value; v != "0.004" {
		t.Errorf("v1 value = %q, want the last non-null point", v)
	}
	if v := metricResult(t, got, "v2").Measurements[0].Value; v != "0.003" {
		t.Errorf("v2 value = %q", v)
	}
	for _, req := range srv.requests() {
		if req.Header.Get("DD-API-KEY") != "dd-api-key-1" || req.Header.Get("DD-APPLICATION-KEY") != "dd-app-key-1" ||
			req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s headers = %v", req.Method, req.Path, req.Header)
		}
		switch req.Method + " " + req.Path {
		case "GET /api/v1/query":
			q, _ := url.ParseQuery(req.RawQuery)
			from, _ := strconv.ParseInt(q.Get("from"), 10, 64)
			to, _ := strconv.ParseInt(q.Get("to"), 10, 64)
			if q.Get("query") != "avg:trace.http.request.errors{service:checkout}" || to-from != 300 || time.Since(time.Unix(to, 0)) > time.Minute {
				t.Errorf("v1 query = %s", req.RawQuery)
			}
		case "POST /api/v2/query/scalar":
			var body struct {
				Data struct {
					Type       string `json:"type"`
					Attributes struct {
						From, To int64
						Queries  []map[string]string
						Formulas []map[string]string
					} `json:"attributes"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
				t.Fatalf("v2 body %s: %v", req.Body, err)
			}
			a := body.Data.Attributes
			want := `[map[aggregator:avg data_source:metrics name:a query:sum:errors{service:checkout}.as_count()] ` +
				`map[aggregator:avg data_source:metrics name:b query:sum:requests{service:checkout}.as_count()]]`
			if body.Data.Type != "scalar_request" || fmt.Sprint(a.Queries) != want || fmt.Sprint(a.Formulas) != "[map[formula:a / b]]" ||
				a.To-a.From != 600000 || req.RawQuery != "" {
				t.Errorf("v2 body = %s", req.Body)
			}
		default:
			t.Errorf("unexpected request %s %s", req.Method, req.Path)
		}
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestNewRelic: an NRQL query through NerdGraph, with the profile Secret (the default
// "newrelic" one is shared; this test names its own profile) in the controller's namespace.
func TestNewRelic(t *testing.T) {
	ns := env.Namespace(t)
	// https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/
	srv := newVendor(t, false, map[string]reply{
		"POST /graphql": {body: `{"data":{"actor":{"account":{"nrql":{"results":[{"successRate":99.5}]}}}}}`},
	})
	profile := "newrelic-" + ns
	createSecret(t, credentialsNS, profile, map[string]string{
		"personal-api-key": "NRAK-TEST", "account-id": "1234567", "base-url-nerdgraph": srv.URL + "/graphql",
	})
	const query = "FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate WHERE appName = 'checkout'"
	run := createRun(t, ns, "newrelic", oneMetric(v1alpha1.Metric{
		Name: "success-rate", SuccessCondition: "result.successRate >= 99",
		Provider: v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{Profile: profile, Query: query}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "success-rate")
	req := srv.first(t)
	var body map[string]any
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.Path != "/graphql" || req.Header.Get("Api-Key") != "NRAK-TEST" ||
		req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request = %s %s %v", req.Method, req.Path, req.Header)
	}
	if vars := fmt.Sprint(body["variables"]); vars != fmt.Sprintf("map[accountId:1.234567e+06 query:%s timeout:5]", query) {
		t.Errorf("variables = %s", vars)
	}
	if gql, _ := body["query"].(string); !strings.Contains(gql, "nrql(query: $query, timeout: $timeout)") {
		t.Errorf("query = %s", gql)
	}
}

// TestWavefront: the chart API over HTTPS at the metric's address (a host name, as users
// write it), with the token the shared tokens Secret holds for that address.
func TestWavefront(t *testing.T) {
	ns := env.Namespace(t)
	// https://docs.wavefront.com/wavefront_api.html (Query API: GET /api/v2/chart/api).
	now := time.Now().Unix()
	srv := newVendor(t, true, map[string]reply{
		"GET /api/v2/chart/api": {body: fmt.Sprintf(`{"name":"q","query":"q","granularity":1,"timeseries":[
			{"label":"errors","host":"h","tags":{},"data":[[%d,0.5],[%d,0.002]]}]}`, now-600, now)},
	})
	host := "wavefront-" + ns + ".example.com" // the certificate is valid for *.example.com
	vendors.route(t, host, srv.Server)
	createSecret(t, credentialsNS, "wavefront-api-tokens", map[string]string{host: "wf-token-1"})
	run := createRun(t, ns, "wavefront", oneMetric(v1alpha1.Metric{
		Name: "error-rate", SuccessCondition: "result < 0.01",
		Provider: v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{Address: host, Query: `sum(rate(ts(errors, app="checkout")))`}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "error-rate")
	req := srv.first(t)
	q, _ := url.ParseQuery(req.RawQuery)
	if req.Method != http.MethodGet || req.Path != "/api/v2/chart/api" || req.Header.Get("Authorization") != "Bearer wf-token-1" {
		t.Errorf("request = %s %s %v", req.Method, req.Path, req.Header)
	}
	s, _ := strconv.ParseInt(q.Get("s"), 10, 64)
	if q.Get("q") != `sum(rate(ts(errors, app="checkout")))` || q.Get("s") != q.Get("e") || q.Get("g") != "s" || q.Get("p") != "1" ||
		q.Get("i") != "true" || q.Get("strict") != "false" || time.Since(time.UnixMilli(s)) > time.Minute {
		t.Errorf("query = %s", req.RawQuery)
	}
}

// TestCloudWatch: GetMetricData through the Query API, signed with SigV4 from the AWS_*
// environment, at the endpoint AWS_ENDPOINT_URL_CLOUDWATCH names.
func TestCloudWatch(t *testing.T) {
	ns := env.Namespace(t)
	// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
	srv := newVendor(t, false, map[string]reply{"POST /": {contentType: "text/xml", body: `<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <GetMetricDataResult>
    <MetricDataResults>
      <member>
        <Id>rate</Id>
        <Label>rate</Label>
        <StatusCode>Complete</StatusCode>
        <Timestamps><member>2026-05-01T11:55:00Z</member><member>2026-05-01T11:50:00Z</member></Timestamps>
        <Values><member>0.004</member><member>0.006</member></Values>
        <Messages/>
      </member>
    </MetricDataResults>
    <Messages/>
  </GetMetricDataResult>
  <ResponseMetadata><RequestId>8f1c1b8a-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
</GetMetricDataResponse>`}})
	getenv.set(t, map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAFLOTILLATEST", "AWS_SECRET_ACCESS_KEY": "cw-secret-key", "AWS_REGION": "eu-west-1",
		"AWS_ENDPOINT_URL_CLOUDWATCH": srv.URL, "HOME": "/nonexistent",
	})
	expr := "SUM(METRICS())"
	run := createRun(t, ns, "cloudwatch", oneMetric(v1alpha1.Metric{
		Name: "error-rate", SuccessCondition: "all(result[0].Values, {# < 0.01})",
		Provider: v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{Interval: "10m", MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{{
			ID: "rate", Expression: &expr, Period: new(intstr.FromInt32(300)),
		}}}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "error-rate")
	req := srv.first(t)
	form, _ := url.ParseQuery(req.Body)
	if req.Method != http.MethodPost || req.Path != "/" || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("request = %s %s %v", req.Method, req.Path, req.Header)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIAFLOTILLATEST/") ||
		!strings.Contains(req.Header.Get("Authorization"), "/eu-west-1/monitoring/aws4_request") {
		t.Errorf("Authorization = %q", req.Header.Get("Authorization"))
	}
	start, err1 := time.Parse(time.RFC3339, form.Get("StartTime"))
	end, err2 := time.Parse(time.RFC3339, form.Get("EndTime"))
	if form.Get("Action") != "GetMetricData" || form.Get("Version") != "2010-08-01" ||
		form.Get("MetricDataQueries.member.1.Id") != "rate" || form.Get("MetricDataQueries.member.1.Expression") != expr ||
		form.Get("MetricDataQueries.member.1.Period") != "300" || err1 != nil || err2 != nil || end.Sub(start) != 10*time.Minute {
		t.Errorf("form = %v", form)
	}
}

// TestKayenta: a judgement is started, polled while the measurement is in flight (the
// controller resumes it when it is due), and its score judged against the thresholds.
func TestKayenta(t *testing.T) {
	ns := env.Namespace(t)
	// Kayenta's standalone REST API (https://github.com/spinnaker/kayenta/blob/master/docs/).
	srv := newVendor(t, false, map[string]reply{
		"GET /canaryConfig":    {body: `[{"id":"cfg-other","name":"other","applications":["shop"]},{"id":"cfg-42","name":"checkout-canary","applications":["shop"]}]`},
		"POST /canary/cfg-42":  {body: `{"canaryExecutionId":"01HXEXEC"}`},
		"GET /canary/01HXEXEC": {body: `{"complete":true,"status":"succeeded","result":{"judgeResult":{"score":{"score":93.7,"classification":"Pass"}}}}`},
	})
	run := createRun(t, ns, "kayenta", oneMetric(v1alpha1.Metric{
		Name: "kayenta", Interval: "15m", Count: new(intstr.FromInt32(1)),
		Provider: v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{
			Address: srv.URL, Application: "shop", CanaryConfigName: "checkout-canary",
			MetricsAccountName: "prom-account", ConfigurationAccountName: "config-account", StorageAccountName: "storage-account",
			Threshold: v1alpha1.KayentaThreshold{Pass: 90, Marginal: 75},
			Scopes: []v1alpha1.KayentaScope{{
				Name:            "default",
				ControlScope:    v1alpha1.ScopeDetail{Scope: "app=checkout,track=stable", Region: "us-east-1", Step: 60},
				ExperimentScope: v1alpha1.ScopeDetail{Scope: "app=checkout,track=canary", Region: "us-east-1", Step: 60},
			}},
		}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "kayenta")
	m := got.Status.MetricResults[0].Measurements[0]
	if m.Value != "93" || m.Metadata[kayenta.MetadataExecutionID] != "01HXEXEC" {
		t.Errorf("measurement = %+v", m)
	}
	var calls []string
	for _, r := range srv.requests() {
		calls = append(calls, r.Method+" "+r.Path+"?"+r.RawQuery)
	}
	want := []string{
		"GET /canaryConfig?application=shop&configurationAccountName=config-account",
		"POST /canary/cfg-42?application=shop&configurationAccountName=config-account&metricsAccountName=prom-account&storageAccountName=storage-account",
		"GET /canary/01HXEXEC?",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	var start map[string]any
	if err := json.Unmarshal([]byte(srv.requests()[1].Body), &start); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(start["thresholds"]) != "map[marginal:75 pass:90]" {
		t.Errorf("start body = %s", srv.requests()[1].Body)
	}
}

// TestSkyWalking: a GraphQL query to the OAP server with the duration of the metric's
// interval.
func TestSkyWalking(t *testing.T) {
	ns := env.Namespace(t)
	// https://skywalking.apache.org/docs/main/latest/en/api/query-protocol/
	srv := newVendor(t, false, map[string]reply{
		"POST /graphql": {body: `{"data":{"service_apdex":{"label":null,"values":{"values":[{"value":9950},{"value":10000}]}}}}`},
	})
	const query = `query queryData($duration: Duration!) {
  service_apdex: readMetricsValues(
    condition: { name: "service_apdex", entity: { scope: Service, serviceName: "checkout", normal: true } },
    duration: $duration) { label values { values { value } } }
}`
	run := createRun(t, ns, "skywalking", oneMetric(v1alpha1.Metric{
		Name: "apdex", SuccessCondition: "all(result.service_apdex.values.values, {#.value >= 9900})",
		Provider: v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{Address: srv.URL, Query: query, Interval: "3m"}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "apdex")
	req := srv.first(t)
	var body struct {
		Query     string `json:"query"`
		Variables struct {
			Duration struct{ Start, End, Step string } `json:"duration"`
		} `json:"variables"`
	}
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		t.Fatal(err)
	}
	start, err1 := time.ParseInLocation("2006-01-02 1504", body.Variables.Duration.Start, time.Local)
	end, err2 := time.ParseInLocation("2006-01-02 1504", body.Variables.Duration.End, time.Local)
	if req.Method != http.MethodPost || req.Path != "/graphql" || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/json") ||
		body.Query != query || body.Variables.Duration.Step != "MINUTE" || err1 != nil || err2 != nil || end.Sub(start) != 3*time.Minute {
		t.Errorf("request = %s %s %v %s", req.Method, req.Path, req.Header, req.Body)
	}
}

// TestInfluxDB: a Flux query through the v2 query API, with the profile Secret's token and
// org. The back end is a local server in the documented shape, not Debian's influxdb
// package: Debian ships InfluxDB 1.6, which has neither Flux nor /api/v2/query, and Flux is
// the provider's only query language, as in Argo Rollouts.
func TestInfluxDB(t *testing.T) {
	ns := env.Namespace(t)
	// https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery (annotated CSV).
	srv := newVendor(t, false, map[string]reply{"POST /api/v2/query": {contentType: "text/csv; charset=utf-8", body: "" +
		"#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string\r\n" +
		"#group,false,false,true,true,false,false,true,true\r\n" +
		"#default,_result,,,,,,,\r\n" +
		",result,table,_start,_stop,_time,_value,_field,_measurement\r\n" +
		",,0,2026-05-01T11:45:00Z,2026-05-01T12:00:00Z,2026-05-01T11:50:00Z,0.005,rate,errors\r\n" +
		",,0,2026-05-01T11:45:00Z,2026-05-01T12:00:00Z,2026-05-01T11:55:00Z,0.0075,rate,errors\r\n\r\n"}})
	profile := "influxdb-" + ns
	createSecret(t, credentialsNS, profile, map[string]string{"address": srv.URL, "authToken": "influx-token-1", "org": "platform team"})
	const flux = `from(bucket: "app_istio")
  |> range(start: -15m)
  |> filter(fn: (r) => r["_measurement"] == "istio:istio_requests_errors_percentage:rate1m:5xx")`
	run := createRun(t, ns, "influxdb", oneMetric(v1alpha1.Metric{
		Name: "error-rate", SuccessCondition: "all(result, {# < 0.01})",
		Provider: v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{Profile: profile, Query: flux}},
	}))
	got := waitCompleted(t, run, time.Minute)
	wantSuccessful(t, got, "error-rate")
	req := srv.first(t)
	var body map[string]any
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.Path != "/api/v2/query" || req.RawQuery != "org=platform+team" ||
		req.Header.Get("Authorization") != "Token influx-token-1" || req.Header.Get("Accept") != "application/csv" ||
		body["query"] != flux || body["type"] != "flux" {
		t.Errorf("request = %s %s?%s %v %s", req.Method, req.Path, req.RawQuery, req.Header, req.Body)
	}
}
