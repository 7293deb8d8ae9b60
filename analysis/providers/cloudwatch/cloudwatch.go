// Package cloudwatch measures metrics with AWS CloudWatch GetMetricData, over the
// CloudWatch Query API signed with AWS Signature Version 4 (no AWS SDK).
//
// Request: POST https://monitoring.<region>.amazonaws.com/ (or AWS_ENDPOINT_URL_CLOUDWATCH,
// or AWS_ENDPOINT_URL) with Content-Type application/x-www-form-urlencoded and the form
// Action=GetMetricData, Version=2010-08-01, StartTime and EndTime (the metric's interval,
// default 5m, ending now, in RFC 3339 UTC) and each query as MetricDataQueries.member.N.*
// (Id, Expression, Label, Period, ReturnData, MetricStat.Metric.Namespace/MetricName/
// Dimensions.member.M.Name/Value, MetricStat.Period/Stat/Unit). Pages are followed through
// NextToken. The request is signed for service "monitoring".
//
// Result, as in Argo Rollouts: the list of metric data results, each a map with the keys
// Id, Label, StatusCode, Timestamps ([]time.Time) and Values ([]float64), so conditions
// read len(result[0].Values) >= 5 and all(result[0].Values, {# <= 0.01}). No results at
// all is an error. The messages CloudWatch returns are kept in the metadata ("messages").
//
// Credentials, as the AWS SDK finds them for Argo Rollouts: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (which a Deployment fills from a Secret such
// as Argo's documented cloudwatch-secret), else IAM roles for service accounts
// (AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE), else the shared credentials file. The
// region is AWS_REGION or AWS_DEFAULT_REGION. Keys never appear in errors.
package cloudwatch

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/awsauth"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "cloudWatch"
	// DefaultInterval is the queried window when the metric sets none.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds a measurement, every page included.
	DefaultTimeout = 30 * time.Second
	// MetadataMessages is the metadata key of CloudWatch's messages.
	MetadataMessages = "messages"
	// maxPages bounds how many NextToken pages are read.
	maxPages = 20
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Getenv reads the AWS settings; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs GetMetricData. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
	aws     awsauth.Config
	creds   awsauth.Source
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a CloudWatch provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg := awsauth.Config{Getenv: opts.Getenv, HTTPClient: opts.HTTPClient, Now: opts.Now}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient), aws: cfg, creds: cfg.Chain("")}
}

// Type is "cloudWatch".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's queries once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	cw := req.Metric.Provider.CloudWatch
	if cw == nil {
		return analysis.Value{}, errors.New("cloudwatch: the metric has no cloudWatch provider")
	}
	v, redact, err := p.measure(ctx, cw)
	if err != nil {
		return analysis.Value{}, redact.Error(fmt.Errorf("cloudwatch: %w", err))
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, cw *v1alpha1.CloudWatchMetric) (analysis.Value, *httpapi.Redactor, error) {
	redact := httpapi.NewRedactor()
	interval := DefaultInterval
	if cw.Interval != "" {
		d, err := cw.Interval.Duration()
		if err != nil {
			return analysis.Value{}, redact, fmt.Errorf("interval: %w", err)
		}
		interval = d
	}
	form, err := queryForm(cw.MetricDataQueries)
	if err != nil {
		return analysis.Value{}, redact, err
	}
	region := p.aws.Region()
	if region == "" {
		return analysis.Value{}, redact, errors.New("no region: set AWS_REGION or AWS_DEFAULT_REGION")
	}
	endpoint := strings.TrimRight(p.aws.Endpoint("CLOUDWATCH", "monitoring", region), "/") + "/"
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" {
		return analysis.Value{}, redact, fmt.Errorf("CloudWatch endpoint %q is not a URL", endpoint)
	}
	ctx, cancel := httpapi.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return analysis.Value{}, redact, err
	}
	redact.Add(creds.SecretAccessKey, creds.SessionToken)
	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, redact, err
	}

	now := p.opts.Now().UTC()
	form.Set("Action", "GetMetricData")
	form.Set("Version", "2010-08-01")
	form.Set("StartTime", now.Add(-interval).Format(time.RFC3339))
	form.Set("EndTime", now.Format(time.RFC3339))

	var results []*metricDataResult
	byID := map[string]*metricDataResult{}
	var messages []string
	for page := 0; ; page++ {
		if page == maxPages {
			return analysis.Value{}, redact, fmt.Errorf("more than %d pages of results", maxPages)
		}
		out, err := p.call(ctx, client, endpoint, form, creds, region, now)
		if err != nil {
			return analysis.Value{}, redact, err
		}
		for _, m := range out.Messages {
			messages = append(messages, m.String())
		}
		for i := range out.MetricDataResults {
			r := &out.MetricDataResults[i]
			if prev, ok := byID[r.ID]; ok {
				prev.Timestamps = append(prev.Timestamps, r.Timestamps...)
				prev.Values = append(prev.Values, r.Values...)
				prev.StatusCode = r.StatusCode
				continue
			}
			byID[r.ID] = r
			results = append(results, r)
		}
		if out.NextToken == "" {
			break
		}
		form.Set("NextToken", out.NextToken)
	}
	if len(results) == 0 {
		return analysis.Value{}, redact, errors.New("GetMetricData returned no results")
	}
	list := make([]any, len(results))
	values := make([][]float64, len(results))
	for i, r := range results {
		stamps := make([]time.Time, len(r.Timestamps))
		for j, s := range r.Timestamps {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return analysis.Value{}, redact, fmt.Errorf("result %q: timestamp %q is not RFC 3339", r.ID, s)
			}
			stamps[j] = t
		}
		for _, m := range r.Messages {
			messages = append(messages, r.ID+": "+m.String())
		}
		if r.Values == nil {
			r.Values = []float64{}
		}
		list[i] = map[string]any{
			"Id": r.ID, "Label": r.Label, "StatusCode": r.StatusCode, "Timestamps": stamps, "Values": r.Values,
		}
		values[i] = r.Values
	}
	v := analysis.Value{Result: list, Text: fmt.Sprint(values)}
	if len(messages) > 0 {
		v.Metadata = map[string]string{MetadataMessages: strings.Join(messages, "; ")}
	}
	return v, redact, nil
}

func (p *Provider) call(ctx context.Context, client *http.Client, endpoint string, form url.Values, creds awsauth.Credentials, region string, now time.Time) (*getMetricDataResult, error) {
	body, err := awsauth.Query(ctx, client, endpoint, form, creds, region, "monitoring", now)
	if err != nil {
		return nil, err
	}
	var out getMetricDataResponse
	if err := xml.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("response is not a GetMetricDataResponse: %w", err)
	}
	if out.XMLName.Local != "GetMetricDataResponse" {
		return nil, fmt.Errorf("response is a %s, not a GetMetricDataResponse", out.XMLName.Local)
	}
	return &out.Result, nil
}

type getMetricDataResponse struct {
	XMLName xml.Name
	Result  getMetricDataResult `xml:"GetMetricDataResult"`
}

type getMetricDataResult struct {
	MetricDataResults []metricDataResult `xml:"MetricDataResults>member"`
	NextToken         string             `xml:"NextToken"`
	Messages          []message          `xml:"Messages>member"`
}

type metricDataResult struct {
	ID         string    `xml:"Id"`
	Label      string    `xml:"Label"`
	StatusCode string    `xml:"StatusCode"`
	Timestamps []string  `xml:"Timestamps>member"`
	Values     []float64 `xml:"Values>member"`
	Messages   []message `xml:"Messages>member"`
}

type message struct {
	Code  string `xml:"Code"`
	Value string `xml:"Value"`
}

func (m message) String() string { return m.Code + ": " + m.Value }

// queryForm encodes the queries as Query API members.
func queryForm(queries []v1alpha1.CloudWatchMetricDataQuery) (url.Values, error) {
	if len(queries) == 0 {
		return nil, errors.New("metricDataQueries is empty")
	}
	form := url.Values{}
	for i, q := range queries {
		prefix := fmt.Sprintf("MetricDataQueries.member.%d.", i+1)
		if q.ID == "" {
			return nil, fmt.Errorf("metricDataQueries[%d]: id is required", i)
		}
		if (q.Expression == nil) == (q.MetricStat == nil) {
			return nil, fmt.Errorf("metricDataQueries[%d]: set exactly one of expression and metricStat", i)
		}
		form.Set(prefix+"Id", q.ID)
		if q.Expression != nil {
			form.Set(prefix+"Expression", *q.Expression)
		}
		if q.Label != nil {
			form.Set(prefix+"Label", *q.Label)
		}
		if err := setPeriod(form, prefix+"Period", q.Period); err != nil {
			return nil, fmt.Errorf("metricDataQueries[%d].period: %w", i, err)
		}
		if q.ReturnData != nil {
			form.Set(prefix+"ReturnData", strconv.FormatBool(*q.ReturnData))
		}
		if ms := q.MetricStat; ms != nil {
			sp := prefix + "MetricStat."
			if ms.Metric.Namespace != nil {
				form.Set(sp+"Metric.Namespace", *ms.Metric.Namespace)
			}
			if ms.Metric.MetricName != "" {
				form.Set(sp+"Metric.MetricName", ms.Metric.MetricName)
			}
			for j, d := range ms.Metric.Dimensions {
				dp := fmt.Sprintf("%sMetric.Dimensions.member.%d.", sp, j+1)
				form.Set(dp+"Name", d.Name)
				form.Set(dp+"Value", d.Value)
			}
			if err := setPeriod(form, sp+"Period", ms.Period); err != nil {
				return nil, fmt.Errorf("metricDataQueries[%d].metricStat.period: %w", i, err)
			}
			if ms.Stat != "" {
				form.Set(sp+"Stat", ms.Stat)
			}
			if ms.Unit != "" {
				form.Set(sp+"Unit", ms.Unit)
			}
		}
	}
	return form, nil
}

func setPeriod(form url.Values, key string, period *intstr.IntOrString) error {
	if period == nil {
		return nil
	}
	var n int
	if period.Type == intstr.String {
		v, err := strconv.Atoi(period.StrVal)
		if err != nil {
			return fmt.Errorf("%q is not a number of seconds", period.StrVal)
		}
		n = v
	} else {
		n = int(period.IntVal)
	}
	if n <= 0 {
		return fmt.Errorf("%d is not a positive number of seconds", n)
	}
	form.Set(key, strconv.Itoa(n))
	return nil
}
