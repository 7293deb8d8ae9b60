package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// Argo Rollouts' own example manifests are read from its Go module at a fixed version, not
// from copies: the test runs exactly what Argo ships.
const (
	argoModule  = "github.com/argoproj/argo-rollouts"
	argoVersion = "v1.8.3"
)

// argoExample returns the documents of examples/<file> in Argo Rollouts' module, with only
// the Rollout's apiVersion changed to ours.
func argoExample(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(harness.ModuleFiles(t, argoModule, argoVersion, "examples/"+file)[0])
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		if strings.Contains(doc, "\nkind: Rollout\n") {
			changed := strings.Replace(doc, "apiVersion: argoproj.io/v1alpha1", "apiVersion: "+v1alpha1.GroupVersion.String(), 1)
			if changed == doc {
				t.Fatalf("%s: the Rollout has no apiVersion argoproj.io/v1alpha1", file)
			}
			doc = changed
		}
		docs = append(docs, doc)
	}
	return docs
}

// createArgoExample creates every document of the example in ns (the Rollout read strictly
// into our type, so that a field we do not know fails the test) and returns the Rollout.
func createArgoExample(t *testing.T, m member, ns, file string) *v1alpha1.Rollout {
	t.Helper()
	var ro *v1alpha1.Rollout
	for _, doc := range argoExample(t, file) {
		if strings.Contains(doc, "\nkind: Rollout\n") {
			ro = m.createRollout(t, ns, doc)
			continue
		}
		harness.CreateYAML(t, m.c, ns, doc)
	}
	if ro == nil {
		t.Fatalf("%s@%s examples/%s has no Rollout", argoModule, argoVersion, file)
	}
	return ro
}

// TestArgoExamples runs Argo Rollouts' canary and blue-green examples, with only their
// apiVersion changed, on a full local control plane, and checks the behaviour Argo documents
// for them.
func TestArgoExamples(t *testing.T) {
	m := startMember(t)
	t.Run("rollout-canary.yaml", func(t *testing.T) { t.Parallel(); testArgoCanary(t, m) })
	t.Run("rollout-bluegreen.yaml", func(t *testing.T) { t.Parallel(); testArgoBlueGreen(t, m) })
}

// stepTrail records every step index the Rollout's status showed, to check that none is
// skipped or revisited.
type stepTrail []int32

func (s *stepTrail) see(ro *v1alpha1.Rollout) {
	if ro.Status.CurrentStepIndex == nil || ro.Status.CurrentPodHash == ro.Status.StableRS {
		return
	}
	if i := *ro.Status.CurrentStepIndex; len(*s) == 0 || (*s)[len(*s)-1] != i {
		*s = append(*s, i)
	}
}

// testArgoCanary: examples/rollout-canary.yaml, 5 replicas with steps setWeight 20, pause {},
// setWeight 40, pause 40s, setWeight 60, pause 20s, setWeight 80, pause 20s. Without a
// traffic router Argo documents setWeight as the share of canary pods: 1, 2, 3 and 4 of 5
// next to 4, 3, 2 and 1 stable ones. The indefinite pause holds until promote; each timed
// pause lasts its duration; after the last step the new ReplicaSet runs all 5 pods and the
// old one none.
func testArgoCanary(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	key := client.ObjectKeyFromObject(createArgoExample(t, m, ns, "rollout-canary.yaml"))
	ro := m.waitRollout(ctx, t, key, "the first revision Healthy with 5 pods", healthyAt(true))
	first := ro.Status.StableRS
	if ro.Status.CurrentStepIndex == nil || *ro.Status.CurrentStepIndex != 8 {
		t.Fatalf("the first revision is at step %v, want 8: a first deploy skips the steps", ro.Status.CurrentStepIndex)
	}

	var trail stepTrail
	watch := func(what string, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
		return m.waitRollout(ctx, t, key, what, func(ro *v1alpha1.Rollout) bool { trail.see(ro); return ok(ro) })
	}
	// pods is true when the new and the old ReplicaSets want and have canary and 5-canary
	// ready pods.
	pods := func(next string, canary int32) bool {
		rss := m.replicaSets(ctx, t, ns)
		return rss[next] == [2]int32{canary, canary} && rss[first] == [2]int32{5 - canary, 5 - canary}
	}
	begin := time.Now()
	m.kubectlFlotilla(t, ns, "set", "image", key.Name, "rollouts-demo=argoproj/rollouts-demo:yellow")
	var next string
	watch("paused indefinitely at step 1 with 1 canary and 4 stable pods", func(ro *v1alpha1.Rollout) bool {
		next = ro.Status.CurrentPodHash
		return next != first && ro.Status.Phase == v1alpha1.RolloutPhasePaused && stepOf(ro) == 1 && pods(next, 1)
	})
	time.Sleep(3 * time.Second) // the indefinite pause holds while nobody promotes
	if ro := watch("still paused at step 1", func(*v1alpha1.Rollout) bool { return true }); stepOf(ro) != 1 || !pods(next, 1) {
		t.Fatalf("3s into the indefinite pause: step %d, ReplicaSets %v; want step 1 with 1 and 4 pods", stepOf(ro), m.replicaSets(ctx, t, ns))
	}

	promoted := time.Now()
	m.kubectlFlotilla(t, ns, "promote", key.Name)
	var paused time.Duration
	for _, p := range []struct {
		step   int32
		secs   int
		canary int32
	}{{3, 40, 2}, {5, 20, 3}, {7, 20, 4}} {
		ro := watch(fmt.Sprintf("paused at step %d with %d canary and %d stable pods", p.step, p.canary, 5-p.canary), func(ro *v1alpha1.Rollout) bool {
			return ro.Status.Phase == v1alpha1.RolloutPhasePaused && stepOf(ro) == p.step &&
				len(ro.Status.PauseConditions) == 1 && pods(next, p.canary)
		})
		start := ro.Status.PauseConditions[0].StartTime.Time
		watch(fmt.Sprintf("past the %ds pause of step %d", p.secs, p.step), func(ro *v1alpha1.Rollout) bool {
			return stepOf(ro) > p.step
		})
		left := time.Now()
		if end := start.Add(time.Duration(p.secs) * time.Second); left.Before(end) {
			t.Fatalf("left the %ds pause of step %d %s early", p.secs, p.step, end.Sub(left))
		}
		paused += left.Sub(start)
		t.Logf("step %d: pause %ds held %s", p.step, p.secs, left.Sub(start).Round(100*time.Millisecond))
	}
	got := watch("Healthy on the new revision", healthyAt(true))
	done := time.Now()
	if got.Status.StableRS != next {
		t.Fatalf("Healthy with stable %s, want the new revision %s", got.Status.StableRS, next)
	}
	waitFor(ctx, t, "5 new pods and the old ReplicaSet at 0", func() (bool, string) {
		rss := m.replicaSets(ctx, t, ns)
		return rss[next] == [2]int32{5, 5} && rss[first][0] == 0, fmt.Sprintf("(desired, ready) by hash: %v", rss)
	})
	want := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8}
	if !isSubsequenceInOrder(trail, want) {
		t.Fatalf("step indices seen %v: want a rising subsequence of %v", trail, want)
	}
	t.Logf("rollout-canary.yaml: %s from set image to Healthy; from promote %s, against timed pauses summing to 80s (held %s in all); steps seen %v",
		done.Sub(begin).Round(100*time.Millisecond), done.Sub(promoted).Round(100*time.Millisecond), paused.Round(100*time.Millisecond), trail)
}

// stepOf is status.currentStepIndex, -1 when unset.
func stepOf(ro *v1alpha1.Rollout) int32 {
	if ro.Status.CurrentStepIndex == nil {
		return -1
	}
	return *ro.Status.CurrentStepIndex
}

// isSubsequenceInOrder reports whether every element of got is in want, in want's order,
// each at most once.
func isSubsequenceInOrder(got, want []int32) bool {
	j := 0
	for _, g := range got {
		for j < len(want) && want[j] != g {
			j++
		}
		if j == len(want) {
			return false
		}
		j++
	}
	return true
}

// testArgoBlueGreen: examples/rollout-bluegreen.yaml, 2 replicas, active and preview
// Services, autoPromotionEnabled false. Argo documents: with no update both Services select
// the one ReplicaSet; on an update the new ReplicaSet comes up at full size behind the
// preview Service while the active one stays on the old; the Rollout pauses until promoted;
// promote switches the active Service to the new ReplicaSet, and the old one keeps its pods
// for scaleDownDelaySeconds (30 by default), then goes to 0.
func testArgoBlueGreen(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns := harness.Namespace(t, m.c)
	key := client.ObjectKeyFromObject(createArgoExample(t, m, ns, "rollout-bluegreen.yaml"))
	const active, preview = "rollout-bluegreen-active", "rollout-bluegreen-preview"
	first := m.waitRollout(ctx, t, key, "the first revision Healthy with 2 pods", healthyAt(true)).Status.StableRS
	waitFor(ctx, t, "both Services on the first revision", func() (bool, string) {
		a, p := m.selects(ctx, t, ns, active), m.selects(ctx, t, ns, preview)
		return a == first && p == first, fmt.Sprintf("active %q preview %q", a, p)
	})

	begin := time.Now()
	m.kubectlFlotilla(t, ns, "set", "image", key.Name, "rollouts-demo=argoproj/rollouts-demo:green")
	var next string
	m.waitRollout(ctx, t, key, "paused for promotion, the preview Service on 2 ready new pods", func(ro *v1alpha1.Rollout) bool {
		next = ro.Status.CurrentPodHash
		return next != first && ro.Status.Phase == v1alpha1.RolloutPhasePaused && len(ro.Status.PauseConditions) == 1 &&
			ro.Status.PauseConditions[0].Reason == v1alpha1.PauseReasonBlueGreenPause &&
			m.selects(ctx, t, ns, preview) == next && m.replicaSets(ctx, t, ns)[next] == [2]int32{2, 2}
	})
	previewed := time.Now()
	time.Sleep(3 * time.Second) // the pause holds the active Service on the old ReplicaSet
	if a, rss := m.selects(ctx, t, ns, active), m.replicaSets(ctx, t, ns); a != first || rss[first] != [2]int32{2, 2} {
		t.Fatalf("during the pause the active Service selects %q and the ReplicaSets are %v; want the old %s with its 2 pods", a, rss, first)
	}

	promoted := time.Now()
	m.kubectlFlotilla(t, ns, "promote", key.Name)
	waitFor(ctx, t, "the active Service on the new ReplicaSet", func() (bool, string) {
		a := m.selects(ctx, t, ns, active)
		return a == next, "active selects " + a
	})
	switched := time.Now()
	if rss := m.replicaSets(ctx, t, ns); rss[first][0] != 2 {
		t.Fatalf("right after the switch the old ReplicaSet wants %d pods, want 2 until scaleDownDelaySeconds pass", rss[first][0])
	}
	got := m.waitRollout(ctx, t, key, "Healthy on the new revision", healthyAt(true))
	if got.Status.StableRS != next || m.selects(ctx, t, ns, preview) != next {
		t.Fatalf("after promote: stable %s, preview %s; want both on %s", got.Status.StableRS, m.selects(ctx, t, ns, preview), next)
	}
	waitFor(ctx, t, "the old ReplicaSet scaled to 0", func() (bool, string) {
		rss := m.replicaSets(ctx, t, ns)
		return rss[first][0] == 0, fmt.Sprintf("(desired, ready) by hash: %v", rss)
	})
	scaledDown := time.Now()
	// The switch was seen up to one poll (200ms) after it happened; allow a second for that.
	if kept := scaledDown.Sub(switched); kept < 29*time.Second {
		t.Fatalf("the old ReplicaSet went to 0 %s after the switch, before scaleDownDelaySeconds (30s)", kept)
	}
	t.Logf("rollout-bluegreen.yaml: %s from set image to the preview ready and paused; switch %s after promote; old pods kept %s after the switch (scaleDownDelaySeconds 30s); no timed pause",
		previewed.Sub(begin).Round(100*time.Millisecond), switched.Sub(promoted).Round(100*time.Millisecond), scaledDown.Sub(switched).Round(100*time.Millisecond))
}
