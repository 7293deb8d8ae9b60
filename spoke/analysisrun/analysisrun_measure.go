package analysisrun

import (
	"context"
	"fmt"
	"sync"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	// maxRounds bounds the rounds one reconcile runs while Advance says something is due at
	// once: a run that a measurement ended stops its measurements in flight in the next round.
	maxRounds = 3
	// measureTimeout bounds one provider call, whatever timeouts the metric sets.
	measureTimeout = 2 * time.Minute
)

// resolve gives the run's arguments their values and returns the spec to measure with: every
// {{args.NAME}} replaced, checked, and every metric served by a provider. The spec may hold
// secret values; it stays in memory. An *analysis.InvalidSpecError means the run cannot run as
// written; args is returned whenever it was resolved, to redact the error.
func (r *Reconciler) resolve(ctx context.Context, run *v1alpha1.AnalysisRun) (*analysis.Args, v1alpha1.AnalysisRunSpec, error) {
	resolver := argResolver{secrets: r.APIReader, objects: r.Client, run: run}
	args, err := analysis.ResolveArgs(ctx, resolver, run.Namespace, run.Spec.Args)
	if err != nil {
		return nil, v1alpha1.AnalysisRunSpec{}, err
	}
	spec, err := args.ResolveSpec(&run.Spec)
	if err != nil {
		return args, v1alpha1.AnalysisRunSpec{}, err
	}
	if err := analysis.ValidateSpec(&spec); err != nil {
		return args, v1alpha1.AnalysisRunSpec{}, err
	}
	for i := range spec.Metrics {
		if _, err := r.Providers.Lookup(spec.Metrics[i]); err != nil {
			return args, v1alpha1.AnalysisRunSpec{}, &analysis.InvalidSpecError{
				Reason:  v1alpha1.AnalysisRunReasonInvalidMetric,
				Field:   fmt.Sprintf("metrics[%d].provider", i),
				Message: err.Error(),
				Err:     err,
			}
		}
	}
	return args, spec, nil
}

// measure runs rounds of the analysis loop on the run's status: the tasks due now, then
// Advance. It runs another round, up to maxRounds, while Advance says something is due at
// once. The returned progress holds the phase changes and dropped measurements of every
// round.
func (r *Reconciler) measure(ctx context.Context, run *v1alpha1.AnalysisRun, spec *v1alpha1.AnalysisRunSpec, args *analysis.Args) (analysis.Progress, error) {
	st := run.Status
	var changes []analysis.PhaseChange
	var dropped []analysis.Measured
	for round := 1; ; round++ {
		tasks, err := analysis.DueTasks(spec, &st, r.now())
		if err != nil {
			return analysis.Progress{}, err
		}
		measured, err := r.take(ctx, run, tasks, args)
		if err != nil {
			return analysis.Progress{}, err
		}
		p, err := analysis.Advance(spec, &st, measured, r.now())
		if err != nil {
			return analysis.Progress{}, err
		}
		changes = append(changes, p.Changes...)
		dropped = append(dropped, p.Dropped...)
		st = p.Status
		if !p.Requeue || p.RequeueAfter > 0 || round == maxRounds {
			p.Changes, p.Dropped = changes, dropped
			return p, nil
		}
	}
}

// take carries out tasks, concurrently: a new or resumed measurement goes to its provider
// and is judged; a measurement to stop goes to its provider's Terminator, if any. Results
// come back in task order. An error is an *analysis.InvalidSpecError from a condition that
// does not compile.
func (r *Reconciler) take(ctx context.Context, run *v1alpha1.AnalysisRun, tasks []analysis.Task, args *analysis.Args) ([]analysis.Measured, error) {
	measured := make([]analysis.Measured, len(tasks))
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Go(func() { measured[i], errs[i] = r.takeOne(ctx, run, task, args) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return measured, nil
}

func (r *Reconciler) takeOne(ctx context.Context, run *v1alpha1.AnalysisRun, task analysis.Task, args *analysis.Args) (analysis.Measured, error) {
	log := logf.FromContext(ctx).WithValues("metric", task.Metric.Name)
	p, err := r.Providers.Lookup(task.Metric)
	if err != nil { // resolve looked every provider up: only a changed registry gets here
		return analysis.Measured{}, &analysis.InvalidSpecError{Reason: v1alpha1.AnalysisRunReasonInvalidMetric, Message: err.Error(), Err: err}
	}
	req := analysis.Request{
		Metric: task.Metric, Namespace: run.Namespace, RunName: run.Name, RunUID: string(run.UID),
		InFlight: task.InFlight, Ordinal: task.Ordinal,
	}
	ctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()

	if task.Stop {
		var stopErr error
		if t, ok := p.(analysis.Terminator); ok {
			stopErr = t.Terminate(ctx, req)
		}
		m := analysis.Stopped(task, stopErr, r.now(), args)
		if stopErr != nil {
			log.Info("stopping a measurement in flight failed", "error", m.Message)
		}
		return analysis.Measured{Metric: task.Metric.Name, Measurement: m, Stopped: true}, nil
	}

	started := r.now()
	v, measureErr := p.Measure(ctx, req)
	finished := r.now()
	observeMeasurement(p.Type(), finished.Sub(started))
	m, err := analysis.Judge(task, v, measureErr, started, finished, args)
	if err != nil {
		return analysis.Measured{}, err
	}
	if measureErr != nil {
		log.Info("measurement error", "provider", p.Type(), "error", m.Message)
	} else {
		log.V(1).Info("measured", "provider", p.Type(), "phase", m.Phase, "value", m.Value)
	}
	return analysis.Measured{Metric: task.Metric.Name, Measurement: m}, nil
}

// release lets providers free what measurements dropped by measurementRetention hold (the
// Job provider deletes their Jobs). A failure is logged: the run owns those objects, and
// the garbage collector removes them with it.
func (r *Reconciler) release(ctx context.Context, run *v1alpha1.AnalysisRun, spec *v1alpha1.AnalysisRunSpec, args *analysis.Args, dropped []analysis.Measured) {
	if len(dropped) == 0 || spec == nil {
		return
	}
	metrics := map[string]*v1alpha1.Metric{}
	for i := range spec.Metrics {
		metrics[spec.Metrics[i].Name] = &spec.Metrics[i]
	}
	for _, d := range dropped {
		m := metrics[d.Metric]
		if m == nil {
			continue
		}
		p, err := r.Providers.Lookup(*m)
		if err != nil {
			continue
		}
		t, ok := p.(analysis.Terminator)
		if !ok {
			continue
		}
		req := analysis.Request{
			Metric: *m, Namespace: run.Namespace, RunName: run.Name, RunUID: string(run.UID), InFlight: &d.Measurement,
		}
		if err := t.Terminate(ctx, req); err != nil {
			logf.FromContext(ctx).Info("releasing a measurement dropped by measurementRetention failed",
				"metric", d.Metric, "error", args.Redact(err.Error()))
		}
	}
}
