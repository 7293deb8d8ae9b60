package providers_test

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

type fakeJob struct{}

func (fakeJob) Type() string { return "job" }
func (fakeJob) Measure(context.Context, analysis.Request) (analysis.Value, error) {
	return analysis.Value{}, nil
}

func TestLookup(t *testing.T) {
	r := providers.New(providers.Deps{})
	for _, tc := range []struct {
		provider v1alpha1.MetricProvider
		want     string
	}{
		{v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}, "prometheus"},
		{v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{}}, "web"},
		{v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{}}, "datadog"},
		{v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{}}, "newRelic"},
		{v1alpha1.MetricProvider{Wavefront: &v1alpha1.WavefrontMetric{}}, "wavefront"},
		{v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{}}, "cloudWatch"},
		{v1alpha1.MetricProvider{Graphite: &v1alpha1.GraphiteMetric{}}, "graphite"},
		{v1alpha1.MetricProvider{Influxdb: &v1alpha1.InfluxdbMetric{}}, "influxdb"},
		{v1alpha1.MetricProvider{Kayenta: &v1alpha1.KayentaMetric{}}, "kayenta"},
		{v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{}}, "skywalking"},
	} {
		p, err := r.Lookup(v1alpha1.Metric{Name: "m", Provider: tc.provider})
		if err != nil || p.Type() != tc.want {
			t.Errorf("Lookup(%s) = %v, %v", tc.want, p, err)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	r := providers.New(providers.Deps{})
	job := v1alpha1.Metric{Name: "j", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	for _, tc := range []struct {
		name   string
		metric v1alpha1.Metric
		want   error
	}{
		{"none", v1alpha1.Metric{Name: "m"}, providers.ErrNoProvider},
		{"two", v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{}, Graphite: &v1alpha1.GraphiteMetric{}}}, providers.ErrNoProvider},
		{"plugin", v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Plugin: map[string]runtime.RawExtension{"argoproj-labs/sample-prometheus": {}}}}, providers.ErrPluginUnsupported},
		{"job without a job provider", job, providers.ErrUnavailable},
	} {
		if _, err := r.Lookup(tc.metric); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	withJob := providers.New(providers.Deps{Extra: []analysis.Provider{fakeJob{}}})
	if p, err := withJob.Lookup(job); err != nil || p.Type() != "job" {
		t.Errorf("with a job provider: %v, %v", p, err)
	}
}
