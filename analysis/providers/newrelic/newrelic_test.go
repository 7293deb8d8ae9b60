package newrelic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/analysis/providers/newrelic"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

type request struct {
	method, uri string
	header      http.Header
	body        map[string]any
}

// fakeNerdGraph serves NerdGraph's documented shapes (https://docs.newrelic.com/docs/apis/nerdgraph/examples/nerdgraph-nrql-tutorial/:
// a GraphQL POST to /graphql with an Api-Key header, answered with
// data.actor.account.nrql.results, or with a GraphQL errors list) on 127.0.0.1.
func fakeNerdGraph(t *testing.T, status int, body string) (*httptest.Server, *request) {
	got := &request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		*got = request{method: r.Method, uri: r.URL.RequestURI(), header: r.Header.Clone()}
		if err := json.Unmarshal(raw, &got.body); err != nil {
			t.Errorf("request body is not JSON: %s", raw)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func provider(srv *httptest.Server, extra map[string]string) *newrelic.Provider {
	profile := map[string]string{"personal-api-key": "NRAK-s3cret", "account-id": "1234567", "base-url-nerdgraph": srv.URL + "/graphql"}
	for k, v := range extra {
		profile[k] = v
	}
	return newrelic.New(newrelic.Options{
		Namespace: "flotilla-system",
		Secrets:   credentials.Static{"flotilla-system/newrelic": profile, "flotilla-system/other": profile},
	})
}

func measure(p *newrelic.Provider, nr *v1alpha1.NewRelicMetric) (analysis.Value, error) {
	return p.Measure(context.Background(), analysis.Request{Metric: v1alpha1.Metric{
		Name: "m", Provider: v1alpha1.MetricProvider{NewRelic: nr},
	}})
}

const query = "FROM Transaction SELECT percentage(count(*), WHERE httpResponseCode != 500) as successRate WHERE appName = 'checkout'"

func TestNRQLQuery(t *testing.T) {
	srv, got := fakeNerdGraph(t, 200, `{"data":{"actor":{"account":{"nrql":{"results":[{"successRate":99.5,"average.duration":0.12}]}}}}}`)
	ten := int64(10)
	v, err := measure(provider(srv, nil), &v1alpha1.NewRelicMetric{Query: query, Timeout: &ten})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.uri != "/graphql" {
		t.Errorf("request = %s %s", got.method, got.uri)
	}
	if got.header.Get("Api-Key") != "NRAK-s3cret" || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", got.header)
	}
	vars := fmt.Sprint(got.body["variables"])
	if vars != fmt.Sprintf("map[accountId:1.234567e+06 query:%s timeout:10]", query) {
		t.Errorf("variables = %s", vars)
	}
	gql, _ := got.body["query"].(string)
	if !strings.Contains(gql, "nrql(query: $query, timeout: $timeout)") || !strings.Contains(gql, "account(id: $accountId)") {
		t.Errorf("GraphQL query = %s", gql)
	}
	m, ok := v.Result.(map[string]any)
	if !ok || m["successRate"] != 99.5 || m["average.duration"] != 0.12 {
		t.Errorf("Result = %#v", v.Result)
	}
	if v.Metadata[newrelic.MetadataQuery] != query {
		t.Errorf("Metadata = %v", v.Metadata)
	}
}

func TestSeveralRowsAndDefaults(t *testing.T) {
	srv, got := fakeNerdGraph(t, 200, `{"data":{"actor":{"account":{"nrql":{"results":[{"facet":"a","count":1},{"facet":"b","count":2}]}}}}}`)
	v, err := measure(provider(srv, nil), &v1alpha1.NewRelicMetric{Profile: "other", Query: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.body["variables"].(map[string]any)["timeout"]) != "5" {
		t.Errorf("default timeout: variables = %v", got.body["variables"])
	}
	if list, ok := v.Result.([]any); !ok || len(list) != 2 {
		t.Errorf("Result = %#v, want two rows", v.Result)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"unauthorized", `{"errors":[{"message":"Invalid API key"}]}`, 401, "HTTP 401"},
		{"graphql errors", `{"errors":[{"message":"NRQL Syntax Error"}],"data":null}`, 200, "NRQL Syntax Error"},
		{"malformed", `{"data":{"actor":`, 200, "not JSON"},
		{"no rows", `{"data":{"actor":{"account":{"nrql":{"results":[]}}}}}`, 200, "no results"},
		{"empty row", `{"data":{"actor":{"account":{"nrql":{"results":[{}]}}}}}`, 200, "no results"},
		{"no nrql", `{"data":{"actor":{"account":{}}}}`, 200, "no nrql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeNerdGraph(t, tc.status, tc.body)
			v, err := measure(provider(srv, nil), &v1alpha1.NewRelicMetric{Query: "q"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Measure = %#v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

func TestProfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile map[string]string
		want    string
	}{
		{"missing", nil, "flotilla-system/newrelic"},
		{"no key", map[string]string{"account-id": "1"}, "personal-api-key"},
		{"bad account", map[string]string{"personal-api-key": "k", "account-id": "abc"}, "not a number"},
		{"bad region", map[string]string{"personal-api-key": "k", "account-id": "1", "region": "mars"}, "region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := credentials.Static{}
			if tc.profile != nil {
				secrets["flotilla-system/newrelic"] = tc.profile
			}
			p := newrelic.New(newrelic.Options{Namespace: "flotilla-system", Secrets: secrets})
			if _, err := measure(p, &v1alpha1.NewRelicMetric{Query: "q"}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestKeyStaysOutOfErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad key "+r.Header.Get("Api-Key"), http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	_, err := measure(provider(srv, nil), &v1alpha1.NewRelicMetric{Query: "q"})
	if err == nil || strings.Contains(err.Error(), "NRAK-s3cret") {
		t.Fatalf("err = %v, want one without the key", err)
	}
}
