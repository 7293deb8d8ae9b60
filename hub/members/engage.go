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
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	mcmanager "sigs.k8s.io/multicluster-runtime/pkg/manager"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"
	"sigs.k8s.io/multicluster-runtime/providers/kubeconfig"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/internal/nsclusters"
)

// watch is the state of one member cache's Rollout watch.
type watch struct {
	mu       sync.Mutex
	synced   func() bool
	lastRV   func() string // the informer's last synced resourceVersion, nil if unknown
	err      error         // the last watch failure, nil when the watch works
	rvAtFail string
}

// fail records a watch failure; it reports whether the watch was working until now.
func (w *watch) fail(err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	was := w.err == nil
	w.err = err
	if w.lastRV != nil {
		w.rvAtFail = w.lastRV()
	}
	return was
}

// ok records that the watch delivered; it reports whether it was failing until now.
func (w *watch) ok() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	was := w.err != nil
	w.err = nil
	return was
}

func (w *watch) observable() error {
	if w == nil {
		return fmt.Errorf("%w: no watch of its Rollouts", ErrNotEngaged)
	}
	err := w.failure()
	w.mu.Lock()
	synced := w.synced != nil && w.synced()
	w.mu.Unlock()
	switch {
	case !synced && err != nil:
		return fmt.Errorf("the hub's watch of the member's Rollouts has not listed yet: %w", err)
	case !synced:
		return errors.New("the hub's watch of the member's Rollouts has not listed yet")
	case err != nil:
		return fmt.Errorf("the hub's watch of the member's Rollouts fails: %w", err)
	}
	return nil
}

// failure is the watch's current failure, nil once it listed again since it failed.
func (w *watch) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil && w.lastRV != nil && w.lastRV() != w.rvAtFail {
		w.err = nil
	}
	return w.err
}

// watchFailed is the cache's watch error handler: failures other than a normal close or an
// expired resourceVersion (forbidden, a bad certificate, ...) make the member unobservable.
// client-go retries a refused connection without calling it: an API server that is down is
// found by the MemberCluster heartbeat (its Reachable condition) instead.
func (w *watch) watchFailed(ctx context.Context, r *Registry, err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || apierrors.IsResourceExpired(err) ||
		apierrors.IsGone(err) || strings.Contains(err.Error(), "too old resource version") {
		return
	}
	if w.fail(err) {
		name := r.nameOf(w)
		logf.FromContext(ctx).Info("member watch fails: its clusters count as Unknown", "cluster", name, "error", err.Error())
		r.clusterChanged(name)
	}
}

// ClusterOptions configure the cache of every member cluster: only the Rollouts the hub
// placed, stripped by stripRollout to what the hub reads, with the watch failures reported to
// the registry.
func (r *Registry) ClusterOptions(o *cluster.Options) {
	o.Scheme = r.Scheme
	placed, _ := labels.NewRequirement(federation.PlacedLabel, selection.Exists, nil)
	o.Cache.ByObject = map[client.Object]cache.ByObject{
		&rolloutsv1alpha1.Rollout{}: {Label: labels.NewSelector().Add(*placed), Transform: stripRollout},
	}
	o.NewCache = r.newCache
}

// stripRollout keeps what the hub reads of a member Rollout: metadata and status, plus
// spec.paused and the hub's own managed-fields entry, from which the hub tells a pause it set
// (a paused FleetRollout) from one a person set in the member.
func stripRollout(obj any) (any, error) {
	if ro, ok := obj.(*rolloutsv1alpha1.Rollout); ok {
		var own []metav1.ManagedFieldsEntry
		for _, mf := range ro.ManagedFields {
			if mf.Manager == federation.FieldManager {
				own = append(own, mf)
			}
		}
		ro.ManagedFields = own
		ro.Spec = rolloutsv1alpha1.RolloutSpec{Paused: ro.Spec.Paused}
	}
	return obj, nil
}

// newCache builds a member cache whose watch failures reach the registry.
func (r *Registry) newCache(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
	w := &watch{}
	opts.DefaultWatchErrorHandler = func(ctx context.Context, _ *toolscache.Reflector, err error) { w.watchFailed(ctx, r, err) }
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.byCache == nil {
		r.byCache = map[any]*watch{}
	}
	r.byCache[c] = w
	r.mu.Unlock()
	return c, nil
}

// KubeconfigProvider is multicluster-runtime's kubeconfig provider over the labelled Secrets
// of the registry's namespace, its clusters cached as ClusterOptions says.
func (r *Registry) KubeconfigProvider() *kubeconfig.Provider {
	return kubeconfig.New(kubeconfig.Options{Namespace: r.Namespace, KubeconfigSecretLabel: KubeconfigSecretLabel,
		KubeconfigSecretKey: DefaultKubeconfigKey, ClusterOptions: []cluster.Option{r.ClusterOptions}, RESTOptions: r.RESTOptions})
}

// Engage starts watching a member's placed Rollouts (multicluster.Aware); the cluster is
// dropped when ctx ends.
func (r *Registry) Engage(ctx context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	r.mu.Lock()
	var w *watch
	s, shared := cl.(interface{ SharedCache() cache.Cache })
	if shared {
		w = r.byCache[s.SharedCache()] // a namespace-cluster: one watch for them all
	} else {
		w = r.byCache[cl.GetCache()]
		delete(r.byCache, cl.GetCache())
	}
	r.mu.Unlock()
	if w == nil {
		w = &watch{} // a cache not built by newCache (another provider): failures are not seen
	}
	inf, err := cl.GetCache().GetInformer(ctx, &rolloutsv1alpha1.Rollout{}, cache.BlockUntilSynced(false))
	if err != nil {
		return fmt.Errorf("watching Rollouts of member %s: %w", name, err)
	}
	x := newExpectations(r.ExpectationTimeout)
	handle, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { r.rolloutEvent(name, w, x, o, false) },
		UpdateFunc: func(_, o any) { r.rolloutEvent(name, w, x, o, false) },
		DeleteFunc: func(o any) { r.rolloutEvent(name, w, x, o, true) },
	})
	if err != nil {
		return fmt.Errorf("watching Rollouts of member %s: %w", name, err)
	}
	w.mu.Lock()
	w.synced = handle.HasSynced
	if shared {
		// Not one cluster's handler, which goes when that cluster leaves: the shared
		// informer's own first list, which the reads of every namespace-cluster come from.
		w.synced = inf.HasSynced
	}
	if rv, ok := inf.(interface{ LastSyncResourceVersion() string }); ok {
		w.lastRV = rv.LastSyncResourceVersion
	}
	w.mu.Unlock()
	wcfg := rest.CopyConfig(cl.GetConfig())
	wcfg.Timeout = r.timeout()
	c, err := client.New(wcfg, client.Options{Scheme: cl.GetScheme(), Mapper: cl.GetRESTMapper(),
		Cache: &client.CacheOptions{Reader: cl.GetCache()}})
	if err != nil {
		return fmt.Errorf("client for member %s: %w", name, err)
	}
	m := &Member{Name: string(name), Config: wcfg, watch: w, ryw: &rywClient{Client: c, expect: x}}
	m.Client = m.ryw
	if ns, ok := cl.(*nsclusters.Cluster); ok {
		// Its writes too go to its namespace; the scope is applied before read-your-writes,
		// which then keys objects as the shared watch's events do.
		m.namespace = ns.Namespace()
		m.Client = nsclusters.NewClient(m.ryw, m.namespace)
	}
	r.mu.Lock()
	if r.engaged == nil {
		r.engaged = map[multicluster.ClusterName]*Member{}
	}
	r.engaged[name] = m
	r.mu.Unlock()
	logf.FromContext(ctx).Info("member cluster engaged", "cluster", name)
	r.clusterChanged(string(name))
	// One goroutine per cluster (not per object): it reports the first list and the leaving.
	go func() {
		if toolscache.WaitForCacheSync(ctx.Done(), handle.HasSynced) {
			r.clusterChanged(string(name))
		}
		<-ctx.Done()
		_ = inf.RemoveEventHandler(handle)
		r.mu.Lock()
		if r.engaged[name] == m {
			delete(r.engaged, name)
		}
		r.mu.Unlock()
		x.clear() // a cluster engaged again starts from its new cache's first list
		r.clusterChanged(string(name))
	}()
	return nil
}

// Start implements manager.Runnable. It warms up: it waits until every cluster whose
// labelled Secret exists at start is engaged and has listed its Rollouts, for at most twice the
// request timeout (a member that does not answer stays Unknown), then declares the registry
// warm and enqueues every FleetRollout and MemberCluster. Until then the controllers wait
// (Warm), so that a restarted hub never takes a member it has not listed yet for unreachable.
func (r *Registry) Start(ctx context.Context) error {
	r.init()
	want := map[multicluster.ClusterName]bool{}
	if r.NamespaceClusters != nil {
		want = r.memberNamespaces(ctx)
	} else {
		list := &corev1.SecretList{}
		if err := r.Secrets.List(ctx, list, client.InNamespace(r.Namespace), client.MatchingLabels{KubeconfigSecretLabel: "true"}); err == nil {
			for i := range list.Items {
				want[multicluster.ClusterName(list.Items[i].Name)] = true
			}
		}
	}
	timeout := time.NewTimer(2 * r.timeout())
	defer timeout.Stop()
	for !r.listed(want) {
		select {
		case <-ctx.Done():
			return nil
		case <-timeout.C:
			logf.FromContext(ctx).Info("member clusters not all engaged and listed at start; they count as Unknown until they are")
			want = nil
		case <-r.changed:
		}
	}
	r.warmOnce.Do(func() { close(r.warm) })
	r.clusterChanged("")
	<-ctx.Done()
	return nil
}

func (r *Registry) init() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warm == nil {
		r.warm = make(chan struct{})
		r.changed = make(chan struct{}, 1)
	}
}

// listed says whether every cluster of want is engaged and has listed its Rollouts.
func (r *Registry) listed(want map[multicluster.ClusterName]bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for n := range want {
		m := r.engaged[n]
		if m == nil || m.watch.synced == nil || !m.watch.synced() {
			return false
		}
	}
	return true
}

// Warm says whether the registry has engaged and listed the clusters known at its start; the
// controllers do nothing before (they are enqueued when it becomes warm).
func (r *Registry) Warm() bool {
	r.init()
	select {
	case <-r.warm:
		return true
	default:
		return false
	}
}

// NeedLeaderElection is false: every replica keeps the member caches warm.
func (r *Registry) NeedLeaderElection() bool { return false }

// nameOf is the engaged cluster name of a watch, empty if none or if several share it.
func (r *Registry) nameOf(w *watch) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := ""
	for n, m := range r.engaged {
		if m.watch == w {
			if name != "" {
				return "" // a watch shared by namespace-clusters: every member
			}
			name = string(n)
		}
	}
	return name
}

// rolloutEvent ends the expectation of the hub's write the event shows (gone: the Rollout left
// the cache) and maps the event to the FleetRollout that placed the Rollout.
func (r *Registry) rolloutEvent(name multicluster.ClusterName, w *watch, x *expectations, o any, gone bool) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if ro, ok := o.(*rolloutsv1alpha1.Rollout); ok {
		x.observed(client.ObjectKeyFromObject(ro), ro, gone)
	}
	if w.ok() {
		r.clusterChanged(string(name))
	}
	obj, err := meta.Accessor(o)
	if err != nil {
		return
	}
	ns, n, ok := strings.Cut(obj.GetAnnotations()[federation.FleetRolloutAnnotation], "/")
	if !ok || ns == "" || n == "" {
		return
	}
	r.mu.Lock()
	subs := append([]func(client.ObjectKey, bool){}, r.notifyFR...)
	r.mu.Unlock()
	for _, f := range subs {
		f(client.ObjectKey{Namespace: ns, Name: n}, false)
	}
}

// clusterChanged tells the subscribers that a cluster joined, left, listed or became
// (un)observable.
func (r *Registry) clusterChanged(name string) {
	r.init()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	r.mu.Lock()
	frs := append([]func(client.ObjectKey, bool){}, r.notifyFR...)
	mcs := append([]func(string){}, r.notifyMC...)
	r.mu.Unlock()
	for _, f := range frs {
		f(client.ObjectKey{}, true)
	}
	for _, f := range mcs {
		f(name) // "" is every MemberCluster
	}
}

// FleetRolloutSource is a controller source of the FleetRollouts to reconcile on member
// events: the one that placed a Rollout that changed, or all when a cluster changed.
func (r *Registry) FleetRolloutSource(all func(ctx context.Context) []reconcile.Request) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.notifyFR = append(r.notifyFR, func(key client.ObjectKey, everyone bool) {
			if !everyone {
				q.Add(reconcile.Request{NamespacedName: key})
				return
			}
			for _, req := range all(ctx) {
				q.Add(req)
			}
		})
		return nil
	})
}

// MemberClusterSource is a controller source of the MemberClusters to probe when their
// cluster changed (named by the cluster name).
func (r *Registry) MemberClusterSource(byCluster func(ctx context.Context, cluster string) []reconcile.Request) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.notifyMC = append(r.notifyMC, func(name string) {
			for _, req := range byCluster(ctx, name) {
				q.Add(req)
			}
		})
		return nil
	})
}

// Setup wraps the hub's manager for multicluster-runtime with the kubeconfig provider over
// the registry's namespace (or, with NamespaceClusters, the namespace provider), and engages
// every member cluster with the registry. The manager must cache the Secrets of that
// namespace (the kubeconfig provider reads them from the cache).
func (r *Registry) Setup(ctx context.Context, mgr manager.Manager) error {
	if r.NamespaceClusters != nil {
		return r.setupNamespaces(mgr)
	}
	p := r.KubeconfigProvider()
	mcmgr, err := mcmanager.WithMultiCluster(mgr, p)
	if err != nil {
		return err
	}
	if err := p.SetupWithManager(ctx, mcmgr); err != nil {
		return fmt.Errorf("setting up the kubeconfig provider: %w", err)
	}
	return mcmgr.Add(r)
}
