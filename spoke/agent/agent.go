// Package agent wires the spoke's controllers (Rollout, AnalysisRun, Experiment) and the
// metric providers into a controller-runtime manager, exactly as cmd/flotilla-spoke runs
// them, so that tests can run the real agent under the chart's ServiceAccount.
package agent

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/analysis/providers/job"
	"github.com/flotilla-io/flotilla/spoke/analysisrun"
	"github.com/flotilla-io/flotilla/spoke/experiment"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
)

// EventSource is the component name of the agent's events.
const EventSource = "flotilla-spoke"

// Options are the agent's settings that the controllers take.
type Options struct {
	// RolloutWorkers, AnalysisWorkers and ExperimentWorkers bound the objects of each kind
	// reconciled at once.
	RolloutWorkers, AnalysisWorkers, ExperimentWorkers int
	// CredentialsNamespace holds the metric providers' shared credential Secrets.
	CredentialsNamespace string
	// PrometheusAddress is queried by metrics that name no address; empty means such metrics fail.
	PrometheusAddress string
	// Routers are the traffic routers' options (weight verification through Traefik's API
	// or the ELBv2 API).
	Routers routers.Options
}

// Setup registers the Rollout, AnalysisRun and Experiment controllers with mgr, whose cache
// should be built from CacheOptions.
func Setup(ctx context.Context, mgr manager.Manager, opts Options) error {
	r := &rollout.Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(EventSource),
		Routers:                 routers.Builder(opts.Routers),
		MaxConcurrentReconciles: opts.RolloutWorkers,
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	ar := &analysisrun.Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(EventSource),
		Providers:               analysisProviders(mgr, opts),
		MaxConcurrentReconciles: opts.AnalysisWorkers,
	}
	if err := ar.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	ex := &experiment.Reconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder(EventSource),
		MaxConcurrentReconciles: opts.ExperimentWorkers,
	}
	if err := ex.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	return nil
}

// analysisProviders builds every metric provider. The Secrets they read (credentials) are
// read live through the API reader, never cached; the Job provider creates Jobs with the
// manager's client and reads them live, so no informer caches the cluster's Jobs.
func analysisProviders(mgr manager.Manager, opts Options) *providers.Registry {
	return providers.New(providers.Deps{
		Secrets:           analysisrun.SecretReader{Reader: mgr.GetAPIReader()},
		Namespace:         opts.CredentialsNamespace,
		PrometheusAddress: opts.PrometheusAddress,
		Extra:             []analysis.Provider{job.New(job.Options{Client: mgr.GetClient(), Reader: mgr.GetAPIReader()})},
	})
}

// CacheOptions keeps the informer caches to what the controllers read: no managed fields on
// any object, and only the ReplicaSets that Rollouts create (they carry the pod-template-hash
// label), not every ReplicaSet of the cluster's Deployments. A namespace, when set, limits
// the caches to it.
func CacheOptions(namespace string) cache.Options {
	hashed, err := labels.NewRequirement(engine.LabelPodTemplateHash, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key: cannot fail
	}
	opts := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.ReplicaSet{}: {Label: labels.NewSelector().Add(*hashed)},
		},
	}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts
}
