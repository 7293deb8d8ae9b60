package analysis

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// answer is what a scripted provider returns for one call.
type answer struct {
	value Value
	err   error
}

var (
	pass    = answer{value: Value{Result: []float64{0.01}}}
	fail    = answer{value: Value{Result: []float64{0.5}}}
	unsure  = answer{value: Value{Result: []float64{0.07}}}
	nodata  = answer{value: Value{Result: []float64{math.NaN()}}}
	down    = answer{err: errors.New(`post "http://prometheus:9090/api/v1/query": connection refused`)}
	working = answer{value: Value{Pending: true, Metadata: map[string]string{"job": "smoke-1"}}}
	jobOK   = answer{value: Value{Verdict: v1alpha1.AnalysisPhaseSuccessful}}
)

// sim drives a run the way a controller does: DueTasks, a scripted provider, Judge or
// Stopped, Advance, then sleep exactly RequeueAfter.
type sim struct {
	t       *testing.T
	spec    v1alpha1.AnalysisRunSpec
	status  v1alpha1.AnalysisRunStatus
	now     time.Time
	scripts map[string][]answer // per metric; the last answer repeats
	calls   map[string]int
	taken   []string // "metric@offset" for every provider call
	stopped []string
	changes []PhaseChange
	dropped []Measured
	last    Progress
}

func newSim(t *testing.T, spec v1alpha1.AnalysisRunSpec, scripts map[string][]answer) *sim {
	return &sim{t: t, spec: spec, now: t0, scripts: scripts, calls: map[string]int{}}
}

// step runs one reconcile at s.now.
func (s *sim) step() Progress {
	s.t.Helper()
	tasks, err := DueTasks(&s.spec, &s.status, s.now)
	if err != nil {
		s.t.Fatalf("DueTasks: %v", err)
	}
	var measured []Measured
	for _, task := range tasks {
		name := task.Metric.Name
		if task.Stop {
			s.stopped = append(s.stopped, fmt.Sprintf("%s@%s", name, s.now.Sub(t0)))
			measured = append(measured, Measured{Metric: name, Measurement: Stopped(task, nil, s.now, nil), Stopped: true})
			continue
		}
		script := s.scripts[name]
		if len(script) == 0 {
			s.t.Fatalf("no script for metric %s", name)
		}
		a := script[min(s.calls[name], len(script)-1)]
		s.calls[name]++
		s.taken = append(s.taken, fmt.Sprintf("%s@%s", name, s.now.Sub(t0)))
		m, err := Judge(task, a.value, a.err, s.now, s.now, nil)
		if err != nil {
			s.t.Fatalf("Judge: %v", err)
		}
		measured = append(measured, Measured{Metric: name, Measurement: m})
	}
	p, err := Advance(&s.spec, &s.status, measured, s.now)
	if err != nil {
		s.t.Fatalf("Advance: %v", err)
	}
	s.status = p.Status
	s.changes = append(s.changes, p.Changes...)
	s.dropped = append(s.dropped, p.Dropped...)
	s.last = p
	return p
}

// runUntil steps until the run completes, until stop says so, or until maxSteps.
func (s *sim) runUntil(stop func(*sim) bool) {
	s.t.Helper()
	for range 500 {
		p := s.step()
		if p.Status.Phase.Completed() || (stop != nil && stop(s)) {
			return
		}
		if !p.Requeue {
			s.t.Fatalf("run in phase %s has nothing scheduled", p.Status.Phase)
		}
		s.now = s.now.Add(p.RequeueAfter)
	}
	s.t.Fatalf("run did not settle: phase %s, taken %v", s.status.Phase, s.taken)
}

func (s *sim) result(name string) v1alpha1.MetricResult {
	s.t.Helper()
	r := findResult(&s.status, name)
	if r == nil {
		s.t.Fatalf("no result for %s", name)
	}
	return *r
}

// errorRate is a Prometheus-like metric judging an error ratio.
func errorRate(name string, opts ...func(*v1alpha1.Metric)) v1alpha1.Metric {
	m := v1alpha1.Metric{
		Name:             name,
		SuccessCondition: "result[0] < 0.05",
		FailureCondition: "result[0] >= 0.1",
		Provider:         v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Query: "errors"}},
	}
	for _, o := range opts {
		o(&m)
	}
	return m
}

func every(d string, count int) func(*v1alpha1.Metric) {
	return func(m *v1alpha1.Metric) {
		m.Interval = v1alpha1.TemplatedDurationString(d)
		if count > 0 {
			m.Count = intOr(count)
		}
	}
}

func limits(failure, inconclusive, consecutiveError, consecutiveSuccess *int) func(*v1alpha1.Metric) {
	return func(m *v1alpha1.Metric) {
		if failure != nil {
			m.FailureLimit = intOr(*failure)
		}
		if inconclusive != nil {
			m.InconclusiveLimit = intOr(*inconclusive)
		}
		if consecutiveError != nil {
			m.ConsecutiveErrorLimit = intOr(*consecutiveError)
		}
		if consecutiveSuccess != nil {
			m.ConsecutiveSuccessLimit = intOr(*consecutiveSuccess)
		}
	}
}

func n(i int) *int { return &i }

func specOf(metrics ...v1alpha1.Metric) v1alpha1.AnalysisRunSpec {
	return v1alpha1.AnalysisRunSpec{Metrics: metrics}
}

// TestRunScenarios runs whole analyses and checks the verdict, when each measurement was
// taken, and the metric's counters.
func TestRunScenarios(t *testing.T) {
	tests := []struct {
		name        string
		metric      v1alpha1.Metric
		script      []answer
		wantPhase   v1alpha1.AnalysisPhase
		wantTaken   string
		wantCounts  [5]int32 // count, successful, failed, inconclusive, error
		wantMessage string
	}{
		{
			name:      "one measurement by default",
			metric:    errorRate("m"),
			script:    []answer{pass},
			wantPhase: successful, wantTaken: "m@0s", wantCounts: [5]int32{1, 1, 0, 0, 0},
		},
		{
			name:      "count measurements an interval apart",
			metric:    errorRate("m", every("1m", 3)),
			script:    []answer{pass},
			wantPhase: successful, wantTaken: "m@0s m@1m0s m@2m0s", wantCounts: [5]int32{3, 3, 0, 0, 0},
		},
		{
			name:      "initialDelay postpones the first measurement",
			metric:    errorRate("m", every("30s", 2), func(m *v1alpha1.Metric) { m.InitialDelay = "5m" }),
			script:    []answer{pass},
			wantPhase: successful, wantTaken: "m@5m0s m@5m30s", wantCounts: [5]int32{2, 2, 0, 0, 0},
		},
		{
			name:      "failures within failureLimit pass",
			metric:    errorRate("m", every("1m", 4), limits(n(1), nil, nil, nil)),
			script:    []answer{pass, fail, pass, pass},
			wantPhase: successful, wantTaken: "m@0s m@1m0s m@2m0s m@3m0s", wantCounts: [5]int32{4, 3, 1, 0, 0},
		},
		{
			name:      "failures beyond failureLimit fail at once",
			metric:    errorRate("m", every("1m", 5), limits(n(1), nil, nil, nil)),
			script:    []answer{pass, fail, pass, fail, pass},
			wantPhase: failed, wantTaken: "m@0s m@1m0s m@2m0s m@3m0s", wantCounts: [5]int32{4, 2, 2, 0, 0},
			wantMessage: `metric "m" is Failed: failed (2) > failureLimit (1); latest value: [0.5]`,
		},
		{
			name:      "neither condition holds: Inconclusive",
			metric:    errorRate("m", every("1m", 5)),
			script:    []answer{pass, unsure},
			wantPhase: inconclusive, wantTaken: "m@0s m@1m0s", wantCounts: [5]int32{2, 1, 0, 1, 0},
			wantMessage: "inconclusive (1) > inconclusiveLimit (0)",
		},
		{
			name:      "inconclusiveLimit tolerates some",
			metric:    errorRate("m", every("1m", 3), limits(nil, n(1), nil, nil)),
			script:    []answer{unsure, pass, pass},
			wantPhase: successful, wantTaken: "m@0s m@1m0s m@2m0s", wantCounts: [5]int32{3, 2, 0, 1, 0},
		},
		{
			name:      "provider down: errors retried every 10s, Error after 5 in a row, never Successful",
			metric:    errorRate("m", every("5m", 3)),
			script:    []answer{pass, down},
			wantPhase: errored, wantTaken: "m@0s m@5m0s m@5m10s m@5m20s m@5m30s m@5m40s", wantCounts: [5]int32{1, 1, 0, 0, 5},
			wantMessage: "consecutiveError (5) > consecutiveErrorLimit (4); latest measurement: post",
		},
		{
			name:      "errors reset by a good measurement",
			metric:    errorRate("m", every("1m", 2)),
			script:    []answer{down, down, pass, down, down, down, down, pass},
			wantPhase: successful, wantTaken: "m@0s m@10s m@20s m@1m20s m@1m30s m@1m40s m@1m50s m@2m0s",
			wantCounts: [5]int32{2, 2, 0, 0, 6},
		},
		{
			name:      "consecutiveErrorLimit 0: the first error ends the metric",
			metric:    errorRate("m", limits(nil, nil, n(0), nil)),
			script:    []answer{down},
			wantPhase: errored, wantTaken: "m@0s", wantCounts: [5]int32{0, 0, 0, 0, 1},
		},
		{
			name:      "consecutiveSuccessLimit without failure limit waits for a streak",
			metric:    errorRate("m", every("1m", 0), limits(n(-1), nil, nil, n(3))),
			script:    []answer{fail, fail, pass, fail, pass, pass, pass},
			wantPhase: successful, wantTaken: "m@0s m@1m0s m@2m0s m@3m0s m@4m0s m@5m0s m@6m0s",
			wantCounts: [5]int32{7, 4, 3, 0, 0},
		},
		{
			name:      "count reached without the streak and failure limit off: Failed",
			metric:    errorRate("m", every("1m", 3), limits(n(-1), nil, nil, n(2))),
			script:    []answer{pass, fail, pass},
			wantPhase: failed, wantTaken: "m@0s m@1m0s m@2m0s", wantCounts: [5]int32{3, 2, 1, 0, 0},
			wantMessage: "count (3) reached without consecutiveSuccessLimit (2)",
		},
		{
			name:      "count reached without the streak within failure limit: Inconclusive",
			metric:    errorRate("m", every("1m", 3), limits(n(1), nil, nil, n(2))),
			script:    []answer{pass, fail, pass},
			wantPhase: inconclusive, wantTaken: "m@0s m@1m0s m@2m0s", wantCounts: [5]int32{3, 2, 1, 0, 0},
		},
		{
			name:      "streak reached before count",
			metric:    errorRate("m", every("1m", 10), limits(n(2), nil, nil, n(2))),
			script:    []answer{fail, pass, pass},
			wantPhase: successful, wantTaken: "m@0s m@1m0s m@2m0s", wantCounts: [5]int32{3, 2, 1, 0, 0},
		},
		{
			name: "NaN under a lone failure condition is not a success",
			metric: errorRate("m", func(m *v1alpha1.Metric) {
				m.SuccessCondition = ""
				m.FailureCondition = "result[0] > 0.1"
			}),
			script:    []answer{nodata},
			wantPhase: inconclusive, wantTaken: "m@0s", wantCounts: [5]int32{1, 0, 0, 1, 0},
			wantMessage: "the result is NaN",
		},
		{
			name:      "a Job's verdict decides without conditions",
			metric:    v1alpha1.Metric{Name: "m", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}},
			script:    []answer{working, working, working, jobOK},
			wantPhase: successful, wantTaken: "m@0s m@1s m@2.414213562s m@4.611581788s", wantCounts: [5]int32{1, 1, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, specOf(tt.metric), map[string][]answer{"m": tt.script})
			s.runUntil(nil)
			if s.status.Phase != tt.wantPhase {
				t.Fatalf("phase = %s (%s), want %s", s.status.Phase, s.status.Message, tt.wantPhase)
			}
			if got := strings.Join(s.taken, " "); got != tt.wantTaken {
				t.Errorf("measurements taken at\n  %s\nwant\n  %s", got, tt.wantTaken)
			}
			r := s.result("m")
			if got := [5]int32{r.Count, r.Successful, r.Failed, r.Inconclusive, r.Error}; got != tt.wantCounts {
				t.Errorf("counts (count, successful, failed, inconclusive, error) = %v, want %v", got, tt.wantCounts)
			}
			if r.Phase != tt.wantPhase {
				t.Errorf("metric phase = %s, want %s", r.Phase, tt.wantPhase)
			}
			if !strings.Contains(s.status.Message, tt.wantMessage) {
				t.Errorf("message %q lacks %q", s.status.Message, tt.wantMessage)
			}
			if s.status.CompletedAt == nil || !s.status.CompletedAt.Time.Equal(s.now) {
				t.Errorf("completedAt = %v, want %v", s.status.CompletedAt, s.now)
			}
			if s.last.Requeue || s.last.Reason != string(tt.wantPhase) {
				t.Errorf("a completed run schedules nothing: requeue %v, reason %s", s.last.Requeue, s.last.Reason)
			}
		})
	}
}

func TestPendingThenRunning(t *testing.T) {
	m := errorRate("m", every("1m", 2), func(m *v1alpha1.Metric) { m.InitialDelay = "5m" })
	s := newSim(t, specOf(m), map[string][]answer{"m": {pass}})

	p := s.step()
	if p.Status.Phase != pending || p.Reason != v1alpha1.AnalysisRunReasonWaiting {
		t.Fatalf("before the first measurement: phase %s, reason %s", p.Status.Phase, p.Reason)
	}
	if !p.Requeue || p.RequeueAfter != 5*time.Minute {
		t.Fatalf("requeue after %v (%v), want exactly 5m", p.RequeueAfter, p.Requeue)
	}
	if r := s.result("m"); r.Phase != pending || !strings.Contains(r.Message, "initialDelay") {
		t.Fatalf("metric: %s %q", r.Phase, r.Message)
	}
	if s.status.StartedAt == nil || !s.status.StartedAt.Time.Equal(t0) {
		t.Fatalf("startedAt = %v", s.status.StartedAt)
	}

	// A reconcile that comes early (a watch event) measures nothing and keeps the deadline.
	s.now = t0.Add(2 * time.Minute)
	if p = s.step(); len(s.taken) != 0 || p.RequeueAfter != 3*time.Minute {
		t.Fatalf("early reconcile: taken %v, requeue after %v", s.taken, p.RequeueAfter)
	}

	s.now = t0.Add(5 * time.Minute)
	p = s.step()
	if p.Status.Phase != running || p.Reason != v1alpha1.AnalysisRunReasonMeasuring || p.RequeueAfter != time.Minute {
		t.Fatalf("after the first measurement: %s %s, requeue after %v", p.Status.Phase, p.Reason, p.RequeueAfter)
	}
	var runChange *PhaseChange
	for i := range s.changes {
		if s.changes[i].Metric == "" && s.changes[i].To == running {
			runChange = &s.changes[i]
		}
	}
	if runChange == nil || runChange.From != pending {
		t.Fatalf("changes = %+v, want the run Pending -> Running", s.changes)
	}
}

func TestRequeueIsTheEarliestDueMetric(t *testing.T) {
	spec := specOf(errorRate("slow", every("1m", 3)), errorRate("fast", every("45s", 3)))
	s := newSim(t, spec, map[string][]answer{"slow": {pass}, "fast": {pass}})
	s.runUntil(nil)
	want := "slow@0s fast@0s fast@45s slow@1m0s fast@1m30s slow@2m0s"
	if got := strings.Join(s.taken, " "); got != want {
		t.Fatalf("taken %s, want %s", got, want)
	}
	if s.status.Phase != successful || s.status.RunSummary != (v1alpha1.RunSummary{Count: 2, Successful: 2}) {
		t.Fatalf("phase %s, summary %+v", s.status.Phase, s.status.RunSummary)
	}
}

func TestWorstMetricDecides(t *testing.T) {
	tests := []struct {
		name    string
		scripts map[string][]answer
		want    v1alpha1.AnalysisPhase
		decider string
	}{
		{"Failed beats Error and Inconclusive", map[string][]answer{"a": {unsure}, "b": {down}, "c": {fail}}, failed, "c"},
		{"Error beats Inconclusive", map[string][]answer{"a": {unsure}, "b": {down}, "c": {pass}}, errored, "b"},
		{"Inconclusive beats Successful", map[string][]answer{"a": {pass}, "b": {unsure}, "c": {pass}}, inconclusive, "b"},
		{"all Successful", map[string][]answer{"a": {pass}, "b": {pass}, "c": {pass}}, successful, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zero := n(0)
			spec := specOf(errorRate("a"), errorRate("b", limits(nil, nil, zero, nil)), errorRate("c"))
			s := newSim(t, spec, tt.scripts)
			s.runUntil(nil)
			if s.status.Phase != tt.want {
				t.Fatalf("phase = %s, want %s", s.status.Phase, tt.want)
			}
			if tt.decider != "" && !strings.HasPrefix(s.status.Message, fmt.Sprintf("metric %q is %s", tt.decider, tt.want)) {
				t.Fatalf("message %q should name metric %s", s.status.Message, tt.decider)
			}
			sum := s.status.RunSummary
			if sum.Count != 3 || sum.Successful+sum.Failed+sum.Inconclusive+sum.Error != 3 {
				t.Fatalf("summary %+v", sum)
			}
		})
	}
}

func TestFailureTerminatesTheOtherMetrics(t *testing.T) {
	spec := specOf(
		errorRate("canary", every("1m", 3)),
		errorRate("background", every("30s", 0)), // runs until the run ends
	)
	s := newSim(t, spec, map[string][]answer{"canary": {pass, fail}, "background": {pass}})
	s.runUntil(nil)
	if s.status.Phase != failed {
		t.Fatalf("phase = %s", s.status.Phase)
	}
	if !s.now.Equal(t0.Add(time.Minute)) {
		t.Fatalf("run completed at %s, want right at the failing measurement (1m)", s.now.Sub(t0))
	}
	bg := s.result("background")
	if bg.Phase != successful || !strings.Contains(bg.Message, "terminated") {
		t.Fatalf("background metric: %s %q", bg.Phase, bg.Message)
	}
	if got := strings.Join(s.taken, " "); got != "canary@0s background@0s background@30s canary@1m0s background@1m0s" {
		t.Fatalf("taken %s", got)
	}
	var changes []string
	for _, c := range s.changes {
		changes = append(changes, fmt.Sprintf("%s:%s->%s", c.Metric, c.From, c.To))
	}
	want := ":->Running canary:Pending->Running background:Pending->Running :Running->Failed canary:Running->Failed background:Running->Successful"
	if got := strings.Join(changes, " "); got != want {
		t.Fatalf("changes\n  %s\nwant\n  %s", got, want)
	}
}
