// Command flotilla-spoke is the agent that runs in each member cluster: it runs the local
// release of each Rollout (canary or blue-green steps, traffic shifting, analysis).
package main

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/cli"
	"github.com/flotilla-io/flotilla/internal/config"
)

const keyClusterName = "cluster-name"

func main() {
	settings := []config.Setting{
		{Key: keyClusterName, Usage: "name of this member cluster as the hub knows it; used in events and metrics"},
	}
	cli.Execute(cli.NewDaemon("flotilla-spoke", "Flotilla's agent in a member cluster", settings, run))
}

func run(ctx context.Context, cfg *config.Config) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := rolloutsv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := cli.NewManager(cfg, scheme, manager.Options{})
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
