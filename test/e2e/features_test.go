package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestRolloutFeatures runs, on one full local control plane, the Rollout features that
// need real controllers around the agent: the HorizontalPodAutoscaler of
// kube-controller-manager, the pods the ReplicaSet controller and kwok make, a real
// Deployment.
func TestRolloutFeatures(t *testing.T) {
	m := startMember(t)
	t.Run("an HPA scales the Rollout through its scale subresource", func(t *testing.T) { t.Parallel(); testHPA(t, m) })
	t.Run("canary and stable metadata move on the live pods", func(t *testing.T) { t.Parallel(); testPodMetadata(t, m) })
	t.Run("workloadRef scaleDown progressively", func(t *testing.T) { t.Parallel(); testWorkloadRefProgressively(t, m) })
	t.Run("finished AnalysisRuns beyond the history limits are deleted", func(t *testing.T) { t.Parallel(); testRunHistory(t, m) })
}

// healthyRollout creates the Rollout of manifest in a fresh namespace and waits until its
// first revision is Healthy. The context ends after timeout, or with the test.
func (m member) healthyRollout(t *testing.T, manifest string, timeout time.Duration) (context.Context, string, client.ObjectKey, *v1alpha1.Rollout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	ns := harness.Namespace(t, m.c)
	key := client.ObjectKeyFromObject(m.createRollout(t, ns, manifest))
	return ctx, ns, key, m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true))
}

const hpaRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: hpa-demo
spec:
  replicas: 2
  selector:
    matchLabels:
      app: hpa-demo
  template:
    metadata:
      labels:
        app: hpa-demo
    spec:
      containers:
      - name: app
        image: argoproj/rollouts-demo:blue
        resources:
          requests:
            cpu: 5m
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause: {}
`

// testHPA: kube-controller-manager's HPA controller raises the Rollout to minReplicas
// through the scale subresource (it needs no metrics for that); spec.replicas and the ready
// pods follow.
func testHPA(t *testing.T, m member) {
	ctx, ns, key, _ := m.healthyRollout(t, hpaRollout, 3*time.Minute)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hpa-demo"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout", Name: "hpa-demo"},
			MinReplicas:    ptr.To[int32](4),
			MaxReplicas:    6,
		},
	}
	if err := m.c.Create(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	got := m.waitRollout(ctx, t, key, "spec.replicas raised to the HPA's minReplicas 4 and Healthy with 4 pods", func(ro *v1alpha1.Rollout) bool {
		return ro.Spec.Replicas != nil && *ro.Spec.Replicas == 4 && healthyAt(true)(ro) && ro.Status.ReadyReplicas == 4
	})
	waitFor(ctx, t, "4 ready pods of the Rollout's stable ReplicaSet", func() (bool, string) {
		ready := readyPods(ctx, t, m, ns, got.Status.StableRS)
		return ready == 4, fmt.Sprintf("%d ready pods", ready)
	})
	waitFor(ctx, t, "the HPA to see 4 replicas", func() (bool, string) {
		if err := m.c.Get(ctx, client.ObjectKeyFromObject(hpa), hpa); err != nil {
			return false, err.Error()
		}
		return hpa.Status.CurrentReplicas == 4 && hpa.Status.DesiredReplicas == 4,
			fmt.Sprintf("current %d desired %d", hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas)
	})
}

// readyPods counts the Ready, not terminating pods of the namespace with a pod-template hash.
func readyPods(ctx context.Context, t *testing.T, m member, ns, hash string) int {
	t.Helper()
	n := 0
	for _, p := range podsOf(ctx, t, m, ns, hash) {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

func podsOf(ctx context.Context, t *testing.T, m member, ns, hash string) []corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := m.c.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{engine.LabelPodTemplateHash: hash}); err != nil {
		t.Fatal(err)
	}
	return pods.Items
}

const metadataRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: roles
spec:
  replicas: 3
  selector:
    matchLabels:
      app: roles
  template:
    metadata:
      labels:
        app: roles
    spec:
      containers:
      - name: app
        image: argoproj/rollouts-demo:blue
  strategy:
    canary:
      canaryMetadata:
        labels:
          role: canary
          canary-only: "yes"
        annotations:
          example.com/track: canary
      stableMetadata:
        labels:
          role: stable
        annotations:
          example.com/track: stable
      steps:
      - setWeight: 34
      - pause: {}
`

// testPodMetadata: the pods carry stableMetadata, a canary's pods canaryMetadata; on
// promotion the very same canary pods (same UIDs, never restarted) turn stable in place and
// lose the canary-only label.
func testPodMetadata(t *testing.T, m member) {
	ctx, ns, key, ro := m.healthyRollout(t, metadataRollout, 3*time.Minute)
	first := ro.Status.StableRS
	waitRoles(ctx, t, m, ns, first, 3, "stable", false)

	m.kubectlFlotilla(t, ns, "set", "image", "roles", "app=argoproj/rollouts-demo:yellow")
	paused := m.waitRollout(ctx, t, key, "paused at step 1 with 1 canary pod ready", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1 &&
			readyPods(ctx, t, m, ns, ro.Status.CurrentPodHash) == 1
	})
	canaryHash := paused.Status.CurrentPodHash
	canaryUIDs := waitRoles(ctx, t, m, ns, canaryHash, 1, "canary", true)
	waitRoles(ctx, t, m, ns, first, 2, "stable", false)

	m.kubectlFlotilla(t, ns, "promote", "roles")
	m.waitRollout(ctx, t, key, "Healthy on the canary's revision", func(ro *v1alpha1.Rollout) bool {
		return healthyAt(true)(ro) && ro.Status.StableRS == canaryHash
	})
	stableUIDs := waitRoles(ctx, t, m, ns, canaryHash, 3, "stable", false)
	for _, uid := range canaryUIDs {
		if !slices.Contains(stableUIDs, uid) {
			t.Errorf("the canary pod %s was replaced instead of changed in place; stable pods now %v", uid, stableUIDs)
		}
	}
	rs := &appsv1.ReplicaSet{}
	if err := m.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "roles-" + canaryHash}, rs); err != nil {
		t.Fatal(err)
	}
	if l := rs.Spec.Template.Labels; l["role"] != "stable" || l["canary-only"] != "" {
		t.Errorf("the promoted ReplicaSet's pod template has labels %v, want role=stable and no canary-only", l)
	}
}

// waitRoles waits until want live pods of hash carry role's metadata (and, for the canary,
// its extra label; for the stable, not the canary's) and returns their UIDs.
func waitRoles(ctx context.Context, t *testing.T, m member, ns, hash string, want int, role string, canaryOnly bool) []string {
	t.Helper()
	var uids []string
	waitFor(ctx, t, fmt.Sprintf("%d pods of %s with role %s", want, hash, role), func() (bool, string) {
		uids = uids[:0]
		var seen []string
		for _, p := range podsOf(ctx, t, m, ns, hash) {
			if p.DeletionTimestamp != nil {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %v %v", p.Name, p.Labels, p.Annotations))
			_, hasCanaryOnly := p.Labels["canary-only"]
			if p.Labels["role"] == role && p.Annotations["example.com/track"] == role && hasCanaryOnly == canaryOnly {
				uids = append(uids, string(p.UID))
			}
		}
		return len(uids) == want && len(seen) == want, fmt.Sprintf("%v", seen)
	})
	return uids
}

// createPoolNode adds a simulated node with room for pods pods, tainted so that only pods
// that tolerate pool land on it.
func createPoolNode(ctx context.Context, t *testing.T, m member, pool string, pods int64) {
	t.Helper()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods: *resource.NewQuantity(pods, resource.DecimalSI),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        pool,
			Labels:      map[string]string{"pool": pool, "kubernetes.io/hostname": pool, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			Annotations: map[string]string{harness.KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{{Key: "pool", Value: pool, Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity, Phase: corev1.NodeRunning},
	}
	status := node.Status
	if err := m.c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.c.Delete(context.Background(), node) })
	if len(node.Status.Allocatable) == 0 {
		node.Status = status
		if err := m.c.Status().Update(ctx, node); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(ctx, t, "node "+pool+" schedulable", func() (bool, string) {
		if err := m.c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return false, err.Error()
		}
		return harness.NodeSchedulable(node)
	})
}

const workloadDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeSelector:
        pool: web-pool
      tolerations:
      - key: pool
        value: web-pool
        effect: NoSchedule
      containers:
      - name: web
        image: argoproj/rollouts-demo:blue
`

const workloadRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 3
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
    scaleDown: progressively
  strategy:
    canary:
      steps:
      - setWeight: 50
`

// testWorkloadRefProgressively migrates a running Deployment to a Rollout that references
// it. The pods of both land on one node with room for four, so the Rollout's pods can only
// come up as the Deployment's go: the Deployment must step down one pod per available
// Rollout pod, never taking away a pod the Rollout has not replaced, and end at zero. Then
// a change of the Deployment's template (which the agent watches) starts an update of the
// Rollout, while the Deployment stays at zero.
func testWorkloadRefProgressively(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	createPoolNode(ctx, t, m, "web-pool", 4)
	dep := &appsv1.Deployment{}
	if err := yamlInto(workloadDeployment, dep); err != nil {
		t.Fatal(err)
	}
	dep.Namespace = ns
	if err := m.c.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	depKey := client.ObjectKeyFromObject(dep)
	waitFor(ctx, t, "the Deployment with 3 available pods", func() (bool, string) {
		if err := m.c.Get(ctx, depKey, dep); err != nil {
			return false, err.Error()
		}
		return dep.Status.AvailableReplicas == 3, fmt.Sprintf("available %d", dep.Status.AvailableReplicas)
	})

	// Every scale of the Deployment, from a watch: on kwok the migration can take less time
	// than one poll, so polling would miss the steps.
	steps := watchDeploymentScale(ctx, t, m, dep)
	ro := m.createRollout(t, ns, workloadRollout)
	key := client.ObjectKeyFromObject(ro)
	waitFor(ctx, t, "the Rollout Healthy with 3 pods and the Deployment at 0", func() (bool, string) {
		if err := m.c.Get(ctx, depKey, dep); err != nil {
			return false, err.Error()
		}
		if err := m.c.Get(ctx, key, ro); err != nil {
			return false, err.Error()
		}
		d := *dep.Spec.Replicas
		// The agent sets the Deployment to 3 minus the Rollout's available pods, which only
		// grow here: counted after it, they never fall short of what the Deployment gave up.
		ready := 0
		if ro.Status.CurrentPodHash != "" {
			ready = readyPods(ctx, t, m, ns, ro.Status.CurrentPodHash)
		}
		if int(d)+ready < 3 {
			t.Fatalf("the Deployment is at %d while the Rollout has %d ready pods: capacity lost", d, ready)
		}
		return healthyAt(true)(ro) && d == 0 && dep.Status.Replicas == 0,
			fmt.Sprintf("Deployment spec %d pods %d; Rollout %s available %d", d, dep.Status.Replicas, ro.Status.Phase, ro.Status.AvailableReplicas)
	})
	seen := steps()
	t.Logf("Deployment replicas seen during the migration: %v", seen)
	if len(seen) < 3 {
		t.Errorf("the Deployment went %v: not scaled down progressively", seen)
	}
	if ro.Status.WorkloadObservedGeneration != dep.Generation {
		t.Errorf("workloadObservedGeneration %d, Deployment generation %d", ro.Status.WorkloadObservedGeneration, dep.Generation)
	}
	// The Deployment controller hashes templates as the agent does, and the Rollout copies
	// the Deployment's template: the Deployment's ReplicaSet has the name the Rollout's would
	// have. A real pod-template hash collision, which collisionCount resolves.
	if ro.Status.CollisionCount == nil || *ro.Status.CollisionCount != 1 {
		t.Errorf("collisionCount %v, want 1: the Deployment's ReplicaSet web-%s takes the first hash", ro.Status.CollisionCount, engine.PodTemplateHash(&dep.Spec.Template, nil))
	}
	first := ro.Status.StableRS

	dep.Spec.Template.Spec.Containers[0].Image = "argoproj/rollouts-demo:yellow"
	if err := m.c.Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the Rollout Healthy on the Deployment's new template, the Deployment still at 0", func() (bool, string) {
		if err := m.c.Get(ctx, depKey, dep); err != nil {
			return false, err.Error()
		}
		if err := m.c.Get(ctx, key, ro); err != nil {
			return false, err.Error()
		}
		if *dep.Spec.Replicas != 0 || dep.Status.Replicas != 0 {
			t.Fatalf("the Deployment runs %d pods (spec %d) during the update", dep.Status.Replicas, *dep.Spec.Replicas)
		}
		return healthyAt(true)(ro) && ro.Status.StableRS != first,
			fmt.Sprintf("Rollout %s stable %s current %s", ro.Status.Phase, ro.Status.StableRS, ro.Status.CurrentPodHash)
	})
	for _, p := range podsOf(ctx, t, m, ns, ro.Status.StableRS) {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "argoproj/rollouts-demo:yellow" {
			t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

func yamlInto(manifest string, obj any) error { return yaml.UnmarshalStrict([]byte(manifest), obj) }

const historyRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: history
spec:
  replicas: 1
  analysis:
    successfulRunHistoryLimit: 1
    unsuccessfulRunHistoryLimit: 1
  selector:
    matchLabels:
      app: history
  template:
    metadata:
      labels:
        app: history
    spec:
      containers:
      - name: app
        image: argoproj/rollouts-demo:blue
  strategy:
    canary: {}
`

// testRunHistory: of the Rollout's finished AnalysisRuns, the AnalysisRun controller ends
// three Successful (terminated at once) and two in Error (an argument is missing); with both
// limits at 1 the agent deletes all but the newest of each.
func testRunHistory(t *testing.T, m member) {
	ctx, ns, _, ro := m.healthyRollout(t, historyRollout, 2*time.Minute)
	for _, name := range []string{"ok-1", "ok-2", "ok-3", "bad-1", "bad-2"} {
		ok := name[:2] == "ok"
		url := "http://127.0.0.1:1/health"
		if !ok {
			url += "?{{args.missing}}"
		}
		ar := &v1alpha1.AnalysisRun{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{engine.LabelPodTemplateHash: ro.Status.StableRS},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, v1alpha1.GroupVersion.WithKind("Rollout"))}},
			Spec: v1alpha1.AnalysisRunSpec{
				Terminate: ok,
				Metrics:   []v1alpha1.Metric{{Name: "health", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url}}}},
			},
		}
		if err := m.c.Create(ctx, ar); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(ctx, t, "only ok-3 (Successful) and bad-2 (Error) left", func() (bool, string) {
		list := &v1alpha1.AnalysisRunList{}
		if err := m.c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ar := range list.Items {
			if ar.DeletionTimestamp == nil {
				seen = append(seen, ar.Name+"="+string(ar.Status.Phase))
			}
		}
		slices.Sort(seen)
		return slices.Equal(seen, []string{"bad-2=Error", "ok-3=Successful"}), fmt.Sprint(seen)
	})
}

// watchDeploymentScale records each distinct spec.replicas of dep, in order, from a watch
// that lasts until ctx ends; steps returns what it saw so far.
func watchDeploymentScale(ctx context.Context, t *testing.T, m member, dep *appsv1.Deployment) (steps func() []int32) {
	t.Helper()
	wc, err := client.NewWithWatch(m.cluster.Config, client.Options{Scheme: m.c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace(dep.Namespace),
		client.MatchingFields{"metadata.name": dep.Name})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []int32
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || d.Spec.Replicas == nil {
				continue
			}
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != *d.Spec.Replicas {
				seen = append(seen, *d.Spec.Replicas)
			}
			mu.Unlock()
		}
	}()
	return func() []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}
