package cloudwatch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/cloudwatch"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/awsauth"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type request struct {
	method, path string
	header       http.Header
	form         url.Values
	body         []byte
	host         string
}

// fakeCloudWatch serves the CloudWatch Query API shapes from the GetMetricData API
// reference (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
// and "Making Query API requests": a form POST with Action and Version, answered with a
// GetMetricDataResponse document, or an ErrorResponse) on 127.0.0.1, one body per call.
type fakeCloudWatch struct {
	mu     sync.Mutex
	seen   []request
	status int
	bodies []string
}

func (f *fakeCloudWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	f.seen = append(f.seen, request{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), form: form, body: body, host: r.Host})
	reply := f.bodies[0]
	if len(f.bodies) > 1 {
		f.bodies = f.bodies[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if f.status != 0 {
		w.WriteHeader(f.status)
	}
	_, _ = io.WriteString(w, reply)
}

const okBody = `<GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
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
</GetMetricDataResponse>`

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func newFake(t *testing.T, bodies ...string) (*fakeCloudWatch, *httptest.Server) {
	f := &fakeCloudWatch{bodies: bodies}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func staticEnv(srv *httptest.Server) map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAFLOTILLATEST", "AWS_SECRET_ACCESS_KEY": "cw-s3cret-key",
		"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_CLOUDWATCH": srv.URL, "HOME": "/nonexistent",
	}
}

func measure(p *cloudwatch.Provider, cw *v1alpha1.CloudWatchMetric) (analysis.Value, error) {
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{CloudWatch: cw},
	}})
}

func ptr[T any](v T) *T { return &v }

func metric() *v1alpha1.CloudWatchMetric {
	period := intstr.FromInt32(300)
	return &v1alpha1.CloudWatchMetric{
		Interval: "30m",
		MetricDataQueries: []v1alpha1.CloudWatchMetricDataQuery{
			{ID: "rate", Expression: ptr("errors / requests")},
			{ID: "errors", ReturnData: ptr(false), MetricStat: &v1alpha1.CloudWatchMetricStat{
				Metric: v1alpha1.CloudWatchMetricStatMetric{
					Namespace: ptr("app"), MetricName: "errors",
					Dimensions: []v1alpha1.CloudWatchMetricStatMetricDimension{{Name: "Service", Value: "checkout"}},
				},
				Period: &period, Stat: "Sum", Unit: "Count",
			}},
		},
	}
}

// checkSignature re-signs what the server received with the same credentials and time and
// compares the Authorization header: the signer itself is pinned to AWS's published test
// vectors in package awsauth, so a match means the request carries a valid SigV4 signature
// over exactly the method, host, path, headers and body that arrived.
func checkSignature(t *testing.T, got request, creds awsauth.Credentials, region string) {
	t.Helper()
	auth := got.header.Get("Authorization")
	scope := fmt.Sprintf("Credential=%s/20260501/%s/monitoring/aws4_request", creds.AccessKeyID, region)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 "+scope+", SignedHeaders=content-type;host;x-amz-date") {
		t.Errorf("Authorization = %q, want scope %s", auth, scope)
	}
	if got.header.Get("X-Amz-Date") != "20260501T120000Z" {
		t.Errorf("X-Amz-Date = %q", got.header.Get("X-Amz-Date"))
	}
	replay, _ := http.NewRequest(got.method, "http://"+got.host+got.path, bytes.NewReader(got.body))
	replay.Header.Set("Content-Type", got.header.Get("Content-Type"))
	awsauth.Sign(replay, got.body, creds, region, "monitoring", now)
	if want := replay.Header.Get("Authorization"); auth != want {
		t.Errorf("signature does not verify:\n got %s\nwant %s", auth, want)
	}
}

func TestGetMetricData(t *testing.T) {
	f, srv := newFake(t, okBody)
	p := cloudwatch.New(cloudwatch.Options{Getenv: env(staticEnv(srv)), Now: func() time.Time { return now }})
	v, err := measure(p, metric())
	if err != nil {
		t.Fatal(err)
	}
	got := f.seen[0]
	if got.method != http.MethodPost || got.path != "/" || got.header.Get("Content-Type") != "application/x-www-form-urlencoded; charset=utf-8" {
		t.Errorf("request = %s %s %v", got.method, got.path, got.header)
	}
	want := url.Values{
		"Action": {"GetMetricData"}, "Version": {"2010-08-01"},
		"StartTime": {"2026-05-01T11:30:00Z"}, "EndTime": {"2026-05-01T12:00:00Z"},
		"MetricDataQueries.member.1.Id":                                          {"rate"},
		"MetricDataQueries.member.1.Expression":                                  {"errors / requests"},
		"MetricDataQueries.member.2.Id":                                          {"errors"},
		"MetricDataQueries.member.2.ReturnData":                                  {"false"},
		"MetricDataQueries.member.2.MetricStat.Metric.Namespace":                 {"app"},
		"MetricDataQueries.member.2.MetricStat.Metric.MetricName":                {"errors"},
		"MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.1.Name":  {"Service"},
		"MetricDataQueries.member.2.MetricStat.Metric.Dimensions.member.1.Value": {"checkout"},
		"MetricDataQueries.member.2.MetricStat.Period":                           {"300"},
		"MetricDataQueries.member.2.MetricStat.Stat":                             {"Sum"},
		"MetricDataQueries.member.2.MetricStat.Unit":                             {"Count"},
	}
	if got.form.Encode() != want.Encode() {
		t.Errorf("form:\n got %s\nwant %s", got.form.Encode(), want.Encode())
	}
	checkSignature(t, got, awsauth.Credentials{AccessKeyID: "AKIAFLOTILLATEST", SecretAccessKey: "cw-s3cret-key"}, "eu-west-1")

	list, ok := v.Result.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("Result = %#v", v.Result)
	}
	r := list[0].(map[string]any)
	if r["Id"] != "rate" || fmt.Sprint(r["Values"]) != "[0.004 0.006]" || r["StatusCode"] != "Complete" {
		t.Errorf("result[0] = %v", r)
	}
	if stamps := r["Timestamps"].([]time.Time); len(stamps) != 2 || !stamps[0].Equal(now.Add(-5*time.Minute)) {
		t.Errorf("Timestamps = %v", stamps)
	}
	if v.Text != "[[0.004 0.006]]" {
		t.Errorf("Text = %q", v.Text)
	}
}

func TestPagesAreMerged(t *testing.T) {
	page1 := strings.Replace(okBody, "<Messages/>\n  </GetMetricDataResult>", "<NextToken>page-2</NextToken>\n  </GetMetricDataResult>", 1)
	page2 := strings.NewReplacer("0.004", "0.001", "0.006", "0.002", "11:55", "11:45", "11:50", "11:40").Replace(okBody)
	f, srv := newFake(t, page1, page2)
	p := cloudwatch.New(cloudwatch.Options{Getenv: env(staticEnv(srv)), Now: func() time.Time { return now }})
	v, err := measure(p, metric())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.seen) != 2 || f.seen[1].form.Get("NextToken") != "page-2" {
		t.Fatalf("requests = %d, second NextToken %q", len(f.seen), f.seen[len(f.seen)-1].form.Get("NextToken"))
	}
	if v.Text != "[[0.004 0.006 0.001 0.002]]" {
		t.Errorf("Text = %q", v.Text)
	}
}

// TestWebIdentityCredentials follows IAM roles for service accounts: the provider trades
// the projected token for temporary credentials at STS (AssumeRoleWithWebIdentity, served
// here in the shape of the STS API reference) and signs with them and their session token.
func TestWebIdentityCredentials(t *testing.T) {
	f, srv := newFake(t, okBody)
	var stsForm url.Values
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		stsForm = r.PostForm
		_, _ = io.WriteString(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIATEMPORARY</AccessKeyId>
      <SecretAccessKey>temp-s3cret</SecretAccessKey>
      <SessionToken>session-token-123</SessionToken>
      <Expiration>2026-05-01T13:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>`)
	}))
	t.Cleanup(sts.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("projected-jwt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := cloudwatch.New(cloudwatch.Options{Now: func() time.Time { return now }, Getenv: env(map[string]string{
		"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL_CLOUDWATCH": srv.URL, "AWS_ENDPOINT_URL_STS": sts.URL,
		"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/flotilla", "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ROLE_SESSION_NAME": "spoke", "HOME": "/nonexistent",
	})})
	for range 2 {
		if _, err := measure(p, metric()); err != nil {
			t.Fatal(err)
		}
	}
	if stsForm.Get("Action") != "AssumeRoleWithWebIdentity" || stsForm.Get("WebIdentityToken") != "projected-jwt" ||
		stsForm.Get("RoleArn") != "arn:aws:iam::123456789012:role/flotilla" || stsForm.Get("RoleSessionName") != "spoke" {
		t.Errorf("STS form = %v", stsForm)
	}
	got := f.seen[len(f.seen)-1]
	if got.header.Get("X-Amz-Security-Token") != "session-token-123" {
		t.Errorf("X-Amz-Security-Token = %q", got.header.Get("X-Amz-Security-Token"))
	}
	creds := awsauth.Credentials{AccessKeyID: "ASIATEMPORARY", SecretAccessKey: "temp-s3cret", SessionToken: "session-token-123"}
	if !strings.Contains(got.header.Get("Authorization"), "x-amz-security-token") {
		t.Errorf("the session token is not signed: %s", got.header.Get("Authorization"))
	}
	replay, _ := http.NewRequest(got.method, "http://"+got.host+got.path, bytes.NewReader(got.body))
	replay.Header.Set("Content-Type", got.header.Get("Content-Type"))
	awsauth.Sign(replay, got.body, creds, "us-west-2", "monitoring", now)
	if replay.Header.Get("Authorization") != got.header.Get("Authorization") {
		t.Errorf("signature with the temporary credentials does not verify")
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"access denied", `<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: cloudwatch:GetMetricData</Message></Error><RequestId>x</RequestId></ErrorResponse>`, 403, "AccessDenied: User is not authorized"},
		{"throttled", `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`, 400, "Throttling"},
		{"malformed", `<GetMetricDataResponse><GetMetricDataResult>`, 200, "not a GetMetricDataResponse"},
		{"other document", `<Foo/>`, 200, "is a Foo"},
		{"no results", `<GetMetricDataResponse><GetMetricDataResult><MetricDataResults/></GetMetricDataResult></GetMetricDataResponse>`, 200, "no results"},
		{"bad value", strings.Replace(okBody, "0.004", "abc", 1), 200, "not a GetMetricDataResponse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFake(t, tc.body)
			f.status = tc.status
			v, err := measure(cloudwatch.New(cloudwatch.Options{Getenv: env(staticEnv(srv)), Now: func() time.Time { return now }}), metric())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	_, srv := newFake(t, okBody)
	noRegion := staticEnv(srv)
	delete(noRegion, "AWS_REGION")
	if _, err := measure(cloudwatch.New(cloudwatch.Options{Getenv: env(noRegion)}), metric()); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("no region: err = %v", err)
	}
	noCreds := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_CLOUDWATCH": srv.URL, "HOME": "/nonexistent"}
	if _, err := measure(cloudwatch.New(cloudwatch.Options{Getenv: env(noCreds)}), metric()); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("no credentials: err = %v", err)
	}
	bad := metric()
	bad.MetricDataQueries[0].MetricStat = &v1alpha1.CloudWatchMetricStat{}
	if _, err := measure(cloudwatch.New(cloudwatch.Options{Getenv: env(staticEnv(srv))}), bad); err == nil || !strings.Contains(err.Error(), "exactly one of") {
		t.Errorf("expression and metricStat: err = %v", err)
	}
}
