// Package graphite measures metrics with Graphite render queries.
//
// Request: GET <address>/render?format=json&<query>, where query is the metric's query with
// all whitespace removed (so a long target can be written over several lines), read as URL
// query parameters the way Argo Rollouts reads it: target=...&from=-5min. A query that does
// not start with a parameter name and "=" is taken as a bare target expression.
//
// Result, as in Argo Rollouts: a []float64 of the non-null datapoints of the first series
// returned. No series, or a first series without a single non-null point, is an error.
package graphite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "graphite"
	// DefaultTimeout bounds each query.
	DefaultTimeout = 30 * time.Second
)

var (
	space       = regexp.MustCompile(`\s+`)
	paramPrefix = regexp.MustCompile(`^[A-Za-z_]+=`)
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
}

// Provider runs Graphite queries. It is safe for concurrent use.
type Provider struct {
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a Graphite provider.
func New(opts Options) *Provider { return &Provider{clients: httpapi.NewClients(opts.HTTPClient)} }

// Type is "graphite".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	g := req.Metric.Provider.Graphite
	if g == nil {
		return analysis.Value{}, errors.New("graphite: the metric has no graphite provider")
	}
	v, err := p.measure(ctx, g)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("graphite: %w", err)
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, g *v1alpha1.GraphiteMetric) (analysis.Value, error) {
	if g.Address == "" {
		return analysis.Value{}, errors.New("address is required")
	}
	u, err := url.Parse(g.Address)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return analysis.Value{}, fmt.Errorf("address %q is not a URL with a scheme and a host", httpapi.StripURL(u))
	}
	query := space.ReplaceAllLiteralString(g.Query, "")
	if !paramPrefix.MatchString(query) {
		query = "target=" + url.QueryEscape(query)
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("query is not URL query parameters (target=...&from=...): %w", err)
	}
	if len(params["target"]) == 0 {
		return analysis.Value{}, errors.New("query has no target")
	}
	params.Set("format", "json")
	u.Path = strings.TrimRight(u.Path, "/") + "/render"
	u.RawPath = ""
	u.RawQuery = params.Encode()

	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return analysis.Value{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, err
	}
	return parse(resp.Body)
}

func parse(body []byte) (analysis.Value, error) {
	var series []struct {
		Target     string              `json:"target"`
		Datapoints [][]json.RawMessage `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &series); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not a JSON list of series: %w", err)
	}
	if len(series) == 0 {
		return analysis.Value{}, errors.New("no series returned")
	}
	values := []float64{}
	parts := []string{}
	for _, dp := range series[0].Datapoints {
		if len(dp) != 2 {
			return analysis.Value{}, fmt.Errorf("a datapoint has %d values, not [value, timestamp]", len(dp))
		}
		f, ok, err := number(dp[0])
		if err != nil {
			return analysis.Value{}, fmt.Errorf("series %q: %w", series[0].Target, err)
		}
		if ok {
			values = append(values, f)
			parts = append(parts, strconv.FormatFloat(f, 'f', -1, 64))
		}
	}
	if len(values) == 0 {
		return analysis.Value{}, fmt.Errorf("series %q has no values", series[0].Target)
	}
	return analysis.Value{Result: values, Text: "[" + strings.Join(parts, ",") + "]"}, nil
}

// number reads a datapoint value: a number, a numeric string, or null (ok is false).
func number(raw json.RawMessage) (float64, bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, err
	}
	switch x := v.(type) {
	case nil:
		return 0, false, nil
	case float64:
		return x, true, nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false, fmt.Errorf("value %q is not a number", x)
		}
		return f, true, nil
	}
	return 0, false, fmt.Errorf("value %s is not a number", raw)
}
