package cli

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-io/flotilla/internal/config"
)

// RESTConfig returns the client configuration named by the kubeconfig setting, or the
// in-cluster one (or $KUBECONFIG) when it is empty.
func RESTConfig(cfg *config.Config) (*rest.Config, error) {
	path := cfg.String(config.KeyKubeconfig)
	if path == "" {
		c, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig set and no in-cluster configuration: %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	return c, nil
}

// NewManager returns a controller-runtime manager serving metrics and health probes on the
// addresses of the common settings. Callers add their controllers and start it.
func NewManager(cfg *config.Config, scheme *runtime.Scheme, opts manager.Options) (manager.Manager, error) {
	rc, err := RESTConfig(cfg)
	if err != nil {
		return nil, err
	}
	// client-go's default (5 requests/s, controller-runtime's 20) would make a busy agent wait
	// on itself rather than on the API server.
	rc.QPS = float32(cfg.Int(config.KeyKubeAPIQPS))
	rc.Burst = cfg.Int(config.KeyKubeAPIBurst)
	opts.Scheme = scheme
	opts.Metrics = metricsserver.Options{BindAddress: cfg.String(config.KeyMetricsAddress)}
	opts.HealthProbeBindAddress = cfg.String(config.KeyHealthProbeAddres)
	mgr, err := ctrl.NewManager(rc, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}
