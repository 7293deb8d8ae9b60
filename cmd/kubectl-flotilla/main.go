// Command kubectl-flotilla is the kubectl plugin: `kubectl flotilla ...` inspects and steers
// Rollouts in a member cluster and FleetRollouts in the hub. Its commands live in
// internal/plugin.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/flotilla-io/flotilla/internal/cli"
	"github.com/flotilla-io/flotilla/internal/plugin"
)

func main() {
	root := plugin.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	root.AddCommand(cli.NewVersionCommand("kubectl-flotilla"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubectl-flotilla: %v\n", err)
	}
	os.Exit(plugin.ExitCode(err))
}
