package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Redacted replaces secret values in text that leaves the controller.
const Redacted = "*****"

// ErrNotFound is what an ArgResolver wraps when the Secret, the key or the field it was
// asked for does not exist. ResolveArgs turns such an error into an *InvalidSpecError with
// reason UnresolvedArgument; it returns any other resolver error as it is (wrapped with the
// argument's name), for the caller to retry.
var ErrNotFound = errors.New("not found")

// ArgResolver reads the values of arguments that use valueFrom. The controller implements it
// with its Kubernetes client; tests implement it with maps.
type ArgResolver interface {
	// Secret returns the value of key in the Secret namespace/name.
	Secret(ctx context.Context, namespace, name, key string) (string, error)
	// Field returns the value of the field at path (such as metadata.labels['app']) of the
	// object the run belongs to.
	Field(ctx context.Context, path string) (string, error)
}

// Args is a resolved set of arguments: a value for every name, and the knowledge of which
// values came from Secrets, so that they can be kept out of everything the controller
// writes. The zero value and nil are an empty set.
type Args struct {
	values map[string]string
	secret map[string]bool
	// redactions are the texts Redact hides: every secret value and its escaped forms.
	redactions []string
	replacer   *strings.Replacer
}

// ResolveArgs gives every argument its value: value as written, valueFrom.secretKeyRef from
// a Secret in namespace, valueFrom.fieldRef from a field of the run's owner, both through r
// (which may be nil when no argument uses valueFrom). An argument with neither value nor
// valueFrom is an *InvalidSpecError with reason UnresolvedArgument, as in Argo Rollouts,
// whether or not a metric uses it.
func ResolveArgs(ctx context.Context, r ArgResolver, namespace string, args []v1alpha1.Argument) (*Args, error) {
	a := &Args{values: make(map[string]string, len(args)), secret: map[string]bool{}}
	for _, arg := range args {
		field := "args." + arg.Name
		if _, dup := a.values[arg.Name]; dup {
			return nil, unresolvedArgument(field, "is defined twice")
		}
		v, isSecret, err := resolveArg(ctx, r, namespace, arg)
		if err != nil {
			return nil, err
		}
		a.values[arg.Name] = v
		if isSecret {
			a.secret[arg.Name] = true
		}
	}
	a.buildRedactions()
	return a, nil
}

// resolveArg returns the value of one argument and whether it is a secret.
func resolveArg(ctx context.Context, r ArgResolver, namespace string, arg v1alpha1.Argument) (string, bool, error) {
	field := "args." + arg.Name
	switch {
	case arg.Value != nil && arg.ValueFrom != nil:
		return "", false, unresolvedArgument(field, "sets both value and valueFrom; set one of them")
	case arg.Value != nil:
		return *arg.Value, false, nil
	case arg.ValueFrom == nil:
		return "", false, unresolvedArgument(field,
			"has no value: the run's creator must supply one, or the template must set value or valueFrom")
	}

	ref, fieldRef := arg.ValueFrom.SecretKeyRef, arg.ValueFrom.FieldRef
	if (ref == nil) == (fieldRef == nil) {
		return "", false, unresolvedArgument(field+".valueFrom", "needs exactly one of secretKeyRef or fieldRef")
	}
	if r == nil {
		return "", false, fmt.Errorf("%s: valueFrom cannot be resolved: no ArgResolver was given", field)
	}
	if ref != nil {
		v, err := r.Secret(ctx, namespace, ref.Name, ref.Key)
		if err != nil {
			return "", false, resolverError(field, fmt.Sprintf("key %q of Secret %s/%s", ref.Key, namespace, ref.Name), err)
		}
		return v, true, nil
	}
	v, err := r.Field(ctx, fieldRef.FieldPath)
	if err != nil {
		return "", false, resolverError(field, fmt.Sprintf("field %s", fieldRef.FieldPath), err)
	}
	return v, false, nil
}

// resolverError wraps an ArgResolver's error; ErrNotFound makes it an InvalidSpecError.
func resolverError(field, what string, err error) error {
	if IsInvalidSpec(err) {
		return err
	}
	if errors.Is(err, ErrNotFound) {
		ise := unresolvedArgument(field, "cannot read %s: %v", what, err)
		ise.Err = err
		return ise
	}
	return fmt.Errorf("%s: reading %s: %w", field, what, err)
}

// NewArgs builds a resolved set from plain values, none of them secret, and the secret
// values in secrets. It serves callers that resolve arguments themselves (the hub's fleet
// gates) and tests.
func NewArgs(values map[string]string, secrets map[string]string) *Args {
	a := &Args{values: map[string]string{}, secret: map[string]bool{}}
	for k, v := range values {
		a.values[k] = v
	}
	for k, v := range secrets {
		a.values[k] = v
		a.secret[k] = true
	}
	a.buildRedactions()
	return a
}

// Value returns the value of the argument name.
func (a *Args) Value(name string) (string, bool) {
	if a == nil {
		return "", false
	}
	v, ok := a.values[name]
	return v, ok
}

// IsSecret reports whether the argument name took its value from a Secret.
func (a *Args) IsSecret(name string) bool {
	return a != nil && a.secret[name]
}

// names returns the argument names, sorted, for error messages.
func (a *Args) names() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.values))
	for k := range a.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// buildRedactions collects the texts that Redact hides: each non-empty secret value as it is,
// JSON-escaped (with and without HTML escaping), Go-quoted (an error that quotes a condition
// or a field with %q) and URL-escaped (a provider's error often quotes the URL or the request
// body).
func (a *Args) buildRedactions() {
	seen := map[string]bool{}
	for name := range a.secret {
		v := a.values[name]
		if v == "" {
			continue
		}
		forms := []string{v, jsonEscaped(v, true), jsonEscaped(v, false), unquoted(strconv.Quote(v)), url.QueryEscape(v), url.PathEscape(v)}
		for _, f := range forms {
			if f != "" && !seen[f] {
				seen[f] = true
				a.redactions = append(a.redactions, f)
			}
		}
	}
	// Longest first, so that a secret containing another one is hidden whole.
	sort.Slice(a.redactions, func(i, j int) bool {
		if len(a.redactions[i]) != len(a.redactions[j]) {
			return len(a.redactions[i]) > len(a.redactions[j])
		}
		return a.redactions[i] < a.redactions[j]
	})
	if len(a.redactions) > 0 {
		pairs := make([]string, 0, 2*len(a.redactions))
		for _, r := range a.redactions {
			pairs = append(pairs, r, Redacted)
		}
		a.replacer = strings.NewReplacer(pairs...)
	}
}

// jsonEscaped is v as it appears inside a JSON string, with or without HTML escaping.
func jsonEscaped(v string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(v) // a string always encodes
	return unquoted(strings.TrimSuffix(b.String(), "\n"))
}

// unquoted drops the quotes around a quoted string.
func unquoted(q string) string { return q[1 : len(q)-1] }

// Redact returns s with every secret value replaced by *****. The controller passes every
// text that leaves it through Redact: status messages and values, events, log lines.
func (a *Args) Redact(s string) string {
	if a == nil || a.replacer == nil {
		return s
	}
	return a.replacer.Replace(s)
}

// RedactMeasurement redacts the message, value and metadata of m in place.
func (a *Args) RedactMeasurement(m *v1alpha1.Measurement) {
	if a == nil || a.replacer == nil || m == nil {
		return
	}
	m.Message = a.Redact(m.Message)
	m.Value = a.Redact(m.Value)
	a.redactMap(m.Metadata)
}

// RedactStatus redacts, in place, every text of st that could carry an argument's value:
// the run's message and conditions, and each metric's message, metadata and measurements.
func (a *Args) RedactStatus(st *v1alpha1.AnalysisRunStatus) {
	if a == nil || a.replacer == nil || st == nil {
		return
	}
	st.Message = a.Redact(st.Message)
	for i := range st.Conditions {
		st.Conditions[i].Message = a.Redact(st.Conditions[i].Message)
	}
	for i := range st.MetricResults {
		mr := &st.MetricResults[i]
		mr.Message = a.Redact(mr.Message)
		a.redactMap(mr.Metadata)
		for j := range mr.Measurements {
			a.RedactMeasurement(&mr.Measurements[j])
		}
	}
}

// redactMap redacts the values of m in place.
func (a *Args) redactMap(m map[string]string) {
	for k, v := range m {
		m[k] = a.Redact(v)
	}
}

// placeholder matches {{ ... }}; the text inside is trimmed and, when it starts with "args.",
// names an argument.
var placeholder = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// ResolveString replaces every {{args.NAME}} (spaces inside the braces allowed) in s with the
// argument's value. Other {{...}} text is left alone. An unknown NAME is an *InvalidSpecError
// with reason UnresolvedArgument.
func (a *Args) ResolveString(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(tag string) string {
		inner := strings.TrimSpace(tag[2 : len(tag)-2])
		name, isArg := strings.CutPrefix(inner, "args.")
		if !isArg {
			return tag
		}
		v, ok := a.Value(name)
		if !ok {
			missing = append(missing, name)
			return tag
		}
		return v
	})
	if len(missing) > 0 {
		return "", unresolvedArgument("", "{{args.%s}} does not name an argument of the run (it has: %s)",
			missing[0], strings.Join(a.names(), ", "))
	}
	return out, nil
}

// ResolveMetric returns a copy of m with every {{args.NAME}} replaced, in every string of
// every field, provider blocks and plugin configuration included. The result may hold secret
// values: hand it to providers, never write it to an object's status or spec.
func (a *Args) ResolveMetric(m *v1alpha1.Metric) (v1alpha1.Metric, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return v1alpha1.Metric{}, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	if !bytes.Contains(raw, []byte("{{")) {
		return *m.DeepCopy(), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return v1alpha1.Metric{}, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	tree, err = a.resolveTree(tree, "metrics["+m.Name+"]")
	if err != nil {
		return v1alpha1.Metric{}, err
	}
	raw, err = json.Marshal(tree)
	if err != nil {
		return v1alpha1.Metric{}, fmt.Errorf("metric %q: %w", m.Name, err)
	}
	var out v1alpha1.Metric
	if err := json.Unmarshal(raw, &out); err != nil {
		return v1alpha1.Metric{}, invalidMetric("metrics["+m.Name+"]",
			"does not decode once its arguments are replaced: %v", err)
	}
	return out, nil
}

// resolveTree replaces placeholders in every string and map key of a decoded JSON tree.
func (a *Args) resolveTree(v any, path string) (any, error) {
	switch t := v.(type) {
	case string:
		s, err := a.ResolveString(t)
		if err != nil {
			if ise := AsInvalidSpec(err); ise != nil {
				ise.Field = path
			}
			return nil, err
		}
		return s, nil
	case []any:
		for i := range t {
			r, err := a.resolveTree(t[i], fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
		return t, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys) // errors name the first offending field in a stable order
		for _, k := range keys {
			child := path + "." + k
			rk, err := a.resolveTree(k, child)
			if err != nil {
				return nil, err
			}
			rv, err := a.resolveTree(t[k], child)
			if err != nil {
				return nil, err
			}
			out[rk.(string)] = rv
		}
		return out, nil
	}
	return v, nil
}

// ResolveSpec returns a copy of spec whose metrics have every {{args.NAME}} replaced. Args,
// dryRun and measurementRetention are copied unchanged. Like ResolveMetric, the result may
// hold secret values and must stay in memory.
func (a *Args) ResolveSpec(spec *v1alpha1.AnalysisRunSpec) (v1alpha1.AnalysisRunSpec, error) {
	out := *spec.DeepCopy()
	for i := range out.Metrics {
		m, err := a.ResolveMetric(&spec.Metrics[i])
		if err != nil {
			return v1alpha1.AnalysisRunSpec{}, err
		}
		out.Metrics[i] = m
	}
	return out, nil
}

// MergeArgs combines the arguments a set of templates declares with the values the run's
// creator passes (a Rollout step's args), as Argo Rollouts does: every template argument is
// kept; a passed argument of the same name replaces its value or valueFrom; a passed argument
// that no template declares is dropped. Every argument must end up with a value or a
// valueFrom, or the result is an *InvalidSpecError with reason UnresolvedArgument.
func MergeArgs(templateArgs, runArgs []v1alpha1.Argument) ([]v1alpha1.Argument, error) {
	out := make([]v1alpha1.Argument, len(templateArgs))
	index := make(map[string]int, len(templateArgs))
	for i := range templateArgs {
		out[i] = *templateArgs[i].DeepCopy()
		index[templateArgs[i].Name] = i
	}
	for _, in := range runArgs {
		i, declared := index[in.Name]
		if !declared || (in.Value == nil && in.ValueFrom == nil) {
			continue
		}
		passed := in.DeepCopy()
		out[i].Value, out[i].ValueFrom = passed.Value, passed.ValueFrom
	}
	for _, arg := range out {
		if arg.Value == nil && arg.ValueFrom == nil {
			return nil, unresolvedArgument("args."+arg.Name,
				"was not given a value: pass it in the analysis's args, or give it a value in the template")
		}
	}
	return out, nil
}
