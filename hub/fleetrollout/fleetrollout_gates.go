/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package fleetrollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/flotilla-io/flotilla/analysis"
	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/gates"
	"github.com/flotilla-io/flotilla/hub/plan"
	"github.com/flotilla-io/flotilla/internal/kubesecret"
)

// Analysis and outlier gates are measured by the hub itself, the way the spoke runs an
// AnalysisRun: analysis.DueTasks lists what is due, each provider measures, analysis.Judge and
// analysis.Advance fold the measurements into a run status, and the reconcile requeues exactly
// when the next measurement is due. Nothing runs in between: the run status lives in the
// FleetRollout's status (status.waves[].gates[].analysis), so a new leader resumes it from
// there, and the final verdict goes to the journal with the measured values.

const (
	// maxGateRounds bounds the measuring rounds one reconcile runs for one gate while the next
	// measurement is due at once.
	maxGateRounds = 3
	// gateMeasureTimeout bounds one provider call, whatever timeouts the metric sets.
	gateMeasureTimeout = time.Minute
)

// Providers finds the provider for a metric (*providers.Registry).
type Providers interface {
	Lookup(m rolloutsv1alpha1.Metric) (analysis.Provider, error)
}

// metricRun is a gate's analysis, ready to measure: its spec with every placeholder replaced
// (it may hold secret values: it stays in memory) and, per metric, the arguments that redact
// what providers return.
type metricRun struct {
	spec rolloutsv1alpha1.AnalysisRunSpec
	args map[string]*analysis.Args
}

// evaluateMetricGate runs one round of an analysis or outlier gate: it resumes the gate's
// measurements from status, takes those that are due, and returns the verdict (Running while
// measurements remain). A gate the hub cannot run as written (a missing template, an unknown
// placeholder, a metric without a usable provider) is an *invalidSpecError naming the field.
func (u *run) evaluateMetricGate(ctx context.Context, g namedGate, w *plan.Wave, leftOut []string) (gates.Result, error) {
	field := u.gateField(g, w)
	judged := without(w.Clusters, leftOut)
	values := gates.NewFleetValues(u.fro.Namespace, u.fro.Name, u.rev.Number, w.Name, judged)
	var mr *metricRun
	var placed []string
	var err error
	if g.gate.Analysis != nil {
		mr, err = u.analysisRun(ctx, g.gate.Analysis, values)
	} else {
		if g.gate.Outlier.Scope == fleetv1alpha1.OutlierScopeFleet {
			for _, cp := range u.plan.Clusters {
				placed = append(placed, cp.Name)
			}
		}
		mr, err = outlierRun(g.gate.Outlier, values, append(append([]string(nil), judged...), placed...))
	}
	if err == nil {
		err = u.checkProviders(mr)
	}
	if err != nil {
		var nf *templateNotFoundError
		if errors.As(err, &nf) {
			return gates.Result{}, &invalidSpecError{err: fmt.Errorf("%s: %w", field, err), reason: fleetv1alpha1.ReasonTemplateNotFound}
		}
		return gates.Result{}, &invalidSpecError{err: fmt.Errorf("%s: %w", field, err)}
	}

	st := u.previousGateRun(w.Name, g.gate.Name)
	st, err = u.measureRounds(ctx, mr, st)
	if err != nil {
		if analysis.IsInvalidSpec(err) {
			return gates.Result{}, &invalidSpecError{err: fmt.Errorf("%s: %w", field, err)}
		}
		return gates.Result{}, err
	}
	var res gates.Result
	switch {
	case g.gate.Analysis != nil:
		res = gates.AnalysisVerdict(&st)
	case st.Phase.Completed():
		res = gates.Outlier(g.gate.Outlier, judged, placed, gates.OutlierValues(&st))
	default:
		res = gates.AnalysisVerdict(&st) // Running, with how far the measurements are
	}
	res.Analysis = &st
	return res, nil
}

// gateField is the gate's path in the spec, for messages.
func (u *run) gateField(g namedGate, w *plan.Wave) string {
	if g.fleet {
		for i := range u.fro.Spec.Gates {
			if u.fro.Spec.Gates[i].Name == g.gate.Name {
				return fmt.Sprintf("spec.gates[%d] (gate %q)", i, g.gate.Name)
			}
		}
	}
	for i := range w.Spec.Gates {
		if w.Spec.Gates[i].Name == g.gate.Name {
			return fmt.Sprintf("spec.waves[%d].gates[%d] (gate %q)", w.Index, i, g.gate.Name)
		}
	}
	return fmt.Sprintf("gate %q", g.gate.Name)
}

// analysisRun composes an analysis gate's templates, fills in the {{fleet.*}} values and the
// arguments (Secrets read from the FleetRollout's namespace).
func (u *run) analysisRun(ctx context.Context, g *fleetv1alpha1.AnalysisGate, values gates.FleetValues) (*metricRun, error) {
	refs := make([]rolloutsv1alpha1.AnalysisTemplateRef, 0, len(g.Templates))
	for _, t := range g.Templates {
		ref := rolloutsv1alpha1.AnalysisTemplateRef{TemplateName: t.TemplateName}
		if t.ClusterScope {
			ref.ClusterScope = &t.ClusterScope
		}
		refs = append(refs, ref)
	}
	spec, err := analysis.ComposeRunSpec(ctx, hubTemplates{u: u}, analysis.RunSource{Templates: refs, Args: g.Args})
	if err != nil {
		return nil, err
	}
	if spec.Metrics, err = values.ResolveMetrics(spec.Metrics); err != nil {
		return nil, err
	}
	args, err := analysis.ResolveArgs(ctx, hubArgs{secrets: kubesecret.Reader{Reader: u.r.APIReader}}, u.fro.Namespace, spec.Args)
	if err != nil {
		return nil, err
	}
	if spec, err = args.ResolveSpec(&spec); err != nil {
		return nil, err
	}
	mr := &metricRun{spec: spec, args: map[string]*analysis.Args{}}
	for i := range spec.Metrics {
		mr.args[spec.Metrics[i].Name] = args
	}
	return mr, analysis.ValidateSpec(&spec)
}

// outlierRun is the gate's metric once per measured cluster, {{args.cluster}} set to it.
func outlierRun(g *fleetv1alpha1.OutlierGate, values gates.FleetValues, clusters []string) (*metricRun, error) {
	spec := gates.OutlierSpec(g, clusters)
	var err error
	if spec.Metrics, err = values.ResolveMetrics(spec.Metrics); err != nil {
		return nil, fmt.Errorf("outlier.metric: %w", err)
	}
	mr := &metricRun{spec: spec, args: map[string]*analysis.Args{}}
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		args := analysis.NewArgs(map[string]string{gates.ClusterArg: m.Name}, nil)
		if spec.Metrics[i], err = args.ResolveMetric(m); err != nil {
			return nil, fmt.Errorf("outlier.metric: %w", err)
		}
		mr.args[m.Name] = args
	}
	return mr, analysis.ValidateSpec(&spec)
}

func (u *run) checkProviders(mr *metricRun) error {
	if u.r.Providers == nil {
		return errors.New("this hub has no metric providers configured")
	}
	for i := range mr.spec.Metrics {
		if _, err := u.r.Providers.Lookup(mr.spec.Metrics[i]); err != nil {
			return err
		}
	}
	return nil
}

// previousGateRun is the gate's run status as this hub last wrote it for the current
// revision, or an empty one.
func (u *run) previousGateRun(wave, gate string) rolloutsv1alpha1.AnalysisRunStatus {
	if p := u.previousGate(wave, gate); p != nil && p.Analysis != nil {
		return *p.Analysis.DeepCopy()
	}
	return rolloutsv1alpha1.AnalysisRunStatus{}
}

// previousGate is the gate's status as last written for the current revision, or nil.
func (u *run) previousGate(wave, gate string) *fleetv1alpha1.GateStatus {
	if u.fro.Status.CurrentRevision != u.rev.Number || u.retriedGates[wave+"/"+gate] {
		return nil
	}
	for i := range u.fro.Status.Waves {
		ws := &u.fro.Status.Waves[i]
		if ws.Name != wave {
			continue
		}
		for k := range ws.Gates {
			if ws.Gates[k].Name == gate {
				return &ws.Gates[k]
			}
		}
	}
	return nil
}

// measureRounds takes the measurements due now and folds them into st, again while the next
// one is due at once (up to maxGateRounds), and asks for a requeue when the next one is due.
func (u *run) measureRounds(ctx context.Context, mr *metricRun, st rolloutsv1alpha1.AnalysisRunStatus) (rolloutsv1alpha1.AnalysisRunStatus, error) {
	for round := 1; ; round++ {
		now := u.r.now()
		tasks, err := analysis.DueTasks(&mr.spec, &st, now)
		if err != nil {
			return st, err
		}
		measured, err := u.take(ctx, mr, tasks)
		if err != nil {
			return st, err
		}
		u.measured = u.measured || len(measured) > 0
		p, err := analysis.Advance(&mr.spec, &st, measured, u.r.now())
		if err != nil {
			return st, err
		}
		st = p.Status
		if !p.Requeue {
			return st, nil
		}
		if p.RequeueAfter > 0 || round == maxGateRounds {
			u.requeueIn(max(p.RequeueAfter, time.Millisecond))
			return st, nil
		}
	}
}

// take carries out the due tasks concurrently (an outlier gate measures every cluster at
// once) and returns the measurements in task order.
func (u *run) take(ctx context.Context, mr *metricRun, tasks []analysis.Task) ([]analysis.Measured, error) {
	out := make([]analysis.Measured, len(tasks))
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Go(func() { out[i], errs[i] = u.takeOne(ctx, mr, task) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (u *run) takeOne(ctx context.Context, mr *metricRun, task analysis.Task) (analysis.Measured, error) {
	args := mr.args[task.Metric.Name]
	p, err := u.r.Providers.Lookup(task.Metric)
	if err != nil {
		return analysis.Measured{}, err
	}
	req := analysis.Request{Metric: task.Metric, Namespace: u.fro.Namespace, RunName: u.fro.Name,
		RunUID: string(u.fro.UID), InFlight: task.InFlight, Ordinal: task.Ordinal}
	ctx, cancel := context.WithTimeout(ctx, gateMeasureTimeout)
	defer cancel()
	if task.Stop {
		var stopErr error
		if t, ok := p.(analysis.Terminator); ok {
			stopErr = t.Terminate(ctx, req)
		}
		return analysis.Measured{Metric: task.Metric.Name, Measurement: analysis.Stopped(task, stopErr, u.r.now(), args), Stopped: true}, nil
	}
	started := u.r.now()
	v, measureErr := p.Measure(ctx, req)
	m, err := analysis.Judge(task, v, measureErr, started, u.r.now(), args)
	if err != nil {
		return analysis.Measured{}, err
	}
	logf.FromContext(ctx).V(1).Info("gate measurement", "metric", task.Metric.Name, "phase", m.Phase, "value", m.Value,
		"message", m.Message)
	return analysis.Measured{Metric: task.Metric.Name, Measurement: m}, nil
}

// requeueIn asks for the reconcile to run again after d at the latest.
func (u *run) requeueIn(d time.Duration) {
	if u.requeue == 0 || d < u.requeue {
		u.requeue = d
	}
}

func without(all, drop []string) []string {
	skip := map[string]bool{}
	for _, c := range drop {
		skip[c] = true
	}
	var out []string
	for _, c := range all {
		if !skip[c] {
			out = append(out, c)
		}
	}
	return out
}

// fleetRolloutsIn maps a FleetAnalysisTemplate to the FleetRollouts of its namespace, whose
// gates may use it.
func (r *Reconciler) fleetRolloutsIn(ctx context.Context, o client.Object) []reconcile.Request {
	list := &fleetv1alpha1.FleetRolloutList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// templateNotFoundError is a gate's template that does not exist on the hub.
type templateNotFoundError struct{ err error }

func (e *templateNotFoundError) Error() string { return e.err.Error() }
func (e *templateNotFoundError) Unwrap() error { return e.err }

// hubTemplates reads a gate's templates: FleetAnalysisTemplates from the FleetRollout's
// namespace, ClusterAnalysisTemplates (rollouts.flotilla.dev) from the hub.
type hubTemplates struct{ u *run }

func (h hubTemplates) AnalysisTemplate(ctx context.Context, name string) (*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	t := &fleetv1alpha1.FleetAnalysisTemplate{}
	if err := h.u.r.Client.Get(ctx, client.ObjectKey{Namespace: h.u.fro.Namespace, Name: name}, t); err != nil {
		return nil, notFound("FleetAnalysisTemplate "+h.u.fro.Namespace+"/"+name, err)
	}
	return &t.Spec, nil
}

func (h hubTemplates) ClusterAnalysisTemplate(ctx context.Context, name string) (*rolloutsv1alpha1.AnalysisTemplateSpec, error) {
	t := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	if err := h.u.r.APIReader.Get(ctx, client.ObjectKey{Name: name}, t); err != nil {
		return nil, notFound("ClusterAnalysisTemplate "+name, err)
	}
	return &t.Spec, nil
}

func notFound(what string, err error) error {
	if apierrors.IsNotFound(err) {
		return &templateNotFoundError{fmt.Errorf("%s does not exist on the hub", what)}
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// hubArgs resolves a gate's valueFrom arguments: secretKeyRef from the hub's Secrets, read
// live; fieldRef has no object to read on the hub.
type hubArgs struct{ secrets kubesecret.Reader }

func (a hubArgs) Secret(ctx context.Context, namespace, name, key string) (string, error) {
	return a.secrets.ArgValue(ctx, namespace, name, key)
}

func (hubArgs) Field(context.Context, string) (string, error) {
	return "", errors.New("valueFrom.fieldRef has no object to read in a hub gate; use the {{fleet.*}} values")
}
