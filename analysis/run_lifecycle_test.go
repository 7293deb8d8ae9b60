package analysis

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func TestDryRun(t *testing.T) {
	for _, rule := range []string{"experimental", "^exp.*", "*", ".*"} {
		t.Run(rule, func(t *testing.T) {
			spec := specOf(errorRate("experimental", every("1m", 2)), errorRate("error-rate", every("1m", 2)))
			spec.DryRun = []v1alpha1.DryRun{{MetricName: rule}}
			s := newSim(t, spec, map[string][]answer{"experimental": {fail}, "error-rate": {pass}})
			s.runUntil(nil)

			exp := s.result("experimental")
			if exp.Phase != failed || !exp.DryRun || exp.Failed != 1 {
				t.Fatalf("dry-run metric: phase %s, dryRun %v, failed %d", exp.Phase, exp.DryRun, exp.Failed)
			}
			if s.status.DryRunSummary == nil || s.status.DryRunSummary.Failed != 1 {
				t.Fatalf("dryRunSummary = %+v", s.status.DryRunSummary)
			}
			if !strings.Contains(s.status.Message, `dry-run metric "experimental" is Failed`) {
				t.Fatalf("message %q should report the dry-run failure", s.status.Message)
			}
			if rule == "*" || rule == ".*" {
				// Every metric is in dry-run: nothing decides, and the run is Successful.
				if s.status.Phase != successful || s.status.RunSummary.Count != 0 {
					t.Fatalf("phase %s, summary %+v", s.status.Phase, s.status.RunSummary)
				}
				return
			}
			if s.status.Phase != successful {
				t.Fatalf("a failing dry-run metric must not fail the run: %s", s.status.Phase)
			}
			if got := strings.Join(s.taken, " "); got != "experimental@0s error-rate@0s error-rate@1m0s" {
				t.Fatalf("taken %s: the dry-run metric stops once Failed, the other goes on", got)
			}
			if s.status.RunSummary != (v1alpha1.RunSummary{Count: 1, Successful: 1}) {
				t.Fatalf("runSummary %+v", s.status.RunSummary)
			}
		})
	}
}

func TestTerminate(t *testing.T) {
	t.Run("an open-ended run ends Successful", func(t *testing.T) {
		s := newSim(t, specOf(errorRate("m", every("1m", 0), limits(n(2), nil, nil, nil))), map[string][]answer{"m": {pass, fail, pass}})
		s.runUntil(func(s *sim) bool { return len(s.taken) == 3 })
		s.spec.Terminate = true
		s.now = s.now.Add(10 * time.Second)
		p := s.step()
		if p.Status.Phase != successful || p.Status.Message != "the run was terminated" || len(s.taken) != 3 {
			t.Fatalf("phase %s %q, taken %v", p.Status.Phase, p.Status.Message, s.taken)
		}
	})
	t.Run("before any measurement", func(t *testing.T) {
		m := errorRate("m", func(m *v1alpha1.Metric) { m.InitialDelay = "1h" })
		s := newSim(t, specOf(m), map[string][]answer{"m": {pass}})
		s.step()
		s.spec.Terminate = true
		if p := s.step(); p.Status.Phase != successful || len(s.taken) != 0 {
			t.Fatalf("phase %s, taken %v", p.Status.Phase, s.taken)
		}
	})
	t.Run("a failed run stays Failed", func(t *testing.T) {
		s := newSim(t, specOf(errorRate("m")), map[string][]answer{"m": {fail}})
		s.runUntil(nil)
		s.spec.Terminate = true
		s.now = s.now.Add(time.Minute)
		if p := s.step(); p.Status.Phase != failed || p.Changes != nil {
			t.Fatalf("phase %s, changes %v", p.Status.Phase, p.Changes)
		}
	})
	t.Run("a measurement in flight is stopped and does not count", func(t *testing.T) {
		job := v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}, Interval: "1m"}
		s := newSim(t, specOf(job), map[string][]answer{"smoke": {jobOK, working}})
		s.runUntil(func(s *sim) bool { return len(s.taken) == 2 })
		s.spec.Terminate = true
		p := s.step()
		if p.Status.Phase != successful || len(s.stopped) != 1 {
			t.Fatalf("phase %s, stopped %v", p.Status.Phase, s.stopped)
		}
		r := s.result("smoke")
		last := r.Measurements[len(r.Measurements)-1]
		if r.Count != 1 || r.Successful != 1 || last.FinishedAt == nil || !strings.Contains(last.Message, "stopped") ||
			last.Metadata["job"] != "smoke-1" {
			t.Fatalf("counts %d/%d, last measurement %+v", r.Count, r.Successful, last)
		}
	})
}

func TestMeasurementInFlight(t *testing.T) {
	job := v1alpha1.Metric{Name: "smoke", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	s := newSim(t, specOf(job), map[string][]answer{"smoke": {working, working, jobOK}})
	p := s.step()
	r := s.result("smoke")
	if p.Status.Phase != running || r.Phase != running || len(r.Measurements) != 1 || r.Measurements[0].FinishedAt != nil {
		t.Fatalf("after the Job started: %s, %+v", p.Status.Phase, r)
	}
	if p.RequeueAfter != time.Second || !r.Measurements[0].ResumeAt.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("resume after %v at %v", p.RequeueAfter, r.Measurements[0].ResumeAt)
	}
	// Too early: nothing to do, the deadline stands.
	s.now = t0.Add(500 * time.Millisecond)
	if tasks, _ := DueTasks(&s.spec, &s.status, s.now); len(tasks) != 0 {
		t.Fatalf("tasks before resumeAt: %+v", tasks)
	}
	s.now = t0.Add(time.Second)
	tasks, _ := DueTasks(&s.spec, &s.status, s.now)
	if len(tasks) != 1 || tasks[0].InFlight == nil || tasks[0].InFlight.Metadata["job"] != "smoke-1" || tasks[0].Stop {
		t.Fatalf("the in-flight measurement should be resumed: %+v", tasks)
	}
	s.runUntil(nil)
	r = s.result("smoke")
	if s.status.Phase != successful || len(r.Measurements) != 1 || !r.Measurements[0].StartedAt.Time.Equal(t0) {
		t.Fatalf("one measurement, started at t0, finished by the Job: %+v", r)
	}
}

func TestMeasurementRetention(t *testing.T) {
	spec := specOf(errorRate("kept", every("1m", 0)), errorRate("trimmed", every("1m", 0)))
	spec.MeasurementRetention = []v1alpha1.MeasurementRetention{{MetricName: "trim", Limit: 3}}
	s := newSim(t, spec, map[string][]answer{"kept": {pass}, "trimmed": {pass}})
	s.runUntil(func(s *sim) bool { return len(s.taken) == 30 })

	kept, trimmed := s.result("kept"), s.result("trimmed")
	if len(kept.Measurements) != DefaultMeasurementRetention || len(trimmed.Measurements) != 3 {
		t.Fatalf("kept %d and %d measurements", len(kept.Measurements), len(trimmed.Measurements))
	}
	if kept.Count != 15 || trimmed.Count != 15 {
		t.Fatalf("counters must survive trimming: %d, %d", kept.Count, trimmed.Count)
	}
	if !trimmed.Measurements[2].StartedAt.Time.Equal(t0.Add(14 * time.Minute)) {
		t.Fatalf("the latest measurements are kept: %v", trimmed.Measurements[2].StartedAt)
	}
	if len(s.dropped) != (15-10)+(15-3) {
		t.Fatalf("dropped %d measurements", len(s.dropped))
	}
}

func TestAdvanceEdgeCases(t *testing.T) {
	spec := specOf(errorRate("m"))
	if _, err := Advance(&spec, &v1alpha1.AnalysisRunStatus{}, []Measured{{Metric: "nope"}}, t0); err == nil {
		t.Error("a measurement for an unknown metric is a bug in the caller")
	}

	bad := specOf(errorRate("m", func(m *v1alpha1.Metric) { m.SuccessCondition = "result >" }))
	if _, err := Advance(&bad, &v1alpha1.AnalysisRunStatus{}, nil, t0); !IsInvalidSpec(err) {
		t.Errorf("Advance on an invalid spec: %v", err)
	}
	if _, err := DueTasks(&bad, &v1alpha1.AnalysisRunStatus{}, t0); !IsInvalidSpec(err) {
		t.Errorf("DueTasks on an invalid spec: %v", err)
	}

	done := v1alpha1.AnalysisRunStatus{Phase: failed, Message: "x"}
	p, err := Advance(&spec, &done, []Measured{{Metric: "m", Measurement: v1alpha1.Measurement{Phase: successful}}}, t0)
	if err != nil || p.Status.Phase != failed || p.Status.MetricResults != nil || p.Requeue {
		t.Errorf("a completed run is left alone: %+v, %v", p, err)
	}
	if tasks, _ := DueTasks(&spec, &done, t0); tasks != nil {
		t.Errorf("a completed run has no tasks: %v", tasks)
	}

	// A late measurement for a metric that already completed is ignored.
	s := newSim(t, specOf(errorRate("a"), errorRate("b", func(m *v1alpha1.Metric) { m.InitialDelay = "1m" })),
		map[string][]answer{"a": {pass}, "b": {pass}})
	s.step()
	late := Measured{Metric: "a", Measurement: v1alpha1.Measurement{Phase: failed}}
	p, err = Advance(&s.spec, &s.status, []Measured{late}, t0.Add(time.Second))
	if err != nil || findResult(&p.Status, "a").Failed != 0 {
		t.Errorf("late measurement counted: %v", err)
	}
}

func TestInvalidSpecStatus(t *testing.T) {
	err := invalidMetric("metrics[0].successCondition", "does not compile")
	st := InvalidSpecStatus(&v1alpha1.AnalysisRunStatus{}, err, t0)
	if st.Phase != errored || !st.CompletedAt.Time.Equal(t0) || !strings.Contains(st.Message, "metrics[0].successCondition") {
		t.Fatalf("%+v", st)
	}
	if again := InvalidSpecStatus(&st, err, t0.Add(time.Hour)); !again.CompletedAt.Time.Equal(t0) {
		t.Fatal("a completed status is left alone")
	}
}

func TestExpiresAt(t *testing.T) {
	secs := func(i int32) *int32 { return &i }
	done := metav1.NewTime(t0)
	tests := []struct {
		name  string
		ttl   *v1alpha1.TTLStrategy
		phase v1alpha1.AnalysisPhase
		want  time.Duration // -1: never
	}{
		{"no strategy", nil, successful, -1},
		{"not completed", &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60)}, running, -1},
		{"after completion", &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60)}, failed, time.Minute},
		{"success wins over completion", &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60), SecondsAfterSuccess: secs(10)}, successful, 10 * time.Second},
		{"failure covers Error", &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60), SecondsAfterFailure: secs(3600)}, errored, time.Hour},
		{"failure covers Inconclusive", &v1alpha1.TTLStrategy{SecondsAfterFailure: secs(5)}, inconclusive, 5 * time.Second},
		{"success limit only, run failed", &v1alpha1.TTLStrategy{SecondsAfterSuccess: secs(5)}, failed, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := v1alpha1.AnalysisRunSpec{TTLStrategy: tt.ttl}
			at, ok := ExpiresAt(&spec, &v1alpha1.AnalysisRunStatus{Phase: tt.phase, CompletedAt: &done})
			if tt.want < 0 {
				if ok {
					t.Fatalf("expires at %v, want never", at)
				}
				return
			}
			if !ok || !at.Equal(t0.Add(tt.want)) {
				t.Fatalf("expires at %v (%v), want %v", at, ok, t0.Add(tt.want))
			}
		})
	}
}

// TestOrdinal: each new measurement of a metric gets the next ordinal, errors included, and a
// measurement keeps its ordinal while it is in flight, so that a provider can name what it
// creates after it.
func TestOrdinal(t *testing.T) {
	job := v1alpha1.Metric{Name: "smoke", Interval: "1m", Count: intOr(3), Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{}}}
	s := newSim(t, specOf(job), map[string][]answer{"smoke": {down, working, working, jobOK, jobOK}})
	var ordinals []int32
	for range 10 {
		tasks, err := DueTasks(&s.spec, &s.status, s.now)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			ordinals = append(ordinals, task.Ordinal)
		}
		p := s.step()
		if p.Status.Phase.Completed() {
			break
		}
		s.now = s.now.Add(p.RequeueAfter)
	}
	// An error (1); a Job started (2), resumed (2) and done (2); then two more Jobs (3, 4),
	// done at once: three measurements without error, as count asks.
	if got := fmt.Sprint(ordinals); got != "[1 2 2 2 3 4]" {
		t.Fatalf("ordinals = %s", got)
	}
}
