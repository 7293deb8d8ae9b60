/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package nsclusters is a multicluster-runtime provider whose clusters are namespaces of one
// API server, for large simulations: every namespace labelled
// fleet.flotilla.dev/simulated-member=true is a member cluster named like the namespace.
//
// A namespace-cluster is a view of the shared API server. Its client and cache serve every
// namespaced object from that one namespace: a request for any namespace (the hub's target
// namespace, say) is sent to the cluster's namespace, and objects come back carrying their
// real namespace. Cluster-scoped objects (ClusterAnalysisTemplates, Namespaces) are shared by
// every namespace-cluster. Informers and caches are shared too: one watch per kind for all
// the namespace-clusters, each cluster's event handlers seeing its namespace only.
//
// Unlike multicluster-runtime's example namespace provider, it engages labelled namespaces
// only (kube-system and the like are never members), serves patches and server-side apply,
// and does not rename namespaces to "default".
package nsclusters

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
)

// MemberLabel marks a namespace that is a simulated member cluster; its value must be "true".
const MemberLabel = "fleet.flotilla.dev/simulated-member"

// IsMember says whether a namespace is a namespace-cluster: labelled, and not being deleted.
func IsMember(ns *corev1.Namespace) bool {
	return ns.Labels[MemberLabel] == "true" && ns.DeletionTimestamp.IsZero()
}

// Provider engages one cluster per labelled namespace of its shared cluster, and disengages
// it when the namespace loses the label or is deleted.
type Provider struct {
	shared  cluster.Cluster
	routers routers // one event handler per shared informer for all the clusters

	mu       sync.Mutex
	clusters map[multicluster.ClusterName]*Cluster
	cancel   map[multicluster.ClusterName]context.CancelFunc
}

var (
	_ multicluster.Provider         = &Provider{}
	_ multicluster.ProviderRunnable = &Provider{}
)

// New is a provider over the namespaces of shared, whose cache it watches Namespaces with.
// The caller starts shared (for the spoke it is the manager itself).
func New(shared cluster.Cluster) *Provider {
	return &Provider{shared: shared, clusters: map[multicluster.ClusterName]*Cluster{},
		cancel: map[multicluster.ClusterName]context.CancelFunc{}}
}

// Start watches the Namespaces and engages the labelled ones with aware until ctx ends.
func (p *Provider) Start(ctx context.Context, aware multicluster.Aware) error {
	inf, err := p.shared.GetCache().GetInformer(ctx, &corev1.Namespace{})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.sync(ctx, aware, o) },
		UpdateFunc: func(_, o any) { p.sync(ctx, aware, o) },
		DeleteFunc: func(o any) {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if ns, ok := o.(*corev1.Namespace); ok {
				p.disengage(ctx, multicluster.ClusterName(ns.Name))
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	<-ctx.Done()
	_ = inf.RemoveEventHandler(reg)
	return nil
}

// sync engages a namespace that became a member and disengages one that stopped being one.
func (p *Provider) sync(ctx context.Context, aware multicluster.Aware, o any) {
	ns, ok := o.(*corev1.Namespace)
	if !ok {
		return
	}
	name := multicluster.ClusterName(ns.Name)
	if !IsMember(ns) {
		p.disengage(ctx, name)
		return
	}
	p.mu.Lock()
	if _, ok := p.clusters[name]; ok {
		p.mu.Unlock()
		return
	}
	cl := newCluster(ns.Name, p.shared, &p.routers)
	cctx, cancel := context.WithCancel(ctx)
	p.clusters[name], p.cancel[name] = cl, cancel
	p.mu.Unlock()
	if err := aware.Engage(cctx, name, cl); err != nil {
		logf.FromContext(ctx).Error(err, "engaging a namespace-cluster", "cluster", name)
		p.disengage(ctx, name)
		return
	}
	logf.FromContext(ctx).V(1).Info("namespace-cluster engaged", "cluster", name)
}

func (p *Provider) disengage(ctx context.Context, name multicluster.ClusterName) {
	p.mu.Lock()
	cancel, ok := p.cancel[name]
	delete(p.clusters, name)
	delete(p.cancel, name)
	p.mu.Unlock()
	if ok {
		cancel()
		logf.FromContext(ctx).V(1).Info("namespace-cluster disengaged", "cluster", name)
	}
}

// Get returns the engaged namespace-cluster of that name.
func (p *Provider) Get(_ context.Context, name multicluster.ClusterName) (cluster.Cluster, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cl, ok := p.clusters[name]; ok {
		return cl, nil
	}
	return nil, multicluster.ErrClusterNotFound
}

// IndexField indexes the shared cache, once for every namespace-cluster.
func (p *Provider) IndexField(ctx context.Context, obj client.Object, field string, extract client.IndexerFunc) error {
	return p.shared.GetFieldIndexer().IndexField(ctx, obj, field, extract)
}

// Runnable runs the provider, engaging its clusters with aware, as a runnable of a host
// manager that is started itself rather than through its multicluster manager. It runs on
// every replica (no leader election): the caches stay warm everywhere.
func (p *Provider) Runnable(aware multicluster.Aware) manager.Runnable {
	return runnable{p: p, aware: aware}
}

type runnable struct {
	p     *Provider
	aware multicluster.Aware
}

func (r runnable) Start(ctx context.Context) error { return r.p.Start(ctx, r.aware) }
func (runnable) NeedLeaderElection() bool          { return false }
