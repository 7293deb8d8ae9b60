package istio

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
)

// UpdateHash points the DestinationRule's canary subset at the pods of canaryHash, its
// stable subset at those of stableHash (an empty hash removes the label), and a subset per
// additional destination, named after its Service, at the pods of its hash. Without a
// destinationRule it does nothing.
func (r *Router) UpdateHash(ctx context.Context, canaryHash, stableHash string, additional ...v1alpha1.WeightDestination) error {
	dr := r.cfg.DestinationRule
	if dr == nil {
		return nil
	}
	obj, err := r.get(ctx, DestinationRuleKind, r.ro.Namespace, dr.Name)
	if err != nil {
		return err
	}
	subsets, _ := obj.Object["spec"].(map[string]any)["subsets"].([]any)
	want := map[string]string{dr.CanarySubsetName: canaryHash, dr.StableSubsetName: stableHash}
	for _, d := range additional {
		want[d.ServiceName] = d.PodTemplateHash
	}
	var managed []string
	if a := obj.GetAnnotations()[ManagedSubsetsAnnotation]; a != "" {
		managed = strings.Split(a, ",")
	}

	var tests, changes, removes, appends trafficrouting.JSONPatch
	found := map[string]bool{}
	for i, s := range subsets {
		name := str(s, "name")
		at := func(tokens ...any) string {
			return trafficrouting.Pointer(append([]any{"spec", "subsets", i}, tokens...)...)
		}
		hash, ok := want[name]
		if !ok {
			if slices.Contains(managed, name) { // an additional destination's subset, no longer asked for
				tests.Test(at("name"), name)
				removes = append(trafficrouting.JSONPatch{{Op: "remove", Path: at()}}, removes...)
			}
			continue
		}
		found[name] = true
		labels, hasLabels := s.(map[string]any)["labels"].(map[string]any)
		have, hasHash := labels[r.hashLabel].(string)
		switch {
		case hash == "" && hasHash:
			tests.Test(at("name"), name)
			changes.Remove(at("labels", r.hashLabel))
		case hash == "" || (hasHash && have == hash):
		case !hasLabels:
			tests.Test(at("name"), name)
			changes.Add(at("labels"), map[string]any{r.hashLabel: hash})
		default:
			tests.Test(at("name"), name)
			changes.Add(at("labels", r.hashLabel), hash)
		}
	}
	for _, name := range []string{dr.CanarySubsetName, dr.StableSubsetName} {
		if !found[name] {
			return &trafficrouting.RouteNotFoundError{Kind: DestinationRuleKind.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
				Route: fmt.Sprintf("subset %q", name)}
		}
	}
	// Subsets the router added stay listed; a subset of that name that the user had before
	// stays the user's.
	var added []string
	for _, d := range additional {
		existed := slices.ContainsFunc(subsets, func(s any) bool { return str(s, "name") == d.ServiceName })
		if !found[d.ServiceName] {
			subset := map[string]any{"name": d.ServiceName}
			if d.PodTemplateHash != "" {
				subset["labels"] = map[string]any{r.hashLabel: d.PodTemplateHash}
			}
			appends.Add(trafficrouting.Pointer("spec", "subsets", "-"), subset)
			found[d.ServiceName] = true
		}
		if !existed || slices.Contains(managed, d.ServiceName) {
			added = append(added, d.ServiceName)
		}
	}
	slices.Sort(added)
	added = slices.Compact(added)
	var annotations trafficrouting.JSONPatch
	if list := strings.Join(added, ","); list != strings.Join(managed, ",") {
		switch {
		case list == "":
			annotations.Remove(trafficrouting.Pointer("metadata", "annotations", ManagedSubsetsAnnotation))
		case obj.GetAnnotations() == nil:
			annotations.Add(trafficrouting.Pointer("metadata", "annotations"), map[string]any{ManagedSubsetsAnnotation: list})
		default:
			annotations.Add(trafficrouting.Pointer("metadata", "annotations", ManagedSubsetsAnnotation), list)
		}
	}
	p := slices.Concat(tests, changes, removes, appends, annotations)
	if err := trafficrouting.ApplyJSONPatch(ctx, r.c, obj, p); err != nil {
		return fmt.Errorf("patching DestinationRule %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
