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
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/analysis/providers/job"
	"github.com/flotilla-io/flotilla/internal/nsclusters"
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
	f := newFactory(mgr, opts)
	if err := f.rollout(mgr).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	if err := f.analysisRun(mgr).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	if err := f.experiment(mgr).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	return nil
}

// SetupNamespaceClusters registers the same controllers as multicluster controllers over the
// namespace-clusters of mgr's API server (large simulations, see internal/nsclusters): every
// namespace labelled fleet.flotilla.dev/simulated-member=true is a cluster, served by its own
// instance of each reconciler over the shared cache (built from CacheOptions("")). It
// returns the multicluster manager; start mgr itself.
func SetupNamespaceClusters(ctx context.Context, mgr manager.Manager, opts Options) (mcmanager.Manager, error) {
	p := nsclusters.New(mgr)
	mcmgr, err := mcmanager.WithMultiCluster(mgr, p)
	if err != nil {
		return nil, err
	}
	f := newFactory(mgr, opts)
	if err := rollout.SetupMulticluster(ctx, mcmgr, f.rollout, opts.RolloutWorkers); err != nil {
		return nil, fmt.Errorf("setting up the Rollout controller: %w", err)
	}
	if err := analysisrun.SetupMulticluster(mcmgr, f.analysisRun, opts.AnalysisWorkers); err != nil {
		return nil, fmt.Errorf("setting up the AnalysisRun controller: %w", err)
	}
	if err := experiment.SetupMulticluster(mcmgr, f.experiment, opts.ExperimentWorkers); err != nil {
		return nil, fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	if err := mgr.Add(p.Runnable(mcmgr)); err != nil {
		return nil, err
	}
	return mcmgr, nil
}

// factory builds the reconcilers of one cluster: its client, cache and API reader, with the
// agent's event recorder, metric providers and router options shared by every cluster.
type factory struct {
	opts      Options
	recorder  events.EventRecorder
	providers *providers.Registry
}

func newFactory(mgr manager.Manager, opts Options) factory {
	return factory{opts: opts, recorder: mgr.GetEventRecorder(EventSource), providers: analysisProviders(mgr, opts)}
}

func (f factory) rollout(cl cluster.Cluster) *rollout.Reconciler {
	return &rollout.Reconciler{
		Client:                  cl.GetClient(),
		APIReader:               cl.GetAPIReader(),
		Recorder:                f.recorder,
		Routers:                 routers.Builder(f.opts.Routers),
		MaxConcurrentReconciles: f.opts.RolloutWorkers,
	}
}

func (f factory) analysisRun(cl cluster.Cluster) *analysisrun.Reconciler {
	return &analysisrun.Reconciler{
		Client:                  cl.GetClient(),
		APIReader:               cl.GetAPIReader(),
		Recorder:                f.recorder,
		Providers:               f.providers,
		MaxConcurrentReconciles: f.opts.AnalysisWorkers,
	}
}

func (f factory) experiment(cl cluster.Cluster) *experiment.Reconciler {
	return &experiment.Reconciler{
		Client:                  cl.GetClient(),
		Recorder:                f.recorder,
		MaxConcurrentReconciles: f.opts.ExperimentWorkers,
	}
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
