// Package newrelic measures metrics with NRQL queries through New Relic's NerdGraph
// (GraphQL) API.
//
// Request: POST https://api.newrelic.com/graphql (https://api.eu.newrelic.com/graphql for
// region eu, or the profile's base-url-nerdgraph), with headers Api-Key and Content-Type
// application/json, and the GraphQL body
//
//	{"query": "query ($query: Nrql!, $accountId: Int!, $timeout: Seconds!) {actor {account(id: $accountId) {nrql(query: $query, timeout: $timeout) {results}}}}",
//	 "variables": {"accountId": <account-id>, "query": "<NRQL>", "timeout": <timeout, default 5>}}
//
// Result, as in Argo Rollouts: a single result row is a map[string]any (so conditions read
// result.successRate, or result['average.duration'] for unaliased functions); several rows
// are a []any of maps. No rows, or an empty row, is an error, as are GraphQL errors.
// Measurement metadata holds the resolved query (ResolvedNewRelicQuery).
//
// Credentials, as in Argo Rollouts: the Secret named by the metric's profile (default
// "newrelic") in the controller's namespace, with keys personal-api-key and account-id,
// optionally region ("us" or "eu", default us), and base-url-nerdgraph for a proxy. The API
// key never appears in errors.
package newrelic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	Type = "newRelic"
	// DefaultProfile is the Secret read when the metric names no profile.
	DefaultProfile = "newrelic"
	// DefaultNRQLTimeout is the NRQL timeout, in seconds, when the metric sets none.
	DefaultNRQLTimeout = 5
	// MetadataQuery is the metadata key of the resolved query.
	MetadataQuery = "ResolvedNewRelicQuery"

	usEndpoint = "https://api.newrelic.com/graphql"
	euEndpoint = "https://api.eu.newrelic.com/graphql"
	// httpSlack is added to the NRQL timeout for the HTTP request around it.
	httpSlack = 10 * time.Second
)

// nrqlQuery is the NerdGraph query that runs NRQL and returns its result rows.
const nrqlQuery = `query ($query: Nrql!, $accountId: Int!, $timeout: Seconds!) {
  actor {
    account(id: $accountId) {
      nrql(query: $query, timeout: $timeout) {
        results
      }
    }
  }
}`

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Secrets reads the profile Secrets.
	Secrets credentials.SecretReader
	// Namespace is the controller's namespace, where the profile Secrets live.
	Namespace string
}

// Provider runs NRQL queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns a New Relic provider.
func New(opts Options) *Provider {
	if opts.Secrets == nil {
		opts.Secrets = credentials.None
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "newRelic".
func (p *Provider) Type() string { return Type }

type profile struct {
	apiKey    string
	accountID int64
	endpoint  string
}

// Measure runs the metric's NRQL query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	nr := req.Metric.Provider.NewRelic
	if nr == nil {
		return analysis.Value{}, errors.New("newrelic: the metric has no newRelic provider")
	}
	prof, err := p.profile(ctx, nr)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("newrelic: %w", err)
	}
	v, err := p.measure(ctx, nr, prof)
	if err != nil {
		return analysis.Value{}, httpapi.NewRedactor(prof.apiKey).Error(fmt.Errorf("newrelic: %w", err))
	}
	return v, nil
}

func (p *Provider) profile(ctx context.Context, nr *v1alpha1.NewRelicMetric) (profile, error) {
	name := nr.Profile
	if name == "" {
		name = DefaultProfile
	}
	data, err := p.opts.Secrets.SecretData(ctx, p.opts.Namespace, name)
	if err != nil {
		return profile{}, fmt.Errorf("reading profile Secret %s/%s: %w", p.opts.Namespace, name, err)
	}
	prof := profile{apiKey: string(data["personal-api-key"]), endpoint: usEndpoint}
	account := strings.TrimSpace(string(data["account-id"]))
	if prof.apiKey == "" || account == "" {
		return profile{}, fmt.Errorf("profile Secret %s/%s needs the keys personal-api-key and account-id", p.opts.Namespace, name)
	}
	if prof.accountID, err = strconv.ParseInt(account, 10, 64); err != nil {
		return profile{}, fmt.Errorf("profile Secret %s/%s: account-id %q is not a number", p.opts.Namespace, name, account)
	}
	switch region := strings.ToLower(string(data["region"])); region {
	case "", "us":
	case "eu":
		prof.endpoint = euEndpoint
	default:
		return profile{}, fmt.Errorf("profile Secret %s/%s: region %q is not us or eu", p.opts.Namespace, name, region)
	}
	if base := string(data["base-url-nerdgraph"]); base != "" {
		prof.endpoint = base
	}
	return prof, nil
}

func (p *Provider) measure(ctx context.Context, nr *v1alpha1.NewRelicMetric, prof profile) (analysis.Value, error) {
	timeout := int64(DefaultNRQLTimeout)
	if nr.Timeout != nil {
		if *nr.Timeout < 0 {
			return analysis.Value{}, errors.New("timeout must not be negative")
		}
		if *nr.Timeout > 0 {
			timeout = *nr.Timeout
		}
	}
	body, err := json.Marshal(map[string]any{
		"query": nrqlQuery,
		"variables": map[string]any{
			"accountId": prof.accountID,
			"query":     nr.Query,
			"timeout":   timeout,
		},
	})
	if err != nil {
		return analysis.Value{}, err
	}
	client, err := p.clients.Get(false)
	if err != nil {
		return analysis.Value{}, err
	}
	ctx, cancel := httpapi.WithTimeout(ctx, time.Duration(timeout)*time.Second+httpSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, prof.endpoint, bytes.NewReader(body))
	if err != nil {
		return analysis.Value{}, fmt.Errorf("NerdGraph URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Api-Key", prof.apiKey)
	resp, err := httpapi.Do(client, req)
	if err != nil {
		return analysis.Value{}, err
	}
	return parse(resp.Body, nr.Query)
}

func parse(body []byte, query string) (analysis.Value, error) {
	var res struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
		Data *struct {
			Actor struct {
				Account struct {
					NRQL *struct {
						Results []map[string]any `json:"results"`
					} `json:"nrql"`
				} `json:"account"`
			} `json:"actor"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return analysis.Value{}, fmt.Errorf("response is not JSON: %w", err)
	}
	if len(res.Errors) > 0 {
		msgs := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			msgs[i] = e.Message
		}
		return analysis.Value{}, fmt.Errorf("query failed: %s", strings.Join(msgs, "; "))
	}
	if res.Data == nil || res.Data.Actor.Account.NRQL == nil {
		return analysis.Value{}, errors.New("response has no nrql results")
	}
	rows := res.Data.Actor.Account.NRQL.Results
	var result any
	switch {
	case len(rows) == 0 || (len(rows) == 1 && len(rows[0]) == 0):
		return analysis.Value{}, errors.New("no results returned from the NRQL query")
	case len(rows) == 1:
		result = rows[0]
	default:
		list := make([]any, len(rows))
		for i, r := range rows {
			list[i] = r
		}
		result = list
	}
	text, err := json.Marshal(result)
	if err != nil {
		return analysis.Value{}, err
	}
	return analysis.Value{Result: result, Text: string(text), Metadata: map[string]string{MetadataQuery: query}}, nil
}
