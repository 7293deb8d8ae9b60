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
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// routers holds one router per shared informer, for every namespace-cluster of a provider.
type routers struct {
	mu     sync.Mutex
	byInfo map[cache.Informer]*router
}

// of is the router of inf, registered on it the first time; nil if inf cannot serve one (it
// does not expose its store), and then each handler is registered with a filter of its own.
func (rs *routers) of(inf cache.Informer) (*router, error) {
	st, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return nil, nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.byInfo[inf]; ok {
		return r, nil
	}
	r := &router{store: st.GetIndexer(), byNS: map[string]map[*route]struct{}{}}
	reg, err := inf.AddEventHandler(r)
	if err != nil {
		return nil, err
	}
	r.reg = reg
	if rs.byInfo == nil {
		rs.byInfo = map[cache.Informer]*router{}
	}
	rs.byInfo[inf] = r
	return r, nil
}

// router is the one event handler on a shared informer for all the namespace-clusters: it
// passes an event to the handlers of the object's namespace only (a cluster-scoped object's
// to every handler), so an event costs a map lookup instead of one call per engaged cluster,
// and the informer keeps one listener instead of one per cluster and watch.
//
// The router's own listener delivers the events one at a time; a handler added later is first
// given the objects of its namespace from the informer's store, under the lock that delivery
// holds, so that each handler is called by one goroutine at a time. An object stored while its
// event still waits in the router's listener is then added twice, which handlers that enqueue
// requests (controller-runtime's) absorb.
type router struct {
	store toolscache.Indexer
	reg   toolscache.ResourceEventHandlerRegistration

	mu   sync.RWMutex
	byNS map[string]map[*route]struct{}
}

// route is one handler's registration with the router.
type route struct {
	r         *router
	namespace string
	h         toolscache.ResourceEventHandler
}

// HasSynced: the router's listener has delivered the informer's initial list (to the handlers
// added before; the others were given the store).
func (rt *route) HasSynced() bool { return rt.r.reg.HasSynced() }

func (rt *route) HasSyncedChecker() toolscache.DoneChecker { return rt.r.reg.HasSyncedChecker() }

// add registers h for namespace and gives it the objects of that namespace and the
// cluster-scoped ones already stored.
func (r *router) add(namespace string, h toolscache.ResourceEventHandler) *route {
	rt := &route{r: r, namespace: namespace, h: h}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ns := range []string{namespace, ""} {
		objs, err := r.store.ByIndex(toolscache.NamespaceIndex, ns)
		if err != nil { // no namespace index: look at every object
			objs = r.store.List()
		}
		for _, o := range objs {
			if got, ok := namespaceOf(o); ok && got == ns {
				h.OnAdd(o, true)
			}
		}
	}
	if r.byNS[namespace] == nil {
		r.byNS[namespace] = map[*route]struct{}{}
	}
	r.byNS[namespace][rt] = struct{}{}
	return rt
}

func (r *router) remove(rt *route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byNS[rt.namespace], rt)
	if len(r.byNS[rt.namespace]) == 0 {
		delete(r.byNS, rt.namespace)
	}
}

// each calls fn with the handlers that see obj.
func (r *router) each(obj any, fn func(toolscache.ResourceEventHandler)) {
	ns, ok := namespaceOf(obj)
	if !ok {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if ns != "" {
		for rt := range r.byNS[ns] {
			fn(rt.h)
		}
		return
	}
	for _, set := range r.byNS { // cluster-scoped: every namespace-cluster sees it
		for rt := range set {
			fn(rt.h)
		}
	}
}

func (r *router) OnAdd(obj any, initial bool) {
	r.each(obj, func(h toolscache.ResourceEventHandler) { h.OnAdd(obj, initial) })
}

func (r *router) OnUpdate(oldObj, newObj any) {
	r.each(newObj, func(h toolscache.ResourceEventHandler) { h.OnUpdate(oldObj, newObj) })
}

func (r *router) OnDelete(obj any) {
	r.each(obj, func(h toolscache.ResourceEventHandler) { h.OnDelete(obj) })
}

// namespaceOf is the namespace of an informer's object or tombstone ("" for a cluster-scoped
// one); false for what is not an object.
func namespaceOf(o any) (string, bool) {
	if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	obj, err := meta.Accessor(o)
	if err != nil {
		return "", false
	}
	return obj.GetNamespace(), true
}
