// Command flotilla-hub is the hub controller: its replicas decide, wave by wave, when each
// member cluster takes a release, and combine the clusters' results into fleet gates.
package main

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/cli"
	"github.com/flotilla-io/flotilla/internal/config"
)

func main() {
	cli.Execute(cli.NewDaemon("flotilla-hub", "Flotilla's hub: fleet-wide waves and gates", nil, run))
}

func run(ctx context.Context, cfg *config.Config) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := fleetv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := cli.NewManager(cfg, scheme, manager.Options{})
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
