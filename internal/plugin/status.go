package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Exit codes of status.
const (
	ExitHealthy  = 0
	ExitDegraded = 1
	ExitTimeout  = 2
)

// observedPhase is the Rollout's phase once the controller has seen its current generation,
// and Progressing until then (a new spec makes a Healthy status stale).
func observedPhase(ro *v1alpha1.Rollout) (v1alpha1.RolloutPhase, string) {
	if ro.Status.ObservedGeneration != ro.Generation {
		return v1alpha1.RolloutPhaseProgressing, fmt.Sprintf("waiting for the controller to observe generation %d", ro.Generation)
	}
	return ro.Status.Phase, ro.Status.Message
}

func newStatusCommand(o *Options) *cobra.Command {
	var (
		watchFlag bool
		timeout   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status NAME [--watch] [--timeout D]",
		Short: "Print a Rollout's phase and message; exit 0 when Healthy, 1 when Degraded, 2 on timeout",
		Long: "status prints the Rollout's phase and message. Without --watch it exits 1 when the Rollout is\n" +
			"Degraded and 0 otherwise. With --watch it prints each change and waits until the Rollout is\n" +
			"Healthy (exit 0) or Degraded (exit 1), or --timeout passes (exit 2).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			key := client.ObjectKey{Namespace: ns, Name: args[0]}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			var last string
			var phase v1alpha1.RolloutPhase
			check := func() (bool, error) {
				ro := &v1alpha1.Rollout{}
				if err := c.Get(ctx, key, ro); err != nil {
					return false, err
				}
				var msg string
				phase, msg = observedPhase(ro)
				line := string(phase)
				if msg != "" {
					line += " - " + msg
				}
				if line != last {
					fmt.Fprintln(o.Streams.Out, line)
					last = line
				}
				return !watchFlag || phase == v1alpha1.RolloutPhaseHealthy || phase == v1alpha1.RolloutPhaseDegraded, nil
			}
			if watchFlag {
				err = watchNamespace(ctx, c, ns, check, &v1alpha1.RolloutList{})
			} else {
				_, err = check()
			}
			switch {
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
				return &ExitError{Code: ExitTimeout, Err: fmt.Errorf("rollout %q: timed out after %s, last %s", args[0], timeout, last)}
			case err != nil:
				return err
			case phase == v1alpha1.RolloutPhaseDegraded:
				return &ExitError{Code: ExitDegraded, Err: fmt.Errorf("rollout %q is Degraded", args[0])}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "wait until the Rollout is Healthy or Degraded, printing each change (default false)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long and exit 2; 0, the default, waits forever")
	return cmd
}
