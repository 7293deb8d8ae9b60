package rollout_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

// requestCounter counts the requests the agent sends to the API server, by kind.
type requestCounter struct {
	next          http.RoundTripper
	reads, writes atomic.Int64
	mu            sync.Mutex
	byKind        map[string]int
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet {
		// Watches and the initial lists are reads too; they are counted when opened.
		c.reads.Add(1)
	} else {
		c.writes.Add(1)
		c.mu.Lock()
		if c.byKind == nil {
			c.byKind = map[string]int{}
		}
		c.byKind[req.Method+" "+kindOf(req.URL.Path)]++
		c.mu.Unlock()
	}
	return c.next.RoundTrip(req)
}

// BenchmarkCanaryUpdate100 is the side-by-side measurement with Argo Rollouts: N canary
// Rollouts of 5 replicas with four setWeight steps (20, 40, 60, 80) and no pauses, on a full
// local control plane with kwok nodes. One iteration changes the image of every Rollout and
// waits until all are Healthy on the new revision. It reports the wall time of that update
// and the agent's API requests per step. N is 100, or FLOTILLA_BENCH_ROLLOUTS.
func BenchmarkCanaryUpdate100(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("FLOTILLA_BENCH_ROLLOUTS")); err == nil && v > 0 {
		n = v
	}
	ctrl.SetLogger(logr.Discard())
	s := scheme(b)
	fleet := harness.NewFleet(b, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{{
		Name: "bench", Nodes: 10, CRDDirs: []string{harness.SpokeCRDDir},
	}}})
	c := fleet.Clusters[0]
	counter := &requestCounter{}
	cfg := *c.Config
	cfg.QPS, cfg.Burst = 200, 400 // the agent's defaults (kube-api-qps, kube-api-burst)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	mgr, err := ctrl.NewManager(&cfg, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		b.Fatal(err)
	}
	r := &rollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.New, MaxConcurrentReconciles: 8}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		b.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	ns := harness.Namespace(b, c.Client)
	for i := range n {
		if err := c.Client.Create(ctx, benchRollout(ns, fmt.Sprintf("app-%03d", i), "v0")); err != nil {
			b.Fatal(err)
		}
	}
	waitAllHealthy(ctx, b, c.Client, ns, n, "v0", 5*time.Minute)

	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		image := fmt.Sprintf("v%d", i+1)
		counter.mu.Lock()
		counter.byKind = nil // count the update only, not the first deploy
		counter.mu.Unlock()
		reads0, writes0 := counter.reads.Load(), counter.writes.Load()
		begin := time.Now()
		var wg sync.WaitGroup
		for j := range n {
			wg.Go(func() {
				ro := &v1alpha1.Rollout{}
				key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("app-%03d", j)}
				if err := c.Client.Get(ctx, key, ro); err != nil {
					b.Error(err)
					return
				}
				p := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"registry.example.com/app:%s"}]}}}}`, image)
				if err := c.Client.Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		waitAllHealthy(ctx, b, c.Client, ns, n, image, 10*time.Minute)
		took := time.Since(begin)
		total += took
		steps := float64(n * 4)
		b.ReportMetric(float64(counter.writes.Load()-writes0)/steps, "writes/step")
		b.ReportMetric(float64(counter.reads.Load()-reads0+counter.writes.Load()-writes0)/steps, "requests/step")
		counter.mu.Lock()
		b.Logf("%d Rollouts updated through 4 weight steps in %s; writes by kind: %v", n, took.Round(100*time.Millisecond), counter.byKind)
		counter.byKind = nil
		counter.mu.Unlock()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/update")
}

func benchRollout(ns, name, image string) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	steps := []v1alpha1.CanaryStep{}
	for _, w := range []int32{20, 40, 60, 80} {
		steps = append(steps, v1alpha1.CanaryStep{SetWeight: ptr.To(w)})
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](5),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.example.com/app:" + image,
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
					}},
				}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

// waitAllHealthy waits until every Rollout of ns is Healthy on image, reporting how many
// are not when it gives up.
func waitAllHealthy(ctx context.Context, b *testing.B, c client.Client, ns string, n int, image string, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		list := &v1alpha1.RolloutList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, ro := range list.Items {
			if ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.ObservedGeneration == ro.Generation &&
				ro.Status.StableRS == ro.Status.CurrentPodHash && ro.Status.AvailableReplicas == 5 &&
				ro.Spec.Template.Spec.Containers[0].Image == "registry.example.com/app:"+image {
				done++
			}
		}
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Rollouts Healthy on %s after %s", done, n, image, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kindOf is the resource (and subresource) of an API path, for the write breakdown.
func kindOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(parts) - 1; i > 0; i-- {
		if parts[i-1] == "namespaces" && i+1 < len(parts) {
			rest := parts[i+1:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	return path
}
