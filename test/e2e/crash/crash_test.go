// Package crash_test proves the spoke agent crash-safe end to end: the real flotilla-spoke
// binary runs a canary with a traffic router on a full local control plane and is killed
// with SIGKILL inside every step, at a point a repeatable seed chooses, and restarted.
package crash_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// seedEnv overrides the seed that chooses where within each step the agent is killed.
const seedEnv = "FLOTILLA_CRASH_SEED"

// defaultSeed is used when seedEnv is not set.
const defaultSeed uint64 = 20261125

const (
	rolloutName   = "web"
	stableIngress = "web"
	// canaryIngress is the nginx router's canary Ingress: <rollout>-<stable ingress>-canary.
	canaryIngress = rolloutName + "-" + stableIngress + "-canary"
	weightKey     = "nginx.ingress.kubernetes.io/canary-weight"
)

// rolloutYAML is a canary with the nginx router and four timed pauses. minReadySeconds makes
// every setWeight step last at least a second (its canary pods must be available), so that a
// kill can land inside it.
const rolloutYAML = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 5
  minReadySeconds: 1
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: web
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      scaleDownDelaySeconds: 2
      trafficRouting:
        nginx:
          stableIngress: web
      steps:
      - setWeight: 20
      - pause: {duration: 3s}
      - setWeight: 40
      - pause: {duration: 3s}
      - setWeight: 60
      - pause: {duration: 3s}
      - setWeight: 80
      - pause: {duration: 3s}
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:blue
        ports:
        - name: http
          containerPort: 8080
`

// TestKillAgentAtEveryStep kills the agent with SIGKILL at a seeded point inside every step
// of a canary (and, in a setWeight step, again as the router takes the step's weight) and
// restarts it, and checks from watches on the Rollout and on the router's canary Ingress:
//   - the step index never goes back, and the steps complete exactly 0..N-1, once each; a
//     pause is resumed, not started again; the router goes through 20, 40, 60, 80 once each;
//   - the router weight never exceeds the declared weight of the step that the Rollout's
//     status shows at that moment (the latest Rollout revision before the Ingress revision);
//   - the Rollout ends Healthy with the new ReplicaSet stable.
func TestKillAgentAtEveryStep(t *testing.T) {
	rng := harness.SeededRand(t, seedEnv, defaultSeed)
	begin := time.Now()

	bin := buildAgent(t)
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{{
		Name: "member", Nodes: 3, CRDDirs: []string{harness.SpokeCRDDir},
	}}})
	cluster := fleet.Clusters[0]
	c := cluster.Client
	t.Logf("control plane up after %s", time.Since(begin).Round(100*time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	ns := harness.Namespace(t, c)
	createNetworking(ctx, t, c, ns)

	wc, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{changed: make(chan struct{}, 1)}
	watchCtx, stopWatches := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Add(2)
	go func() { defer watchers.Done(); rec.watch(watchCtx, t, wc, ns, &v1alpha1.RolloutList{}) }()
	go func() { defer watchers.Done(); rec.watch(watchCtx, t, wc, ns, &networkingv1.IngressList{}) }()
	defer func() { stopWatches(); watchers.Wait() }()

	agent := &agent{t: t, cluster: cluster, spec: harness.ProcessSpec{
		Name: "flotilla-spoke", Path: bin,
		Args: []string{"--kubeconfig", cluster.KubeconfigPath, "--metrics-bind-address=0",
			"--health-probe-bind-address=0", "--log-format=text", "--watch-namespace", ns},
		StopTimeout: 5 * time.Second,
	}}
	agent.start()
	t.Cleanup(agent.stop)

	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(rolloutYAML), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	steps := ro.Spec.Strategy.Canary.Steps
	n := int32(len(steps))
	first := rec.waitRollout(ctx, t, "the first revision Healthy with 5 available pods", 45*time.Second, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.AvailableReplicas == 5 &&
			ro.Status.StableRS != "" && ro.Status.StableRS == ro.Status.CurrentPodHash
	})
	oldHash := first.Status.StableRS

	// kubectl flotilla set image web web=example.com/web:green
	update := time.Now()
	if err := c.Patch(ctx, first, client.RawPatch("application/merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.com/web:green"}]}}}}`))); err != nil {
		t.Fatal(err)
	}
	started := rec.waitRollout(ctx, t, "the update started", 20*time.Second, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash != oldHash && ro.Status.CurrentStepIndex != nil
	})
	newHash := started.Status.CurrentPodHash

	// Kill the agent inside every step, at a point the seed chooses: for a setWeight step
	// within its first 900ms (the step lasts until the canary pods are available, a second
	// after they are ready, and then the weight is set); for a pause, within its first 2.5s.
	// A setWeight step is killed a second time the moment the watch sees the router carry the
	// step's weight, which often lands between the router write and the status patch that
	// records it.
	killedIn := map[int32]int{}
	pauseKills := map[int32]time.Duration{} // pause step -> how far into it the kill came
	key := client.ObjectKeyFromObject(ro)
	for i := int32(0); i < n; i++ {
		at := rec.waitRollout(ctx, t, fmt.Sprintf("step %d", i), 30*time.Second, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.CurrentPodHash == newHash && ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex >= i
		})
		if got := *at.Status.CurrentStepIndex; got != i {
			t.Errorf("step %d was over before the kill could land in it (status at step %d)", i, got)
			continue
		}
		window := 900 * time.Millisecond
		if steps[i].Pause != nil {
			window = 2500 * time.Millisecond
		}
		delay := time.Duration(rng.Int64N(int64(window)))
		if steps[i].Pause != nil {
			pauseKills[i] = delay
		}
		time.Sleep(delay)
		agent.kill()
		step, weight := killedAt(ctx, t, c, key)
		killedIn[step]++
		t.Logf("step %d: killed %s into the step; the status then showed step %d, weight %s",
			i, delay.Round(time.Millisecond), step, weight)
		agent.start()
		if w := steps[i].SetWeight; w != nil {
			rec.waitWeight(ctx, t, *w, 30*time.Second)
			agent.kill()
			step, weight := killedAt(ctx, t, c, key)
			t.Logf("step %d: killed again as the router reached weight %d; the status then showed step %d, weight %s",
				i, *w, step, weight)
			agent.start()
		}
	}

	done := rec.waitRollout(ctx, t, "Healthy with the new ReplicaSet stable", 45*time.Second, func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == newHash &&
			ro.Status.CurrentPodHash == newHash && ro.Status.AvailableReplicas == 5 &&
			ro.Status.ObservedGeneration == ro.Generation
	})
	t.Logf("update: %s from set image to Healthy with %d kills (the pauses sum to 12s); total %s",
		time.Since(update).Round(100*time.Millisecond), agent.starts-1, time.Since(begin).Round(100*time.Millisecond))
	// Let the router settle after completion before the watches stop.
	rec.waitIngress(ctx, t, "the canary Ingress removed after completion", 15*time.Second)
	stopWatches()
	watchers.Wait()

	for i := int32(0); i < n; i++ {
		if killedIn[i] != 1 {
			t.Errorf("the agent was killed %d times at the seeded point of step %d, want once", killedIn[i], i)
		}
	}
	checkHistory(t, rec, steps, newHash, pauseKills)
	if done.Status.Abort {
		t.Errorf("the Rollout aborted: %s", done.Status.Message)
	}
}

// killedAt reads the Rollout's step and recorded weight right after a kill.
func killedAt(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey) (int32, string) {
	t.Helper()
	live := &v1alpha1.Rollout{}
	if err := c.Get(ctx, key, live); err != nil {
		t.Fatal(err)
	}
	return *live.Status.CurrentStepIndex, weightOf(live)
}

// buildAgent builds ./cmd/flotilla-spoke once into a temporary folder.
func buildAgent(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "flotilla-spoke")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/flotilla-spoke")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/flotilla-spoke: %v\n%s", err, out)
	}
	return bin
}

// createNetworking creates the stable and canary Services and the stable Ingress.
func createNetworking(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	objs := []client.Object{}
	for _, name := range []string{"web-stable", "web-canary"} {
		objs = append(objs, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		})
	}
	prefix := networkingv1.PathTypePrefix
	objs = append(objs, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: stableIngress, Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "web-stable", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}},
			}}},
		},
	})
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// agent is the flotilla-spoke process, killed and restarted.
type agent struct {
	t       *testing.T
	cluster *harness.Cluster
	spec    harness.ProcessSpec
	proc    *harness.Process
	starts  int
}

func (a *agent) start() {
	a.t.Helper()
	p, err := a.cluster.StartProcess(a.spec)
	if err != nil {
		a.t.Fatal(err)
	}
	a.proc = p
	a.starts++
}

// kill kills the agent with SIGKILL and waits until it is reaped.
func (a *agent) kill() {
	a.t.Helper()
	if err := a.proc.Kill(); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agent) stop() {
	if a.proc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.proc.Stop(ctx); err != nil {
		a.t.Errorf("stopping %s: %v", a.proc, err)
	}
	if a.t.Failed() {
		a.t.Logf("agent log %s ends with:\n%s", a.proc.LogPath(), a.proc.LogTail(40))
	}
}
