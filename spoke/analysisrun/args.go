package analysisrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/kubesecret"
)

// SecretReader reads Secrets for the metric providers (Datadog's keys, a New Relic profile)
// through Reader, which should be the manager's API reader: Secrets are read live when a
// measurement needs them and never cached, so the spoke holds no informer over every Secret
// of the cluster.
type SecretReader = kubesecret.Reader

// argResolver resolves the valueFrom arguments of one run: secretKeyRef from Secrets read
// live, fieldRef from the Rollout the run belongs to.
type argResolver struct {
	// secrets reads Secrets: the API reader.
	secrets client.Reader
	// objects reads the run's owners: the manager's cached client.
	objects client.Reader
	run     *v1alpha1.AnalysisRun
}

var _ analysis.ArgResolver = argResolver{}

// Secret returns the value of key in the Secret namespace/name. A missing Secret or key
// wraps analysis.ErrNotFound, which makes the run an InvalidSpec.
func (a argResolver) Secret(ctx context.Context, namespace, name, key string) (string, error) {
	return kubesecret.Reader{Reader: a.secrets}.ArgValue(ctx, namespace, name, key)
}

// Field returns the value at path of the Rollout the run belongs to: its controller, or the
// controller of the Experiment that is the run's controller.
func (a argResolver) Field(ctx context.Context, path string) (string, error) {
	ro, err := a.rollout(ctx)
	if err != nil {
		return "", err
	}
	return FieldValue(ro, path)
}

// rollout finds the Rollout the run belongs to.
func (a argResolver) rollout(ctx context.Context) (*v1alpha1.Rollout, error) {
	ref := metav1.GetControllerOf(a.run)
	if ref != nil && ref.APIVersion == v1alpha1.GroupVersion.String() && ref.Kind == "Experiment" {
		ex := &v1alpha1.Experiment{}
		if err := a.objects.Get(ctx, client.ObjectKey{Namespace: a.run.Namespace, Name: ref.Name}, ex); err != nil {
			return nil, ownerError("Experiment", ref.Name, err)
		}
		ref = metav1.GetControllerOf(ex)
	}
	if ref == nil || ref.APIVersion != v1alpha1.GroupVersion.String() || ref.Kind != "Rollout" {
		return nil, fmt.Errorf("fieldRef reads the Rollout the run belongs to, and this run belongs to none: %w", analysis.ErrNotFound)
	}
	ro := &v1alpha1.Rollout{}
	if err := a.objects.Get(ctx, client.ObjectKey{Namespace: a.run.Namespace, Name: ref.Name}, ro); err != nil {
		return nil, ownerError("Rollout", ref.Name, err)
	}
	if ro.UID != ref.UID {
		return nil, fmt.Errorf("the Rollout %s that created the run was replaced: %w", ref.Name, analysis.ErrNotFound)
	}
	return ro, nil
}

func ownerError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("the run's %s %s does not exist: %w", kind, name, analysis.ErrNotFound)
	}
	return fmt.Errorf("reading the run's %s %s: %w", kind, name, err)
}

// subscript matches metadata.labels['key'] and metadata.annotations['key'] (or "key").
var subscript = regexp.MustCompile(`^metadata\.(labels|annotations)\[['"](.*)['"]\]$`)

// FieldValue returns the value of a field of a Rollout, as Argo Rollouts reads a fieldRef:
//   - metadata.name, metadata.namespace, metadata.uid, metadata.labels['key'] and
//     metadata.annotations['key'] as a pod's downward API reads them (a missing key is the
//     empty string), and metadata.labels or metadata.annotations whole, one key="value" line
//     each, sorted;
//   - spec.* and status.* by walking the Rollout's JSON: names separated by dots, list
//     indexes in brackets (spec.strategy.canary.steps[0].setWeight); the path must end at a
//     string, number or boolean, and numbers keep their JSON text.
//
// A path that does not resolve is an error that wraps analysis.ErrNotFound.
func FieldValue(ro *v1alpha1.Rollout, path string) (string, error) {
	switch {
	case strings.HasPrefix(path, "metadata."):
		return metadataField(&ro.ObjectMeta, path)
	case strings.HasPrefix(path, "spec.") || strings.HasPrefix(path, "status."):
		return jsonField(ro, path)
	}
	return "", fmt.Errorf("fieldRef %q: only metadata.*, spec.* and status.* of the Rollout can be read: %w", path, analysis.ErrNotFound)
}

func metadataField(m *metav1.ObjectMeta, path string) (string, error) {
	switch path {
	case "metadata.name":
		return m.Name, nil
	case "metadata.namespace":
		return m.Namespace, nil
	case "metadata.uid":
		return string(m.UID), nil
	case "metadata.labels":
		return formatMap(m.Labels), nil
	case "metadata.annotations":
		return formatMap(m.Annotations), nil
	}
	if sub := subscript.FindStringSubmatch(path); sub != nil {
		if sub[1] == "labels" {
			return m.Labels[sub[2]], nil
		}
		return m.Annotations[sub[2]], nil
	}
	return "", fmt.Errorf("fieldRef %q: unsupported metadata field: %w", path, analysis.ErrNotFound)
}

// formatMap writes a map as the downward API does: key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// pathSeparators splits a fieldRef into names and list indexes, as Argo Rollouts does.
var pathSeparators = regexp.MustCompile(`[.\[\]]+`)

func jsonField(ro *v1alpha1.Rollout, path string) (string, error) {
	raw, err := json.Marshal(ro)
	if err != nil {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	for _, section := range pathSeparators.Split(path, -1) {
		if section == "" {
			continue
		}
		switch t := v.(type) {
		case []any:
			i, err := strconv.Atoi(section)
			if err != nil || i < 0 || i >= len(t) {
				return "", fmt.Errorf("fieldRef %q: %q is not an index of a list of %d: %w", path, section, len(t), analysis.ErrNotFound)
			}
			v = t[i]
		case map[string]any:
			v = t[section]
		default:
			return "", fmt.Errorf("fieldRef %q: nothing at %q: %w", path, section, analysis.ErrNotFound)
		}
	}
	switch t := v.(type) {
	case nil:
		return "", fmt.Errorf("fieldRef %q: the Rollout has no such field: %w", path, analysis.ErrNotFound)
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return "", fmt.Errorf("fieldRef %q: must end at a string, number or boolean, not a list or an object: %w", path, analysis.ErrNotFound)
}
