// Package providers builds Flotilla's metric providers and picks the one a metric needs.
// Each provider lives in its own package below this one and talks to its back end over
// plain net/http; none imports a vendor SDK.
//
// The Job provider needs a Kubernetes client and is built by the spoke; pass it in
// Deps.Extra. Plugin providers (Argo Rollouts' metric plugins) are not supported: a metric
// that uses one gets ErrPluginUnsupported.
package providers

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/cloudwatch"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
	"github.com/flotilla-io/flotilla/analysis/providers/datadog"
	"github.com/flotilla-io/flotilla/analysis/providers/graphite"
	"github.com/flotilla-io/flotilla/analysis/providers/influxdb"
	"github.com/flotilla-io/flotilla/analysis/providers/kayenta"
	"github.com/flotilla-io/flotilla/analysis/providers/newrelic"
	"github.com/flotilla-io/flotilla/analysis/providers/prometheus"
	"github.com/flotilla-io/flotilla/analysis/providers/skywalking"
	"github.com/flotilla-io/flotilla/analysis/providers/wavefront"
	"github.com/flotilla-io/flotilla/analysis/providers/web"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Provider block names, as in the metric's provider field.
const (
	TypePrometheus = prometheus.Type
	TypeWeb        = web.Type
	TypeDatadog    = datadog.Type
	TypeNewRelic   = newrelic.Type
	TypeWavefront  = wavefront.Type
	TypeCloudWatch = cloudwatch.Type
	TypeGraphite   = graphite.Type
	TypeInfluxdb   = influxdb.Type
	TypeKayenta    = kayenta.Type
	TypeSkyWalking = skywalking.Type
	TypeJob        = "job"
	TypePlugin     = "plugin"
)

var (
	// ErrNoProvider means a metric's provider field sets no provider, or more than one.
	ErrNoProvider = errors.New("the metric needs exactly one provider")
	// ErrPluginUnsupported means a metric uses a metric provider plugin.
	ErrPluginUnsupported = errors.New("metric provider plugins are not supported")
	// ErrUnavailable means the provider the metric needs was not configured (the Job
	// provider where no Kubernetes client is at hand, such as in the hub).
	ErrUnavailable = errors.New("provider not available here")
)

// Deps is what the providers need.
type Deps struct {
	// HTTPClient sends every provider's requests; nil means a client with Go's default
	// transport. Per-metric timeouts apply on top of its own.
	HTTPClient *http.Client
	// Secrets reads the Secrets that hold vendor credentials (Datadog, New Relic,
	// Wavefront, InfluxDB); nil means none can be read.
	Secrets credentials.SecretReader
	// Namespace is the controller's namespace, where shared credential Secrets live.
	Namespace string
	// PrometheusAddress is the Prometheus used by metrics without an address.
	PrometheusAddress string
	// Getenv reads environment settings (DD_API_KEY, AWS_*); nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Extra are providers built elsewhere, such as the Job provider; one with the same
	// Type as a built-in provider replaces it.
	Extra []analysis.Provider
}

// Registry holds one provider of each type.
type Registry struct {
	byType map[string]analysis.Provider
}

// New builds every provider from deps.
func New(deps Deps) *Registry {
	r := &Registry{byType: map[string]analysis.Provider{}}
	for _, p := range []analysis.Provider{
		prometheus.New(prometheus.Options{HTTPClient: deps.HTTPClient, DefaultAddress: deps.PrometheusAddress, Getenv: deps.Getenv, Now: deps.Now}),
		web.New(web.Options{HTTPClient: deps.HTTPClient}),
		datadog.New(datadog.Options{HTTPClient: deps.HTTPClient, Secrets: deps.Secrets, Namespace: deps.Namespace, Getenv: deps.Getenv, Now: deps.Now}),
		newrelic.New(newrelic.Options{HTTPClient: deps.HTTPClient, Secrets: deps.Secrets, Namespace: deps.Namespace}),
		wavefront.New(wavefront.Options{HTTPClient: deps.HTTPClient, Secrets: deps.Secrets, Namespace: deps.Namespace, Now: deps.Now}),
		cloudwatch.New(cloudwatch.Options{HTTPClient: deps.HTTPClient, Getenv: deps.Getenv, Now: deps.Now}),
		graphite.New(graphite.Options{HTTPClient: deps.HTTPClient}),
		influxdb.New(influxdb.Options{HTTPClient: deps.HTTPClient, Secrets: deps.Secrets, Namespace: deps.Namespace}),
		kayenta.New(kayenta.Options{HTTPClient: deps.HTTPClient, Now: deps.Now}),
		skywalking.New(skywalking.Options{HTTPClient: deps.HTTPClient, Now: deps.Now}),
	} {
		r.byType[p.Type()] = p
	}
	for _, p := range deps.Extra {
		r.byType[p.Type()] = p
	}
	return r
}

// Types lists the provider types the registry serves, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.byType))
	for t := range r.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Get returns the provider of a type, such as "prometheus".
func (r *Registry) Get(typ string) (analysis.Provider, bool) {
	p, ok := r.byType[typ]
	return p, ok
}

// Lookup returns the provider for m's provider block. The error wraps ErrNoProvider,
// ErrPluginUnsupported or ErrUnavailable and says which.
func (r *Registry) Lookup(m v1alpha1.Metric) (analysis.Provider, error) {
	typ, err := TypeOf(m.Provider)
	if err != nil {
		return nil, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	p, ok := r.byType[typ]
	if !ok {
		return nil, fmt.Errorf("metric %q: %s: %w", m.Name, typ, ErrUnavailable)
	}
	return p, nil
}

// TypeOf names the one provider block set in mp.
func TypeOf(mp v1alpha1.MetricProvider) (string, error) {
	set := map[string]bool{
		TypePrometheus: mp.Prometheus != nil,
		TypeWeb:        mp.Web != nil,
		TypeDatadog:    mp.Datadog != nil,
		TypeNewRelic:   mp.NewRelic != nil,
		TypeWavefront:  mp.Wavefront != nil,
		TypeCloudWatch: mp.CloudWatch != nil,
		TypeGraphite:   mp.Graphite != nil,
		TypeInfluxdb:   mp.Influxdb != nil,
		TypeKayenta:    mp.Kayenta != nil,
		TypeSkyWalking: mp.SkyWalking != nil,
		TypeJob:        mp.Job != nil,
		TypePlugin:     len(mp.Plugin) > 0,
	}
	var found []string
	for typ, ok := range set {
		if ok {
			found = append(found, typ)
		}
	}
	sort.Strings(found)
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%w, and sets none", ErrNoProvider)
	case len(found) > 1:
		return "", fmt.Errorf("%w, and sets %s", ErrNoProvider, strings.Join(found, ", "))
	case found[0] == TypePlugin:
		names := make([]string, 0, len(mp.Plugin))
		for name := range mp.Plugin {
			names = append(names, name)
		}
		sort.Strings(names)
		return "", fmt.Errorf("%w (the metric uses %s): use one of the built-in providers", ErrPluginUnsupported, strings.Join(names, ", "))
	}
	return found[0], nil
}
