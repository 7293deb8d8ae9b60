package plugin

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func newListRolloutsCommand(o *Options) *cobra.Command {
	return listCommand(o, "rollouts", []string{"rollout", "ro"}, "List the Rollouts of the namespace with their phase, strategy, step and weights",
		"Rollouts", &v1alpha1.RolloutList{}, func(l client.ObjectList, all bool) {
			RenderList(o.Streams.Out, l.(*v1alpha1.RolloutList).Items, all)
		})
}

// listCommand lists the objects of the namespace, or of every namespace with -A, into list and
// renders them.
func listCommand(o *Options, use string, aliases []string, short, kinds string, list client.ObjectList,
	render func(l client.ObjectList, allNamespaces bool)) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				ns, err := o.Namespace()
				if err != nil {
					return err
				}
				opts = append(opts, client.InNamespace(ns))
			}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return err
			}
			render(list, all)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the "+kinds+" of every namespace (default false)")
	return cmd
}

// RenderList writes one line per Rollout.
func RenderList(out interface{ Write([]byte) (int, error) }, ros []v1alpha1.Rollout, withNamespace bool) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tSTRATEGY\tSTATUS\tSTEP\tSET-WEIGHT\tREADY\tDESIRED\tUP-TO-DATE\tAVAILABLE")
	for i := range ros {
		ro := &ros[i]
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", ro.Namespace)
		}
		step, weight := "-", "-"
		if c := ro.Spec.Strategy.Canary; c != nil {
			weight = fmt.Sprint(SetWeight(ro))
			if len(c.Steps) > 0 {
				s := int32(len(c.Steps))
				if ro.Status.CurrentStepIndex != nil {
					s = *ro.Status.CurrentStepIndex
				}
				step = fmt.Sprintf("%d/%d", s, len(c.Steps))
			}
		}
		desired := int32(1)
		if ro.Spec.Replicas != nil {
			desired = *ro.Spec.Replicas
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\n", ro.Name, StrategyName(ro), ro.Status.Phase, step, weight,
			ro.Status.ReadyReplicas, ro.Status.Replicas, desired, ro.Status.UpdatedReplicas, ro.Status.AvailableReplicas)
	}
	_ = tw.Flush()
}
