package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// getNamed reads the named object into obj, in the options' namespace.
func (o *Options) getNamed(ctx context.Context, name string, obj client.Object) (client.Client, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	ns, err := o.Namespace()
	if err != nil {
		return nil, err
	}
	return c, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// getRollout reads the named Rollout in the options' namespace.
func (o *Options) getRollout(ctx context.Context, name string) (*v1alpha1.Rollout, client.Client, error) {
	ro := &v1alpha1.Rollout{}
	c, err := o.getNamed(ctx, name, ro)
	return ro, c, err
}

// mergePatch patches the Rollout (or its status, when status is set) with the JSON of p.
func mergePatch(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, status bool, p any) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	patch := client.RawPatch("application/merge-patch+json", raw)
	if status {
		return c.Status().Patch(ctx, ro, patch)
	}
	return c.Patch(ctx, ro, patch)
}

// Patch bodies. The operations are the engine's (see the package doc).
func statusPatch(status map[string]any) map[string]any { return map[string]any{"status": status} }
func specPatch(spec map[string]any) map[string]any     { return map[string]any{"spec": spec} }

// operation is a command that reads one Rollout and writes one patch to it.
func operation(o *Options, use, short string, run func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, c, err := o.getRollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			msg, err := run(cmd, c, ro)
			if err != nil {
				return fmt.Errorf("rollout %q: %w", ro.Name, err)
			}
			fmt.Fprintf(o.Streams.Out, "rollout '%s' %s\n", ro.Name, msg)
			return nil
		},
	}
}

func newPromoteCommand(o *Options) *cobra.Command {
	var full bool
	cmd := operation(o, "promote NAME [--full]", "Lift the current pause (one step), or with --full skip every remaining step",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			if full {
				return "fully promoted", mergePatch(cmd.Context(), c, ro, true, statusPatch(map[string]any{"promoteFull": true}))
			}
			if ro.Spec.Paused {
				return "", fmt.Errorf("it is paused by spec.paused; use resume")
			}
			return "promoted", mergePatch(cmd.Context(), c, ro, true, statusPatch(map[string]any{"pauseConditions": nil}))
		})
	cmd.Flags().BoolVar(&full, "full", false, "skip the remaining steps, pauses and analyses and make the new version stable at once (default false)")
	return cmd
}

func newAbortCommand(o *Options) *cobra.Command {
	return operation(o, "abort NAME", "Abort the update: traffic and pods go back to the stable version",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			return "aborted", mergePatch(cmd.Context(), c, ro, true, statusPatch(map[string]any{"abort": true}))
		})
}

func newRetryCommand(o *Options) *cobra.Command {
	return operation(o, "retry NAME", "Start an aborted update again from its first step",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			if !ro.Status.Abort && !meta.IsStatusConditionTrue(ro.Status.Conditions, v1alpha1.RolloutAborted) {
				return "", fmt.Errorf("it is not aborted")
			}
			return "retried", mergePatch(cmd.Context(), c, ro, true, statusPatch(map[string]any{"abort": false}))
		})
}

func newPauseCommand(o *Options) *cobra.Command {
	return operation(o, "pause NAME", "Stop the update where it is (spec.paused=true)",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			return "paused", mergePatch(cmd.Context(), c, ro, false, specPatch(map[string]any{"paused": true}))
		})
}

func newResumeCommand(o *Options) *cobra.Command {
	return operation(o, "resume NAME", "Let a paused Rollout go on (spec.paused=false)",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			return "resumed", mergePatch(cmd.Context(), c, ro, false, specPatch(map[string]any{"paused": false}))
		})
}

func newRestartCommand(o *Options) *cobra.Command {
	return operation(o, "restart NAME", "Replace the Rollout's pods progressively (spec.restartAt=now)",
		func(cmd *cobra.Command, c client.Client, ro *v1alpha1.Rollout) (string, error) {
			at := o.now().UTC().Truncate(time.Second).Format(time.RFC3339)
			return "restarts at " + at, mergePatch(cmd.Context(), c, ro, false, specPatch(map[string]any{"restartAt": at}))
		})
}

func newSetImageCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "image NAME CONTAINER=IMAGE...",
		Short: "Set the image of one or more containers of a Rollout's pod template ('*' for every container)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, c, err := o.getRollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if ro.Spec.WorkloadRef != nil {
				return fmt.Errorf("rollout %q takes its template from %s %q; set the image there", ro.Name, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
			}
			images := map[string]string{}
			for _, a := range args[1:] {
				name, image, ok := strings.Cut(a, "=")
				if !ok || name == "" || image == "" {
					return fmt.Errorf("%q: want CONTAINER=IMAGE", a)
				}
				images[name] = image
			}
			patched, err := SetImages(&ro.Spec.Template.Spec, images)
			if err != nil {
				return fmt.Errorf("rollout %q: %w", ro.Name, err)
			}
			p := specPatch(map[string]any{"template": map[string]any{"spec": patched}})
			if err := mergePatch(cmd.Context(), c, ro, false, p); err != nil {
				return err
			}
			fmt.Fprintf(o.Streams.Out, "rollout '%s' image updated\n", ro.Name)
			return nil
		},
	}
}

// SetImages sets the images of the named containers (init and regular; "*" is every one)
// and returns the patch of the pod spec: both container lists, whole, since a merge patch
// replaces lists.
func SetImages(spec *corev1.PodSpec, images map[string]string) (map[string]any, error) {
	found := map[string]bool{}
	set := func(cs []corev1.Container) {
		for i := range cs {
			if img, ok := images[cs[i].Name]; ok {
				cs[i].Image = img
				found[cs[i].Name] = true
			} else if img, ok := images["*"]; ok {
				cs[i].Image = img
				found["*"] = true
			}
		}
	}
	set(spec.InitContainers)
	set(spec.Containers)
	var missing []string
	for name := range images {
		if !found[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("no container named %s in the pod template", strings.Join(missing, ", "))
	}
	p := map[string]any{"containers": spec.Containers}
	if len(spec.InitContainers) > 0 {
		p["initContainers"] = spec.InitContainers
	}
	return p, nil
}

func newUndoCommand(o *Options) *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "undo NAME [--to-revision N]",
		Short: "Roll back to the pod template of an earlier revision (the previous one by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, c, err := o.getRollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rss, err := ownedReplicaSets(cmd.Context(), c, ro)
			if err != nil {
				return err
			}
			rs, err := UndoTarget(ro, rss, to)
			if err != nil {
				return fmt.Errorf("rollout %q: %w", ro.Name, err)
			}
			// The template the ReplicaSet was made from: without its hash and role metadata.
			tmpl := engine.SourceTemplate(rs)
			// A merge patch merges maps: labels and annotations the target lacks are nulled.
			p := specPatch(map[string]any{"template": map[string]any{
				"metadata": map[string]any{
					"labels":      nullMissing(ro.Spec.Template.Labels, tmpl.Labels),
					"annotations": nullMissing(ro.Spec.Template.Annotations, tmpl.Annotations),
				},
				"spec": tmpl.Spec,
			}})
			if err := mergePatch(cmd.Context(), c, ro, false, p); err != nil {
				return err
			}
			fmt.Fprintf(o.Streams.Out, "rollout '%s' rolled back to revision %s\n", ro.Name, rs.Annotations[engine.AnnotationRevision])
			return nil
		},
	}
	cmd.Flags().Int64Var(&to, "to-revision", 0, "revision to roll back to (rollout.flotilla.dev/revision of its ReplicaSet); 0, the default, is the one before the current")
	return cmd
}

func nullMissing(cur, want map[string]string) map[string]any {
	out := map[string]any{}
	for k := range cur {
		out[k] = nil
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}

// revisionOf is the revision annotation of a ReplicaSet, 0 when it has none.
func revisionOf(rs *appsv1.ReplicaSet) int64 {
	v, _ := strconv.ParseInt(rs.Annotations[engine.AnnotationRevision], 10, 64)
	return v
}

// UndoTarget picks the ReplicaSet whose template undo restores: the one of revision to, or
// with to 0 the newest revision other than the current pod template's.
func UndoTarget(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet, to int64) (*appsv1.ReplicaSet, error) {
	var best *appsv1.ReplicaSet
	for i := range rss {
		rs := &rss[i]
		rev := revisionOf(rs)
		if to != 0 {
			if rev == to {
				return rs, nil
			}
			continue
		}
		if rs.Labels[engine.LabelPodTemplateHash] == ro.Status.CurrentPodHash || rev == 0 {
			continue
		}
		if best == nil || rev > revisionOf(best) {
			best = rs
		}
	}
	if to != 0 {
		return nil, fmt.Errorf("no ReplicaSet of revision %d", to)
	}
	if best == nil {
		return nil, fmt.Errorf("no earlier revision to roll back to")
	}
	return best, nil
}

// ownedReplicaSets lists the ReplicaSets the Rollout controls.
func ownedReplicaSets(ctx context.Context, c client.Client, ro *v1alpha1.Rollout) ([]appsv1.ReplicaSet, error) {
	list := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == ro.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}
