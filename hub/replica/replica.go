// Package replica wires a hub replica's controllers (MemberCluster, FleetRollout and
// FleetApproval, gated on raft leadership) into a controller-runtime manager, exactly as cmd/flotilla-hub runs them,
// so that tests can run the real hub under the chart's ServiceAccount.
package replica

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/leader"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/internal/kubesecret"
)

// EventSource is the component name of the hub's events.
const EventSource = "flotilla-hub"

// Options are the hub's settings that the controllers take.
type Options struct {
	// MemberNamespace holds the member kubeconfig Secrets; the hub reads Secrets there only.
	MemberNamespace string
	// ProbeInterval is how often each member's API server is probed for MemberCluster health.
	ProbeInterval time.Duration
	// NamespaceClusters, when set, selects the namespace provider (large simulations): the
	// members are the namespaces of this API server labelled
	// fleet.flotilla.dev/simulated-member=true, instead of the kubeconfig Secrets' clusters.
	NamespaceClusters *rest.Config
}

// CacheOptions keeps the Secret informer to the member namespace: the hub reads the member
// kubeconfig Secrets there, and no other Secret.
func CacheOptions(memberNamespace string) cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{memberNamespace: {}}},
	}}
}

// Setup registers the leadership gate, the MemberCluster controller, the FleetRollout
// controller (with the metric providers of its gates) and the FleetApproval controller of
// node with mgr, whose cache should be built from CacheOptions.
func Setup(ctx context.Context, mgr manager.Manager, node *raft.Node, opts Options) error {
	gate := &leader.Gate{Node: node}
	if err := mgr.Add(gate); err != nil {
		return err
	}
	reg := &members.Registry{Secrets: mgr.GetClient(), Scheme: mgr.GetScheme(), Namespace: opts.MemberNamespace,
		NamespaceClusters: opts.NamespaceClusters}
	// Every replica engages the member clusters and keeps their caches warm; only the
	// leader reconciles.
	if err := reg.Setup(ctx, mgr); err != nil {
		return err
	}
	if err := (&members.Reconciler{Client: mgr.GetClient(), Registry: reg, Gate: gate,
		ProbeInterval: opts.ProbeInterval}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the MemberCluster controller: %w", err)
	}
	if err := (&fleetrollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Raft: node, Gate: gate,
		Members: reg, Recorder: mgr.GetEventRecorder(EventSource),
		// Analysis and outlier gates: provider credentials are read, live, from the member
		// namespace, the only one whose Secrets the hub may read.
		Providers: providers.New(providers.Deps{Secrets: kubesecret.Reader{Reader: mgr.GetAPIReader()}, Namespace: opts.MemberNamespace}),
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the FleetRollout controller: %w", err)
	}
	if err := (&fleetrollout.ApprovalReconciler{Client: mgr.GetClient(), Raft: node, Gate: gate}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the FleetApproval controller: %w", err)
	}
	return nil
}
