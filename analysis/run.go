package analysis

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Task is one measurement that is due: a new one to take, or one in flight to resume or stop.
type Task struct {
	// Metric is the metric as the spec passed to DueTasks holds it. When that spec came from
	// Args.ResolveSpec, it may hold secret values: give it to the provider, write it nowhere.
	Metric v1alpha1.Metric
	// InFlight is the unfinished measurement to resume or stop, or nil to start a new one.
	InFlight *v1alpha1.Measurement
	// Stop is set when the run is terminating: stop InFlight (through the provider's
	// Terminator, if it has one) and record it with Stopped, instead of resuming it.
	Stop bool
	// Ordinal numbers the measurement among the metric's measurements in the run, from 1;
	// pass it on in Request.Ordinal.
	Ordinal int32
}

// Measured is a measurement to fold into a run's status.
type Measured struct {
	// Metric is the metric's name.
	Metric string
	// Measurement is the new or updated measurement, from Judge or Stopped. When the
	// metric's latest measurement is in flight, this one replaces it; otherwise it is added.
	Measurement v1alpha1.Measurement
	// Stopped marks a measurement that was stopped because the run terminated (see Stopped):
	// it is kept for the record but does not count.
	Stopped bool
}

// PhaseChange is a change of phase of the run (Metric is empty) or of one metric, for
// events.
type PhaseChange struct {
	Metric  string
	From    v1alpha1.AnalysisPhase
	To      v1alpha1.AnalysisPhase
	Message string
}

// Progress is what Advance decided.
type Progress struct {
	// Status is the run's new status. Conditions and observedGeneration are left as they
	// were, for the controller to set.
	Status v1alpha1.AnalysisRunStatus
	// Reason is the reason for the run's conditions: Waiting (Pending: every metric waits for
	// its initialDelay), Measuring (Running), or the final phase.
	Reason string
	// Requeue says whether a measurement is scheduled; RequeueAfter is the exact time until
	// it is due, 0 meaning right away. A completed run has nothing scheduled.
	Requeue      bool
	RequeueAfter time.Duration
	// Changes lists the phases that changed: the run's first, then the metrics' in status
	// order. A metric's first phase, Pending, is not a change.
	Changes []PhaseChange
	// Dropped are the measurements that measurementRetention removed from the status, so that
	// their providers can release what those measurements hold (a Job).
	Dropped []Measured
}

// DueTasks returns the measurements of a run that are due at now, in spec order:
//   - a metric whose latest measurement is in flight is resumed once its resumeAt has passed,
//     or stopped at once when the run is terminating;
//   - a terminating run (spec.terminate, or a metric not in dry-run that ended Failed, Error or
//     Inconclusive) starts no new measurement;
//   - a metric never measured is due initialDelay after the run started (status.startedAt,
//     or now when the run has not started);
//   - a metric that took its count of measurements (errors do not count) is done; otherwise
//     the next measurement is due interval after the latest one finished, or ErrorRetryInterval
//     after it when that one was an Error.
//
// spec must have its arguments resolved (see Args.ResolveSpec); an invalid spec is an
// *InvalidSpecError. A completed run has no tasks.
func DueTasks(spec *v1alpha1.AnalysisRunSpec, status *v1alpha1.AnalysisRunStatus, now time.Time) ([]Task, error) {
	rs, err := parseSpec(spec)
	if err != nil {
		return nil, err
	}
	if status.Phase.Completed() {
		return nil, nil
	}
	terminating := spec.Terminate || decisivelyEnded(status, rs)
	started := now
	if status.StartedAt != nil {
		started = status.StartedAt.Time
	}
	var tasks []Task
	for i := range rs.metrics {
		s := &rs.metrics[i]
		r := findResult(status, s.metric.Name)
		due, ok := dueAt(s, r, started, terminating, now)
		if !ok || due.After(now) {
			continue
		}
		t := Task{Metric: *s.metric.DeepCopy(), Ordinal: nextOrdinal(r)}
		if last := lastMeasurement(r); last != nil && !last.Phase.Completed() {
			t.InFlight = last.DeepCopy()
			t.Stop = terminating
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// Advance folds new measurements into a run's status at now and assesses every metric and the
// run, following the rules in the package documentation. It does not modify status. spec
// must have its arguments resolved; an invalid spec is an *InvalidSpecError (see
// InvalidSpecStatus). A measurement for a metric the spec does not have is an error; one for
// a metric that already completed is ignored. Once the run has completed, Advance returns its
// status unchanged.
func Advance(spec *v1alpha1.AnalysisRunSpec, status *v1alpha1.AnalysisRunStatus, measured []Measured, now time.Time) (Progress, error) {
	rs, err := parseSpec(spec)
	if err != nil {
		return Progress{}, err
	}
	st := status.DeepCopy()
	if st.Phase.Completed() {
		return Progress{Status: *st, Reason: string(st.Phase)}, nil
	}
	for _, m := range measured {
		if _, ok := rs.byName[m.Metric]; !ok {
			return Progress{}, fmt.Errorf("measurement for metric %q, which the run does not have", m.Metric)
		}
	}

	if st.StartedAt == nil {
		st.StartedAt = &metav1.Time{Time: now}
	}
	before := phasesOf(st)
	ensureResults(st, rs)
	for _, m := range measured {
		record(findResult(st, m.Metric), m, now)
	}

	// Assess twice: when this round ends a metric decisively, the run starts terminating,
	// and the other metrics settle as they would on the next round.
	terminating := spec.Terminate || decisivelyEnded(st, rs)
	assessMetrics(st, rs, terminating)
	if !terminating && decisivelyEnded(st, rs) {
		terminating = true
		assessMetrics(st, rs, terminating)
	}
	assessRun(st, rs, spec.Terminate, terminating, now)

	p := Progress{Reason: runReason(st.Phase)}
	p.Changes = phaseChanges(before, st)
	p.Dropped = trimMeasurements(st, rs)
	if !st.Phase.Completed() {
		if next, ok := nextDue(st, rs, terminating, now); ok {
			p.Requeue = true
			if d := next.Sub(now); d > 0 {
				p.RequeueAfter = d
			}
		}
	}
	p.Status = *st
	return p, nil
}

// InvalidSpecStatus returns status for a run that cannot run as written: phase Error with
// err as the message, completed at now. The controller also sets the InvalidSpec condition.
func InvalidSpecStatus(status *v1alpha1.AnalysisRunStatus, err error, now time.Time) v1alpha1.AnalysisRunStatus {
	st := status.DeepCopy()
	if st.Phase.Completed() {
		return *st
	}
	t := metav1.Time{Time: now}
	if st.StartedAt == nil {
		st.StartedAt = &t
	}
	st.Phase = v1alpha1.AnalysisPhaseError
	st.Message = "the analysis cannot run: " + err.Error()
	st.CompletedAt = &t
	return *st
}

// ExpiresAt returns when a completed run is to be deleted under spec.ttlStrategy: the
// outcome's own limit (secondsAfterSuccess for Successful, secondsAfterFailure for Failed,
// Error and Inconclusive) when set, else secondsAfterCompletion. It returns false when the
// run is not completed or no limit applies.
func ExpiresAt(spec *v1alpha1.AnalysisRunSpec, status *v1alpha1.AnalysisRunStatus) (time.Time, bool) {
	ttl := spec.TTLStrategy
	if ttl == nil || !status.Phase.Completed() || status.CompletedAt == nil {
		return time.Time{}, false
	}
	secs := ttl.SecondsAfterCompletion
	if status.Phase == v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterSuccess != nil {
		secs = ttl.SecondsAfterSuccess
	} else if status.Phase != v1alpha1.AnalysisPhaseSuccessful && ttl.SecondsAfterFailure != nil {
		secs = ttl.SecondsAfterFailure
	}
	if secs == nil {
		return time.Time{}, false
	}
	return status.CompletedAt.Add(time.Duration(*secs) * time.Second), true
}

// dueAt returns when the metric's next task is due, or false when none is scheduled.
func dueAt(s *settings, r *v1alpha1.MetricResult, started time.Time, terminating bool, now time.Time) (time.Time, bool) {
	if r != nil && r.Phase.Completed() {
		return time.Time{}, false
	}
	last := lastMeasurement(r)
	if last != nil && !last.Phase.Completed() {
		if !terminating && last.ResumeAt != nil {
			return last.ResumeAt.Time, true
		}
		return now, true
	}
	if terminating {
		return time.Time{}, false
	}
	if last == nil {
		return started.Add(s.initialDelay), true
	}
	if !s.unbounded && r.Count >= s.count {
		return time.Time{}, false
	}
	wait := ErrorRetryInterval
	if last.Phase != v1alpha1.AnalysisPhaseError && s.hasInterval {
		wait = s.interval
	}
	return finishedAt(last, now).Add(wait), true
}

// nextDue returns the earliest time any metric of the run is due.
func nextDue(st *v1alpha1.AnalysisRunStatus, rs *runSettings, terminating bool, now time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	for i := range rs.metrics {
		due, ok := dueAt(&rs.metrics[i], findResult(st, rs.metrics[i].metric.Name), st.StartedAt.Time, terminating, now)
		if ok && (!found || due.Before(next)) {
			next, found = due, true
		}
	}
	return next, found
}

// finishedAt is when a completed measurement finished, falling back on when it started.
func finishedAt(m *v1alpha1.Measurement, now time.Time) time.Time {
	switch {
	case m.FinishedAt != nil:
		return m.FinishedAt.Time
	case m.StartedAt != nil:
		return m.StartedAt.Time
	}
	return now
}

// ensureResults adds a Pending result for every metric that has none, in spec order, and
// marks each result's dryRun.
func ensureResults(st *v1alpha1.AnalysisRunStatus, rs *runSettings) {
	for i := range rs.metrics {
		s := &rs.metrics[i]
		r := findResult(st, s.metric.Name)
		if r == nil {
			st.MetricResults = append(st.MetricResults, v1alpha1.MetricResult{
				Name:  s.metric.Name,
				Phase: v1alpha1.AnalysisPhasePending,
			})
			r = &st.MetricResults[len(st.MetricResults)-1]
		}
		if r.Phase == "" {
			r.Phase = v1alpha1.AnalysisPhasePending
		}
		r.DryRun = s.dryRun
	}
}

// record folds one measurement into its metric's result.
func record(r *v1alpha1.MetricResult, m Measured, now time.Time) {
	if r.Phase.Completed() {
		return
	}
	meas := *m.Measurement.DeepCopy()
	t := metav1.Time{Time: now}
	if meas.StartedAt == nil {
		meas.StartedAt = &t
	}
	done := meas.Phase.Completed()
	switch {
	case done && meas.FinishedAt == nil:
		meas.FinishedAt = &t
	case !done:
		meas.FinishedAt = nil
		if meas.Phase != v1alpha1.AnalysisPhasePending {
			meas.Phase = v1alpha1.AnalysisPhaseRunning
		}
	}
	if last := lastMeasurement(r); last != nil && !last.Phase.Completed() {
		*last = meas
	} else {
		r.Measurements = append(r.Measurements, meas)
	}
	if !done || m.Stopped {
		return
	}
	switch meas.Phase {
	case v1alpha1.AnalysisPhaseSuccessful:
		r.Count++
		r.Successful++
		r.ConsecutiveSuccess++
		r.ConsecutiveError = 0
	case v1alpha1.AnalysisPhaseFailed:
		r.Count++
		r.Failed++
		r.ConsecutiveSuccess = 0
		r.ConsecutiveError = 0
	case v1alpha1.AnalysisPhaseInconclusive:
		r.Count++
		r.Inconclusive++
		r.ConsecutiveSuccess = 0
		r.ConsecutiveError = 0
	case v1alpha1.AnalysisPhaseError:
		r.Error++
		r.ConsecutiveError++
		r.ConsecutiveSuccess = 0
	}
}

// nextOrdinal is the ordinal of the metric's next measurement, or of the one in flight: one
// more than the measurements already counted (errors included). A stopped measurement is not
// counted, but none follows it: the run is terminating.
func nextOrdinal(r *v1alpha1.MetricResult) int32 {
	if r == nil {
		return 1
	}
	return r.Count + r.Error + 1
}

// findResult returns the result of the metric name, or nil.
func findResult(st *v1alpha1.AnalysisRunStatus, name string) *v1alpha1.MetricResult {
	for i := range st.MetricResults {
		if st.MetricResults[i].Name == name {
			return &st.MetricResults[i]
		}
	}
	return nil
}

// lastMeasurement returns the latest measurement of r, or nil.
func lastMeasurement(r *v1alpha1.MetricResult) *v1alpha1.Measurement {
	if r == nil || len(r.Measurements) == 0 {
		return nil
	}
	return &r.Measurements[len(r.Measurements)-1]
}
