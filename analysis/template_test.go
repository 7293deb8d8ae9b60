package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// templates is a TemplateGetter over maps; it counts lookups.
type templates struct {
	namespaced map[string]v1alpha1.AnalysisTemplateSpec
	cluster    map[string]v1alpha1.AnalysisTemplateSpec
	lookups    int
}

func (g *templates) AnalysisTemplate(_ context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error) {
	return g.get(g.namespaced, name)
}

func (g *templates) ClusterAnalysisTemplate(_ context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error) {
	return g.get(g.cluster, name)
}

func (g *templates) get(m map[string]v1alpha1.AnalysisTemplateSpec, name string) (*v1alpha1.AnalysisTemplateSpec, error) {
	g.lookups++
	s, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("template %s: %w", name, ErrNotFound)
	}
	return &s, nil
}

func ref(name string) v1alpha1.AnalysisTemplateRef {
	return v1alpha1.AnalysisTemplateRef{TemplateName: name}
}

func clusterRef(name string) v1alpha1.AnalysisTemplateRef {
	yes := true
	return v1alpha1.AnalysisTemplateRef{TemplateName: name, ClusterScope: &yes}
}

func webMetric(name string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x/" + name}}}
}

func metricNames(ms []v1alpha1.Metric) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return strings.Join(names, ",")
}

func TestComposeRunSpec(t *testing.T) {
	g := &templates{
		namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
			"success-rate": {
				Metrics: []v1alpha1.Metric{webMetric("success-rate")},
				Args:    []v1alpha1.Argument{{Name: "service"}, {Name: "threshold", Value: strPtr("0.95")}},
				DryRun:  []v1alpha1.DryRun{{MetricName: "latency"}},
				// success-rate pulls in the shared latency check and the fleet-wide base.
				Templates: []v1alpha1.AnalysisTemplateRef{ref("latency"), clusterRef("base")},
			},
			"latency": {
				Metrics:              []v1alpha1.Metric{webMetric("latency")},
				Args:                 []v1alpha1.Argument{{Name: "service"}},
				MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "latency", Limit: 20}},
				Templates:            []v1alpha1.AnalysisTemplateRef{clusterRef("base")},
			},
		},
		cluster: map[string]v1alpha1.AnalysisTemplateSpec{
			"base": {
				Metrics: []v1alpha1.Metric{webMetric("pod-restarts")},
				Args:    []v1alpha1.Argument{{Name: "service"}, secretArg("api-key", "dd", "api-key")},
				DryRun:  []v1alpha1.DryRun{{MetricName: "latency"}, {MetricName: "pod-.*"}},
			},
		},
	}
	spec, err := ComposeRunSpec(context.Background(), g, RunSource{
		Templates:            []v1alpha1.AnalysisTemplateRef{ref("success-rate")},
		Args:                 []v1alpha1.Argument{{Name: "service", Value: strPtr("checkout")}, {Name: "unused", Value: strPtr("x")}},
		DryRun:               []v1alpha1.DryRun{{MetricName: "latency"}},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "latency", Limit: 20}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Namespaced templates first, then cluster ones; "base" is reached twice but counts once.
	if got := metricNames(spec.Metrics); got != "success-rate,latency,pod-restarts" {
		t.Errorf("metrics = %s", got)
	}
	args := map[string]v1alpha1.Argument{}
	for _, a := range spec.Args {
		args[a.Name] = a
	}
	if len(spec.Args) != 3 || *args["service"].Value != "checkout" || *args["threshold"].Value != "0.95" ||
		args["api-key"].ValueFrom == nil || args["api-key"].ValueFrom.SecretKeyRef.Name != "dd" {
		t.Errorf("args = %+v", spec.Args)
	}
	if len(spec.DryRun) != 2 || spec.DryRun[0].MetricName != "latency" || spec.DryRun[1].MetricName != "pod-.*" {
		t.Errorf("dryRun = %+v (repeated rules count once)", spec.DryRun)
	}
	if len(spec.MeasurementRetention) != 1 || spec.MeasurementRetention[0].Limit != 20 {
		t.Errorf("measurementRetention = %+v", spec.MeasurementRetention)
	}
	if g.lookups != 3 {
		t.Errorf("%d template lookups, want 3 (one per distinct template)", g.lookups)
	}
	if err := ValidateSpec(&spec); err != nil {
		t.Errorf("the composed spec should be valid: %v", err)
	}
}

func TestComposeRunSpecArgsAcrossTemplates(t *testing.T) {
	g := &templates{namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
		"a": {Metrics: []v1alpha1.Metric{webMetric("a")}, Args: []v1alpha1.Argument{{Name: "window"}}},
		"b": {Metrics: []v1alpha1.Metric{webMetric("b")}, Args: []v1alpha1.Argument{{Name: "window", Value: strPtr("5m")}}},
		"c": {Metrics: []v1alpha1.Metric{webMetric("c")}, Args: []v1alpha1.Argument{{Name: "window", Value: strPtr("5m")}}},
	}}
	spec, err := ComposeRunSpec(context.Background(), g, RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a"), ref("b"), ref("c")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Args) != 1 || *spec.Args[0].Value != "5m" {
		t.Fatalf("a declaration without value takes another template's value: %+v", spec.Args)
	}
}

func TestComposeRunSpecErrors(t *testing.T) {
	m := func(names ...string) []v1alpha1.Metric {
		var out []v1alpha1.Metric
		for _, n := range names {
			out = append(out, webMetric(n))
		}
		return out
	}
	tests := []struct {
		name        string
		namespaced  map[string]v1alpha1.AnalysisTemplateSpec
		cluster     map[string]v1alpha1.AnalysisTemplateSpec
		src         RunSource
		invalidSpec bool
		notFound    bool
		wantInMsg   string
	}{
		{
			name:        "duplicate metric name",
			namespaced:  map[string]v1alpha1.AnalysisTemplateSpec{"a": {Metrics: m("x")}},
			cluster:     map[string]v1alpha1.AnalysisTemplateSpec{"a": {Metrics: m("x")}},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a"), clusterRef("a")}},
			invalidSpec: true, wantInMsg: `"x" is defined twice, by AnalysisTemplate a and by ClusterAnalysisTemplate a`,
		},
		{
			name: "conflicting argument values",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
				"a": {Metrics: m("a"), Args: []v1alpha1.Argument{{Name: "w", Value: strPtr("1m")}}},
				"b": {Metrics: m("b"), Args: []v1alpha1.Argument{{Name: "w", Value: strPtr("5m")}}},
			},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a"), ref("b")}},
			invalidSpec: true, wantInMsg: "args.w",
		},
		{
			name: "a value against a secret",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
				"a": {Metrics: m("a"), Args: []v1alpha1.Argument{{Name: "k", Value: strPtr("inline")}}},
				"b": {Metrics: m("b"), Args: []v1alpha1.Argument{secretArg("k", "s", "k")}},
			},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a"), ref("b")}},
			invalidSpec: true, wantInMsg: "different values",
		},
		{
			name: "argument left without value",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
				"a": {Metrics: m("a"), Args: []v1alpha1.Argument{{Name: "service"}}},
			},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			invalidSpec: true, wantInMsg: "args.service",
		},
		{
			name: "retention rules disagree",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
				"a": {Metrics: m("a"), MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "a", Limit: 5}}},
			},
			src: RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")},
				MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "a", Limit: 3}}},
			invalidSpec: true, wantInMsg: "different limits",
		},
		{
			name: "cycle",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{
				"a": {Metrics: m("a"), Templates: []v1alpha1.AnalysisTemplateRef{ref("b")}},
				"b": {Metrics: m("b"), Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			invalidSpec: true, wantInMsg: "AnalysisTemplate a -> AnalysisTemplate b -> AnalysisTemplate a",
		},
		{
			name:        "template that refers to itself",
			namespaced:  map[string]v1alpha1.AnalysisTemplateSpec{"a": {Metrics: m("a"), Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}}},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			invalidSpec: true, wantInMsg: "cycle",
		},
		{
			name:       "missing nested template",
			namespaced: map[string]v1alpha1.AnalysisTemplateSpec{"a": {Metrics: m("a"), Templates: []v1alpha1.AnalysisTemplateRef{clusterRef("gone")}}},
			src:        RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			notFound:   true, wantInMsg: "ClusterAnalysisTemplate gone",
		},
		{
			name:        "no metrics at all",
			namespaced:  map[string]v1alpha1.AnalysisTemplateSpec{"a": {}},
			src:         RunSource{Templates: []v1alpha1.AnalysisTemplateRef{ref("a")}},
			invalidSpec: true, wantInMsg: "no metric",
		},
		{
			name:        "no templates",
			src:         RunSource{},
			invalidSpec: true, wantInMsg: "no analysis template",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &templates{namespaced: tt.namespaced, cluster: tt.cluster}
			_, err := ComposeRunSpec(context.Background(), g, tt.src)
			if err == nil {
				t.Fatal("want an error")
			}
			if IsInvalidSpec(err) != tt.invalidSpec || errors.Is(err, ErrNotFound) != tt.notFound {
				t.Fatalf("err = %v: invalidSpec %v (want %v), notFound %v (want %v)", err,
					IsInvalidSpec(err), tt.invalidSpec, errors.Is(err, ErrNotFound), tt.notFound)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("message %q lacks %q", err.Error(), tt.wantInMsg)
			}
		})
	}
}
