package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/test/harness"
)

// abortRollout shifts traffic through Istio and ingress-nginx at once. The canary keeps its
// pods for a second after an abort (abortScaleDownDelaySeconds), the shortest delay that
// scales it down at all.
const abortRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      abortScaleDownDelaySeconds: 1
      trafficRouting:
        istio:
          virtualService: {name: web, routes: [primary]}
        nginx:
          stableIngress: web
      steps:
      - setWeight: 50
      - pause: {}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:v1
        resources: {requests: {cpu: 5m, memory: 16Mi}}
`

// TestAbortRestoresStableBeforeScaleDown aborts a canary that runs on two routers (an
// Istio VirtualService and an ingress-nginx canary Ingress) with half the traffic on the
// canary, on a full control plane with the real reconciler, and checks from watches on the
// VirtualService, the Ingresses and the ReplicaSets, ordered by resourceVersion (one etcd
// serves the cluster, so revisions of different kinds are ordered against each other),
// that every router sent 0% to the canary before the canary ReplicaSet's spec.replicas
// dropped.
func TestAbortRestoresStableBeforeScaleDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	istioCRDs := harness.CRDDir(t, harness.ModuleFiles(t, "istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml"),
		"virtualservices.networking.istio.io", "destinationrules.networking.istio.io")
	m := startMemberWith(t, memberOptions{crdDirs: []string{istioCRDs}})
	ns := harness.Namespace(t, m.c)
	for _, name := range []string{"web-stable", "web-canary"} {
		m.createService(t, ns, name, "web")
	}
	harness.CreateYAML(t, m.c, ns, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx
  rules:
  - host: web.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web-stable, port: {number: 80}}}}
`)
	harness.CreateYAML(t, m.c, ns, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: primary
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
`)
	m.createRollout(t, ns, abortRollout)
	key := client.ObjectKey{Namespace: ns, Name: "web"}
	m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true))
	m.kubectlFlotilla(t, ns, "set", "image", "web", "web=example.com/web:v2")
	ro := m.waitRollout(ctx, t, key, "the canary paused at weight 50", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1 && ro.Status.Phase == v1alpha1.RolloutPhasePaused &&
			ro.Status.Canary.Weights != nil && ro.Status.Canary.Weights.Canary.Weight == 50
	})
	canaryRS := "web-" + ro.Status.CurrentPodHash

	h := &writeHistory{}
	watchCtx, stopWatches := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	vsList := &unstructured.UnstructuredList{}
	vsList.SetGroupVersionKind(virtualServiceGVK.GroupVersion().WithKind("VirtualServiceList"))
	for _, list := range []client.ObjectList{vsList, &networkingv1.IngressList{}, &appsv1.ReplicaSetList{}} {
		watchers.Go(func() { h.watch(watchCtx, t, m.cluster, ns, list) })
	}
	// The watches start with the objects as they are: both routers at 50, the canary at 2.
	h.waitFor(ctx, t, "the watches to see both routers at 50 and the canary at 2 pods", func() bool {
		return h.latest("istio") == 50 && h.latest("nginx") == 50 && h.latest(canaryRS) == 2
	})

	m.kubectlFlotilla(t, ns, "abort", "web")
	h.waitFor(ctx, t, "the canary ReplicaSet scaled to 0", func() bool { return h.latest(canaryRS) == 0 })
	stopWatches()
	watchers.Wait()

	writes := h.sorted()
	last := map[string]int64{}
	for _, w := range writes {
		if v, ok := last[w.what]; !ok || v != w.value {
			t.Logf("rv %d: %s = %d", w.rv, w.what, w.value)
		}
		last[w.what] = w.value
	}
	routersAt := map[string]int64{"istio": 50, "nginx": 50}
	for _, w := range writes {
		if _, router := routersAt[w.what]; router {
			routersAt[w.what] = w.value
			continue
		}
		if w.what != canaryRS {
			continue
		}
		if w.value >= 2 {
			continue
		}
		// The first write that takes pods from the canary.
		for router, weight := range routersAt {
			if weight != 0 {
				t.Errorf("the canary ReplicaSet went to %d replicas at rv %d while %s still sent %d%% to the canary", w.value, w.rv, router, weight)
			}
		}
		return
	}
	t.Fatalf("no write took pods from the canary ReplicaSet %s", canaryRS)
}

// nginxCanaryIngress is the nginx router's canary Ingress: <rollout>-<stable ingress>-canary.
const nginxCanaryIngress = "web-web-canary"

var virtualServiceGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

// write is one observed write: the canary weight of a router ("istio", "nginx") or the
// spec.replicas of a ReplicaSet (by name), at a resourceVersion.
type write struct {
	rv    uint64
	what  string
	value int64
}

// writeHistory records the writes that the watches see.
type writeHistory struct {
	mu     sync.Mutex
	writes []write
}

func (h *writeHistory) watch(ctx context.Context, t *testing.T, cl *harness.Cluster, ns string, list client.ObjectList) {
	wc, err := client.NewWithWatch(cl.Config, client.Options{Scheme: cl.Client.Scheme()})
	if err != nil {
		t.Error(err)
		return
	}
	w, err := wc.Watch(ctx, list, client.InNamespace(ns))
	if err != nil {
		t.Errorf("watch %T: %v", list, err)
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if ev.Type == watch.Error {
			if ctx.Err() == nil {
				t.Errorf("watch %T: %v", list, ev.Object)
			}
			return
		}
		obj, ok := ev.Object.(client.Object)
		if !ok || ev.Type == watch.Bookmark {
			continue
		}
		rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		if err != nil {
			t.Errorf("resourceVersion %q: %v", obj.GetResourceVersion(), err)
			continue
		}
		if what, value, ok := observe(ev.Type, obj); ok {
			h.mu.Lock()
			h.writes = append(h.writes, write{rv: rv, what: what, value: value})
			h.mu.Unlock()
		}
	}
}

// observe reads what the test follows of obj: the canary weight of the VirtualService's
// route and of the nginx canary Ingress (deleting it is weight 0: the nginx router removes
// it once it carries no traffic), and the replicas of a ReplicaSet.
func observe(typ watch.EventType, obj client.Object) (string, int64, bool) {
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		if typ == watch.Deleted || o.Spec.Replicas == nil || o.Labels[engine.LabelPodTemplateHash] == "" {
			return "", 0, false
		}
		return o.Name, int64(*o.Spec.Replicas), true
	case *networkingv1.Ingress:
		if typ == watch.Deleted && o.Name == nginxCanaryIngress {
			return "nginx", 0, true
		}
		v, ok := o.Annotations["nginx.ingress.kubernetes.io/canary-weight"]
		if !ok {
			return "", 0, false
		}
		w, err := strconv.ParseInt(v, 10, 64)
		return "nginx", w, err == nil
	case *unstructured.Unstructured:
		if typ == watch.Deleted {
			return "", 0, false
		}
		http, _, _ := unstructured.NestedSlice(o.Object, "spec", "http")
		for _, r := range http {
			route, _ := r.(map[string]any)
			dests, _ := route["route"].([]any)
			for _, d := range dests {
				d, _ := d.(map[string]any)
				host, _, _ := unstructured.NestedString(d, "destination", "host")
				if host == "web-canary" {
					w, _, _ := unstructured.NestedInt64(d, "weight")
					return "istio", w, true
				}
			}
		}
	}
	return "", 0, false
}

// latest is the last value seen of what, -1 when none.
func (h *writeHistory) latest(what string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := int64(-1)
	var at uint64
	for _, w := range h.writes {
		if w.what == what && w.rv >= at {
			v, at = w.value, w.rv
		}
	}
	return v
}

func (h *writeHistory) sorted() []write {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.writes)
	slices.SortStableFunc(out, func(a, b write) int {
		switch {
		case a.rv < b.rv:
			return -1
		case a.rv > b.rv:
			return 1
		}
		return 0
	})
	return out
}

func (h *writeHistory) waitFor(ctx context.Context, t *testing.T, what string, ok func() bool) {
	t.Helper()
	waitFor(ctx, t, what, func() (bool, string) {
		h.mu.Lock()
		last := fmt.Sprint(h.writes[max(0, len(h.writes)-6):])
		h.mu.Unlock()
		return ok(), "last writes " + last
	})
}
