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

package nsclusters

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
)

// Cluster is one namespace-cluster: the shared cluster seen through its namespace.
type Cluster struct {
	cluster.Cluster // the shared cluster: config, scheme, mapper, event recorders

	namespace string
	client    client.Client
	cache     *scopedCache
}

func newCluster(namespace string, shared cluster.Cluster, rs *routers) *Cluster {
	ns := scope{namespace: namespace, mapper: shared.GetRESTMapper(), scheme: shared.GetScheme()}
	return &Cluster{Cluster: shared, namespace: namespace, client: NewClient(shared.GetClient(), namespace),
		cache: &scopedCache{Cache: shared.GetCache(), ns: ns, routers: rs}}
}

// Namespace is the namespace the cluster's namespaced objects live in (its name).
func (c *Cluster) Namespace() string { return c.namespace }

// SharedCache is the cache every namespace-cluster of the provider shares.
func (c *Cluster) SharedCache() cache.Cache { return c.Cluster.GetCache() }

// GetClient reads from the cluster's cache and writes to its namespace.
func (c *Cluster) GetClient() client.Client { return c.client }

// GetCache is the shared cache scoped to the cluster's namespace.
func (c *Cluster) GetCache() cache.Cache { return c.cache }

// GetAPIReader reads the API server directly, in the cluster's namespace.
func (c *Cluster) GetAPIReader() client.Reader {
	return scopedReader{Reader: c.Cluster.GetAPIReader(), ns: c.cache.ns}
}

// Start does nothing: the shared cluster is started by its owner.
func (c *Cluster) Start(context.Context) error { return nil }

// scope sends namespaced requests to one namespace.
type scope struct {
	namespace string
	mapper    meta.RESTMapper
	scheme    *runtime.Scheme
}

// namespaced says whether obj (an object or a list) is of a namespaced kind.
func (s scope) namespaced(obj runtime.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(obj, s.scheme)
	if err != nil {
		return false, err
	}
	if meta.IsListType(obj) {
		gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	}
	return apiutil.IsGVKNamespaced(gvk, s.mapper)
}

// key moves a namespaced key into the scope's namespace; a cluster-scoped key (no namespace)
// stays as it is.
func (s scope) key(key client.ObjectKey) client.ObjectKey {
	if key.Namespace != "" {
		key.Namespace = s.namespace
	}
	return key
}

// object moves a namespaced object into the scope's namespace.
func (s scope) object(obj client.Object) error {
	if obj.GetNamespace() != "" {
		obj.SetNamespace(s.namespace)
		return nil
	}
	ok, err := s.namespaced(obj)
	if err != nil {
		return fmt.Errorf("namespace-cluster %s: %w", s.namespace, err)
	}
	if ok {
		obj.SetNamespace(s.namespace)
	}
	return nil
}

// list limits a list of a namespaced kind to the scope's namespace.
func (s scope) list(list client.ObjectList, opts []client.ListOption) ([]client.ListOption, error) {
	ok, err := s.namespaced(list)
	if err != nil {
		return nil, fmt.Errorf("namespace-cluster %s: %w", s.namespace, err)
	}
	if !ok {
		return opts, nil
	}
	return append(append([]client.ListOption{}, opts...), client.InNamespace(s.namespace)), nil
}

// scopedReader reads one namespace.
type scopedReader struct {
	client.Reader
	ns scope
}

func (r scopedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return r.Reader.Get(ctx, r.ns.key(key), obj, opts...)
}

func (r scopedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	opts, err := r.ns.list(list, opts)
	if err != nil {
		return err
	}
	return r.Reader.List(ctx, list, opts...)
}

// scopedCache is the shared cache read in one namespace, its informers' handlers seeing that
// namespace's objects (and cluster-scoped ones) only.
type scopedCache struct {
	cache.Cache
	ns      scope
	routers *routers
}

func (c *scopedCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.Cache.Get(ctx, c.ns.key(key), obj, opts...)
}

func (c *scopedCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	opts, err := c.ns.list(list, opts)
	if err != nil {
		return err
	}
	return c.Cache.List(ctx, list, opts...)
}

func (c *scopedCache) GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error) {
	inf, err := c.Cache.GetInformer(ctx, obj, opts...)
	if err != nil {
		return nil, err
	}
	return &scopedInformer{Informer: inf, namespace: c.ns.namespace, routers: c.routers}, nil
}

func (c *scopedCache) GetInformerForKind(ctx context.Context, gvk schema.GroupVersionKind, opts ...cache.InformerGetOption) (cache.Informer, error) {
	inf, err := c.Cache.GetInformerForKind(ctx, gvk, opts...)
	if err != nil {
		return nil, err
	}
	return &scopedInformer{Informer: inf, namespace: c.ns.namespace, routers: c.routers}, nil
}

// RemoveInformer is refused: the informer serves every namespace-cluster.
func (c *scopedCache) RemoveInformer(context.Context, client.Object) error {
	return fmt.Errorf("namespace-cluster %s: the shared informers are not removed for one namespace", c.ns.namespace)
}

// scopedInformer passes its handlers the events of one namespace and of cluster-scoped objects,
// through the router of the shared informer (or, for a handler that asks for resyncs, which
// the router does not do, through a filtered handler of its own).
type scopedInformer struct {
	cache.Informer
	namespace string
	routers   *routers
}

func (i *scopedInformer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	return i.add(h, 0)
}

func (i *scopedInformer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return i.add(h, resync)
}

func (i *scopedInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, opts toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	if opts.ResyncPeriod != nil && *opts.ResyncPeriod > 0 {
		return i.Informer.AddEventHandlerWithOptions(i.filter(h), opts)
	}
	return i.add(h, 0)
}

func (i *scopedInformer) add(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	if resync > 0 {
		return i.Informer.AddEventHandlerWithResyncPeriod(i.filter(h), resync)
	}
	r, err := i.routers.of(i.Informer)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return i.Informer.AddEventHandler(i.filter(h))
	}
	return r.add(i.namespace, h), nil
}

// RemoveEventHandler removes a handler added through the router or directly.
func (i *scopedInformer) RemoveEventHandler(reg toolscache.ResourceEventHandlerRegistration) error {
	if rt, ok := reg.(*route); ok {
		rt.r.remove(rt)
		return nil
	}
	return i.Informer.RemoveEventHandler(reg)
}

// LastSyncResourceVersion is the shared informer's, when it tells it.
func (i *scopedInformer) LastSyncResourceVersion() string {
	if rv, ok := i.Informer.(interface{ LastSyncResourceVersion() string }); ok {
		return rv.LastSyncResourceVersion()
	}
	return ""
}

func (i *scopedInformer) filter(h toolscache.ResourceEventHandler) toolscache.ResourceEventHandler {
	return toolscache.FilteringResourceEventHandler{Handler: h, FilterFunc: func(o any) bool {
		ns, ok := namespaceOf(o)
		return ok && (ns == i.namespace || ns == "")
	}}
}
