package analysisrun_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// rateServer serves {"rate": R} at /<name> for each name and rate.
func rateServer(t *testing.T, rates map[string]string) *vendor {
	routes := map[string]reply{}
	for name, rate := range rates {
		routes["GET /"+name] = reply{body: `{"rate":` + rate + `}`}
	}
	return newVendor(t, false, routes)
}

func rateMetric(srv *vendor, name string) v1alpha1.Metric {
	return v1alpha1.Metric{
		Name: name, SuccessCondition: "result >= 0.95",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: srv.URL + "/" + name, JSONPath: "{$.rate}"}},
	}
}

// TestDryRun: a dry-run metric that fails does not fail the run, and its failure shows in
// the metric's phase, dryRunSummary, the run's message, an event and the metric-phase gauge.
func TestDryRun(t *testing.T) {
	ns := env.Namespace(t)
	srv := rateServer(t, map[string]string{"experimental": "0.5", "error-rate": "0.99"})
	run := createRun(t, ns, "dry-run", v1alpha1.AnalysisRunSpec{
		Metrics: []v1alpha1.Metric{rateMetric(srv, "experimental"), rateMetric(srv, "error-rate")},
		DryRun:  []v1alpha1.DryRun{{MetricName: "experimental"}},
	})
	got := waitCompleted(t, run, time.Minute)
	if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("a failing dry-run metric failed the run: %s", describe(got))
	}
	exp := metricResult(t, got, "experimental")
	if exp.Phase != v1alpha1.AnalysisPhaseFailed || !exp.DryRun || exp.Failed != 1 {
		t.Errorf("dry-run metric: %+v", exp)
	}
	if s := got.Status.DryRunSummary; s == nil || *s != (v1alpha1.RunSummary{Count: 1, Failed: 1}) {
		t.Errorf("dryRunSummary = %+v", s)
	}
	if got.Status.RunSummary != (v1alpha1.RunSummary{Count: 1, Successful: 1}) {
		t.Errorf("runSummary = %+v", got.Status.RunSummary)
	}
	if !strings.Contains(got.Status.Message, `dry-run metric "experimental" is Failed`) {
		t.Errorf("message %q does not report the dry-run failure", got.Status.Message)
	}
	found := false
	for _, e := range runEvents(t, run, "MetricFailed", "AnalysisRunSuccessful") {
		if e.Reason == "MetricFailed" && strings.Contains(e.Note, `metric "experimental" is Failed`) && e.Type == "Warning" {
			found = true
		}
	}
	if !found {
		t.Error("no Warning event says the dry-run metric failed")
	}
	labels := map[string]string{"namespace": ns, "name": "dry-run", "metric": "experimental", "type": "web", "phase": "Failed", "dry_run": "true"}
	if v, ok := gaugeValue(t, "flotilla_analysis_run_metric_phase", labels); !ok || v != 1 {
		t.Errorf("flotilla_analysis_run_metric_phase%v = %v (present %v), want 1", labels, v, ok)
	}
	labels = map[string]string{"namespace": ns, "name": "dry-run", "phase": "Successful"}
	if v, ok := gaugeValue(t, "flotilla_analysis_run_info", labels); !ok || v != 1 {
		t.Errorf("flotilla_analysis_run_info%v = %v (present %v), want 1", labels, v, ok)
	}
}

// TestInvalidSpec: a run that cannot run as written ends in phase Error with the
// InvalidSpec condition, its reason and a message naming the problem, and a warning event;
// nothing is measured.
func TestInvalidSpec(t *testing.T) {
	ns := env.Namespace(t)
	srv := rateServer(t, map[string]string{"rate": "1"})
	ok := rateMetric(srv, "rate")
	withArgs := func(m v1alpha1.Metric, args ...v1alpha1.Argument) v1alpha1.AnalysisRunSpec {
		return v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{m}, Args: args}
	}
	badCondition := ok
	badCondition.SuccessCondition = "result >="
	unknownArg := ok
	unknownArg.Provider.Web = &v1alpha1.WebMetric{URL: srv.URL + "/rate?service={{args.service}}", JSONPath: "{$.rate}"}
	plugin := ok
	plugin.Provider = v1alpha1.MetricProvider{Plugin: map[string]runtime.RawExtension{"argoproj-labs/sample-prometheus": {Raw: []byte(`{"query":"up"}`)}}}
	for _, tc := range []struct {
		name, reason, message string
		spec                  v1alpha1.AnalysisRunSpec
	}{
		{"bad-condition", v1alpha1.AnalysisRunReasonInvalidMetric, "metrics[0].successCondition", withArgs(badCondition)},
		{"no-value", v1alpha1.AnalysisRunReasonUnresolvedArgument, "args.service: has no value", withArgs(ok, v1alpha1.Argument{Name: "service"})},
		{"missing-secret", v1alpha1.AnalysisRunReasonUnresolvedArgument, `cannot read key "token" of Secret ` + ns + "/absent", withArgs(ok, v1alpha1.Argument{
			Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "absent", Key: "token"}},
		})},
		{"unknown-arg", v1alpha1.AnalysisRunReasonUnresolvedArgument, "{{args.service}} does not name an argument", withArgs(unknownArg)},
		{"no-rollout", v1alpha1.AnalysisRunReasonUnresolvedArgument, "belongs to none", withArgs(ok, v1alpha1.Argument{
			Name: "team", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['team']"}},
		})},
		{"plugin", v1alpha1.AnalysisRunReasonInvalidMetric, "metric provider plugins are not supported", withArgs(plugin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := createRun(t, ns, tc.name, tc.spec)
			got := waitCompleted(t, run, time.Minute)
			c := condition(t, got, v1alpha1.AnalysisRunConditionInvalidSpec)
			if got.Status.Phase != v1alpha1.AnalysisPhaseError || c.Status != metav1.ConditionTrue || c.Reason != tc.reason ||
				!strings.Contains(c.Message, tc.message) || !strings.Contains(got.Status.Message, tc.message) {
				t.Fatalf("want phase Error, InvalidSpec %s %q: %s; condition %+v", tc.reason, tc.message, describe(got), c)
			}
			if done := condition(t, got, v1alpha1.AnalysisRunConditionCompleted); done.Status != metav1.ConditionTrue || done.Reason != "Error" {
				t.Errorf("Completed condition = %+v", done)
			}
			runEvents(t, run, tc.reason, "AnalysisRunError")
		})
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d measurements were taken for runs that cannot run", n)
	}
}

// TestTerminate: a run measuring until it ends stops when spec.terminate is set: it ends
// Successful, says it was terminated, and measures no more.
func TestTerminate(t *testing.T) {
	ns := env.Namespace(t)
	srv := rateServer(t, map[string]string{"rate": "0.99"})
	m := rateMetric(srv, "rate")
	m.Interval = "1s"
	run := createRun(t, ns, "open-ended", oneMetric(m))
	waitRun(t, run, "two measurements", time.Minute, func(r *v1alpha1.AnalysisRun) bool {
		return r.Status.Phase == v1alpha1.AnalysisPhaseRunning && len(r.Status.MetricResults) == 1 && r.Status.MetricResults[0].Count >= 2
	})
	patchRun(t, run, `{"spec":{"terminate":true}}`)
	got := waitCompleted(t, run, 30*time.Second)
	if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || got.Status.Message != "the run was terminated" {
		t.Fatalf("a terminated run: %s", describe(got))
	}
	if c := condition(t, got, v1alpha1.AnalysisRunConditionRunning); c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.AnalysisRunReasonTerminated {
		t.Errorf("Running condition = %+v", c)
	}
	taken := metricResult(t, got, "rate").Count
	// Measurements were due every second: wait until two more would have been taken
	// (completedAt is kept to the second).
	waitRun(t, run, "three seconds after it completed", 30*time.Second, func(r *v1alpha1.AnalysisRun) bool {
		return time.Since(r.Status.CompletedAt.Time) > 3*time.Second
	})
	if n := int32(len(srv.requests())); n != taken {
		t.Errorf("%d requests after termination, %d measurements recorded", n, taken)
	}
}

// TestMeasurementRetention: the status keeps the latest measurements the retention allows,
// and the counters keep counting.
func TestMeasurementRetention(t *testing.T) {
	ns := env.Namespace(t)
	srv := rateServer(t, map[string]string{"rate": "0.99"})
	m := rateMetric(srv, "rate")
	m.Interval, m.Count = "1s", new(intstr.FromInt32(4))
	got := waitCompleted(t, createRun(t, ns, "retention", v1alpha1.AnalysisRunSpec{
		Metrics:              []v1alpha1.Metric{m},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "rate", Limit: 2}},
	}), time.Minute)
	r := metricResult(t, got, "rate")
	if got.Status.Phase != v1alpha1.AnalysisPhaseSuccessful || r.Count != 4 || len(r.Measurements) != 2 {
		t.Fatalf("want 4 measurements counted, 2 kept: %s", describe(got))
	}
	if !r.Measurements[0].FinishedAt.Before(r.Measurements[1].FinishedAt) {
		t.Errorf("measurements out of order: %+v", r.Measurements)
	}
}

// TestTTL: a completed run is deleted when its ttlStrategy expires, and its metrics go.
func TestTTL(t *testing.T) {
	ns := env.Namespace(t)
	srv := rateServer(t, map[string]string{"rate": "0.99"})
	run := createRun(t, ns, "short-lived", v1alpha1.AnalysisRunSpec{
		Metrics:     []v1alpha1.Metric{rateMetric(srv, "rate")},
		TTLStrategy: &v1alpha1.TTLStrategy{SecondsAfterCompletion: new(int32(2))},
	})
	completed := waitCompleted(t, run, time.Minute).Status.CompletedAt.Time
	err := harness.WaitFor(context.Background(), "the run to be deleted", 30*time.Second, func(ctx context.Context) (bool, string, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(run), &v1alpha1.AnalysisRun{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "still there", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if since := time.Since(completed); since < 2*time.Second {
		t.Errorf("deleted %s after it completed, before its ttlStrategy (2s) expired", since)
	}
	err = harness.WaitFor(context.Background(), "the run's metrics to go", 30*time.Second, func(context.Context) (bool, string, error) {
		_, present := gaugeValue(t, "flotilla_analysis_run_info", map[string]string{"namespace": ns, "name": run.Name, "phase": "Successful"})
		return !present, "flotilla_analysis_run_info still has the run", nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rolloutYAML is a Rollout for fieldRef arguments to read.
const rolloutYAML = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  labels: {team: payments}
spec:
  replicas: 3
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
      - name: checkout
        image: registry.invalid/checkout:2
`

// TestFieldRef: fieldRef arguments read metadata and spec fields of the Rollout the run
// belongs to, and their values reach the provider.
func TestFieldRef(t *testing.T) {
	ns := env.Namespace(t)
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(rolloutYAML), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	srv := newVendor(t, false, map[string]reply{"GET /rate": {body: `{"rate":1}`}})
	field := func(name, path string) v1alpha1.Argument {
		return v1alpha1.Argument{Name: name, ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: path}}}
	}
	run := &v1alpha1.AnalysisRun{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checkout-step-1", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout", Name: ro.Name, UID: ro.UID, Controller: new(true),
		}}},
		Spec: v1alpha1.AnalysisRunSpec{
			Args: []v1alpha1.Argument{
				field("team", "metadata.labels['team']"), field("rollout", "metadata.name"),
				field("weight", "spec.strategy.canary.steps[0].setWeight"), field("replicas", "spec.replicas"),
			},
			Metrics: []v1alpha1.Metric{{Name: "rate", SuccessCondition: "result >= 0.95", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL: srv.URL + "/rate?team={{args.team}}&rollout={{args.rollout}}&weight={{args.weight}}&replicas={{args.replicas}}", JSONPath: "{$.rate}",
			}}}},
		},
	}
	if err := env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	wantSuccessful(t, waitCompleted(t, run, time.Minute), "rate")
	if q := srv.first(t).RawQuery; q != "team=payments&rollout=checkout&weight=20&replicas=3" {
		t.Errorf("query = %s", q)
	}

	run = run.DeepCopy()
	run.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "bad-path", OwnerReferences: run.OwnerReferences}
	run.Spec.Args = []v1alpha1.Argument{field("team", "metadata.labels['team']"), field("rollout", "metadata.name"),
		field("weight", "spec.strategy.canary.steps[5].setWeight"), field("replicas", "spec.replicas")}
	if err := env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	got := waitCompleted(t, run, time.Minute)
	if c := condition(t, got, v1alpha1.AnalysisRunConditionInvalidSpec); c.Reason != v1alpha1.AnalysisRunReasonUnresolvedArgument ||
		!strings.Contains(c.Message, "args.weight") || !strings.Contains(c.Message, "steps[5]") {
		t.Errorf("a fieldRef that does not resolve: condition %+v", c)
	}
}
