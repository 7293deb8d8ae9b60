// Command flotilla-spoke is the agent that runs in each member cluster: it runs the local
// release of each Rollout (canary or blue-green steps, traffic shifting, analysis).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/cli"
	"github.com/flotilla-io/flotilla/internal/config"
	"github.com/flotilla-io/flotilla/spoke/agent"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb/elbv2"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
)

const (
	keyClusterName = "cluster-name"
	keyProvider    = "cluster-provider"
	keyWatchNS     = "watch-namespace"
	keyWorkers     = "rollout-workers"

	keyAnalysisWorkers   = "analysis-workers"
	keyExperimentWorkers = "experiment-workers"
	keyCredentialsNS     = "credentials-namespace"
	keyPrometheusAddr    = "prometheus-address"
	keyTraefikAPI        = "traefik-api-address"
	keyALBVerify         = "alb-verify-weights"
	keyAWSRegion         = "aws-region"
	keyELBv2Endpoint     = "aws-elbv2-endpoint"
)

func main() {
	settings := []config.Setting{
		{Key: keyClusterName, Usage: "name of this member cluster as the hub knows it; used in events and metrics"},
		{Key: keyProvider, Default: "single", OneOf: []string{"single", "namespace"}, Usage: "single: this agent serves the one cluster it runs in; namespace (large simulations): it serves every namespace labelled fleet.flotilla.dev/simulated-member=true of its API server as a cluster of its own, with the controllers run as multicluster controllers (watch-namespace must be empty)"},
		{Key: keyWatchNS, Usage: "namespace whose Rollouts this agent runs; empty means every namespace"},
		{Key: keyWorkers, Kind: config.Int, Default: "8", Usage: "Rollouts reconciled at once", Check: config.Positive},
		{Key: keyAnalysisWorkers, Kind: config.Int, Default: "8", Usage: "AnalysisRuns reconciled (measured) at once", Check: config.Positive},
		{Key: keyExperimentWorkers, Kind: config.Int, Default: "4", Usage: "Experiments reconciled at once", Check: config.Positive},
		{Key: keyCredentialsNS, Default: "flotilla-system", Usage: "namespace of the metric providers' shared credential Secrets (datadog, newrelic, wavefront-api-tokens, influxdb)"},
		{Key: keyPrometheusAddr, Usage: "Prometheus queried by metrics that name no address; empty means such metrics fail"},
		{Key: keyTraefikAPI, Usage: "base URL of Traefik's API (such as http://traefik-api.traefik:8080), asked to verify the weights of the traefik router; empty means they are not verified", Check: httpURL},
		{Key: keyALBVerify, Kind: config.Bool, Default: "false", Usage: "verify the weights of the alb router by asking the AWS ELBv2 API (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, IAM roles for service accounts or the shared credentials file)"},
		{Key: keyAWSRegion, Usage: "AWS region of the load balancers whose weights alb-verify-weights reads; empty means AWS_REGION or AWS_DEFAULT_REGION"},
		{Key: keyELBv2Endpoint, Usage: "base URL of the ELBv2 API for alb-verify-weights; empty means AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, AWS_ENDPOINT_URL, or https://elasticloadbalancing.<region>.amazonaws.com", Check: httpURL},
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
	routerOpts := routers.Options{TraefikAPI: cfg.String(keyTraefikAPI)}
	if cfg.Bool(keyALBVerify) {
		reader, err := elbv2.New(elbv2.Options{Region: cfg.String(keyAWSRegion), Endpoint: cfg.String(keyELBv2Endpoint)})
		if err != nil {
			return fmt.Errorf("%s: %w", keyALBVerify, err)
		}
		routerOpts.ALBWeights = reader
	}
	namespaceClusters := cfg.String(keyProvider) == "namespace"
	if namespaceClusters && cfg.String(keyWatchNS) != "" {
		return fmt.Errorf("%s namespace serves every labelled namespace: leave %s empty", keyProvider, keyWatchNS)
	}
	mgr, err := cli.NewManager(cfg, scheme, manager.Options{Cache: agent.CacheOptions(cfg.String(keyWatchNS))})
	if err != nil {
		return err
	}
	opts := agent.Options{
		RolloutWorkers:       cfg.Int(keyWorkers),
		AnalysisWorkers:      cfg.Int(keyAnalysisWorkers),
		ExperimentWorkers:    cfg.Int(keyExperimentWorkers),
		CredentialsNamespace: cfg.String(keyCredentialsNS),
		PrometheusAddress:    cfg.String(keyPrometheusAddr),
		Routers:              routerOpts,
	}
	if namespaceClusters {
		_, err = agent.SetupNamespaceClusters(ctx, mgr, opts)
	} else {
		err = agent.Setup(ctx, mgr, opts)
	}
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// httpURL accepts "" or an absolute http or https URL.
func httpURL(v any) error {
	s, _ := v.(string)
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http:// or https:// URL, such as http://traefik-api.traefik:8080")
	}
	return nil
}
