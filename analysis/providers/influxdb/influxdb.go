// Package influxdb measures metrics with InfluxDB Flux queries, over the InfluxDB 2 HTTP
// API (also served by InfluxDB 1.8+ and InfluxDB Cloud). Argo Rollouts' provider speaks
// Flux only, and so does this one: InfluxQL (the 1.x /query endpoint) is not supported.
//
// Request: POST <address>/api/v2/query?org=<org> with headers Authorization: Token <token>,
// Content-Type application/json and Accept application/csv, and the body
//
//	{"query": "<Flux>", "type": "flux",
//	 "dialect": {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": true}}
//
// Result, as in Argo Rollouts: a []any with the _value of every record of every table, typed
// by the column's datatype annotation (double as float64, long as int64, unsignedLong as
// uint64, boolean, string, dateTime as time.Time, duration as time.Duration). No records is
// an error, as is an error table in the response.
//
// Credentials, as in Argo Rollouts: the Secret named by the metric's profile (default
// "influxdb") in the controller's namespace, with keys address, authToken and org. The
// token never appears in errors.
package influxdb

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/internal/httpapi"
)

const (
	// Type is the provider block this provider serves.
	Type = "influxdb"
	// DefaultProfile is the Secret read when the metric names no profile.
	DefaultProfile = "influxdb"
	// DefaultTimeout bounds each query, as in Argo Rollouts.
	DefaultTimeout = 30 * time.Second
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the requests; nil means a client with Go's default transport.
	HTTPClient *http.Client
	// Secrets reads the profile Secrets.
	Secrets credentials.SecretReader
	// Namespace is the controller's namespace, where the profile Secrets live.
	Namespace string
}

// Provider runs Flux queries. It is safe for concurrent use.
type Provider struct {
	opts    Options
	clients httpapi.Clients
}

var _ analysis.Provider = (*Provider)(nil)

// New returns an InfluxDB provider.
func New(opts Options) *Provider {
	if opts.Secrets == nil {
		opts.Secrets = credentials.None
	}
	return &Provider{opts: opts, clients: httpapi.NewClients(opts.HTTPClient)}
}

// Type is "influxdb".
func (p *Provider) Type() string { return Type }

// Measure runs the metric's Flux query once.
func (p *Provider) Measure(ctx context.Context, req analysis.Request) (analysis.Value, error) {
	im := req.Metric.Provider.Influxdb
	if im == nil {
		return analysis.Value{}, errors.New("influxdb: the metric has no influxdb provider")
	}
	name := im.Profile
	if name == "" {
		name = DefaultProfile
	}
	data, err := p.opts.Secrets.SecretData(ctx, p.opts.Namespace, name)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("influxdb: reading profile Secret %s/%s: %w", p.opts.Namespace, name, err)
	}
	address, token, org := string(data["address"]), string(data["authToken"]), string(data["org"])
	if address == "" || token == "" || org == "" {
		return analysis.Value{}, fmt.Errorf("influxdb: profile Secret %s/%s needs the keys address, authToken and org", p.opts.Namespace, name)
	}
	v, err := p.measure(ctx, im.Query, address, token, org)
	if err != nil {
		return analysis.Value{}, httpapi.NewRedactor(token).Error(fmt.Errorf("influxdb: %w", err))
	}
	return v, nil
}

func (p *Provider) measure(ctx context.Context, query, address, token, org string) (analysis.Value, error) {
	u, err := url.Parse(strings.TrimRight(address, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return analysis.Value{}, fmt.Errorf("address %q is not a URL with a scheme and a host", httpapi.StripURL(u))
	}
	u.Path += "/api/v2/query"
	u.RawQuery = url.Values{"org": {org}}.Encode()
	body, err := json.Marshal(map[string]any{
		"query": query,
		"type":  "flux",
		"dialect": map[string]any{
			"annotations": []string{"datatype", "group", "default"},
			"delimiter":   ",",
			"header":      true,
		},
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
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/csv")
	resp, err := httpapi.Do(client, req)
	if err != nil {
		var serr *httpapi.StatusError
		if errors.As(err, &serr) {
			var e struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if json.Unmarshal(serr.Body, &e) == nil && e.Message != "" {
				return analysis.Value{}, fmt.Errorf("%s: HTTP %d: %s: %s", serr.Request, serr.StatusCode, e.Code, e.Message)
			}
		}
		return analysis.Value{}, err
	}
	values, err := parseCSV(resp.Body)
	if err != nil {
		return analysis.Value{}, err
	}
	if len(values) == 0 {
		return analysis.Value{}, errors.New("no results returned from the Flux query")
	}
	return analysis.Value{Result: values, Text: fmt.Sprint(values)}, nil
}

// table is the state of the annotated CSV table being read.
type table struct {
	datatypes, defaults []string
	header              []string
	valueCol, errorCol  int
}

// parseCSV reads the _value column of every record of an annotated CSV response
// (https://docs.influxdata.com/influxdb/v2/reference/syntax/annotated-csv/). Each table
// starts with its annotation rows and a header row; an empty line separates tables.
func parseCSV(body []byte) ([]any, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1

	var values []any
	t := &table{valueCol: -1, errorCol: -1}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return values, nil
		}
		if err != nil {
			return nil, fmt.Errorf("response is not annotated CSV: %w", err)
		}
		if len(row) == 0 || (len(row) == 1 && row[0] == "") {
			t = &table{valueCol: -1, errorCol: -1}
			continue
		}
		switch {
		case row[0] == "#datatype":
			t = &table{datatypes: row, valueCol: -1, errorCol: -1}
			continue
		case row[0] == "#default":
			t.defaults = row
			continue
		case strings.HasPrefix(row[0], "#"):
			continue
		case t.header == nil:
			t.header = row
			for i, name := range row {
				switch name {
				case "_value":
					t.valueCol = i
				case "error":
					t.errorCol = i
				}
			}
			continue
		}
		if t.errorCol >= 0 && t.valueCol < 0 {
			if t.errorCol < len(row) && row[t.errorCol] != "" {
				return nil, fmt.Errorf("query failed: %s", row[t.errorCol])
			}
			continue
		}
		if t.valueCol < 0 {
			continue // a table without _value (such as a schema query) adds no values
		}
		cell := ""
		if t.valueCol < len(row) {
			cell = row[t.valueCol]
		}
		if cell == "" && t.valueCol < len(t.defaults) {
			cell = t.defaults[t.valueCol]
		}
		dt := "string"
		if t.valueCol < len(t.datatypes) {
			dt = t.datatypes[t.valueCol]
		}
		v, err := convert(cell, dt)
		if err != nil {
			return nil, fmt.Errorf("_value %q: %w", cell, err)
		}
		values = append(values, v)
	}
}

func convert(cell, datatype string) (any, error) {
	if cell == "" && datatype != "string" {
		return nil, nil
	}
	switch datatype {
	case "double":
		return strconv.ParseFloat(cell, 64)
	case "long":
		return strconv.ParseInt(cell, 10, 64)
	case "unsignedLong":
		return strconv.ParseUint(cell, 10, 64)
	case "boolean":
		return strconv.ParseBool(cell)
	case "dateTime:RFC3339", "dateTime:RFC3339Nano", "dateTime":
		return time.Parse(time.RFC3339Nano, cell)
	case "duration":
		return time.ParseDuration(cell)
	default:
		return cell, nil
	}
}
