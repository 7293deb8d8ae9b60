package analysis

import (
	"context"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Provider takes measurements of one kind of metric: it serves one block of a metric's
// provider field, such as prometheus or web.
type Provider interface {
	// Type is the name of the provider block this provider serves, such as "prometheus".
	Type() string

	// Measure takes one measurement of req.Metric. It returns what was measured, or an error
	// when no value could be had: an unreachable back end, a bad response, a query that
	// failed. An error makes the measurement an Error, which never counts as success.
	//
	// A provider whose measurements take a while (a Job) returns a Value with Pending set and
	// the metadata it needs to find the work again; Measure is then called again later with
	// req.InFlight holding that measurement, until it returns a finished Value.
	Measure(ctx context.Context, req Request) (Value, error)
}

// Terminator is implemented by providers whose pending measurements hold resources (a Job):
// Terminate stops the measurement in req.InFlight when its run is terminated early.
type Terminator interface {
	Terminate(ctx context.Context, req Request) error
}

// Request is one measurement to take.
type Request struct {
	// Metric is the metric with every {{args.NAME}} placeholder already replaced.
	Metric v1alpha1.Metric
	// Namespace is the namespace of the AnalysisRun (or of the hub object running a gate),
	// for providers that create objects or read Secrets.
	Namespace string
	// RunName and RunUID identify the AnalysisRun, for providers that create objects owned by it.
	RunName string
	RunUID  string
	// InFlight is the pending measurement a previous call returned, or nil for a new one.
	InFlight *v1alpha1.Measurement
	// Ordinal numbers this measurement among the metric's measurements in the run, from 1
	// (Task.Ordinal). It stays the same while the measurement is in flight and until its
	// result is recorded, so a provider that creates an object (a Job) can name it after the
	// ordinal, and a controller that restarts before it recorded the measurement finds that
	// object again instead of creating another. Zero means unknown.
	Ordinal int32
}

// Value is what a provider measured.
type Value struct {
	// Result is what a metric's successCondition and failureCondition see as `result`:
	// a float64, a []float64 (a Prometheus vector), a map or slice decoded from JSON, a
	// string, or nil when the back end returned nothing.
	Result any
	// Text is the value as recorded in the measurement's status.
	Text string
	// Metadata is kept with the measurement (a Job's name, a query's resolved URL).
	Metadata map[string]string
	// Pending means the measurement is not finished; see Provider.Measure.
	Pending bool
	// Verdict, when set, is the provider's own judgement (a Job succeeds or fails), used
	// instead of evaluating the metric's conditions.
	Verdict v1alpha1.AnalysisPhase
}
