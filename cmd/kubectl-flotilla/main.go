// Command kubectl-flotilla is the kubectl plugin: `kubectl flotilla ...` inspects and steers
// Rollouts in a member cluster and FleetRollouts in the hub.
package main

import (
	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/internal/cli"
)

func main() {
	root := &cobra.Command{
		Use:           "kubectl-flotilla",
		Short:         "Inspect and steer Flotilla rollouts",
		Long:          "kubectl flotilla inspects and steers Rollouts in a member cluster and FleetRollouts in the hub.\nInstall it on your PATH as kubectl-flotilla and call it as `kubectl flotilla`.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(cli.NewVersionCommand("kubectl-flotilla"))
	cli.Execute(root)
}
