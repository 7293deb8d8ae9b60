// Package skywalking measures metrics with Apache SkyWalking GraphQL queries against the
// OAP server's query API.
//
// Request: POST <address>/graphql with Content-Type application/json and the body
//
//	{"query": "<the metric's query>",
//	 "variables": {"duration": {"start": "2006-01-02 1504", "end": "2006-01-02 1504", "step": "MINUTE"}}}
//
// where the duration covers the metric's interval (default 5m) ending now, in the
// controller's local time as Argo Rollouts sends it, so queries declare
// query ($duration: Duration!) and pass $duration on.
//
// Result: the GraphQL data object, decoded from JSON (a map[string]any), so conditions
// read fields by their aliases, such as result.service_apdex.values.values. GraphQL errors
// and a null or empty data object are errors.
package skywalking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "skywalking"
	// DefaultInterval is the queried window when the metric sets none.
	DefaultInterval = 5 * time.Minute
	// DefaultTimeout bounds each query, as in Argo Rollouts.
	DefaultTimeout = 30 * time.Second
	// durationLayout is SkyWalking's minute-step time format.
	durationLayout = "2006-01-02 1504"
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs SkyWalking queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a SkyWalking provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "skywalking".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	sw := req.Metric.Provider.SkyWalking
	if sw == nil {
		return analysis.Value{}, errors.New("skywalking: the metric has no skywalking provider")
	}
	v, err := p.measure(ctx, sw)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("skywalking: %w", err)
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, sw *v1alpha1.SkyWalkingMetric) (analysis.Value, error) {
	u, err := url.Parse(strings.TrimRight(sw.Address, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return analysis.Value{}, fmt.Errorf("address %q is not a URL with a scheme and a host", httpapi.StripURL(u))
	}
	u.Path += "/graphql"
	interval := DefaultInterval
	if sw.Interval != "" {
		if interval, err = sw.Interval.Duration(); err != nil {
			return analysis.Value{}, fmt.Errorf("interval: %w", err)
		}
	}
	now := p.opts.Now()
	body, err := json.Marshal(map[string]any{
		"query": sw.Query,
		"variables": map[string]any{"duration": map[string]string{
			"start": now.Add(-interval).Format(durationLayout),
			"end":   now.Format(durationLayout),
			"step":  "MINUTE",
		}},
	})
	if err != nil {
		return analysis.Value{}, err
	}
	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return analysis.Value{}, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json; charset=utf-8")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, err
	}
	var res struct {
		Data   map[string]any `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &res); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			msgs[i] = e.Message
		}
		return analysis.Value{}, fmt.Errorf("query failed: %s", strings.Join(msgs, "; "))
	}
	if len(res.Data) == 0 {
		return analysis.Value{}, errors.New("no results returned from the query")
	}
	text, err := json.Marshal(res.Data)
	if err != nil {
		return analysis.Value{}, err
	}
	return analysis.Value{Result: res.Data, Text: string(text)}, nil
}
