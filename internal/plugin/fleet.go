package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// The fleet verbs steer FleetRollouts in the hub cluster of the kubeconfig. Like the Rollout
// verbs they only state intent where the hub's FleetRollout controller reads it (see the
// FleetRollout type's "Operations"): pause and resume set spec.paused, abort sets
// spec.abortRevision to the current revision, retry sets the annotation
// fleet.flotilla.dev/retry-requested-at to a new token, rollback copies an earlier revision's content
// (from its ControllerRevision) back into the spec, and approve creates a FleetApproval. The
// hub journals what it does with each.

func newFleetCommand(o *Options) *cobra.Command {
	fleet := &cobra.Command{Use: "fleet", Short: "Inspect and steer FleetRollouts in the hub cluster"}
	fleet.AddCommand(newFleetGetCommand(o), newFleetListCommand(o), newFleetApproveCommand(o),
		newFleetPauseCommand(o, true), newFleetPauseCommand(o, false), newFleetAbortCommand(o),
		newFleetRetryCommand(o), newFleetRollbackCommand(o), newFleetHistoryCommand(o))
	return fleet
}

// getFleetRollout reads the named FleetRollout in the options' namespace.
func (o *Options) getFleetRollout(ctx context.Context, name string) (*fleetv1alpha1.FleetRollout, client.Client, error) {
	fro := &fleetv1alpha1.FleetRollout{}
	c, err := o.getNamed(ctx, name, fro)
	return fro, c, err
}

// fleetOperation is a command that reads one FleetRollout and writes one patch to its spec.
func fleetOperation(o *Options, use, short string, patch func(fro *fleetv1alpha1.FleetRollout) (client.Patch, string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The patch carries the resourceVersion it was computed from; the hub writes status
			// all the time, so on a conflict read again and decide again.
			var msg string
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				fro, c, err := o.getFleetRollout(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				var p client.Patch
				if p, msg, err = patch(fro); err != nil {
					return err
				}
				return c.Patch(cmd.Context(), fro, p)
			})
			if err != nil {
				return fmt.Errorf("fleetrollout %q: %w", args[0], err)
			}
			fmt.Fprintf(o.Streams.Out, "fleetrollout '%s' %s\n", args[0], msg)
			return nil
		},
	}
}

// errNoRevision refuses an operation on a FleetRollout the hub has not numbered a revision of.
var errNoRevision = errors.New("it has no current revision yet (status.currentRevision is unset: has the hub seen it?)")

// specMergePatch is a merge patch of the spec that fails if the object changed since it was
// read (the resourceVersion is part of the patch).
func specMergePatch(fro *fleetv1alpha1.FleetRollout, spec map[string]any) (client.Patch, error) {
	raw, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": fro.ResourceVersion}, "spec": spec})
	if err != nil {
		return nil, err
	}
	return client.RawPatch("application/merge-patch+json", raw), nil
}

func newFleetPauseCommand(o *Options, pause bool) *cobra.Command {
	use, short, msg := "pause NAME", "Stop starting clusters and waves (spec.paused=true)", "paused"
	if !pause {
		use, short, msg = "resume NAME", "Let a paused FleetRollout go on where it stopped (spec.paused=false)", "resumed"
	}
	return fleetOperation(o, use, short, func(fro *fleetv1alpha1.FleetRollout) (client.Patch, string, error) {
		p, err := specMergePatch(fro, map[string]any{"paused": pause})
		return p, msg, err
	})
}

func newFleetAbortCommand(o *Options) *cobra.Command {
	return fleetOperation(o, "abort NAME", "Abort the current revision: every cluster that has it returns to the stable revision (spec.abortRevision)",
		func(fro *fleetv1alpha1.FleetRollout) (client.Patch, string, error) {
			rev := fro.Status.CurrentRevision
			if rev < 1 {
				return nil, "", errNoRevision
			}
			p, err := specMergePatch(fro, map[string]any{"abortRevision": rev})
			return p, fmt.Sprintf("revision %d aborted", rev), err
		})
}

func newFleetRetryCommand(o *Options) *cobra.Command {
	cmd := fleetOperation(o, "retry NAME", "Run the failed wave again: its failed clusters retry their update and its failed or inconclusive gates are evaluated again",
		func(fro *fleetv1alpha1.FleetRollout) (client.Patch, string, error) {
			if fro.Status.CurrentRevision < 1 {
				return nil, "", errNoRevision
			}
			token := o.now().UTC().Format(time.RFC3339Nano)
			raw, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": fro.ResourceVersion,
				"annotations": map[string]any{fleetv1alpha1.AnnotationRetryRequestedAt: token}}})
			if err != nil {
				return nil, "", err
			}
			return client.RawPatch("application/merge-patch+json", raw),
				fmt.Sprintf("retry of revision %d requested (%s)", fro.Status.CurrentRevision, token), nil
		})
	cmd.Long = "retry sets the annotation " + fleetv1alpha1.AnnotationRetryRequestedAt + " to the current time, a new\n" +
		"token each time. The hub acts once per token, as Flux acts on reconcile.fluxcd.io/requestedAt: after a wave\n" +
		"failed under failurePolicy Pause, or a gate was inconclusive, it journals Retried and runs that wave again\n" +
		"(each failed cluster's Rollout retries its update from the first step, as `kubectl flotilla retry` does in\n" +
		"the member); status.lastHandledRetryAt then shows the token. An aborted or rolled-back revision is not\n" +
		"retried (the hub records a RetryIgnored event): change the spec to send a new revision."
	return cmd
}

func newFleetRollbackCommand(o *Options) *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to-revision N]",
		Short: "Send an earlier revision out again: copy its template, companions and overrides back into the spec",
		Long: "rollback copies the template, companions, targetNamespace and overrides of an earlier revision\n" +
			"(kept by the hub in the ControllerRevision NAME-N) back into the spec. That is a new revision, which\n" +
			"goes out wave by wave like any other; for an emergency, abort instead. By default the revision is\n" +
			"the stable one (status.stableRevision).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var rev int64
			// As for the other operations: on a conflict (the hub wrote status), decide again.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				fro, c, err := o.getFleetRollout(ctx, args[0])
				if err != nil {
					return err
				}
				rev = to
				if rev == 0 {
					rev = fro.Status.StableRevision
					if rev == 0 || rev == fro.Status.CurrentRevision {
						return fmt.Errorf("no stable revision older than the current one (%d); pass --to-revision",
							fro.Status.CurrentRevision)
					}
				}
				p, err := rollbackPatch(ctx, c, fro, rev)
				if err != nil {
					return err
				}
				return c.Patch(ctx, fro, p)
			})
			if err != nil {
				return fmt.Errorf("fleetrollout %q: %w", args[0], err)
			}
			fmt.Fprintf(o.Streams.Out, "fleetrollout '%s' rolled back to the content of revision %d\n", args[0], rev)
			return nil
		},
	}
	cmd.Flags().Int64Var(&to, "to-revision", 0, "revision whose content to send out again; 0, the default, is status.stableRevision")
	return cmd
}

// rollbackPatch is a JSON patch that replaces the spec's revision content (template,
// companions, targetNamespace, overrides) with that of revision rev, and fails if the
// FleetRollout changed since it was read.
func rollbackPatch(ctx context.Context, c client.Client, fro *fleetv1alpha1.FleetRollout, rev int64) (client.Patch, error) {
	cr := &appsv1.ControllerRevision{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: fro.Namespace, Name: fro.Name + "-" + strconv.FormatInt(rev, 10)}, cr); err != nil {
		return nil, fmt.Errorf("revision %d is not kept (revisionHistoryLimit): %w", rev, err)
	}
	if !metav1.IsControlledBy(cr, fro) || cr.Revision != rev {
		return nil, fmt.Errorf("ControllerRevision %s is not revision %d of this FleetRollout", cr.Name, rev)
	}
	var data struct {
		Template        json.RawMessage `json:"template"`
		Companions      json.RawMessage `json:"companions,omitempty"`
		TargetNamespace string          `json:"targetNamespace"`
		Overrides       json.RawMessage `json:"overrides,omitempty"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("ControllerRevision %s: %w", cr.Name, err)
	}
	if len(data.Template) == 0 {
		return nil, fmt.Errorf("ControllerRevision %s holds no template", cr.Name)
	}
	ops := []map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": fro.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": data.Template},
	}
	set := func(field string, value json.RawMessage, present bool) {
		switch {
		case len(value) > 0 && string(value) != "null":
			ops = append(ops, map[string]any{"op": "add", "path": "/spec/" + field, "value": value})
		case present:
			ops = append(ops, map[string]any{"op": "remove", "path": "/spec/" + field})
		}
	}
	set("companions", data.Companions, len(fro.Spec.Companions) > 0)
	set("overrides", data.Overrides, len(fro.Spec.Overrides) > 0)
	// The revision records the namespace it resolved; an unset targetNamespace means the same.
	if fro.Spec.TargetNamespace != "" || data.TargetNamespace != fro.Namespace {
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/targetNamespace", "value": data.TargetNamespace})
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, err
	}
	return client.RawPatch("application/json-patch+json", raw), nil
}

func newFleetApproveCommand(o *Options) *cobra.Command {
	var wave, stage, comment string
	cmd := &cobra.Command{
		Use:   "approve NAME [--wave W] [--stage Before|After] [--comment TEXT]",
		Short: "Approve a wave of the current revision: create a FleetApproval in your name",
		Long: "approve creates a FleetApproval for the FleetRollout's current revision, recording you (the user\n" +
			"the API server authenticates from the kubeconfig, or --as) as the approver. Without --wave it\n" +
			"approves the wave that waits for approval; without --stage, the stage that wave waits at\n" +
			"(Before it starts, After its gates). The hub marks the FleetApproval Accepted when it takes it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fro, c, err := o.getFleetRollout(ctx, args[0])
			if err != nil {
				return err
			}
			w, s, err := approvalTarget(fro, wave, fleetv1alpha1.ApprovalStage(stage))
			if err != nil {
				return fmt.Errorf("fleetrollout %q: %w", fro.Name, err)
			}
			user, err := whoAmI(ctx, c)
			if err != nil {
				return err
			}
			a := &fleetv1alpha1.FleetApproval{
				ObjectMeta: metav1.ObjectMeta{Namespace: fro.Namespace,
					GenerateName: fmt.Sprintf("%s-r%d-%s-%s-", fro.Name, fro.Status.CurrentRevision, w, strings.ToLower(string(s)))},
				Spec: fleetv1alpha1.FleetApprovalSpec{FleetRollout: fro.Name, Revision: fro.Status.CurrentRevision, Wave: w,
					Stage: s, ApprovedBy: user, Comment: comment},
			}
			if err := c.Create(ctx, a); err != nil {
				return fmt.Errorf("creating the FleetApproval: %w", err)
			}
			fmt.Fprintf(o.Streams.Out, "fleetapproval '%s' created: %s approves wave %s (%s) of revision %d\n",
				a.Name, user, w, s, a.Spec.Revision)
			return nil
		},
	}
	cmd.Flags().StringVar(&wave, "wave", "", "wave to approve; empty, the default, is the wave that waits for approval")
	cmd.Flags().StringVar(&stage, "stage", "", "Before (start the wave) or After (accept its result); empty, the default, is the stage the wave waits at")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the audit trail (default none)")
	return cmd
}

// approvalTarget picks the wave and stage to approve: those given, else the wave that waits
// for approval and the stage it waits at.
func approvalTarget(fro *fleetv1alpha1.FleetRollout, wave string, stage fleetv1alpha1.ApprovalStage) (string, fleetv1alpha1.ApprovalStage, error) {
	if fro.Status.CurrentRevision < 1 {
		return "", "", errNoRevision
	}
	if stage != "" && stage != fleetv1alpha1.ApprovalStageBefore && stage != fleetv1alpha1.ApprovalStageAfter {
		return "", "", fmt.Errorf("--stage %q: want Before or After", stage)
	}
	var names []string
	var spec *fleetv1alpha1.Wave
	for i := range fro.Spec.Waves {
		names = append(names, fro.Spec.Waves[i].Name)
		if fro.Spec.Waves[i].Name == wave {
			spec = &fro.Spec.Waves[i]
		}
	}
	if wave == "" {
		for _, ws := range fro.Status.Waves {
			if ws.Phase == fleetv1alpha1.WaveWaitingForApproval {
				wave = ws.Name
				break
			}
		}
		if wave == "" {
			return "", "", fmt.Errorf("no wave waits for approval (status.waves); name one with --wave (%s)", strings.Join(names, ", "))
		}
		return approvalTarget(fro, wave, stage)
	}
	if spec == nil {
		return "", "", fmt.Errorf("--wave %q is not in spec.waves (%s)", wave, strings.Join(names, ", "))
	}
	ask := spec.Approval
	asks := func(s fleetv1alpha1.ApprovalStage) bool {
		return (s == fleetv1alpha1.ApprovalStageBefore && ask.Before) || (s == fleetv1alpha1.ApprovalStageAfter && ask.After)
	}
	if ask == nil || (!ask.Before && !ask.After) {
		return "", "", fmt.Errorf("wave %q asks for no approval (spec.waves[%s].approval is unset)", wave, wave)
	}
	if stage == "" {
		stage = fleetv1alpha1.ApprovalStageBefore
		for _, ws := range fro.Status.Waves {
			if ws.Name == wave && (ws.StartedAt != nil || !asks(stage)) {
				stage = fleetv1alpha1.ApprovalStageAfter
			}
		}
		if !asks(stage) && ask.Before {
			stage = fleetv1alpha1.ApprovalStageBefore
		}
	}
	if !asks(stage) {
		return "", "", fmt.Errorf("wave %q asks for no approval %s (spec.waves[%s].approval.%s is not true)", wave,
			strings.ToLower(string(stage)), wave, strings.ToLower(string(stage)))
	}
	return wave, stage, nil
}

// whoAmI is the user the API server authenticates the client as (impersonation included).
func whoAmI(ctx context.Context, c client.Client) (string, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil {
		return "", fmt.Errorf("asking the API server who you are (SelfSubjectReview): %w", err)
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("the API server does not say who you are (SelfSubjectReview has no username)")
	}
	return r.Status.UserInfo.Username, nil
}

func newFleetGetCommand(o *Options) *cobra.Command {
	return getCommand(o, "get NAME [--watch]", []string{"fleetrollout", "fro"},
		"Show a FleetRollout as a grid of waves and clusters, with each wave's approvals and gate verdicts",
		"re-render whenever the FleetRollout changes (default false)",
		func(ctx context.Context, c client.Client, key client.ObjectKey, w io.Writer) error {
			fro := &fleetv1alpha1.FleetRollout{}
			if err := c.Get(ctx, key, fro); err != nil {
				return err
			}
			RenderFleet(w, fro, o.now())
			return nil
		}, &fleetv1alpha1.FleetRolloutList{})
}

func newFleetListCommand(o *Options) *cobra.Command {
	return listCommand(o, "list [-A]", nil, "List the FleetRollouts of the namespace with their phase, wave, revisions and healthy clusters",
		"FleetRollouts", &fleetv1alpha1.FleetRolloutList{}, func(l client.ObjectList, all bool) {
			RenderFleetList(o.Streams.Out, l.(*fleetv1alpha1.FleetRolloutList).Items, all)
		})
}
