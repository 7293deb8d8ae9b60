/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package prometheus

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// RequestsPerScrape is how many requests the exporter counts between two scrapes.
const RequestsPerScrape = 1000

// SuccessRateQuery is the PromQL success rate over the exporter's counters: the share of
// requests whose code is not 5xx over the last 5 seconds.
const SuccessRateQuery = `sum(rate(http_requests_total{code!~"5.."}[5s])) / sum(rate(http_requests_total[5s]))`

// Exporter is an HTTP server on 127.0.0.1 that serves /metrics in the Prometheus text
// format: the counter http_requests_total{code="200"} and {code="500"}. Each scrape counts
// RequestsPerScrape more requests, split by the error rate the test set, so any rate()
// ratio over the counters equals that rate once the window holds only scrapes taken
// after it was set.
type Exporter struct {
	srv *httptest.Server
	// labels are extra labels on every series, such as cluster="us-east", rendered.
	labels string

	mu        sync.Mutex
	errorRate float64
	ok, errs  float64
	scrapes   int
}

// NewExporter starts an exporter with error rate 0 and closes it in t.Cleanup.
func NewExporter(t testing.TB) *Exporter {
	t.Helper()
	e := &Exporter{}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

// NewClusterExporter starts an exporter like NewExporter whose series also carry the label
// cluster=<cluster>, as a member cluster's metrics do in a fleet-wide Prometheus or Thanos.
func NewClusterExporter(t testing.TB, cluster string) *Exporter {
	t.Helper()
	e := NewExporter(t)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.labels = fmt.Sprintf("cluster=%q,", cluster)
	return e
}

// SetErrorRate sets the share (0 to 1) of the requests counted from the next scrape on
// that fail with code 500.
func (e *Exporter) SetErrorRate(rate float64) {
	if rate < 0 || rate > 1 {
		panic(fmt.Sprintf("error rate %v is not between 0 and 1", rate))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errorRate = rate
}

// Target is the exporter's host:port, for a scrape configuration.
func (e *Exporter) Target() string {
	return e.srv.Listener.Addr().(*net.TCPAddr).String()
}

// Scrapes is how many times /metrics was served.
func (e *Exporter) Scrapes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scrapes
}

func (e *Exporter) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	e.scrapes++
	e.errs += RequestsPerScrape * e.errorRate
	e.ok += RequestsPerScrape * (1 - e.errorRate)
	ok, errs, labels := e.ok, e.errs, e.labels
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP http_requests_total Requests served, by status code.\n")
	fmt.Fprintf(w, "# TYPE http_requests_total counter\n")
	fmt.Fprintf(w, "http_requests_total{%scode=\"200\"} %s\n", labels, strconv.FormatFloat(ok, 'f', -1, 64))
	fmt.Fprintf(w, "http_requests_total{%scode=\"500\"} %s\n", labels, strconv.FormatFloat(errs, 'f', -1, 64))
}
