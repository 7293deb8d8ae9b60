// Package wavefront measures metrics with Wavefront (VMware Aria Operations for
// Applications) queries through its chart API.
//
// Request: GET https://<address>/api/v2/chart/api with the query parameters q (the query),
// s and e (both the measurement time in Unix milliseconds, as Argo Rollouts asks), g=s, p=1,
// i=true (series whose points lie outside the window are included, so the latest point is
// found) and strict=false, and the header Authorization: Bearer <token>. An address with a
// scheme (http://host:port) is used as is.
//
// Result: for each series, the value of the point closest to the measurement time; a
// float64 for one series, a []float64 for several. No series, or a series without points,
// is an error. The metadata holds the timestamps used (Unix seconds), their drift from the
// measurement time in seconds, and the server's warnings.
//
// Credentials, as in Argo Rollouts: the Secret "wavefront-api-tokens" in the controller's
// namespace maps each Wavefront address (the key, exactly as the metric's address) to its
// API token. Tokens never appear in errors.
package wavefront

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
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
	Type = "wavefront"
	// TokensSecretName is the Secret that maps addresses to API tokens.
	TokensSecretName = "wavefront-api-tokens"
	// DefaultTimeout bounds each query.
	DefaultTimeout = 30 * time.Second
	// MetadataTimestamps is the metadata key of the timestamps of the points used.
	MetadataTimestamps = "timestamps"
	// MetadataDrift is the metadata key of the points' distance from the measurement time.
	MetadataDrift = "drift"
	// MetadataWarnings is the metadata key of the server's warnings.
	MetadataWarnings = "warnings"
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Secrets reads the tokens Secret.
	Secrets credentials.SecretReader
	// Namespace is the controller's namespace, where the tokens Secret lives.
	Namespace string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs Wavefront queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a Wavefront provider.
func New(opts Options) *Provider {
	if opts.Secrets == nil {
		opts.Secrets = credentials.None
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "wavefront".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	wf := req.Metric.Provider.Wavefront
	if wf == nil {
		return analysis.Value{}, errors.New("wavefront: the metric has no wavefront provider")
	}
	data, err := p.opts.Secrets.SecretData(ctx, p.opts.Namespace, TokensSecretName)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("wavefront: reading Secret %s/%s: %w", p.opts.Namespace, TokensSecretName, err)
	}
	token := string(data[wf.Address])
	if token == "" {
		return analysis.Value{}, fmt.Errorf("wavefront: Secret %s/%s has no token for address %q", p.opts.Namespace, TokensSecretName, wf.Address)
	}
	v, err := p.measure(ctx, wf, token)
	if err != nil {
		return analysis.Value{}, httpapi.NewRedactor(token).Error(fmt.Errorf("wavefront: %w", err))
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, wf *v1alpha1.WavefrontMetric, token string) (analysis.Value, error) {
	base := wf.Address
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return analysis.Value{}, fmt.Errorf("address %q is not a host name or URL", wf.Address)
	}
	now := p.opts.Now()
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	u.Path += "/api/v2/chart/api"
	u.RawQuery = url.Values{
		"q": {wf.Query}, "s": {ms}, "e": {ms}, "g": {"s"}, "p": {"1"}, "i": {"true"}, "strict": {"false"},
	}.Encode()
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
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, err
	}
	return parse(resp.Body, now)
}

func parse(body []byte, now time.Time) (analysis.Value, error) {
	var res struct {
		TimeSeries []struct {
			Label string      `json:"label"`
			Data  [][]float64 `json:"data"`
		} `json:"timeseries"`
		Warnings     string `json:"warnings"`
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if res.ErrorType != "" || res.ErrorMessage != "" {
		return analysis.Value{}, fmt.Errorf("query failed: %s %s", res.ErrorType, res.ErrorMessage)
	}
	if len(res.TimeSeries) == 0 {
		return analysis.Value{}, errors.New("no time series in the response")
	}
	values := make([]float64, 0, len(res.TimeSeries))
	var texts, stamps, drifts []string
	for _, ts := range res.TimeSeries {
		value, stamp, drift, err := closest(ts.Data, now)
		if err != nil {
			return analysis.Value{}, fmt.Errorf("series %q: %w", ts.Label, err)
		}
		values = append(values, value)
		texts = append(texts, strconv.FormatFloat(value, 'f', -1, 64))
		stamps = append(stamps, strconv.FormatInt(stamp, 10))
		drifts = append(drifts, strconv.FormatInt(drift, 10))
	}
	v := analysis.Value{Metadata: map[string]string{}}
	if len(values) == 1 {
		v.Result, v.Text = values[0], texts[0]
		v.Metadata[MetadataTimestamps], v.Metadata[MetadataDrift] = stamps[0], drifts[0]
	} else {
		v.Result, v.Text = values, "["+strings.Join(texts, ",")+"]"
		v.Metadata[MetadataTimestamps] = "[" + strings.Join(stamps, ",") + "]"
		v.Metadata[MetadataDrift] = "[" + strings.Join(drifts, ",") + "]"
	}
	if res.Warnings != "" {
		v.Metadata[MetadataWarnings] = res.Warnings
	}
	return v, nil
}

// closest finds the point nearest to now; points are [Unix seconds, value].
func closest(points [][]float64, now time.Time) (value float64, stamp, drift int64, err error) {
	best := math.Inf(1)
	found := false
	for _, pt := range points {
		if len(pt) != 2 {
			return 0, 0, 0, fmt.Errorf("a point has %d values, not [timestamp, value]", len(pt))
		}
		d := pt[0] - float64(now.Unix())
		if math.Abs(d) < math.Abs(best) {
			best, value, stamp, found = d, pt[1], int64(pt[0]), true
		}
	}
	if !found {
		return 0, 0, 0, errors.New("no data points")
	}
	return value, stamp, int64(best), nil
}
