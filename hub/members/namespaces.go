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

package members

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/flotilla-io/flotilla/internal/nsclusters"
)

// setupNamespaces runs the namespace provider: one shared cluster for NamespaceClusters
// (cached as ClusterOptions says, so its one Rollout watch serves every namespace-cluster and
// its failure makes them all Unknown), its labelled namespaces engaged with the registry.
func (r *Registry) setupNamespaces(mgr manager.Manager) error {
	cfg := rest.CopyConfig(r.NamespaceClusters)
	cfg.Timeout = r.timeout()
	for _, opt := range r.RESTOptions {
		if err := opt(cfg); err != nil {
			return err
		}
	}
	shared, err := cluster.New(cfg, r.ClusterOptions)
	if err != nil {
		return fmt.Errorf("member namespaces: %w", err)
	}
	if err := mgr.Add(shared); err != nil {
		return err
	}
	r.nsShared = shared.GetAPIReader()
	p := nsclusters.New(shared)
	mcmgr, err := mcmanager.WithMultiCluster(mgr, p)
	if err != nil {
		return err
	}
	// The host manager, not mcmgr, is started: run the provider as one of its runnables.
	if err := mgr.Add(p.Runnable(mcmgr)); err != nil {
		return err
	}
	return mcmgr.Add(r)
}

// memberNamespaces are the namespace-clusters that exist at start, for the warm-up.
func (r *Registry) memberNamespaces(ctx context.Context) map[multicluster.ClusterName]bool {
	want := map[multicluster.ClusterName]bool{}
	list := &corev1.NamespaceList{}
	if err := r.nsShared.List(ctx, list, client.MatchingLabels{nsclusters.MemberLabel: "true"}); err == nil {
		for i := range list.Items {
			if nsclusters.IsMember(&list.Items[i]) {
				want[multicluster.ClusterName(list.Items[i].Name)] = true
			}
		}
	}
	return want
}

// whyNamespaceNotEngaged explains, from the namespace, why the provider has not engaged it.
func (r *Registry) whyNamespaceNotEngaged(ctx context.Context, name string) error {
	if r.nsShared == nil {
		return fmt.Errorf("%w: the namespace provider has not started", ErrNotEngaged)
	}
	ns := &corev1.Namespace{}
	if err := r.nsShared.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: the hub runs the namespace provider and namespace %s (metadata.name) does not exist in its member API server",
				ErrNamespaceNotFound, name)
		}
		return fmt.Errorf("reading namespace %s: %w", name, err)
	}
	if !nsclusters.IsMember(ns) {
		return fmt.Errorf("%w: namespace %s (metadata.name) lacks the label %s=true or is being deleted",
			ErrNamespaceNotFound, name, nsclusters.MemberLabel)
	}
	return fmt.Errorf("%w: the hub has not engaged namespace-cluster %s yet", ErrNotEngaged, name)
}
