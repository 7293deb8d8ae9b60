// Package prometheus measures metrics with PromQL queries against the HTTP API of
// Prometheus or anything that serves it (Thanos, Cortex, Mimir, Amazon Managed Prometheus).
//
// Requests: POST <address>/api/v1/query with the form fields query and time, or, for a
// metric with rangeQuery, POST <address>/api/v1/query_range with query, start, end and step
// (start and end are evaluated as now() - duration("5m")-style expressions). A server that
// answers 405 or 501 to the POST is asked again with GET, as Prometheus' Go client does.
// Custom headers are added to every request and win over authentication headers;
// authentication is basic auth, an OAuth2 client-credentials bearer token, or AWS SigV4
// (service "aps") when the metric's sigv4 block is set. A bearer token is a custom
// Authorization header.
//
// Results, as Argo Rollouts gives them to conditions:
//   - vector: []float64 with one value per series, so conditions read result[0];
//   - scalar: float64;
//   - matrix (range queries): []float64 of every sample of every series, in order;
//   - an empty vector or matrix: nil, which no numeric condition accepts; conditions that
//     mean to accept "no data" say so with isNil(result) or default(result, ...). Argo
//     hands conditions an empty list here, which all(result, ...) accepts by accident.
//
// Measurement metadata holds the resolved query (ResolvedPrometheusQuery, as in Argo) and
// the server's warnings, if any.
package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/internal/auth"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/awsauth"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "prometheus"
	// DefaultTimeout is the query timeout when the metric sets none.
	DefaultTimeout = 30 * time.Second
	// MetadataQuery is the metadata key of the resolved query.
	MetadataQuery = "ResolvedPrometheusQuery"
	// MetadataWarnings is the metadata key of the server's warnings.
	MetadataWarnings = "warnings"
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport. Its
	// own Timeout, if any, applies on top of the metric's.
	HTTPClient *http.Client
	// DefaultAddress is the Prometheus used by metrics without an address (Argo Rollouts
	// reads it from ARGO_ROLLOUTS_PROMETHEUS_ADDRESS).
	DefaultAddress string
	// Getenv reads AWS settings for SigV4 (credentials, region, endpoints); nil means
	// os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs Prometheus queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
	tokens  *auth.TokenSource
	aws     awsauth.Config

	mu         sync.Mutex
	awsSources map[string]awsauth.Source
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a Prometheus provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Provider{
		opts:       opts,
		clients:    httpapi.NewClients(opts.HTTPClient),
		tokens:     auth.NewTokenSource(),
		aws:        awsauth.Config{Getenv: opts.Getenv, HTTPClient: opts.HTTPClient, Now: opts.Now},
		awsSources: map[string]awsauth.Source{},
	}
}

// Type is "prometheus".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	pm := req.Metric.Provider.Prometheus
	if pm == nil {
		return analysis.Value{}, errors.New("prometheus: the metric has no prometheus provider")
	}
	redact := httpapi.NewRedactor(auth.Secrets(pm.Authentication)...)
	for _, h := range pm.Headers {
		redact.Add(h.Value)
	}
	v, err := p.measure(ctx, pm)
	if err != nil {
		return analysis.Value{}, redact.Error(fmt.Errorf("prometheus: %w", err))
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, pm *v1alpha1.PrometheusMetric) (analysis.Value, error) {
	base, err := p.address(pm)
	if err != nil {
		return analysis.Value{}, err
	}
	timeout := DefaultTimeout
	if pm.Timeout != nil {
		if *pm.Timeout < 0 {
			return analysis.Value{}, errors.New("timeout must not be negative")
		}
		if *pm.Timeout > 0 {
			timeout = time.Duration(*pm.Timeout) * time.Second
		}
	}
	if err := auth.Validate(pm.Authentication); err != nil {
		return analysis.Value{}, err
	}
	client, err := p.clients.Get(pm.Insecure)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, timeout)
	defer cancel()

	now := p.opts.Now()
	path := "/api/v1/query"
	form := url.Values{"query": {pm.Query}}
	if rq := pm.RangeQuery; rq != nil {
		path = "/api/v1/query_range"
		start, end, step, err := rangeBounds(rq, now)
		if err != nil {
			return analysis.Value{}, err
		}
		form.Set("start", formatTime(start))
		form.Set("end", formatTime(end))
		form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	} else {
		form.Set("time", formatTime(now))
	}
	endpoint := *base
	endpoint.Path = strings.TrimRight(endpoint.Path, "/") + path
	endpoint.RawPath = ""

	body, err := p.query(ctx, client, pm, &endpoint, form)
	if err != nil {
		return analysis.Value{}, err
	}
	v, err := parseResponse(body)
	if err != nil {
		return analysis.Value{}, err
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	v.Metadata[MetadataQuery] = pm.Query
	return v, nil
}

func (p *Provider) address(pm *v1alpha1.PrometheusMetric) (*url.URL, error) {
	addr := pm.Address
	if addr == "" {
		addr = p.opts.DefaultAddress
	}
	if addr == "" {
		return nil, errors.New("no address: the metric sets none and the controller has no default Prometheus address")
	}
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("address %q is not a URL with a scheme and a host", httpapi.StripURL(u))
	}
	return u, nil
}

func rangeBounds(rq *v1alpha1.PrometheusRangeQueryArgs, now time.Time) (start, end time.Time, step time.Duration, err error) {
	if rq.Start == "" {
		return start, end, step, errors.New("rangeQuery.start is required, such as now() - duration(\"5m\")")
	}
	if start, err = evalTime(rq.Start, now); err != nil {
		return start, end, step, fmt.Errorf("rangeQuery.start: %w", err)
	}
	end = now
	if rq.End != "" {
		if end, err = evalTime(rq.End, now); err != nil {
			return start, end, step, fmt.Errorf("rangeQuery.end: %w", err)
		}
	}
	if rq.Step == "" {
		return start, end, step, errors.New("rangeQuery.step is required, such as 1m")
	}
	if step, err = rq.Step.Duration(); err != nil {
		return start, end, step, fmt.Errorf("rangeQuery.step: %w", err)
	}
	if step <= 0 {
		return start, end, step, errors.New("rangeQuery.step must be more than zero")
	}
	if end.Before(start) {
		return start, end, step, fmt.Errorf("rangeQuery: end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, step, nil
}

// formatTime renders t as Unix seconds with millisecond precision, as the API takes it.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// query POSTs the form, and falls back to GET when the server does not take POST.
func (p *Provider) query(ctx context.Context, client *http.Client, pm *v1alpha1.PrometheusMetric, endpoint *url.URL, form url.Values) ([]byte, error) {
	encoded := form.Encode()
	resp, err := p.send(ctx, client, pm, http.MethodPost, endpoint.String(), []byte(encoded))
	var serr *httpapi.StatusError
	if errors.As(err, &serr) && (serr.StatusCode == http.StatusMethodNotAllowed || serr.StatusCode == http.StatusNotImplemented) {
		u := *endpoint
		u.RawQuery = encoded
		resp, err = p.send(ctx, client, pm, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		if errors.As(err, &serr) {
			if msg := apiError(serr.Body); msg != "" {
				return nil, fmt.Errorf("%s: HTTP %d: %s", serr.Request, serr.StatusCode, msg)
			}
		}
		return nil, err
	}
	return resp.Body, nil
}

func (p *Provider) send(ctx context.Context, client *http.Client, pm *v1alpha1.PrometheusMetric, method, target string, body []byte) (*httpapi.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	if err := p.tokens.Apply(ctx, client, pm.Authentication, req); err != nil {
		return nil, err
	}
	for _, h := range pm.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	if a := pm.Authentication; a != nil && a.Sigv4 != nil && *a.Sigv4 != (v1alpha1.Sigv4Config{}) {
		if err := p.sign(ctx, req, body, a.Sigv4); err != nil {
			return nil, err
		}
	}
	return httpapi.Do(client, req)
}

// sign signs req for Amazon Managed Prometheus.
func (p *Provider) sign(ctx context.Context, req *http.Request, body []byte, cfg *v1alpha1.Sigv4Config) error {
	region := cfg.Region
	if region == "" {
		region = p.aws.Region()
	}
	if region == "" {
		return errors.New("authentication.sigv4: no region in the metric, AWS_REGION or AWS_DEFAULT_REGION")
	}
	key := cfg.Profile + "\x00" + cfg.RoleARN + "\x00" + region
	p.mu.Lock()
	src, ok := p.awsSources[key]
	if !ok {
		src = p.aws.Chain(cfg.Profile)
		if cfg.RoleARN != "" {
			src = p.aws.AssumeRole(src, cfg.RoleARN, region)
		}
		p.awsSources[key] = src
	}
	p.mu.Unlock()
	creds, err := src.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("authentication.sigv4: %w", err)
	}
	if body == nil {
		body = []byte{}
	}
	awsauth.Sign(req, body, creds, region, "aps", p.opts.Now())
	return nil
}

// apiResponse is the envelope of every Prometheus API response.
type apiResponse struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Data      *struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// apiError reads the error of an error response, or "" when body is not one.
func apiError(body []byte) string {
	var r apiResponse
	if json.Unmarshal(body, &r) != nil || r.Error == "" {
		return ""
	}
	if r.ErrorType != "" {
		return r.ErrorType + ": " + r.Error
	}
	return r.Error
}

// sample is a [timestamp, "value"] pair.
type sample [2]json.RawMessage

func (s sample) value() (float64, error) {
	var str string
	if err := json.Unmarshal(s[1], &str); err != nil {
		return 0, fmt.Errorf("sample value %s is not a string", s[1])
	}
	// ParseFloat reads NaN, +Inf and -Inf as Prometheus writes them.
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, fmt.Errorf("sample value %q is not a number", str)
	}
	return f, nil
}

func parseResponse(body []byte) (analysis.Value, error) {
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if r.Status != "success" {
		if r.Error != "" {
			return analysis.Value{}, fmt.Errorf("query failed: %s", apiError(body))
		}
		return analysis.Value{}, fmt.Errorf("response status is %q, not success", r.Status)
	}
	if r.Data == nil {
		return analysis.Value{}, errors.New("response has no data")
	}
	var v analysis.Value
	if len(r.Warnings) > 0 {
		v.Metadata = map[string]string{MetadataWarnings: strings.Join(r.Warnings, "; ")}
	}
	switch r.Data.ResultType {
	case "scalar":
		var s sample
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return analysis.Value{}, fmt.Errorf("scalar result: %w", err)
		}
		f, err := s.value()
		if err != nil {
			return analysis.Value{}, err
		}
		v.Result, v.Text = f, formatFloat(f)
	case "vector":
		var series []struct {
			Value sample `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &series); err != nil {
			return analysis.Value{}, fmt.Errorf("vector result: %w", err)
		}
		values := make([]float64, 0, len(series))
		for _, s := range series {
			f, err := s.Value.value()
			if err != nil {
				return analysis.Value{}, err
			}
			values = append(values, f)
		}
		setList(&v, values)
	case "matrix":
		var series []struct {
			Values []sample `json:"values"`
		}
		if err := json.Unmarshal(r.Data.Result, &series); err != nil {
			return analysis.Value{}, fmt.Errorf("matrix result: %w", err)
		}
		var values []float64
		for _, s := range series {
			for _, smp := range s.Values {
				f, err := smp.value()
				if err != nil {
					return analysis.Value{}, err
				}
				values = append(values, f)
			}
		}
		setList(&v, values)
	default:
		return analysis.Value{}, fmt.Errorf("result type %q is not supported (use a query that returns a vector, a scalar or a matrix)", r.Data.ResultType)
	}
	return v, nil
}

// setList sets a list result; an empty one is nil, see the package documentation.
func setList(v *analysis.Value, values []float64) {
	parts := make([]string, len(values))
	for i, f := range values {
		parts[i] = formatFloat(f)
	}
	v.Text = "[" + strings.Join(parts, ",") + "]"
	if len(values) == 0 {
		v.Result = nil
		return
	}
	v.Result = values
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
