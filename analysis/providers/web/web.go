// Package web measures metrics by calling an HTTP endpoint and reading the result from its
// response, as Argo Rollouts' web metric does.
//
// Request: the metric's method (GET by default) to its url, with its headers; body is sent
// as is, jsonBody as JSON with Content-Type application/json (both need POST or PUT).
// authentication may add basic auth or an OAuth2 client-credentials bearer token. The
// request times out after timeoutSeconds (default 10), and insecure skips TLS verification.
//
// Result: the response must have a 2xx status. A JSON body is searched with jsonPath
// (Kubernetes JSONPath, such as {$.data.ok}; default {$}, the whole document) and the first
// match is the result: a float64, string, bool, map[string]any or []any as decoded from
// JSON, or nil for a JSON null. A path that matches nothing is an error. A body that is not
// JSON is the result as a string, so plain-text endpoints work too.
//
// Header values and authentication secrets never appear in errors.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/internal/auth"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "web"
	// DefaultTimeout is the request timeout when the metric sets none.
	DefaultTimeout = 10 * time.Second
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
}

// Provider calls web endpoints. It is safe for concurrent use.
type Provider struct {
	clients httpapi.Clients
	tokens  *auth.TokenSource
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a web provider.
func New(opts Options) *Provider {
	return &Provider{clients: httpapi.NewClients(opts.HTTPClient), tokens: auth.NewTokenSource()}
}

// Type is "web".
func (p *Provider) Type() string { return Type }

// Measure calls the metric's endpoint once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	wm := req.Metric.Provider.Web
	if wm == nil {
		return analysis.Value{}, errors.New("web: the metric has no web provider")
	}
	redact := httpapi.NewRedactor(auth.Secrets(wm.Authentication)...)
	for _, h := range wm.Headers {
		redact.Add(h.Value)
	}
	v, err := p.measure(ctx, wm)
	if err != nil {
		return analysis.Value{}, redact.Error(fmt.Errorf("web: %w", err))
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, wm *v1alpha1.WebMetric) (analysis.Value, error) {
	method := wm.Method
	if method == "" {
		method = v1alpha1.WebMetricMethodGet
	}
	hasBody := wm.Body != "" || wm.JSONBody != nil
	switch {
	case wm.Body != "" && wm.JSONBody != nil:
		return analysis.Value{}, errors.New("body and jsonBody are mutually exclusive")
	case hasBody && method != v1alpha1.WebMetricMethodPost && method != v1alpha1.WebMetricMethodPut:
		return analysis.Value{}, fmt.Errorf("body and jsonBody need method POST or PUT, not %s", method)
	}
	u, err := url.Parse(wm.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return analysis.Value{}, fmt.Errorf("url %q is not a URL with a scheme and a host", httpapi.StripURL(u))
	}
	path := wm.JSONPath
	if path == "" {
		path = "{$}"
	}
	jp := jsonpath.New("web")
	if err := jp.Parse(path); err != nil {
		return analysis.Value{}, fmt.Errorf("jsonPath %q: %w", path, err)
	}
	if err := auth.Validate(wm.Authentication); err != nil {
		return analysis.Value{}, err
	}
	timeout := DefaultTimeout
	if wm.TimeoutSeconds < 0 {
		return analysis.Value{}, errors.New("timeoutSeconds must not be negative")
	}
	if wm.TimeoutSeconds > 0 {
		timeout = time.Duration(wm.TimeoutSeconds) * time.Second
	}
	client, err := p.clients.Get(wm.Insecure)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, timeout)
	defer cancel()

	var body io.Reader
	switch {
	case wm.Body != "":
		body = bytes.NewReader([]byte(wm.Body))
	case wm.JSONBody != nil:
		raw, err := wm.JSONBody.MarshalJSON()
		if err != nil {
			return analysis.Value{}, fmt.Errorf("jsonBody: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, string(method), u.String(), body)
	if err != nil {
		return analysis.Value{}, err
	}
	if err := p.tokens.Apply(ctx, client, wm.Authentication, req); err != nil {
		return analysis.Value{}, err
	}
	for _, h := range wm.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	if wm.JSONBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, err
	}
	return parse(resp.Body, jp, path)
}

func parse(body []byte, jp *jsonpath.JSONPath, path string) (analysis.Value, error) {
	var data any
	if !json.Valid(body) {
		// Not JSON: the body itself is the result, as in Argo Rollouts.
		return analysis.Value{Result: string(body), Text: string(body)}, nil
	}
	if err := json.Unmarshal(body, &data); err != nil {
		return analysis.Value{}, fmt.Errorf("decoding the response: %w", err)
	}
	results, err := jp.FindResults(data)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("jsonPath %q: %w", path, err)
	}
	first, ok := firstMatch(results)
	if !ok {
		return analysis.Value{}, fmt.Errorf("jsonPath %q matched nothing in the response", path)
	}
	var val any
	if first.IsValid() {
		val = first.Interface()
	}
	text, err := json.Marshal(val)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("jsonPath %q: %w", path, err)
	}
	return analysis.Value{Result: val, Text: string(text)}, nil
}

// firstMatch is the first value of the first non-empty result list.
func firstMatch(results [][]reflect.Value) (reflect.Value, bool) {
	for _, matches := range results {
		if len(matches) > 0 {
			return matches[0], true
		}
	}
	return reflect.Value{}, false
}
