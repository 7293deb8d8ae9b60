package analysis

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TemplateGetter reads the templates an analysis refers to. The caller binds it to a
// namespace (AnalysisTemplates are looked up in the namespace of the Rollout or Experiment)
// and to its client or cache. An error that wraps the client's not-found error lets the
// caller report a missing template as such.
type TemplateGetter interface {
	// AnalysisTemplate returns the spec of the namespaced AnalysisTemplate name.
	AnalysisTemplate(ctx context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error)
	// ClusterAnalysisTemplate returns the spec of the ClusterAnalysisTemplate name.
	ClusterAnalysisTemplate(ctx context.Context, name string) (*v1alpha1.AnalysisTemplateSpec, error)
}

// RunSource is what asks for an analysis run: the templates of a Rollout's analysis step,
// background analysis or blue-green promotion analysis, or of an Experiment's analysis, with
// the values it passes and its own dryRun and measurementRetention rules.
type RunSource struct {
	// Templates are the templates to combine, in order.
	Templates []v1alpha1.AnalysisTemplateRef
	// Args are the values passed to the templates' arguments; fieldRef and
	// podTemplateHash values are already resolved by the caller.
	Args []v1alpha1.Argument
	// DryRun and MeasurementRetention are the caller's rules, merged with the templates'.
	DryRun               []v1alpha1.DryRun
	MeasurementRetention []v1alpha1.MeasurementRetention
}

// maxTemplates bounds how many distinct templates one run may combine.
const maxTemplates = 100

// ComposeRunSpec builds the spec of an AnalysisRun from the templates src refers to,
// following their nested templates refs. It combines them as Argo Rollouts does:
//   - metrics of every template, namespaced templates first, then cluster templates, each
//     in depth-first order of the refs; a template reached twice counts once; a metric name
//     defined twice is an error;
//   - args declared by several templates must agree (the same value, or the same
//     valueFrom); one that has no value takes the value another template gives it; then
//     src.Args fill in or replace the values (see MergeArgs);
//   - dryRun and measurementRetention rules of src and of every template are concatenated;
//     a repeated dryRun rule counts once, and two retention rules for the same metricName
//     must set the same limit.
//
// Errors in how the templates combine are *InvalidSpecErrors; errors from g are returned
// wrapped with the template's kind and name. Refs that form a cycle are an error.
func ComposeRunSpec(ctx context.Context, g TemplateGetter, src RunSource) (v1alpha1.AnalysisRunSpec, error) {
	c := collector{getter: g, seen: map[templateKey]bool{}}
	for _, ref := range src.Templates {
		if err := c.visit(ctx, ref, nil); err != nil {
			return v1alpha1.AnalysisRunSpec{}, err
		}
	}
	ordered := slices.Concat(c.namespaced, c.cluster)
	if len(ordered) == 0 {
		return v1alpha1.AnalysisRunSpec{}, invalidMetric("templates", "no analysis template was given")
	}

	var spec v1alpha1.AnalysisRunSpec
	var err error
	if spec.Metrics, err = flattenMetrics(ordered); err != nil {
		return v1alpha1.AnalysisRunSpec{}, err
	}
	templateArgs, err := flattenArgs(ordered)
	if err != nil {
		return v1alpha1.AnalysisRunSpec{}, err
	}
	if spec.Args, err = MergeArgs(templateArgs, src.Args); err != nil {
		return v1alpha1.AnalysisRunSpec{}, err
	}
	spec.DryRun = flattenDryRun(src.DryRun, ordered)
	if spec.MeasurementRetention, err = flattenRetention(src.MeasurementRetention, ordered); err != nil {
		return v1alpha1.AnalysisRunSpec{}, err
	}
	return spec, nil
}

// templateKey identifies a template: its kind and its name.
type templateKey struct {
	cluster bool
	name    string
}

func (k templateKey) String() string {
	if k.cluster {
		return "ClusterAnalysisTemplate " + k.name
	}
	return "AnalysisTemplate " + k.name
}

// namedTemplate is a template's spec with what identifies it.
type namedTemplate struct {
	key  templateKey
	spec *v1alpha1.AnalysisTemplateSpec
}

// collector walks template refs depth first.
type collector struct {
	getter     TemplateGetter
	seen       map[templateKey]bool
	namespaced []namedTemplate
	cluster    []namedTemplate
}

// visit adds the template ref points to, then the templates it refers to. path holds the
// refs from the top to ref's parent, to detect cycles.
func (c *collector) visit(ctx context.Context, ref v1alpha1.AnalysisTemplateRef, path []templateKey) error {
	key := templateKey{cluster: ref.IsClusterScope(), name: ref.TemplateName}
	for _, p := range path {
		if p == key {
			chain := make([]string, 0, len(path)+1)
			for _, q := range path {
				chain = append(chain, q.String())
			}
			chain = append(chain, key.String())
			return invalidMetric("templates", "templates refer to each other in a cycle: %s", strings.Join(chain, " -> "))
		}
	}
	if c.seen[key] {
		return nil
	}
	if len(c.seen) >= maxTemplates {
		return invalidMetric("templates", "more than %d templates are combined", maxTemplates)
	}
	c.seen[key] = true

	var spec *v1alpha1.AnalysisTemplateSpec
	var err error
	if key.cluster {
		spec, err = c.getter.ClusterAnalysisTemplate(ctx, key.name)
	} else {
		spec, err = c.getter.AnalysisTemplate(ctx, key.name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if spec == nil {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	t := namedTemplate{key: key, spec: spec.DeepCopy()}
	if key.cluster {
		c.cluster = append(c.cluster, t)
	} else {
		c.namespaced = append(c.namespaced, t)
	}
	inner := slices.Concat(path, []templateKey{key})
	for _, ref := range spec.Templates {
		if err := c.visit(ctx, ref, inner); err != nil {
			return err
		}
	}
	return nil
}

// flattenMetrics concatenates the templates' metrics; a name may appear once.
func flattenMetrics(templates []namedTemplate) ([]v1alpha1.Metric, error) {
	var out []v1alpha1.Metric
	owner := map[string]templateKey{}
	for _, t := range templates {
		for _, m := range t.spec.Metrics {
			if prev, dup := owner[m.Name]; dup {
				return nil, invalidMetric("metrics", "metric %q is defined twice, by %s and by %s", m.Name, prev, t.key)
			}
			owner[m.Name] = t.key
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, invalidMetric("metrics", "the templates define no metric")
	}
	return out, nil
}

// flattenArgs combines the arguments the templates declare. Two declarations of one name
// must not give it different values; a declaration without a value takes the other's.
func flattenArgs(templates []namedTemplate) ([]v1alpha1.Argument, error) {
	var out []v1alpha1.Argument
	index := map[string]int{}
	owner := map[string]templateKey{}
	for _, t := range templates {
		for _, arg := range t.spec.Args {
			i, dup := index[arg.Name]
			if !dup {
				index[arg.Name] = len(out)
				owner[arg.Name] = t.key
				out = append(out, arg)
				continue
			}
			prev := out[i]
			prevSet := prev.Value != nil || prev.ValueFrom != nil
			newSet := arg.Value != nil || arg.ValueFrom != nil
			switch {
			case prevSet && newSet && !sameArgValue(prev, arg):
				return nil, unresolvedArgument("args."+arg.Name,
					"%s and %s give it different values", owner[arg.Name], t.key)
			case !prevSet && newSet:
				out[i] = arg
				owner[arg.Name] = t.key
			}
		}
	}
	return out, nil
}

// sameArgValue reports whether two declarations give an argument the same value.
func sameArgValue(a, b v1alpha1.Argument) bool {
	if (a.Value == nil) != (b.Value == nil) || (a.Value != nil && *a.Value != *b.Value) {
		return false
	}
	return reflect.DeepEqual(a.ValueFrom, b.ValueFrom)
}

// flattenDryRun concatenates the caller's dryRun rules and the templates'; a rule for the
// same metricName counts once.
func flattenDryRun(own []v1alpha1.DryRun, templates []namedTemplate) []v1alpha1.DryRun {
	var out []v1alpha1.DryRun
	seen := map[string]bool{}
	add := func(rules []v1alpha1.DryRun) {
		for _, r := range rules {
			if !seen[r.MetricName] {
				seen[r.MetricName] = true
				out = append(out, r)
			}
		}
	}
	add(own)
	for _, t := range templates {
		add(t.spec.DryRun)
	}
	return out
}

// flattenRetention concatenates the caller's measurementRetention rules and the templates';
// rules for the same metricName must agree on the limit and then count once.
func flattenRetention(own []v1alpha1.MeasurementRetention, templates []namedTemplate) ([]v1alpha1.MeasurementRetention, error) {
	var out []v1alpha1.MeasurementRetention
	limits := map[string]int32{}
	add := func(rules []v1alpha1.MeasurementRetention) error {
		for _, r := range rules {
			if prev, dup := limits[r.MetricName]; dup {
				if prev != r.Limit {
					return invalidMetric("measurementRetention",
						"two rules for metricName %q set different limits (%d and %d)", r.MetricName, prev, r.Limit)
				}
				continue
			}
			limits[r.MetricName] = r.Limit
			out = append(out, r)
		}
		return nil
	}
	if err := add(own); err != nil {
		return nil, err
	}
	for _, t := range templates {
		if err := add(t.spec.MeasurementRetention); err != nil {
			return nil, err
		}
	}
	return out, nil
}
