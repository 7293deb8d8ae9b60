package analysisrun_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// The secret values of TestSecretsNeverLeak. Each holds characters that JSON and URLs
// escape, around a core that every escaped form keeps, so that finding the core finds any
// form of the secret.
const (
	argSecretCore = "9f8e7d6c5b4a"
	argSecret     = `dd-` + argSecretCore + `"<&>+/=`
	ddSecretCore  = "7c6b5a4d3e2f"
	ddSecret      = "ddkey-" + ddSecretCore
)

// TestSecretsNeverLeak: secrets reach the back ends, and nothing the controller writes holds
// them: not the status, not an event, not a log line, not a metric label. The back end is
// a Datadog-like API on 127.0.0.1 that echoes the API key it was sent in its answers:
//   - a web metric sends an argument read from a Secret (secretKeyRef) as its DD-API-KEY
//     header and gets a 403 whose JSON error quotes the key (JSON-escaped);
//   - a web metric whose endpoint answers with the key as its value (raw), which fails
//     the condition, so that the value also lands in the metric's message;
//   - the Datadog provider, whose keys come from a Secret through secretRef, gets a 403
//     quoting its key;
//   - a second run's condition holds the argument and does not compile once it is
//     resolved, so the parser's message would quote it (and fragments of it).
func TestSecretsNeverLeak(t *testing.T) {
	ns := env.Namespace(t)
	var mu sync.Mutex
	received := map[string]bool{}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("DD-API-KEY")
		mu.Lock()
		received[key] = true
		mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/query":
			msg, _ := json.Marshal(map[string][]string{"errors": {"Forbidden: the API key " + key + " is not valid for this organization"}})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(msg)
		case "/whoami":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("signed in with " + key))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(echo.Close)

	createSecret(t, ns, "api-keys", map[string]string{"datadog": argSecret})
	createSecret(t, ns, "datadog", map[string]string{"address": echo.URL, "api-key": ddSecret, "app-key": "app-" + ddSecretCore})
	keyArg := v1alpha1.Argument{Name: "api-key", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "api-keys", Key: "datadog"}}}
	header := []v1alpha1.WebMetricHeader{{Key: "DD-API-KEY", Value: "{{args.api-key}}"}}
	zero := new(intstr.FromInt32(0))

	leaky := createRun(t, ns, "leaky", v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{keyArg},
		Metrics: []v1alpha1.Metric{
			{Name: "datadog-like", SuccessCondition: "result < 0.01", ConsecutiveErrorLimit: zero,
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: echo.URL + "/api/v1/query?query=errors", Headers: header}}},
			{Name: "echoed-value", SuccessCondition: `result == "signed in"`,
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: echo.URL + "/whoami", Headers: header}}},
			{Name: "datadog", SuccessCondition: "result < 0.01", ConsecutiveErrorLimit: zero,
				Provider: v1alpha1.MetricProvider{Datadog: &v1alpha1.DatadogMetric{
					Query: "avg:errors{*}", SecretRef: &v1alpha1.SecretRef{Name: "datadog", Namespaced: true},
				}}},
		},
	})
	invalid := createRun(t, ns, "invalid", v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{keyArg},
		Metrics: []v1alpha1.Metric{{Name: "m", SuccessCondition: "result == {{args.api-key}}",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: echo.URL + "/whoami"}}}},
	})

	got := waitCompleted(t, leaky, time.Minute)
	if got.Status.Phase != v1alpha1.AnalysisPhaseFailed {
		t.Fatalf("leaky run: %s", describe(got))
	}
	for name, want := range map[string]v1alpha1.AnalysisPhase{
		"datadog-like": v1alpha1.AnalysisPhaseError, "echoed-value": v1alpha1.AnalysisPhaseFailed, "datadog": v1alpha1.AnalysisPhaseError,
	} {
		if m := metricResult(t, got, name); m.Phase != want || len(m.Measurements) != 1 {
			t.Errorf("metric %s: want %s after one measurement: %s", name, want, describe(got))
		}
	}
	gotInvalid := waitCompleted(t, invalid, time.Minute)
	if c := condition(t, gotInvalid, v1alpha1.AnalysisRunConditionInvalidSpec); c.Status != "True" ||
		c.Message != "metrics[0].successCondition: is invalid once its arguments are resolved; the details are withheld because they quote a secret argument" {
		t.Errorf("InvalidSpec condition = %+v, want it to name the field and withhold the parser's message", c)
	}
	runEvents(t, leaky, "AnalysisRunFailed", "MetricFailed", "MetricError")
	runEvents(t, invalid, "AnalysisRunError", "InvalidMetric")

	// The secrets did reach the back end, and the status shows where they were hidden.
	mu.Lock()
	if !received[argSecret] || !received[ddSecret] {
		t.Errorf("the back end did not receive both keys, so the test proves nothing")
	}
	mu.Unlock()
	statusJSON := toJSON(t, []*v1alpha1.AnalysisRun{got, gotInvalid})
	if !strings.Contains(statusJSON, "*****") {
		t.Errorf("no redaction mark in the status, so the test proves nothing: %s", statusJSON)
	}
	t.Logf("echoed-value metric, as recorded: %s", metricResult(t, got, "echoed-value").Message)
	t.Logf("datadog-like metric, as recorded: %s", metricResult(t, got, "datadog-like").Message)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var newEvents eventsv1.EventList
	var coreEvents corev1.EventList
	if err := env.Client.List(ctx, &newEvents, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &coreEvents, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"status":        statusJSON,
		"events":        toJSON(t, newEvents) + toJSON(t, coreEvents),
		"logs":          string(logs.Bytes()),
		"metric labels": strings.Join(gatherLabels(t), "\n"),
	}
	if !strings.Contains(places["logs"], `"leaky"`) || !strings.Contains(places["logs"], "measurement error") {
		t.Errorf("the captured log has no line about the run, so the test proves nothing")
	}
	for where, text := range places {
		for _, core := range []string{argSecretCore, ddSecretCore} {
			if i := strings.Index(text, core); i >= 0 {
				t.Errorf("a secret is in the %s: ...%s...", where, text[max(0, i-200):min(len(text), i+100)])
			}
		}
	}
}
