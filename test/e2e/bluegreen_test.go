package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	activeSvc  = "rollout-bluegreen-active"
	previewSvc = "rollout-bluegreen-preview"
)

// startBlueGreen creates the two Services and the blue-green Rollout (manifest edited by
// edit) and waits for its first revision, which both Services select. It returns the key
// and the first revision's hash.
func startBlueGreen(ctx context.Context, t *testing.T, m member, edit func(string) string) (string, client.ObjectKey, string) {
	t.Helper()
	ns := harness.Namespace(t, m.c)
	m.createService(t, ns, activeSvc, "rollout-bluegreen")
	m.createService(t, ns, previewSvc, "rollout-bluegreen")
	ro := m.createRollout(t, ns, edit(blueGreen))
	key := client.ObjectKeyFromObject(ro)
	first := m.waitRollout(ctx, t, key, "the first revision Healthy", healthyAt(true)).Status.StableRS
	if a := m.selects(ctx, t, ns, activeSvc); a != first {
		t.Fatalf("the active Service selects %q, want the first revision %s", a, first)
	}
	return ns, key, first
}

// waitPreview sets a new image and waits until the preview Service selects the new
// ReplicaSet with every pod ready; it returns the new hash.
func waitPreview(ctx context.Context, t *testing.T, m member, ns string, key client.ObjectKey, image string) (string, *v1alpha1.Rollout) {
	t.Helper()
	m.kubectlFlotilla(t, ns, "set", "image", key.Name, "rollouts-demo="+image)
	var hash string
	ro := m.waitRollout(ctx, t, key, "the preview Service on the new ReplicaSet, ready", func(ro *v1alpha1.Rollout) bool {
		hash = ro.Status.CurrentPodHash
		return ro.Status.ObservedGeneration == ro.Generation && hash != ro.Status.StableRS &&
			m.selects(ctx, t, ns, previewSvc) == hash && m.replicaSets(ctx, t, ns)[hash][1] == 2
	})
	return hash, ro
}

// testBlueGreenPromote: the preview Service gets the new ReplicaSet at once, the active one
// stays on the old set through the pause and switches only on promote.
func testBlueGreenPromote(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, key, first := startBlueGreen(ctx, t, m, func(s string) string { return s })
	next, _ := waitPreview(ctx, t, m, ns, key, "argoproj/rollouts-demo:green")
	m.waitRollout(ctx, t, key, "paused before promotion", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused
	})
	for range 10 { // 2s: the pause holds the active Service on the old set
		if a := m.selects(ctx, t, ns, activeSvc); a != first {
			t.Fatalf("before promote the active Service selects %q, want the old set %s", a, first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tree := m.kubectlFlotilla(t, ns, "get", "rollout", key.Name)
	if !strings.Contains(tree, "preview ready:2/2") || !strings.Contains(tree, "active,stable ready:2/2") {
		t.Errorf("get rollout before promote does not mark the preview and the active sets:\n%s", tree)
	}

	m.kubectlFlotilla(t, ns, "promote", key.Name)
	got := m.waitRollout(ctx, t, key, "Healthy on the new set", healthyAt(true))
	if got.Status.StableRS != next {
		t.Fatalf("stable %s after promote, want the new set %s", got.Status.StableRS, next)
	}
	if a := m.selects(ctx, t, ns, activeSvc); a != next {
		t.Fatalf("after promote the active Service selects %q, want the new set %s", a, next)
	}
}

// testBlueGreenAutoPromotion: with autoPromotionSeconds the Rollout promotes itself that
// long after it paused, not before, with no promote.
func testBlueGreenAutoPromotion(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const secs = 8
	ns, key, first := startBlueGreen(ctx, t, m, func(s string) string {
		return strings.Replace(s, "autoPromotionEnabled: false", fmt.Sprintf("autoPromotionSeconds: %d", secs), 1)
	})
	next, _ := waitPreview(ctx, t, m, ns, key, "argoproj/rollouts-demo:green")
	paused := m.waitRollout(ctx, t, key, "paused before promotion", func(ro *v1alpha1.Rollout) bool {
		return len(ro.Status.PauseConditions) == 1 && ro.Status.PauseConditions[0].Reason == v1alpha1.PauseReasonBlueGreenPause
	})
	since := paused.Status.PauseConditions[0].StartTime.Time
	var switched time.Time
	waitFor(ctx, t, "the active Service switched by auto-promotion", func() (bool, string) {
		a := m.selects(ctx, t, ns, activeSvc)
		if a == next {
			switched = time.Now()
			return true, ""
		}
		if a != first {
			return false, "active selects " + a
		}
		return false, fmt.Sprintf("active still on %s %s after the pause began", first, time.Since(since).Round(time.Second))
	})
	// The pause start has second precision; allow that much.
	if after := switched.Sub(since); after < (secs-1)*time.Second {
		t.Fatalf("auto-promoted %s after the pause began, want at least autoPromotionSeconds (%ds)", after, secs)
	} else {
		t.Logf("auto-promoted %s after the pause began (autoPromotionSeconds %d)", after.Round(100*time.Millisecond), secs)
	}
	m.waitRollout(ctx, t, key, "Healthy on the new set", healthyAt(true))
}

// testBlueGreenAbort: abort during the pause keeps (returns) the active Service on the old
// set, scales the new set down after abortScaleDownDelaySeconds and reads Degraded; retry
// brings the preview back.
func testBlueGreenAbort(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, key, first := startBlueGreen(ctx, t, m, func(s string) string {
		return strings.Replace(s, "autoPromotionEnabled: false", "autoPromotionEnabled: false\n      abortScaleDownDelaySeconds: 3", 1)
	})
	next, _ := waitPreview(ctx, t, m, ns, key, "argoproj/rollouts-demo:red")
	m.waitRollout(ctx, t, key, "paused before promotion", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused
	})
	m.kubectlFlotilla(t, ns, "abort", key.Name)
	got := m.waitRollout(ctx, t, key, "Degraded after abort, the new set scaled to 0", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && m.replicaSets(ctx, t, ns)[next][0] == 0
	})
	if got.Status.StableRS != first {
		t.Fatalf("stable %s after abort, want the old set %s", got.Status.StableRS, first)
	}
	if a := m.selects(ctx, t, ns, activeSvc); a != first {
		t.Fatalf("after abort the active Service selects %q, want the old set %s", a, first)
	}
	if rs := m.replicaSets(ctx, t, ns)[first]; rs != [2]int32{2, 2} {
		t.Fatalf("after abort the old set has %v (desired, ready), want [2 2]", rs)
	}
	m.kubectlFlotilla(t, ns, "retry", key.Name)
	waitPreviewAgain := m.waitRollout(ctx, t, key, "the preview back on the new set after retry", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhasePaused && m.selects(ctx, t, ns, previewSvc) == next && m.replicaSets(ctx, t, ns)[next][1] == 2
	})
	if a := m.selects(ctx, t, ns, activeSvc); a != first {
		t.Fatalf("after retry the active Service selects %q before any promote, want %s (%s)", a, first, waitPreviewAgain.Status.Message)
	}
}

// neverEnds is an AnalysisTemplate whose runs no one measures here (the test runs no
// AnalysisRun controller): a post-promotion analysis of it stays Running, which holds the
// update after the active Service switched.
const neverEnds = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: never-ends
spec:
  metrics:
  - name: up
    provider:
      web:
        url: http://127.0.0.1:1/never
        jsonPath: "{$.ok}"
`

// testBlueGreenAbortAfterSwitch: abort while the post-promotion analysis runs, after the
// active Service switched to the new set, switches it back to the old set, which kept its
// pods, and scales the new set down.
func testBlueGreenAbortAfterSwitch(t *testing.T, m member) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, key, first := startBlueGreen(ctx, t, m, func(s string) string {
		return strings.Replace(s, "autoPromotionEnabled: false",
			"abortScaleDownDelaySeconds: 3\n      postPromotionAnalysis:\n        templates:\n        - templateName: never-ends", 1)
	})
	harness.CreateYAML(t, m.c, ns, neverEnds)
	m.kubectlFlotilla(t, ns, "set", "image", key.Name, "rollouts-demo=argoproj/rollouts-demo:purple")
	var next string
	running := m.waitRollout(ctx, t, key, "the active Service on the new set, with the post-promotion analysis running", func(ro *v1alpha1.Rollout) bool {
		next = ro.Status.CurrentPodHash
		return ro.Status.ObservedGeneration == ro.Generation && next != first &&
			m.selects(ctx, t, ns, activeSvc) == next && ro.Status.BlueGreen != nil && ro.Status.BlueGreen.PostPromotionAnalysisRunStatus != nil
	})
	if running.Status.StableRS != first || running.Status.Phase == v1alpha1.RolloutPhaseHealthy {
		t.Fatalf("during the post-promotion analysis: stable %s phase %s, want the old set %s and not Healthy", running.Status.StableRS, running.Status.Phase, first)
	}
	if rs := m.replicaSets(ctx, t, ns)[first]; rs != [2]int32{2, 2} {
		t.Fatalf("during the post-promotion analysis the old set has %v (desired, ready), want [2 2]", rs)
	}

	m.kubectlFlotilla(t, ns, "abort", key.Name)
	waitFor(ctx, t, "the active Service back on the old set", func() (bool, string) {
		a := m.selects(ctx, t, ns, activeSvc)
		return a == first, "active selects " + a
	})
	got := m.waitRollout(ctx, t, key, "Degraded, the new set scaled to 0", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded && m.replicaSets(ctx, t, ns)[next][0] == 0
	})
	if got.Status.StableRS != first {
		t.Fatalf("stable %s after abort, want the old set %s", got.Status.StableRS, first)
	}
	if rs := m.replicaSets(ctx, t, ns)[first]; rs != [2]int32{2, 2} {
		t.Fatalf("after abort the old set has %v (desired, ready), want [2 2]", rs)
	}
}
