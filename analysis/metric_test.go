package analysis

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func intOr(i int) *intstr.IntOrString {
	v := intstr.FromInt32(int32(i))
	return &v
}

func TestValidateSpec(t *testing.T) {
	type mod func(*v1alpha1.AnalysisRunSpec)
	metricMod := func(f func(*v1alpha1.Metric)) mod {
		return func(s *v1alpha1.AnalysisRunSpec) { f(&s.Metrics[0]) }
	}
	tests := []struct {
		name      string
		mod       mod
		wantField string // empty: valid
	}{
		{"valid", func(*v1alpha1.AnalysisRunSpec) {}, ""},
		{"no metrics", func(s *v1alpha1.AnalysisRunSpec) { s.Metrics = nil }, "metrics"},
		{"duplicate names", func(s *v1alpha1.AnalysisRunSpec) { s.Metrics = append(s.Metrics, s.Metrics[0]) }, "metrics[1].name"},
		{"no provider", metricMod(func(m *v1alpha1.Metric) { m.Provider = v1alpha1.MetricProvider{} }), "metrics[0].provider"},
		{"two providers", metricMod(func(m *v1alpha1.Metric) {
			m.Provider.Prometheus = &v1alpha1.PrometheusMetric{Query: "up"}
		}), "metrics[0].provider"},
		{"bad interval", metricMod(func(m *v1alpha1.Metric) { m.Interval = "{{args.interval}}" }), "metrics[0].interval"},
		{"negative initialDelay", metricMod(func(m *v1alpha1.Metric) { m.InitialDelay = "-5s" }), "metrics[0].initialDelay"},
		{"count without interval", metricMod(func(m *v1alpha1.Metric) { m.Interval = ""; m.Count = intOr(3) }), "metrics[0].interval"},
		{"count 1 without interval", metricMod(func(m *v1alpha1.Metric) { m.Interval = ""; m.Count = intOr(1) }), ""},
		{"negative count", metricMod(func(m *v1alpha1.Metric) { m.Count = intOr(-1) }), "metrics[0].count"},
		{"failureLimit below -1", metricMod(func(m *v1alpha1.Metric) { m.FailureLimit = intOr(-2) }), "metrics[0].failureLimit"},
		{"both limits off", metricMod(func(m *v1alpha1.Metric) { m.FailureLimit = intOr(-1) }), "metrics[0].failureLimit"},
		{"failure limit off with success limit", metricMod(func(m *v1alpha1.Metric) {
			m.FailureLimit = intOr(-1)
			m.ConsecutiveSuccessLimit = intOr(3)
		}), ""},
		{"count below failureLimit + consecutiveSuccessLimit", metricMod(func(m *v1alpha1.Metric) {
			m.Count = intOr(4)
			m.FailureLimit = intOr(2)
			m.ConsecutiveSuccessLimit = intOr(3)
		}), "metrics[0].count"},
		{"count below inconclusiveLimit", metricMod(func(m *v1alpha1.Metric) { m.Count = intOr(2); m.InconclusiveLimit = intOr(3) }), "metrics[0].count"},
		{"negative inconclusiveLimit", metricMod(func(m *v1alpha1.Metric) { m.InconclusiveLimit = intOr(-1) }), "metrics[0].inconclusiveLimit"},
		{"negative consecutiveErrorLimit", metricMod(func(m *v1alpha1.Metric) { m.ConsecutiveErrorLimit = intOr(-1) }), "metrics[0].consecutiveErrorLimit"},
		{"negative consecutiveSuccessLimit", metricMod(func(m *v1alpha1.Metric) { m.ConsecutiveSuccessLimit = intOr(-1) }), "metrics[0].consecutiveSuccessLimit"},
		{"limit as a string", metricMod(func(m *v1alpha1.Metric) { v := intstr.FromString(" 3 "); m.FailureLimit = &v }), ""},
		{"limit as words", metricMod(func(m *v1alpha1.Metric) { v := intstr.FromString("three"); m.FailureLimit = &v }), "metrics[0].failureLimit"},
		{"success condition does not compile", metricMod(func(m *v1alpha1.Metric) { m.SuccessCondition = "result >" }), "metrics[0].successCondition"},
		{"failure condition is not boolean", metricMod(func(m *v1alpha1.Metric) { m.FailureCondition = "1 + 1" }), "metrics[0].failureCondition"},
		{"dryRun star", func(s *v1alpha1.AnalysisRunSpec) { s.DryRun = []v1alpha1.DryRun{{MetricName: "*"}} }, ""},
		{"dryRun regex", func(s *v1alpha1.AnalysisRunSpec) { s.DryRun = []v1alpha1.DryRun{{MetricName: "^error-.*$"}} }, ""},
		{"dryRun matches nothing", func(s *v1alpha1.AnalysisRunSpec) { s.DryRun = []v1alpha1.DryRun{{MetricName: "latency"}} }, "dryRun[0].metricName"},
		{"dryRun bad regex", func(s *v1alpha1.AnalysisRunSpec) { s.DryRun = []v1alpha1.DryRun{{MetricName: "(["}} }, "dryRun[0].metricName"},
		{"retention matches nothing", func(s *v1alpha1.AnalysisRunSpec) {
			s.MeasurementRetention = []v1alpha1.MeasurementRetention{{MetricName: "nope", Limit: 3}}
		}, "measurementRetention[0].metricName"},
		{"negative retention", func(s *v1alpha1.AnalysisRunSpec) {
			s.MeasurementRetention = []v1alpha1.MeasurementRetention{{MetricName: ".*", Limit: -1}}
		}, "measurementRetention[0].limit"},
		{"over-long condition", metricMod(func(m *v1alpha1.Metric) {
			m.SuccessCondition = "true" + strings.Repeat(" ", maxConditionLength)
		}), "metrics[0].successCondition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
				Name: "error-rate", Interval: "1m", Count: intOr(5),
				SuccessCondition: "result[0] < 0.05",
				Provider:         v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}},
			}}}
			tt.mod(&spec)
			err := ValidateSpec(&spec)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			ise := AsInvalidSpec(err)
			if ise == nil || ise.Field != tt.wantField || ise.Reason != v1alpha1.AnalysisRunReasonInvalidMetric {
				t.Fatalf("got %v (%#v), want an InvalidMetric error on %s", err, ise, tt.wantField)
			}
			if len(ise.Error()) > 600 {
				t.Fatalf("message is %d bytes long", len(ise.Error()))
			}
		})
	}
}

func TestProviderType(t *testing.T) {
	tests := []struct {
		p    v1alpha1.MetricProvider
		want string
	}{
		{v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{}}, "prometheus"},
		{v1alpha1.MetricProvider{NewRelic: &v1alpha1.NewRelicMetric{}}, "newRelic"},
		{v1alpha1.MetricProvider{CloudWatch: &v1alpha1.CloudWatchMetric{}}, "cloudWatch"},
		{v1alpha1.MetricProvider{SkyWalking: &v1alpha1.SkyWalkingMetric{}}, "skywalking"},
		{v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}, "job"},
		{v1alpha1.MetricProvider{Plugin: map[string]runtime.RawExtension{"acme/metrics": {}}}, "plugin"},
		{v1alpha1.MetricProvider{}, ""},
		{v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{}, Job: &v1alpha1.JobMetric{}}, ""},
	}
	for _, tt := range tests {
		if got := ProviderType(&v1alpha1.Metric{Provider: tt.p}); got != tt.want {
			t.Errorf("ProviderType(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
