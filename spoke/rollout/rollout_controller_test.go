package rollout_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

func scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// startCluster starts one full local control plane (pods get scheduled onto kwok nodes and
// become Ready) with the spoke CRDs, and runs the Rollout controller against it.
func startCluster(t *testing.T) client.Client {
	t.Helper()
	s := scheme(t)
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{{
		Name: "member", Nodes: 3, CRDDirs: []string{harness.SpokeCRDDir},
	}}})
	c := fleet.Clusters[0]
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollout.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.New,
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return c.Client
}

// gettingStarted is Argo Rollouts' getting-started canary (rollouts-demo) with only its
// apiVersion changed.
const gettingStarted = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  replicas: 5
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 40
      - pause: {duration: 10}
      - setWeight: 60
      - pause: {duration: 10}
      - setWeight: 80
      - pause: {duration: 10}
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        resources:
          requests:
            memory: 32Mi
            cpu: 5m
`

// TestGettingStartedCanary runs the getting-started canary end to end on a full control
// plane: after an image change it pauses at step 1 with 1 canary and 4 stable pods; after a
// promote it finishes Healthy with the new ReplicaSet stable and the old one at 0.
func TestGettingStartedCanary(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns := harness.Namespace(t, c)

	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(gettingStarted), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(ro)
	waitRollout(ctx, t, c, key, "the first revision Healthy with 5 available pods", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.AvailableReplicas == 5
	})

	// kubectl flotilla set image rollouts-demo rollouts-demo=argoproj/rollouts-demo:yellow
	begin := time.Now()
	patch(ctx, t, c, ro, `{"spec":{"template":{"spec":{"containers":[{"name":"rollouts-demo","image":"argoproj/rollouts-demo:yellow"}]}}}}`)
	got := waitRollout(ctx, t, c, key, "paused at step 1", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ptrEq(ro.Status.CurrentStepIndex, 1)
	})
	canary, stable := podsByRole(ctx, t, c, got)
	if canary != 1 || stable != 4 {
		t.Fatalf("paused at step 1: %d canary and %d stable pods, want 1 and 4", canary, stable)
	}

	// kubectl flotilla promote rollouts-demo: lift the pause.
	statusPatch(ctx, t, c, got, `{"status":{"pauseConditions":null}}`)
	got = waitRollout(ctx, t, c, key, "Healthy on the new revision", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Status.AvailableReplicas == 5 && ro.Status.ObservedGeneration == ro.Generation
	})
	wall := time.Since(begin)
	t.Logf("getting-started canary: %s from set image to Healthy (its timed pauses sum to 30s; the indefinite pause was promoted at once)", wall.Round(100*time.Millisecond))

	waitFor(ctx, t, "the old ReplicaSet scaled to 0", func() (bool, string) {
		list := &appsv1.ReplicaSetList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		desc := ""
		ok := len(list.Items) == 2
		for _, rs := range list.Items {
			h := rs.Labels[engine.LabelPodTemplateHash]
			desc += fmt.Sprintf("%s=%d/%d ", h, *rs.Spec.Replicas, rs.Status.AvailableReplicas)
			if h != got.Status.StableRS && *rs.Spec.Replicas != 0 {
				ok = false
			}
		}
		return ok, desc
	})
}

func ptrEq(p *int32, v int32) bool { return p != nil && *p == v }

func patch(ctx context.Context, t *testing.T, c client.Client, obj client.Object, p string) {
	t.Helper()
	if err := c.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

func statusPatch(ctx context.Context, t *testing.T, c client.Client, obj client.Object, p string) {
	t.Helper()
	if err := c.Status().Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

// podsByRole counts the ready pods of the canary and the stable ReplicaSets.
func podsByRole(ctx context.Context, t *testing.T, c client.Client, ro *v1alpha1.Rollout) (canary, stable int32) {
	t.Helper()
	list := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, list, client.InNamespace(ro.Namespace)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range list.Items {
		switch rs.Labels[engine.LabelPodTemplateHash] {
		case ro.Status.CurrentPodHash:
			canary = rs.Status.ReadyReplicas
		case ro.Status.StableRS:
			stable = rs.Status.ReadyReplicas
		}
	}
	return canary, stable
}

func waitRollout(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, what string, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	waitFor(ctx, t, what, func() (bool, string) {
		if err := c.Get(ctx, key, ro); err != nil {
			return false, err.Error()
		}
		step := "-"
		if ro.Status.CurrentStepIndex != nil {
			step = fmt.Sprint(*ro.Status.CurrentStepIndex)
		}
		return ok(ro), fmt.Sprintf("phase %s step %s available %d message %q", ro.Status.Phase, step, ro.Status.AvailableReplicas, ro.Status.Message)
	})
	return ro
}

// waitFor polls every 200ms until ok or ctx ends, and then fails with what it last saw.
func waitFor(ctx context.Context, t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	var last string
	for {
		var done bool
		if done, last = ok(); done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last seen: %s", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var _ = metav1.Now
