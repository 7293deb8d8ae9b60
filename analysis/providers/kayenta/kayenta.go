// Package kayenta measures metrics with Kayenta canary judgements. A judgement is
// asynchronous: the first call starts it and returns a pending value; later calls poll it
// until it is complete.
//
// Requests, to the metric's address:
//  1. GET /canaryConfig?application=<application>&configurationAccountName=<account> lists
//     the canary configurations; the one named canaryConfigName gives the config ID.
//     (Argo Rollouts sends storageAccountName in this parameter; the Kayenta API names the
//     configuration account, which is what is sent here.)
//  2. POST /canary/<configId>?application=...&metricsAccountName=...&configurationAccountName=...&storageAccountName=...
//     with {"scopes": {<name>: {"controlScope": {...}, "experimentScope": {...}}},
//     "thresholds": {"pass": P, "marginal": M}}, each scope being {scope, location, step,
//     start, end}. The answer's canaryExecutionId goes into the pending value's metadata.
//  3. GET /canary/<canaryExecutionId> until "complete" is true; then
//     result.judgeResult.score.score is the score.
//
// A scope's start and end default to now minus the metric's interval, and now. lookback
// (judging from the run's start) needs the run's start time, which a measurement request
// does not carry: with lookback, the scopes must set start themselves.
//
// Result: the score as a float64, and the provider's own verdict, as in Argo Rollouts:
// Successful at or above threshold.pass, Inconclusive at or above threshold.marginal,
// Failed below.
package kayenta

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
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "kayenta"
	// MetadataExecutionID is the metadata key of the judgement's execution ID.
	MetadataExecutionID = "canaryExecutionId"
	// DefaultTimeout bounds each call, as Argo Rollouts' 15s HTTP client does.
	DefaultTimeout = 15 * time.Second
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider runs Kayenta judgements. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a Kayenta provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "kayenta".
func (p *Provider) Type() string { return Type }

// Measure starts a judgement, or, with req.InFlight, checks on the one it started.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	k := req.Metric.Provider.Kayenta
	if k == nil {
		return analysis.Value{}, errors.New("kayenta: the metric has no kayenta provider")
	}
	base, err := url.Parse(strings.TrimRight(k.Address, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return analysis.Value{}, fmt.Errorf("kayenta: address %q is not a URL with a scheme and a host", httpapi.StripURL(base))
	}
	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("kayenta: %w", err)
	}
	ctx, cancel := httpapi.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var v analysis.Value
	if req.InFlight != nil {
		v, err = p.poll(ctx, client, base, k, req.InFlight)
	} else {
		v, err = p.start(ctx, client, base, req.Metric)
	}
	if err != nil {
		return analysis.Value{}, fmt.Errorf("kayenta: %w", err)
	}
	return v, nil
}

func endpoint(base *url.URL, path string, query url.Values) string {
	u := *base
	u.Path += path
	u.RawQuery = query.Encode()
	return u.String()
}

func (p *Provider) start(ctx context.Context, client *http.Client, base *url.URL, m v1alpha1.Metric) (analysis.Value, error) {
	k := m.Provider.Kayenta
	configID, err := p.configID(ctx, client, base, k)
	if err != nil {
		return analysis.Value{}, err
	}
	now := p.opts.Now().UTC()
	scopes := make(map[string]scopePair, len(k.Scopes))
	for _, s := range k.Scopes {
		pair, err := scopeRequest(s, m.Interval, k.Lookback, now)
		if err != nil {
			return analysis.Value{}, fmt.Errorf("scope %q: %w", s.Name, err)
		}
		scopes[s.Name] = pair
	}
	body, err := json.Marshal(map[string]any{
		"scopes":     scopes,
		"thresholds": map[string]int64{"pass": k.Threshold.Pass, "marginal": k.Threshold.Marginal},
	})
	if err != nil {
		return analysis.Value{}, err
	}
	target := endpoint(base, "/canary/"+url.PathEscape(configID), url.Values{
		"application":              {k.Application},
		"metricsAccountName":       {k.MetricsAccountName},
		"configurationAccountName": {k.ConfigurationAccountName},
		"storageAccountName":       {k.StorageAccountName},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return analysis.Value{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("starting the judgement: %w", err)
	}
	var started struct {
		ID string `json:"canaryExecutionId"`
	}
	if err := json.Unmarshal(resp.Body, &started); err != nil {
		return analysis.Value{}, fmt.Errorf("starting the judgement: response is not JSON: %w", err)
	}
	if started.ID == "" {
		return analysis.Value{}, errors.New("starting the judgement: response has no canaryExecutionId")
	}
	return analysis.Value{Pending: true, Metadata: map[string]string{MetadataExecutionID: started.ID}}, nil
}

func (p *Provider) configID(ctx context.Context, client *http.Client, base *url.URL, k *v1alpha1.KayentaMetric) (string, error) {
	target := endpoint(base, "/canaryConfig", url.Values{
		"application":              {k.Application},
		"configurationAccountName": {k.ConfigurationAccountName},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return "", fmt.Errorf("listing canary configs: %w", err)
	}
	var configs []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(resp.Body, &configs); err != nil {
		return "", fmt.Errorf("listing canary configs: response is not a JSON list: %w", err)
	}
	for _, c := range configs {
		if c.Name == k.CanaryConfigName && c.ID != "" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("no canary config named %q for application %q", k.CanaryConfigName, k.Application)
}

type scopeDetail struct {
	Scope    string `json:"scope"`
	Location string `json:"location"`
	Step     int64  `json:"step"`
	Start    string `json:"start,omitempty"`
	End      string `json:"end,omitempty"`
}

type scopePair struct {
	ControlScope    scopeDetail `json:"controlScope"`
	ExperimentScope scopeDetail `json:"experimentScope"`
}

func scopeRequest(s v1alpha1.KayentaScope, interval v1alpha1.TemplatedDurationString, lookback bool, now time.Time) (scopePair, error) {
	c, e := s.ControlScope, s.ExperimentScope
	if (c.Start == "") != (e.Start == "") {
		return scopePair{}, errors.New("controlScope.start and experimentScope.start must both be set or both be empty")
	}
	if (c.End == "") != (e.End == "") {
		return scopePair{}, errors.New("controlScope.end and experimentScope.end must both be set or both be empty")
	}
	if c.Start == "" {
		if lookback {
			return scopePair{}, errors.New("lookback needs the run's start time, which the provider is not given: set controlScope.start and experimentScope.start")
		}
		d, err := interval.Duration()
		if err != nil || d <= 0 {
			return scopePair{}, fmt.Errorf("the scope has no start, and the metric's interval %q cannot give one", interval)
		}
		c.Start = now.Add(-d).Format(time.RFC3339)
		e.Start = c.Start
	}
	if c.End == "" {
		c.End = now.Format(time.RFC3339)
		e.End = c.End
	}
	detail := func(d v1alpha1.ScopeDetail) scopeDetail {
		return scopeDetail{Scope: d.Scope, Location: d.Region, Step: d.Step, Start: d.Start, End: d.End}
	}
	return scopePair{ControlScope: detail(c), ExperimentScope: detail(e)}, nil
}

func (p *Provider) poll(ctx context.Context, client *http.Client, base *url.URL, k *v1alpha1.KayentaMetric, inFlight *v1alpha1.Measurement) (analysis.Value, error) {
	id := inFlight.Metadata[MetadataExecutionID]
	if id == "" {
		return analysis.Value{}, fmt.Errorf("the pending measurement has no %s", MetadataExecutionID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(base, "/canary/"+url.PathEscape(id), nil), nil)
	if err != nil {
		return analysis.Value{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("checking judgement %s: %w", id, err)
	}
	var status struct {
		Complete *bool `json:"complete"`
		Result   *struct {
			JudgeResult *struct {
				Score *struct {
					Score *float64 `json:"score"`
				} `json:"score"`
			} `json:"judgeResult"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp.Body, &status); err != nil {
		return analysis.Value{}, fmt.Errorf("checking judgement %s: response is not JSON: %w", id, err)
	}
	meta := map[string]string{MetadataExecutionID: id}
	if status.Complete == nil {
		return analysis.Value{}, fmt.Errorf("judgement %s: response has no complete field", id)
	}
	if !*status.Complete {
		return analysis.Value{Pending: true, Metadata: meta}, nil
	}
	if status.Result == nil || status.Result.JudgeResult == nil || status.Result.JudgeResult.Score == nil || status.Result.JudgeResult.Score.Score == nil {
		return analysis.Value{}, fmt.Errorf("judgement %s is complete but has no result.judgeResult.score.score", id)
	}
	score := *status.Result.JudgeResult.Score.Score
	return analysis.Value{
		Result:   score,
		Text:     strconv.Itoa(int(score)),
		Metadata: meta,
		Verdict:  verdict(int64(score), k.Threshold),
	}, nil
}

// verdict judges a score the way Argo Rollouts does: pass, marginal or fail.
func verdict(score int64, t v1alpha1.KayentaThreshold) v1alpha1.AnalysisPhase {
	switch {
	case score >= t.Pass:
		return v1alpha1.AnalysisPhaseSuccessful
	case score >= t.Marginal:
		return v1alpha1.AnalysisPhaseInconclusive
	default:
		return v1alpha1.AnalysisPhaseFailed
	}
}
