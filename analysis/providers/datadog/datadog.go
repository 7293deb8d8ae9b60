// Package datadog measures metrics with Datadog metric queries, over Datadog's HTTP API.
//
// Requests, with headers DD-API-KEY, DD-APPLICATION-KEY and Content-Type application/json:
//   - apiVersion v1 (the default): GET <address>/api/v1/query?query=...&from=...&to=...
//     with from and to in Unix seconds, the window being the metric's interval (default 5m)
//     ending now;
//   - apiVersion v2: POST <address>/api/v2/query/scalar with a scalar_request whose from and
//     to are Unix milliseconds, one query per entry of queries (a single query is named
//     "query"), each with data_source metrics and the aggregator (default last), and the
//     formula, if any.
//
// Results: v1 takes the last non-null point of the first series, a float64. v2 takes the
// first number column of the response: a float64 for an ungrouped query, or a []float64
// with one value per group for a query grouped "by {tag}", the groups then listed in the
// measurement metadata ("groups", at most 100, the lowest and highest values kept). A query
// with no data gives a nil result, which conditions can accept only explicitly, with
// isNil(result) or default(result, ...). Null values are skipped, never read as 0.
//
// Credentials, as in Argo Rollouts: with secretRef, the Secret it names (in the analysis'
// namespace when namespaced is true, else in the controller's namespace); without it, the
// environment variables DD_API_KEY, DD_APP_KEY and DD_ADDRESS, else the Secret "datadog" in
// the controller's namespace. A Secret holds the keys api-key, app-key and, optionally,
// address (default https://api.datadoghq.com). The keys never appear in errors.
package datadog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "datadog"
	// DefaultSecretName is the Secret read when the metric names none.
	DefaultSecretName = "datadog"
	// DefaultAddress is Datadog's US1 API.
	DefaultAddress = "https://api.datadoghq.com"
	// DefaultInterval is the queried window when the metric sets none.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout is the request timeout when the metric sets none.
	DefaultTimeout = 10 * time.Second
	// MetadataGroups is the metadata key of a grouped v2 query's (group, value) pairs.
	MetadataGroups = "groups"
	// MetadataGroupsTruncated is set to "true" when MetadataGroups was cut to maxGroups.
	MetadataGroupsTruncated = "groups_truncated"

	keyAPIKey  = "api-key"
	keyAppKey  = "app-key"
	keyAddress = "address"
	maxGroups  = 100
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Secrets reads the Secrets that hold the keys.
	Secrets credentials.SecretReader
	// Namespace is the controller's namespace, where shared Secrets live.
	Namespace string
	// Getenv reads DD_API_KEY, DD_APP_KEY and DD_ADDRESS; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs Datadog queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a Datadog provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Secrets == nil {
		opts.Secrets = credentials.None
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "datadog".
func (p *Provider) Type() string { return Type }

type config struct {
	address, apiKey, appKey string
}

// Measure runs the metric's query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	dd := req.Metric.Provider.Datadog
	if dd == nil {
		return analysis.Value{}, errors.New("datadog: the metric has no datadog provider")
	}
	cfg, err := p.credentials(ctx, dd, req.Namespace)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("datadog: %w", err)
	}
	redact := httpapi.NewRedactor(cfg.apiKey, cfg.appKey)
	v, err := p.measure(ctx, dd, cfg)
	if err != nil {
		return analysis.Value{}, redact.Error(fmt.Errorf("datadog: %w", err))
	}
	return v, nil
}

func (p *Provider) credentials(ctx context.Context, dd *v1alpha1.DatadogMetric, namespace string) (config, error) {
	if ref := dd.SecretRef; ref != nil && ref.Name != "" {
		ns := p.opts.Namespace
		if ref.Namespaced {
			ns = namespace
		}
		return p.fromSecret(ctx, ns, ref.Name)
	}
	if api, app := p.opts.Getenv("DD_API_KEY"), p.opts.Getenv("DD_APP_KEY"); api != "" && app != "" {
		return config{address: p.opts.Getenv("DD_ADDRESS"), apiKey: api, appKey: app}, nil
	}
	cfg, err := p.fromSecret(ctx, p.opts.Namespace, DefaultSecretName)
	if err != nil {
		return config{}, fmt.Errorf("no credentials in DD_API_KEY and DD_APP_KEY, and %w", err)
	}
	return cfg, nil
}

func (p *Provider) fromSecret(ctx context.Context, namespace, name string) (config, error) {
	data, err := p.opts.Secrets.SecretData(ctx, namespace, name)
	if err != nil {
		return config{}, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	cfg := config{address: string(data[keyAddress]), apiKey: string(data[keyAPIKey]), appKey: string(data[keyAppKey])}
	if cfg.apiKey == "" || cfg.appKey == "" {
		return config{}, fmt.Errorf("the Secret %s/%s needs the keys %s and %s", namespace, name, keyAPIKey, keyAppKey)
	}
	return cfg, nil
}

func (p *Provider) measure(ctx context.Context, dd *v1alpha1.DatadogMetric, cfg config) (analysis.Value, error) {
	version := dd.APIVersion
	if version == "" {
		version = "v1"
	}
	if err := validate(dd, version); err != nil {
		return analysis.Value{}, err
	}
	interval := DefaultInterval
	if dd.Interval != "" {
		d, err := dd.Interval.Duration()
		if err != nil {
			return analysis.Value{}, fmt.Errorf("interval: %w", err)
		}
		interval = d
	}
	timeout := DefaultTimeout
	if dd.RequestTimeout != "" {
		d, err := dd.RequestTimeout.Duration()
		if err != nil {
			return analysis.Value{}, fmt.Errorf("requestTimeout: %w", err)
		}
		if d <= 0 {
			return analysis.Value{}, errors.New("requestTimeout must be more than zero")
		}
		timeout = d
	}
	address := cfg.address
	if address == "" {
		address = DefaultAddress
	}
	base, err := url.Parse(strings.TrimRight(address, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return analysis.Value{}, fmt.Errorf("address %q is not a URL with a scheme and a host", httpapi.StripURL(base))
	}
	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, timeout)
	defer cancel()

	now := p.opts.Now()
	var req *http.Request
	if version == "v1" {
		req, err = requestV1(ctx, base, dd.Query, now, interval)
	} else {
		req, err = requestV2(ctx, base, dd, now, interval)
	}
	if err != nil {
		return analysis.Value{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("DD-API-KEY", cfg.apiKey)
	req.Header.Set("DD-APPLICATION-KEY", cfg.appKey)
	resp, err := httpapi.Do(client, req)
	if err != nil {
		var serr *httpapi.StatusError
		if errors.As(err, &serr) && (serr.StatusCode == http.StatusUnauthorized || serr.StatusCode == http.StatusForbidden) {
			return analysis.Value{}, fmt.Errorf("authentication refused (check the API and application keys): %w", err)
		}
		return analysis.Value{}, err
	}
	if version == "v1" {
		return parseV1(resp.Body)
	}
	return parseV2(resp.Body)
}

// validate repeats the schema's rules, for metrics that did not come through the API server.
func validate(dd *v1alpha1.DatadogMetric, version string) error {
	switch {
	case version != "v1" && version != "v2":
		return fmt.Errorf("apiVersion %q is not v1 or v2", version)
	case (dd.Query == "") == (len(dd.Queries) == 0):
		return errors.New("set exactly one of query and queries")
	case version == "v1" && len(dd.Queries) > 0:
		return errors.New("queries need apiVersion v2")
	case dd.Formula != "" && len(dd.Queries) == 0:
		return errors.New("formula needs queries")
	case len(dd.Queries) > 1 && dd.Formula == "":
		return errors.New("more than one query needs a formula to combine them")
	case version == "v1" && dd.Aggregator != "":
		return errors.New("aggregator needs apiVersion v2")
	}
	return nil
}

func requestV1(ctx context.Context, base *url.URL, query string, now time.Time, interval time.Duration) (*http.Request, error) {
	u := *base
	u.Path += "/api/v1/query"
	q := url.Values{}
	q.Set("query", query)
	q.Set("from", strconv.FormatInt(now.Add(-interval).Unix(), 10))
	q.Set("to", strconv.FormatInt(now.Unix(), 10))
	u.RawQuery = q.Encode()
	return http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
}

type scalarRequest struct {
	Data struct {
		Type       string `json:"type"`
		Attributes struct {
			From     int64               `json:"from"`
			To       int64               `json:"to"`
			Queries  []map[string]string `json:"queries"`
			Formulas []map[string]string `json:"formulas"`
		} `json:"attributes"`
	} `json:"data"`
}

func requestV2(ctx context.Context, base *url.URL, dd *v1alpha1.DatadogMetric, now time.Time, interval time.Duration) (*http.Request, error) {
	queries := dd.Queries
	if dd.Query != "" {
		queries = map[string]string{"query": dd.Query}
	}
	aggregator := dd.Aggregator
	if aggregator == "" {
		aggregator = "last"
	}
	names := make([]string, 0, len(queries))
	for name := range queries {
		names = append(names, name)
	}
	sort.Strings(names)
	var body scalarRequest
	body.Data.Type = "scalar_request"
	body.Data.Attributes.From = now.Add(-interval).UnixMilli()
	body.Data.Attributes.To = now.UnixMilli()
	body.Data.Attributes.Queries = make([]map[string]string, 0, len(names))
	for _, name := range names {
		body.Data.Attributes.Queries = append(body.Data.Attributes.Queries, map[string]string{
			"aggregator": aggregator, "data_source": "metrics", "name": name, "query": queries[name],
		})
	}
	body.Data.Attributes.Formulas = []map[string]string{}
	if dd.Formula != "" {
		body.Data.Attributes.Formulas = append(body.Data.Attributes.Formulas, map[string]string{"formula": dd.Formula})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	u := *base
	u.Path += "/api/v2/query/scalar"
	return http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(raw))
}

func parseV1(body []byte) (analysis.Value, error) {
	var res struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Series []struct {
			Pointlist [][]*float64 `json:"pointlist"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if res.Status == "error" || res.Error != "" {
		return analysis.Value{}, fmt.Errorf("query failed: %s", res.Error)
	}
	if len(res.Series) == 0 {
		return analysis.Value{Result: nil, Text: "[]"}, nil
	}
	points := res.Series[0].Pointlist
	for i := len(points) - 1; i >= 0; i-- {
		if len(points[i]) != 2 {
			return analysis.Value{}, fmt.Errorf("a point has %d values, not [timestamp, value]", len(points[i]))
		}
		if v := points[i][1]; v != nil {
			return analysis.Value{Result: *v, Text: formatFloat(*v)}, nil
		}
	}
	return analysis.Value{Result: nil, Text: "[]"}, nil
}

type column struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
}

// errorsField reads an errors member, which Datadog sends as a string or a list of strings.
type errorsField string

func (e *errorsField) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*e = errorsField(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*e = errorsField(strings.Join(list, "; "))
	return nil
}

func parseV2(body []byte) (analysis.Value, error) {
	var res struct {
		Errors errorsField `json:"errors"`
		Data   struct {
			Errors     errorsField `json:"errors"`
			Attributes struct {
				Columns []column `json:"columns"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if msg := string(res.Errors) + string(res.Data.Errors); msg != "" {
		return analysis.Value{}, fmt.Errorf("query failed: %s", msg)
	}
	var num *column
	var groups []*column
	for i := range res.Data.Attributes.Columns {
		c := &res.Data.Attributes.Columns[i]
		switch c.Type {
		case "", "number":
			if num == nil {
				num = c
			}
		case "group":
			groups = append(groups, c)
		}
	}
	if num == nil {
		return analysis.Value{Result: nil, Text: "[]"}, nil
	}
	var values []float64
	var labelled []groupValue
	for i, raw := range num.Values {
		if string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return analysis.Value{}, fmt.Errorf("value %s in column %q is not a number", raw, num.Name)
		}
		values = append(values, f)
		if len(groups) > 0 {
			name, err := groupName(groups, i)
			if err != nil {
				return analysis.Value{}, err
			}
			labelled = append(labelled, groupValue{Name: name, Value: f})
		}
	}
	if len(values) == 0 {
		return analysis.Value{Result: nil, Text: "[]"}, nil
	}
	if len(groups) == 0 {
		return analysis.Value{Result: values[0], Text: formatFloat(values[0])}, nil
	}
	parts := make([]string, len(values))
	for i, f := range values {
		parts[i] = formatFloat(f)
	}
	md, truncated := groupsMetadata(labelled)
	meta := map[string]string{MetadataGroups: md}
	if truncated {
		meta[MetadataGroupsTruncated] = "true"
	}
	return analysis.Value{Result: values, Text: "[" + strings.Join(parts, ",") + "]", Metadata: meta}, nil
}

type groupValue struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// groupName joins row i's tag values across the group columns (one column per tag of
// "by {a,b}"); each entry is itself a list of tag values.
func groupName(groups []*column, i int) (string, error) {
	var parts []string
	for _, g := range groups {
		var tags []string
		if i >= len(g.Values) || json.Unmarshal(g.Values[i], &tags) != nil || len(tags) == 0 {
			return "", fmt.Errorf("group column %q has no tags for row %d", g.Name, i)
		}
		parts = append(parts, tags...)
	}
	return strings.Join(parts, ","), nil
}

// groupsMetadata renders the pairs as JSON, keeping the lowest and highest values when
// there are more than maxGroups, so that the outlier stays visible either way.
func groupsMetadata(groups []groupValue) (string, bool) {
	truncated := false
	if len(groups) > maxGroups {
		sorted := append([]groupValue(nil), groups...)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Value < sorted[j].Value })
		low := maxGroups / 2
		kept := make([]groupValue, 0, maxGroups)
		kept = append(kept, sorted[:low]...)
		kept = append(kept, sorted[len(sorted)-(maxGroups-low):]...)
		groups = kept
		truncated = true
	}
	out, _ := json.Marshal(groups)
	return string(out), truncated
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
