// Package plugin is the logic of the kubectl plugin (`kubectl flotilla ...`): its commands
// read and steer Rollouts in the cluster of the current kubeconfig context, and lint
// manifests offline. cmd/kubectl-flotilla only wires NewCommand to main.
//
// Operations are writes to the Rollout, as the engine documents them
// (spoke/rollout/engine): promote clears status.pauseConditions, a full promote sets
// status.promoteFull, abort sets status.abort and retry clears it (all three through the
// status subresource with a merge patch); pause and resume set spec.paused, restart sets
// spec.restartAt, set image and undo change spec.template.
package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// ExitError carries the exit code a command wants (status: 1 Degraded, 2 timeout).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process exit code for the error a command returned: 0 for nil, the
// ExitError's code, and 1 otherwise.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}

// Options are what every command shares: the kubeconfig flags, the streams and the clock.
type Options struct {
	ConfigFlags *genericclioptions.ConfigFlags
	Streams     genericiooptions.IOStreams
	// Now is the clock (restart's restartAt, get's ages); time.Now when nil.
	Now func() time.Time

	client client.WithWatch
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Scheme holds client-go's types, the rollouts group and the fleet group.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := fleetv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Client is a client for the cluster of the kubeconfig flags, made once.
func (o *Options) Client() (client.WithWatch, error) {
	if o.client != nil {
		return o.client, nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	s := Scheme()
	hc, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, err
	}
	o.client = hc
	return hc, nil
}

// Namespace is the namespace of the -n flag or of the kubeconfig context.
func (o *Options) Namespace() (string, error) {
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}

// NewCommand is the plugin's root command, without the version subcommand (main adds it).
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{ConfigFlags: genericclioptions.NewConfigFlags(true), Streams: streams}
	return NewCommandWithOptions(o)
}

// NewCommandWithOptions is NewCommand with the options given (tests set the clock).
func NewCommandWithOptions(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl-flotilla",
		Short:         "Inspect and steer Flotilla rollouts",
		Long:          "kubectl flotilla inspects and steers Rollouts in a member cluster and FleetRollouts in the hub.\nInstall it on your PATH as kubectl-flotilla and call it as `kubectl flotilla`.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(o.Streams.In)
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	o.ConfigFlags.AddFlags(root.PersistentFlags())

	get := &cobra.Command{Use: "get", Short: "Show a Rollout as a tree of revisions, ReplicaSets and analyses"}
	get.AddCommand(newGetRolloutCommand(o))
	list := &cobra.Command{Use: "list", Short: "List Rollouts"}
	list.AddCommand(newListRolloutsCommand(o))
	set := &cobra.Command{Use: "set", Short: "Change a Rollout's pod template"}
	set.AddCommand(newSetImageCommand(o))

	root.AddCommand(get, list, set,
		newPromoteCommand(o), newAbortCommand(o), newRetryCommand(o),
		newPauseCommand(o), newResumeCommand(o), newRestartCommand(o),
		newUndoCommand(o), newStatusCommand(o), newLintCommand(o),
		newFleetCommand(o), newHubCommand(o))
	return root
}

// Run runs the plugin in-process as `kubectl flotilla ARGS` against the cluster of the
// kubeconfig file, and returns what it wrote to stdout and stderr. Tests and the e2e suite
// drive a cluster with it exactly as a user would.
func Run(ctx context.Context, kubeconfig string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	o := &Options{ConfigFlags: genericclioptions.NewConfigFlags(true), Streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
	cmd := NewCommandWithOptions(o)
	cmd.SetArgs(append([]string{"--kubeconfig=" + kubeconfig}, args...))
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}
