package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func TestJudge(t *testing.T) {
	metric := errorRate("m")
	later := t0.Add(3 * time.Second)
	tests := []struct {
		name      string
		value     Value
		err       error
		wantPhase v1alpha1.AnalysisPhase
		wantValue string
		wantMsg   string
	}{
		{"provider error", Value{}, errors.New("timeout"), errored, "", "timeout"},
		{"success", Value{Result: []float64{0.01}}, nil, successful, "[0.01]", ""},
		{"failure", Value{Result: []float64{0.5}, Text: "0.5"}, nil, failed, "0.5", ""},
		{"NaN written as Go writes it", Value{Result: math.NaN()}, nil, errored, "NaN", "could not evaluate"},
		{"evaluation error", Value{Result: []float64{}}, nil, errored, "[]", "no data"},
		{"verdict", Value{Verdict: v1alpha1.AnalysisPhaseFailed}, nil, failed, "", ""},
		{"verdict that is not final", Value{Verdict: v1alpha1.AnalysisPhaseRunning}, nil, errored, "", "not a final phase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Judge(Task{Metric: metric}, tt.value, tt.err, t0, later, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Phase != tt.wantPhase || m.Value != tt.wantValue || !strings.Contains(m.Message, tt.wantMsg) {
				t.Fatalf("got %s %q %q, want %s %q with %q", m.Phase, m.Value, m.Message, tt.wantPhase, tt.wantValue, tt.wantMsg)
			}
			if !m.StartedAt.Time.Equal(t0) || !m.FinishedAt.Time.Equal(later) || m.ResumeAt != nil {
				t.Fatalf("times: %v %v %v", m.StartedAt, m.FinishedAt, m.ResumeAt)
			}
		})
	}
}

func TestJudgeInvalidCondition(t *testing.T) {
	metric := errorRate("m", func(m *v1alpha1.Metric) { m.FailureCondition = "result >" })
	m, err := Judge(Task{Metric: metric}, Value{Result: []float64{0.01}}, nil, t0, t0, nil)
	if !IsInvalidSpec(err) || m.Phase != errored || m.FinishedAt == nil {
		t.Fatalf("err %v, measurement %+v", err, m)
	}
}

func TestJudgePending(t *testing.T) {
	started := metav1.NewTime(t0)
	inFlight := &v1alpha1.Measurement{Phase: running, StartedAt: &started, Metadata: map[string]string{"job": "j1"}}
	tests := []struct {
		age  time.Duration
		want time.Duration
	}{
		{0, time.Second},
		{2 * time.Second, 2 * time.Second},
		{50 * time.Second, 10 * time.Second},
		{time.Hour, time.Minute},
	}
	for _, tt := range tests {
		now := t0.Add(tt.age)
		m, err := Judge(Task{Metric: errorRate("m"), InFlight: inFlight}, Value{Pending: true, Metadata: map[string]string{"pod": "p1"}}, nil, now, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Phase != running || m.FinishedAt != nil || !m.StartedAt.Time.Equal(t0) {
			t.Fatalf("age %v: %+v", tt.age, m)
		}
		if got := m.ResumeAt.Sub(now); got != tt.want {
			t.Errorf("age %v: resume after %v, want %v", tt.age, got, tt.want)
		}
		if m.Metadata["job"] != "j1" || m.Metadata["pod"] != "p1" {
			t.Errorf("metadata %v should merge", m.Metadata)
		}
	}
	if inFlight.ResumeAt != nil || len(inFlight.Metadata) != 1 {
		t.Fatal("Judge modified the task's measurement")
	}
}

func TestJudgeTruncatesAfterRedacting(t *testing.T) {
	secret := strings.Repeat("S", 40)
	a := NewArgs(nil, map[string]string{"token": secret})
	// The secret straddles the cut: truncating first would leave a piece of it.
	msg := strings.Repeat("x", maxRecordedText-len(truncationMark)-10) + secret + strings.Repeat("y", 500)
	m, _ := Judge(Task{Metric: errorRate("m")}, Value{Metadata: map[string]string{"url": "http://x?t=" + secret}}, errors.New(msg), t0, t0, a)
	if strings.Contains(m.Message, "SSSS") || strings.Contains(m.Metadata["url"], secret) {
		t.Fatalf("secret leaked: %q %v", m.Message[len(m.Message)-60:], m.Metadata)
	}
	if len(m.Message) > maxRecordedText || !strings.HasSuffix(m.Message, truncationMark) {
		t.Fatalf("message is %d bytes: %q", len(m.Message), m.Message[len(m.Message)-30:])
	}
	if truncate(m.Message) != m.Message {
		t.Fatal("truncating twice should change nothing")
	}
	long := Value{Text: strings.Repeat("é", maxRecordedText)}
	m, _ = Judge(Task{Metric: errorRate("m")}, long, nil, t0, t0, nil)
	if len(m.Value) > maxRecordedText || !strings.HasSuffix(m.Value, truncationMark) || !json.Valid([]byte(fmt.Sprintf("%q", m.Value))) {
		t.Fatalf("value %d bytes", len(m.Value))
	}
}

func TestStopped(t *testing.T) {
	started := metav1.NewTime(t0)
	a := NewArgs(nil, map[string]string{"token": "tok"})
	m := Stopped(Task{InFlight: &v1alpha1.Measurement{Phase: running, StartedAt: &started}, Stop: true},
		errors.New("delete job: 403 for tok"), t0.Add(time.Minute), a)
	if m.Phase != successful || !m.FinishedAt.Time.Equal(t0.Add(time.Minute)) || !m.StartedAt.Time.Equal(t0) {
		t.Fatalf("%+v", m)
	}
	if !strings.Contains(m.Message, "stopped") || !strings.Contains(m.Message, "403") || strings.Contains(m.Message, "tok") {
		t.Fatalf("message %q", m.Message)
	}
}

// leakyProvider fails the way an HTTP client fails, quoting the URL it called, and echoes
// the request in its value, both of which carry the run's secret argument.
func leakyProvider(task Task) (Value, error) {
	u := task.Metric.Provider.Web.URL
	if strings.Contains(u, "fail") {
		return Value{}, fmt.Errorf("get %q: dial tcp 10.0.0.1:443: connection refused", u)
	}
	return Value{Result: map[string]any{"ok": true}, Text: "called " + u, Metadata: map[string]string{"url": u}}, nil
}

// TestSecretsStayOutOfStatus follows a secret argument from its Secret to the status: the
// provider sees it, the status never does, in any form.
func TestSecretsStayOutOfStatus(t *testing.T) {
	const secret = "dd-api/key+42"
	resolver := fakeResolver{secrets: map[string]string{"shop/dd/api-key": secret}}
	spec := v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{secretArg("api-key", "dd", "api-key"), {Name: "mode", Value: strPtr("ok")}},
		Metrics: []v1alpha1.Metric{
			{Name: "works", SuccessCondition: "result.ok", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL: "https://api.example.com/{{args.mode}}?api_key={{ args.api-key }}"}}},
			{Name: "broken", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
				URL: "https://api.example.com/fail?api_key={{args.api-key}}"}}},
		},
	}
	args, err := ResolveArgs(context.Background(), resolver, "shop", spec.Args)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := args.ResolveSpec(&spec)
	if err != nil {
		t.Fatal(err)
	}
	status := v1alpha1.AnalysisRunStatus{}
	now := t0
	for range 10 {
		tasks, err := DueTasks(&resolved, &status, now)
		if err != nil {
			t.Fatal(err)
		}
		var measured []Measured
		for _, task := range tasks {
			if !strings.Contains(task.Metric.Provider.Web.URL, secret) {
				t.Fatalf("the provider must get the secret: %s", task.Metric.Provider.Web.URL)
			}
			v, perr := leakyProvider(task)
			m, err := Judge(task, v, perr, now, now, args)
			if err != nil {
				t.Fatal(err)
			}
			measured = append(measured, Measured{Metric: task.Metric.Name, Measurement: m})
		}
		p, err := Advance(&resolved, &status, measured, now)
		if err != nil {
			t.Fatal(err)
		}
		status = p.Status
		if status.Phase.Completed() {
			break
		}
		now = now.Add(p.RequeueAfter)
	}
	if status.Phase != errored {
		t.Fatalf("phase %s: the broken metric should end in Error", status.Phase)
	}
	raw, _ := json.Marshal(status)
	for _, form := range []string{secret, url.QueryEscape(secret), "dd-api"} {
		if strings.Contains(string(raw), form) {
			t.Fatalf("status holds %q:\n%s", form, raw)
		}
	}
	if !strings.Contains(string(raw), "api_key="+Redacted) {
		t.Fatalf("the redacted URL should still tell what was called:\n%s", raw)
	}
}
