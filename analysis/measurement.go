package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	// maxRecordedText bounds a measurement's value and message in the status, so that a
	// provider returning a large document cannot bloat the object.
	maxRecordedText = 1024
	// minPendingDelay and maxPendingDelay bound how long a measurement in flight waits
	// before it is resumed.
	minPendingDelay = time.Second
	maxPendingDelay = time.Minute
)

// Redactor hides secret values in text; *Args is one. Judge and Stopped pass every text a
// provider produced through it before the text is shortened, so that no part of a secret can
// survive the cut.
type Redactor interface {
	Redact(s string) string
}

// Judge turns what a provider returned for task into the measurement to record (pass it to
// Advance). started is when the measurement was asked for (ignored when the task resumes one
// in flight, which keeps its start), finished is when the provider answered. The value,
// message and metadata are redacted with r (nil: no secrets) and shortened to 1 KiB.
//
//   - err from the provider makes an Error measurement with err as its message;
//   - a Pending value makes a measurement in flight, resumed after a delay that grows with
//     the square root of its age (between 1s and 1m), as Argo Rollouts' Job provider does;
//   - a value with a Verdict takes that verdict (a Job's outcome) without conditions;
//   - otherwise the metric's conditions judge the value (see Evaluate).
//
// The returned error is non-nil only when a condition does not compile: the measurement is
// then an Error too, and the error is an *InvalidSpecError for the run's InvalidSpec
// condition. ValidateSpec catches that before any measurement is taken.
func Judge(task Task, v Value, err error, started, finished time.Time, r Redactor) (v1alpha1.Measurement, error) {
	redact := redactFunc(r)
	var m v1alpha1.Measurement
	if task.InFlight != nil {
		m = *task.InFlight.DeepCopy()
		m.ResumeAt = nil
	}
	if m.StartedAt == nil {
		m.StartedAt = &metav1.Time{Time: started}
	}
	for k, val := range v.Metadata {
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[k] = redact(val)
	}
	if err != nil {
		return finish(m, v1alpha1.AnalysisPhaseError, redact(err.Error()), finished), nil
	}
	m.Value = truncate(redact(valueText(v)))
	if v.Pending {
		m.Phase = v1alpha1.AnalysisPhaseRunning
		m.FinishedAt = nil
		m.Message = ""
		resume := metav1.NewTime(finished.Add(pendingDelay(finished.Sub(m.StartedAt.Time))))
		m.ResumeAt = &resume
		return m, nil
	}
	if v.Verdict != "" {
		if !v.Verdict.Completed() {
			return finish(m, v1alpha1.AnalysisPhaseError,
				fmt.Sprintf("the provider returned verdict %q, which is not a final phase", v.Verdict), finished), nil
		}
		return finish(m, v.Verdict, "", finished), nil
	}
	verdict, evalErr := EvaluateMetric(&task.Metric, v.Result)
	m = finish(m, verdict.Phase, redact(verdict.Message), finished)
	if IsInvalidSpec(evalErr) {
		return m, evalErr
	}
	return m, nil
}

// Stopped returns the record of an in-flight measurement that was stopped because its run
// terminated: phase Successful, as Argo Rollouts records a terminated Job measurement, with a
// message that says so and mentions stopErr, the error of the provider's Terminate, if any.
// Pass it to Advance with Measured.Stopped set: it does not count toward any limit. The
// message is redacted with r.
func Stopped(task Task, stopErr error, now time.Time, r Redactor) v1alpha1.Measurement {
	var m v1alpha1.Measurement
	if task.InFlight != nil {
		m = *task.InFlight.DeepCopy()
	}
	if m.StartedAt == nil {
		m.StartedAt = &metav1.Time{Time: now}
	}
	m.ResumeAt = nil
	msg := "stopped: the run was terminated"
	if stopErr != nil {
		msg += "; stopping it failed: " + redactFunc(r)(stopErr.Error())
	}
	return finish(m, v1alpha1.AnalysisPhaseSuccessful, msg, now)
}

// finish completes m with phase and message at now.
func finish(m v1alpha1.Measurement, phase v1alpha1.AnalysisPhase, message string, now time.Time) v1alpha1.Measurement {
	m.Phase = phase
	m.Message = truncate(message)
	m.FinishedAt = &metav1.Time{Time: now}
	m.ResumeAt = nil
	return m
}

// pendingDelay is how long a measurement in flight for age waits before it is resumed:
// sqrt(2 * age in seconds) seconds, between minPendingDelay and maxPendingDelay.
func pendingDelay(age time.Duration) time.Duration {
	if age < 0 {
		age = 0
	}
	d := time.Duration(math.Sqrt(2*age.Seconds()) * float64(time.Second))
	return min(max(d, minPendingDelay), maxPendingDelay)
}

// valueText is what the status records as a measurement's value: the provider's text, or
// the result written as JSON (NaN and infinities as Go writes them).
func valueText(v Value) string {
	if v.Text != "" {
		return v.Text
	}
	r := normalizeResult(v.Result)
	switch t := r.(type) {
	case nil:
		return ""
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	if b, err := json.Marshal(r); err == nil {
		return string(b)
	}
	return fmt.Sprint(r)
}

// redactFunc returns r.Redact, or the identity when r is nil.
func redactFunc(r Redactor) func(string) string {
	if r == nil || isNil(r) {
		return func(s string) string { return s }
	}
	return r.Redact
}

// truncationMark ends a text that truncate shortened.
const truncationMark = "... (truncated)"

// truncate shortens s to at most maxRecordedText bytes, cutting at a character boundary and
// marking the cut. Shortening a shortened text changes nothing.
func truncate(s string) string {
	if len(s) <= maxRecordedText {
		return s
	}
	cut := maxRecordedText - len(truncationMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncationMark
}
