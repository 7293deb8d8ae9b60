package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/test/harness"
)

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

// blueGreen is Argo Rollouts' blue-green example (manual promotion) with its apiVersion
// changed; the tests vary autoPromotion and the abort delay.
const blueGreen = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: rollout-bluegreen
spec:
  replicas: 2
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollout-bluegreen
  template:
    metadata:
      labels:
        app: rollout-bluegreen
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - containerPort: 8080
  strategy:
    blueGreen:
      activeService: rollout-bluegreen-active
      previewService: rollout-bluegreen-preview
      autoPromotionEnabled: false
`

// TestSpokeWithPlugin runs the acceptance flows on one full local control plane,
// each in its own namespace, steered only through `kubectl flotilla`.
func TestSpokeWithPlugin(t *testing.T) {
	m := startMember(t)
	t.Run("getting-started canary", func(t *testing.T) { testGettingStarted(t, m) })
	t.Run("blue-green", func(t *testing.T) {
		t.Run("preview, then active on promote", func(t *testing.T) { t.Parallel(); testBlueGreenPromote(t, m) })
		t.Run("autoPromotionSeconds", func(t *testing.T) { t.Parallel(); testBlueGreenAutoPromotion(t, m) })
		t.Run("abort during the pause keeps the old active set", func(t *testing.T) { t.Parallel(); testBlueGreenAbort(t, m) })
		t.Run("abort after the switch returns to the old active set", func(t *testing.T) { t.Parallel(); testBlueGreenAbortAfterSwitch(t, m) })
	})
}

// testGettingStarted: after `set image` the canary pauses at step 1 with 1 canary and 4
// stable pods; after `promote` it completes Healthy with the new ReplicaSet stable and the
// old one at 0. Its wall time is logged next to the sum of its timed pauses.
func testGettingStarted(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	ro := m.createRollout(t, ns, gettingStarted)
	key := client.ObjectKeyFromObject(ro)
	m.waitRollout(ctx, t, key, "the first revision Healthy with 5 available pods", healthyAt(true))
	first := m.waitRollout(ctx, t, key, "", healthyAt(true)).Status.StableRS

	begin := time.Now()
	m.kubectlFlotilla(t, ns, "set", "image", "rollouts-demo", "rollouts-demo=argoproj/rollouts-demo:yellow")
	got := m.waitRollout(ctx, t, key, "paused at step 1 with 1 canary and 4 stable pods ready", func(ro *v1alpha1.Rollout) bool {
		if ro.Status.Phase != v1alpha1.RolloutPhasePaused || ro.Status.CurrentStepIndex == nil || *ro.Status.CurrentStepIndex != 1 {
			return false
		}
		rss := m.replicaSets(ctx, t, ns)
		return rss[ro.Status.CurrentPodHash][1] == 1 && rss[ro.Status.StableRS][1] == 4
	})
	if got.Status.StableRS != first {
		t.Fatalf("paused at step 1 with stable %s, want the first revision %s", got.Status.StableRS, first)
	}
	// The pause holds: 1 and 4, nothing more, while nobody promotes.
	time.Sleep(2 * time.Second)
	rss := m.replicaSets(ctx, t, ns)
	if c, s := rss[got.Status.CurrentPodHash], rss[got.Status.StableRS]; c != [2]int32{1, 1} || s != [2]int32{4, 4} {
		t.Fatalf("during the pause: canary %v and stable %v (desired, ready), want [1 1] and [4 4]", c, s)
	}
	tree := m.kubectlFlotilla(t, ns, "get", "rollout", "rollouts-demo")
	for _, w := range []string{"Status:          ॥ Paused", "Step:          1/8", "SetWeight:     20", "ActualWeight:  20",
		"argoproj/rollouts-demo:blue (stable)", "argoproj/rollouts-demo:yellow (canary)", "canary ready:1/1", "stable ready:4/4"} {
		if !strings.Contains(tree, w) {
			t.Errorf("get rollout at the pause lacks %q", w)
		}
	}

	promoted := time.Now()
	m.kubectlFlotilla(t, ns, "promote", "rollouts-demo")
	// status --watch is the user's way to wait; its exit code says Healthy.
	sctx, scancel := context.WithTimeout(ctx, 90*time.Second)
	out, _, err := plugin.Run(sctx, m.kubeconfig, "-n", ns, "status", "rollouts-demo", "--watch", "--timeout", "80s")
	scancel()
	if plugin.ExitCode(err) != plugin.ExitHealthy {
		t.Fatalf("status --watch after promote: exit %d (%v)\n%s", plugin.ExitCode(err), err, out)
	}
	got = m.waitRollout(ctx, t, key, "Healthy on the new revision", healthyAt(true))
	wall := time.Since(begin)
	t.Logf("getting-started canary: %s from set image to Healthy (%s of it from promote); its timed pauses sum to 30s, and the test held the indefinite pause %s before promoting",
		wall.Round(100*time.Millisecond), time.Since(promoted).Round(100*time.Millisecond), promoted.Sub(begin).Round(100*time.Millisecond))
	if got.Status.StableRS == first {
		t.Fatalf("Healthy but the stable ReplicaSet is still the first revision %s", first)
	}
	waitFor(ctx, t, "the old ReplicaSet scaled to 0", func() (bool, string) {
		rss := m.replicaSets(ctx, t, ns)
		return rss[first][0] == 0 && rss[got.Status.StableRS] == [2]int32{5, 5}, fmt.Sprintf("(desired, ready) by hash: %v", rss)
	})
}
