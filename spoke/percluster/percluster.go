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

// Package percluster runs a spoke reconciler as a multicluster-runtime reconciler: one
// instance of the same reconciler type per engaged cluster, built from that cluster's client,
// cache and API reader, so that a single agent process serves many clusters (the
// namespace-clusters of a large simulation) with the code that serves one. Each instance
// keeps its own state (expectations of its writes), so nothing crosses clusters.
package percluster

import (
	"context"
	"errors"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	mchandler "sigs.k8s.io/multicluster-runtime/pkg/handler"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	mcreconcile "sigs.k8s.io/multicluster-runtime/pkg/reconcile"
)

// Reconcilers keeps one R per engaged cluster of Manager, built by New the first time the
// cluster is seen, and built again if the cluster was disengaged and engaged anew.
type Reconcilers[R reconcile.Reconciler] struct {
	// Manager gives the engaged clusters.
	Manager mcmanager.Manager
	// New builds the reconciler of one cluster.
	New func(cl cluster.Cluster) R

	mu     sync.Mutex
	byName map[multicluster.ClusterName]instance[R]
}

type instance[R any] struct {
	cl cluster.Cluster
	r  R
}

// of returns the reconciler of the cluster cl engaged as name.
func (p *Reconcilers[R]) of(name multicluster.ClusterName, cl cluster.Cluster) R {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in, ok := p.byName[name]; ok && in.cl == cl {
		return in.r
	}
	if p.byName == nil {
		p.byName = map[multicluster.ClusterName]instance[R]{}
	}
	r := p.New(cl)
	p.byName[name] = instance[R]{cl: cl, r: r}
	return r
}

// Reconcile passes the request to the reconciler of its cluster; a request of a cluster that
// is no longer engaged is dropped (with the cluster's reconciler).
func (p *Reconcilers[R]) Reconcile(ctx context.Context, req mcreconcile.Request) (reconcile.Result, error) {
	cl, err := p.Manager.GetCluster(ctx, req.ClusterName)
	if errors.Is(err, multicluster.ErrClusterNotFound) {
		p.mu.Lock()
		delete(p.byName, req.ClusterName)
		p.mu.Unlock()
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues("cluster", req.ClusterName))
	return p.of(req.ClusterName, cl).Reconcile(ctx, req.Request)
}

// MapFunc is the event handler of a watch whose map function is a method of the cluster's
// reconciler (it lists from that cluster's cache).
func (p *Reconcilers[R]) MapFunc(fn func(R) handler.MapFunc) mchandler.TypedEventHandlerFunc[client.Object, mcreconcile.Request] {
	return func(name multicluster.ClusterName, cl cluster.Cluster) handler.TypedEventHandler[client.Object, mcreconcile.Request] {
		return mchandler.TypedForCluster(handler.EnqueueRequestsFromMapFunc(fn(p.of(name, cl))), name)
	}
}
