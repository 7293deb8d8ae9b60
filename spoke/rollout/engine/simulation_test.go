package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// deploy brings a new cluster to a healthy first revision.
func deploy(t *testing.T, ro *v1alpha1.Rollout, svcs ...string) *cluster {
	t.Helper()
	c := newCluster(t, ro, svcs...)
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("first deploy did not become Healthy: %s", c.describe())
	}
	c.steps, c.weights, c.events, c.completed, c.canaryPods = nil, nil, nil, nil, nil
	return c
}

// TestSimulateGettingStarted drives Argo's rollouts-demo canary (5 replicas, no router)
// through an update: it pauses at step 1 with 1 canary pod and 4 stable pods, and after a
// promote it completes with the new ReplicaSet stable and the old one scaled to zero.
func TestSimulateGettingStarted(t *testing.T) {
	c := deploy(t, gettingStarted())
	c.checks = append(c.checks, availabilityInvariant(5-1)) // maxUnavailable 25% of 5 = 1
	start := c.now

	c.setImage("demo:v2")
	c.settle((*cluster).paused)
	if !c.paused() || *c.ro.Status.CurrentStepIndex != 1 {
		t.Fatalf("want paused at step 1: %s", c.describe())
	}
	if n, a := c.pods("demo:v2"); n != 1 || a != 1 {
		t.Errorf("canary pods = %d/%d, want 1/1", a, n)
	}
	if n, a := c.pods("demo:v1"); n != 4 || a != 4 {
		t.Errorf("stable pods = %d/%d, want 4/4", a, n)
	}
	// Nothing moves while paused, however long.
	c.now = c.now.Add(time.Hour)
	if p, changed := c.reconcile(); changed {
		t.Fatalf("a paused Rollout changed: %v", actionStrings(p))
	}

	c.promote()
	pausedAt := c.now
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("not Healthy after promote: %s", c.describe())
	}
	if c.ro.Status.StableRS != hashOf("demo:v2") {
		t.Errorf("stableRS = %s, want the new hash", c.ro.Status.StableRS)
	}
	if n, _ := c.pods("demo:v1"); n != 0 {
		t.Errorf("old ReplicaSet still has %d replicas", n)
	}
	if n, a := c.pods("demo:v2"); n != 5 || a != 5 {
		t.Errorf("new ReplicaSet = %d/%d, want 5/5", a, n)
	}
	if want := []int32{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(c.steps, want) {
		t.Errorf("step indexes = %v, want %v", c.steps, want)
	}
	// Three 10s pauses, plus pods starting; the wall time after the promote is bounded.
	if d := c.now.Sub(pausedAt); d < 30*time.Second || d > 90*time.Second {
		t.Errorf("promote to Healthy took %s; the pauses sum to 30s", d)
	}
	t.Logf("update took %s of simulated time (pauses: indefinite + 30s)", c.now.Sub(start))

	// Converged: another reconcile changes nothing.
	if p, changed := c.reconcile(); changed {
		t.Fatalf("not converged: %v", actionStrings(p))
	}
}

// routedSteps exercises every kind of router step.
func routedSteps() *v1alpha1.Rollout {
	header := v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "header", Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "x-canary", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}}
	mirror := v1alpha1.CanaryStep{SetMirrorRoute: &v1alpha1.SetMirrorRoute{Name: "mirror", Match: []v1alpha1.RouteMatch{{Path: &v1alpha1.StringMatch{Prefix: "/"}}}}}
	scale := v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptrInt32(2)}}
	match := v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{MatchTrafficWeight: true}}
	return routedRollout(10,
		scale, header, mirror, pauseFor("30s"),
		setWeight(10), pauseFor("1m"),
		match, setWeight(30), analysisStep("success-rate"),
		setWeight(60), pauseForever(),
		setWeight(90), pauseFor("30s"))
}

func ptrInt32(v int32) *int32 { return &v }

// TestSimulateRoutedCanary drives a canary with a router through every step kind: the weight
// never exceeds the step's weight, at any action; the canary is scaled before it gets
// traffic; at the end the new ReplicaSet is stable, takes all traffic through the stable
// Service, and the old one is scaled down after scaleDownDelaySeconds.
func TestSimulateRoutedCanary(t *testing.T) {
	c := deploy(t, routedSteps(), "demo-canary", "demo-stable")
	c.checks = append(c.checks, weightInvariant, func(c *cluster, a Action) {
		// The canary runs enough pods for the weight it gets.
		if w, ok := a.(SetWeight); ok {
			n, avail := c.pods("demo:v2")
			if need := weightToReplicas(10, w.Weight, 100); avail < need && c.ro.Status.StableRS != hashOf("demo:v2") {
				t.Fatalf("weight %d set with %d/%d canary pods available, need %d", w.Weight, avail, n, need)
			}
		}
	})
	c.setImage("demo:v2")
	c.settle(pausedAt(10))
	if !pausedAt(10)(c) {
		t.Fatalf("did not stop at the indefinite pause: %s", c.describe())
	}
	if c.router.weight != 60 {
		t.Errorf("weight at the indefinite pause = %d, want 60", c.router.weight)
	}
	if n, _ := c.pods("demo:v2"); n != 6 {
		t.Errorf("canary replicas at 60%% = %d, want 6", n)
	}
	if n, _ := c.pods("demo:v1"); n != 10 {
		t.Errorf("stable replicas = %d, want 10 (no dynamicStableScale)", n)
	}
	if !c.router.routes["header"] || !c.router.routes["mirror"] {
		t.Errorf("managed routes = %v, want header and mirror", c.router.routes)
	}
	c.promote()
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("not Healthy: %s", c.describe())
	}
	if c.router.weight != 0 || c.svcs["demo-stable"] != hashOf("demo:v2") || c.svcs["demo-canary"] != hashOf("demo:v2") {
		t.Errorf("after promotion: weight %d, stable svc %s, canary svc %s", c.router.weight, c.svcs["demo-stable"], c.svcs["demo-canary"])
	}
	if len(c.router.routes) != 0 {
		t.Errorf("managed routes left: %v", c.router.routes)
	}
	if want := []int32{0, 10, 30, 60, 90, 0}; !slices.Equal(c.weights, want) {
		t.Errorf("weights = %v, want %v", c.weights, want)
	}
	// The old ReplicaSet waits for its 30s scale-down delay.
	if n, _ := c.pods("demo:v1"); n != 10 {
		t.Errorf("old stable scaled down before its delay: %d replicas", n)
	}
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v1"); return n == 0 })
	if n, _ := c.pods("demo:v1"); n != 0 {
		t.Errorf("old stable not scaled down: %s", c.describe())
	}
	c.settle(nil)
	if p, changed := c.reconcile(); changed {
		t.Fatalf("not converged: %v", actionStrings(p))
	}
}

// pausedAt stops settle when the Rollout is paused at step idx.
func pausedAt(idx int32) func(c *cluster) bool {
	return func(c *cluster) bool {
		return c.paused() && c.ro.Status.CurrentStepIndex != nil && *c.ro.Status.CurrentStepIndex == idx
	}
}

// TestSimulateAbortBasicCanary aborts the getting-started canary at its first pause: the
// canary goes away, the stable version refills within maxSurge and maxUnavailable, the phase
// is Degraded; a retry runs the steps again from the first one.
func TestSimulateAbortBasicCanary(t *testing.T) {
	c := deploy(t, gettingStarted())
	c.checks = append(c.checks, availabilityInvariant(4))
	c.setImage("demo:v2")
	c.settle(pausedAt(1))

	c.ro.Status.Abort = true
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v2"); return c.degraded() && n == 0 })
	if !c.degraded() || conditionStatus(&c.ro.Status, v1alpha1.RolloutAborted) != "True/AbortedByUser" {
		t.Fatalf("want Degraded and Aborted: %s", c.describe())
	}
	c.settle(nil)
	if n, a := c.pods("demo:v1"); n != 5 || a != 5 {
		t.Errorf("stable = %d/%d after abort, want 5/5", a, n)
	}
	if n, _ := c.pods("demo:v2"); n != 0 {
		t.Errorf("canary = %d after abort, want 0", n)
	}
	if *c.ro.Status.CurrentStepIndex != 0 {
		t.Errorf("step index after abort = %d, want 0", *c.ro.Status.CurrentStepIndex)
	}

	// Retry: a user clears status.abort.
	c.ro.Status.Abort = false
	c.settle(pausedAt(1))
	if !pausedAt(1)(c) || conditionStatus(&c.ro.Status, v1alpha1.RolloutAborted) != "False/Retried" {
		t.Fatalf("retry did not run the steps again: %s", c.describe())
	}
	c.promote()
	c.settle((*cluster).healthy)
	if !c.healthy() || c.ro.Status.StableRS != hashOf("demo:v2") {
		t.Fatalf("not Healthy on v2 after retry: %s", c.describe())
	}
}

// TestSimulateAbortRoutedCanary aborts a routed canary at 60%: the weight drops to 0 before
// the canary loses a pod, the stable version is never touched, and the canary is scaled
// down after abortScaleDownDelaySeconds.
func TestSimulateAbortRoutedCanary(t *testing.T) {
	c := deploy(t, routedSteps(), "demo-canary", "demo-stable")
	c.checks = append(c.checks, weightInvariant, func(c *cluster, a Action) {
		if s, ok := a.(ScaleReplicaSet); ok && s.Name == rsName("demo:v2") && s.Replicas < weightToReplicas(10, c.router.weight, 100) {
			t.Fatalf("canary scaled to %d while it still gets weight %d", s.Replicas, c.router.weight)
		}
		if s, ok := a.(ScaleReplicaSet); ok && s.Name == rsName("demo:v1") {
			t.Fatalf("stable scaled: %s", s)
		}
	})
	c.setImage("demo:v2")
	c.settle(pausedAt(10))
	c.ro.Status.Abort = true
	abortedAt := c.now
	plan, _ := c.reconcile()
	if acts := actionStrings(plan); len(acts) == 0 || acts[0] != "SetWeight 0" {
		t.Fatalf("first action of the abort = %v, want SetWeight 0", acts)
	}
	containsAll(t, actionStrings(plan), "RemoveManagedRoutes", "AnnotateReplicaSet "+rsName("demo:v2")+" "+AnnotationScaleDownDeadline)
	if !c.degraded() {
		t.Fatalf("want Degraded: %s", c.describe())
	}
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v2"); return n == 0 })
	if d := c.now.Sub(abortedAt); d < 30*time.Second {
		t.Errorf("canary scaled down %s after the abort, before the 30s abortScaleDownDelaySeconds", d)
	}
	c.settle(nil)
	if n, a := c.pods("demo:v1"); n != 10 || a != 10 || c.router.weight != 0 || len(c.router.routes) != 0 {
		t.Errorf("after abort: stable %d/%d, weight %d, routes %v", a, n, c.router.weight, c.router.routes)
	}
}

// TestSimulateAnalysisAbortAndRetry fails the analysis step: the update aborts by itself
// (reason AnalysisRunFailed), the stable version is untouched, and a retry creates a fresh
// AnalysisRun (never the failed one again) and completes.
func TestSimulateAnalysisAbortAndRetry(t *testing.T) {
	c := deploy(t, routedSteps(), "demo-canary", "demo-stable")
	c.checks = append(c.checks, weightInvariant)
	fail := true
	c.verdict = func(string) v1alpha1.AnalysisPhase {
		if fail {
			return v1alpha1.AnalysisPhaseFailed
		}
		return v1alpha1.AnalysisPhaseSuccessful
	}
	c.setImage("demo:v2")
	c.settle((*cluster).degraded)
	if conditionStatus(&c.ro.Status, v1alpha1.RolloutAborted) != "True/AnalysisRunFailed" || !c.ro.Status.Abort {
		t.Fatalf("want an abort for the failed analysis: %s", c.describe())
	}
	c.settle(nil)
	if c.router.weight != 0 {
		t.Errorf("weight after abort = %d", c.router.weight)
	}
	failed := len(c.runs)
	fail = false
	c.ro.Status.Abort = false
	c.settle(pausedAt(10))
	if len(c.runs) != failed+1 {
		t.Errorf("retry created %d AnalysisRuns, want 1 more than the %d before", len(c.runs)-failed, failed)
	}
	c.promote()
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("not Healthy after retry: %s", c.describe())
	}
}

// TestSimulateCrashSafety kills the agent at a random point of a random share of the plans
// (a repeatable seed per run) through a whole routed canary and the getting-started one: a
// killed plan has only some of its actions applied and its status dropped. The agent must
// resume at the same step with the same weights:
//   - the persisted step index never goes back, and every step completes once, in order
//     (its completion event may be recorded again when the kill came after it);
//   - the router weights go through exactly the sequence of an uninterrupted run;
//   - no object is created twice, and the weight never exceeds the step's.
func TestSimulateCrashSafety(t *testing.T) {
	for _, tc := range []struct {
		name string
		ro   func() *v1alpha1.Rollout
		svcs []string
	}{
		{"routed", routedSteps, []string{"demo-canary", "demo-stable"}},
		{"basic", gettingStarted, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(seed int64) *cluster {
				c := deploy(t, tc.ro(), tc.svcs...)
				c.checks = append(c.checks, weightInvariant)
				if seed != 0 {
					c.crash = seededCrash(seed, 0.35)
				}
				c.setImage("demo:v2")
				for range 20 {
					c.settle(func(c *cluster) bool { return c.healthy() || atIndefinitePause(c) })
					if c.healthy() {
						break
					}
					c.promote()
				}
				if !c.healthy() {
					t.Fatalf("seed %d: not Healthy: %s", seed, c.describe())
				}
				return c
			}
			want := run(0)
			crashes := 0
			for seed := int64(1); seed <= 40; seed++ {
				got := run(seed)
				crashes += got.crashes
				if !slices.IsSorted(got.steps) || got.steps[len(got.steps)-1] != want.steps[len(want.steps)-1] {
					t.Errorf("seed %d: step indexes %v went back or did not finish", seed, got.steps)
				}
				if done := firstOccurrences(got.completed); !slices.Equal(done, want.completed) {
					t.Errorf("seed %d: completed steps %v, want %v", seed, done, want.completed)
				}
				if !slices.Equal(got.weights, want.weights) {
					t.Errorf("seed %d: weights %v, want %v", seed, got.weights, want.weights)
				}
				if !slices.Equal(got.canaryPods, want.canaryPods) {
					t.Errorf("seed %d: canary replicas %v, want %v", seed, got.canaryPods, want.canaryPods)
				}
			}
			t.Logf("40 runs, %d kills; steps %v, weights %v, canary replicas %v", crashes, want.completed, want.weights, want.canaryPods)
		})
	}
}

func firstOccurrences(s []int) []int {
	var out []int
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// TestSimulateBlueGreen runs a blue-green update with a smaller preview, pre- and
// post-promotion analysis and a manual promotion: the preview Service gets the new
// ReplicaSet at once, the active Service switches only on promote, after the new version is
// scaled to full size; the old version keeps every pod until the post-promotion analysis
// passed, and goes after scaleDownDelaySeconds.
func TestSimulateBlueGreen(t *testing.T) {
	ro := blueGreenRollout(4)
	b := ro.Spec.Strategy.BlueGreen
	b.AutoPromotionEnabled = ptrBool(false)
	b.PreviewReplicaCount = ptrInt32(1)
	b.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	b.PostPromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	c := deploy(t, ro, "demo-active", "demo-preview")
	v1, v2 := hashOf("demo:v1"), hashOf("demo:v2")
	if c.svcs["demo-active"] != v1 {
		t.Fatalf("active Service selects %q after the first deploy", c.svcs["demo-active"])
	}
	c.checks = append(c.checks, func(c *cluster, a Action) {
		// The active Service only ever selects a fully available version.
		for _, r := range c.observe().ReplicaSets {
			if r.PodTemplateHash == c.svcs["demo-active"] && r.AvailableReplicas < 4 {
				t.Fatalf("active Service selects %s with %d available pods", r.Name, r.AvailableReplicas)
			}
		}
	})
	c.setImage("demo:v2")
	c.settle((*cluster).paused)
	if !c.paused() || c.svcs["demo-active"] != v1 || c.svcs["demo-preview"] != v2 {
		t.Fatalf("want paused with active=v1, preview=v2: %s active=%s preview=%s", c.describe(), c.svcs["demo-active"], c.svcs["demo-preview"])
	}
	if n, _ := c.pods("demo:v2"); n != 1 {
		t.Errorf("preview replicas = %d, want previewReplicaCount 1", n)
	}
	if len(c.runs) != 1 {
		t.Errorf("want the pre-promotion AnalysisRun before the pause, have %d runs", len(c.runs))
	}
	c.promote()
	c.settle((*cluster).healthy)
	if !c.healthy() || c.svcs["demo-active"] != v2 || c.ro.Status.StableRS != v2 || len(c.runs) != 2 {
		t.Fatalf("want Healthy on v2 after the post-promotion analysis: %s, %d runs", c.describe(), len(c.runs))
	}
	if n, _ := c.pods("demo:v1"); n != 4 {
		t.Errorf("old active scaled down before its delay: %d", n)
	}
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v1"); return n == 0 })
	c.settle(nil)
	if p, changed := c.reconcile(); changed {
		t.Fatalf("not converged: %v", actionStrings(p))
	}
	if st := c.ro.Status.BlueGreen; st.ActiveSelector != v2 || st.PreviewSelector != v2 {
		t.Errorf("status selectors: %+v", st)
	}
}

func ptrBool(v bool) *bool { return &v }

// TestSimulateBlueGreenAutoPromotion honours autoPromotionSeconds, counted from the moment
// the new version is available.
func TestSimulateBlueGreenAutoPromotion(t *testing.T) {
	ro := blueGreenRollout(3)
	ro.Spec.Strategy.BlueGreen.AutoPromotionSeconds = 30
	c := deploy(t, ro, "demo-active", "demo-preview")
	c.setImage("demo:v2")
	c.settle((*cluster).paused)
	pausedAt := c.now
	c.settle(func(c *cluster) bool { return c.svcs["demo-active"] == hashOf("demo:v2") })
	if d := c.now.Sub(pausedAt); d < 30*time.Second || d > 31*time.Second {
		t.Errorf("active switched %s after the pause began, want 30s", d)
	}
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("not Healthy: %s", c.describe())
	}
}

// TestSimulateBlueGreenAbort fails the post-promotion analysis: the active Service goes back
// to the old version, which never lost a pod, and the new one is scaled down after
// abortScaleDownDelaySeconds.
func TestSimulateBlueGreenAbort(t *testing.T) {
	ro := blueGreenRollout(3)
	ro.Spec.Strategy.BlueGreen.PostPromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	c := deploy(t, ro, "demo-active", "demo-preview")
	c.verdict = func(string) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseFailed }
	c.checks = append(c.checks, func(c *cluster, a Action) {
		if s, ok := a.(ScaleReplicaSet); ok && s.Name == rsName("demo:v1") {
			t.Fatalf("old active scaled: %s", s)
		}
	})
	c.setImage("demo:v2")
	c.settle(func(c *cluster) bool { return c.svcs["demo-active"] == hashOf("demo:v2") })
	c.settle((*cluster).degraded)
	if !c.degraded() || c.svcs["demo-active"] != hashOf("demo:v1") {
		t.Fatalf("want Degraded with the active Service back on v1: %s active=%s", c.describe(), c.svcs["demo-active"])
	}
	if conditionStatus(&c.ro.Status, v1alpha1.RolloutAborted) != "True/AnalysisRunFailed" {
		t.Errorf("Aborted = %s", conditionStatus(&c.ro.Status, v1alpha1.RolloutAborted))
	}
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v2"); return n == 0 })
	c.settle(nil)
	if n, a := c.pods("demo:v1"); n != 3 || a != 3 {
		t.Errorf("old active = %d/%d", a, n)
	}
	if n, _ := c.pods("demo:v2"); n != 0 {
		t.Errorf("new version not scaled down after abort: %d", n)
	}
	// Retry with a passing analysis completes the update.
	c.verdict = func(string) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseSuccessful }
	c.checks = nil
	c.ro.Status.Abort = false
	c.settle((*cluster).healthy)
	if !c.healthy() || c.svcs["demo-active"] != hashOf("demo:v2") {
		t.Fatalf("retry did not complete: %s", c.describe())
	}
}

// TestSimulateCrashSafetyBlueGreenAndAbort kills the agent at random points of a blue-green
// update with analyses and of a routed canary's abort: the active Service only ever moves
// v1 -> v2 and only to a fully available version, no run is created twice, and an aborted
// canary never loses pods while the router still sends it traffic.
func TestSimulateCrashSafetyBlueGreenAndAbort(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		ro := blueGreenRollout(3)
		b := ro.Spec.Strategy.BlueGreen
		b.AutoPromotionEnabled = ptrBool(false)
		b.PreviewReplicaCount = ptrInt32(1)
		b.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
		b.PostPromotionAnalysis = b.PrePromotionAnalysis.DeepCopy()
		c := deploy(t, ro, "demo-active", "demo-preview")
		var actives []string
		c.checks = append(c.checks, func(c *cluster, a Action) {
			if s, ok := a.(SetServiceSelector); ok && s.Service == "demo-active" {
				actives = append(actives, s.PodTemplateHash)
				for _, r := range c.observe().ReplicaSets {
					if r.PodTemplateHash == s.PodTemplateHash && r.AvailableReplicas < 3 {
						t.Fatalf("seed %d: active Service switched to %s with %d available pods", seed, r.Name, r.AvailableReplicas)
					}
				}
			}
		})
		c.crash = seededCrash(seed, 0.35)
		c.setImage("demo:v2")
		for range 20 {
			c.settle(func(c *cluster) bool { return c.healthy() || c.paused() })
			if c.healthy() {
				break
			}
			c.promote()
		}
		if !c.healthy() || len(c.runs) != 2 {
			t.Fatalf("seed %d: not Healthy with 2 runs: %s, %d runs", seed, c.describe(), len(c.runs))
		}
		if slices.Compact(actives)[0] != hashOf("demo:v2") || len(slices.Compact(actives)) != 1 {
			t.Errorf("seed %d: active Service moves %v", seed, actives)
		}
	}

	for seed := int64(1); seed <= 30; seed++ {
		c := deploy(t, routedSteps(), "demo-canary", "demo-stable")
		c.setImage("demo:v2")
		c.settle(pausedAt(10))
		c.checks = append(c.checks, func(c *cluster, a Action) {
			if s, ok := a.(ScaleReplicaSet); ok && s.Name == rsName("demo:v2") && c.router.weight > 0 {
				t.Fatalf("seed %d: canary scaled to %d while it gets weight %d", seed, s.Replicas, c.router.weight)
			}
		})
		c.crash = seededCrash(seed, 0.35)
		c.ro.Status.Abort = true
		c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v2"); return c.degraded() && n == 0 })
		if n, _ := c.pods("demo:v2"); n != 0 || c.router.weight != 0 || !c.degraded() {
			t.Fatalf("seed %d: abort did not finish: %s", seed, c.describe())
		}
	}
}

// TestSimulateWritesPerStep counts what BenchmarkCanaryUpdate100 measures on a real cluster,
// on the engine alone: a canary of 10 pods with four setWeight steps whose pods become
// available one by one. Each step costs one status write (the step index moving) and one
// event (the step transition), however many pods change on the way; the pod counts in
// status are written with the transitions.
func TestSimulateWritesPerStep(t *testing.T) {
	ro := canaryRollout(10, setWeight(20), setWeight(40), setWeight(60), setWeight(80))
	c := deploy(t, ro)
	c.podStagger = 700 * time.Millisecond
	writes0 := c.statusWrites
	c.setImage("demo:v2")
	c.settle((*cluster).healthy)
	if !c.healthy() {
		t.Fatalf("not Healthy: %s", c.describe())
	}
	if want := []int32{0, 1, 2, 3, 4}; !slices.Equal(c.steps, want) {
		t.Errorf("step indexes = %v, want %v", c.steps, want)
	}
	writes := c.statusWrites - writes0
	var reasons []string
	for _, e := range c.events {
		reasons = append(reasons, e.Reason)
	}
	// One write and one event per step, plus the update starting and the promotion.
	if writes > 4+2 {
		t.Errorf("%d status writes for 4 steps, want at most 6", writes)
	}
	if len(c.events) > 4+2 {
		t.Errorf("%d events for 4 steps, want at most 6: %v", len(c.events), reasons)
	}
	if st := c.ro.Status; st.AvailableReplicas != 10 || st.UpdatedReplicas != 10 || st.Replicas != 10 {
		t.Errorf("Healthy with counts replicas %d updated %d available %d, want 10 each", st.Replicas, st.UpdatedReplicas, st.AvailableReplicas)
	}
	t.Logf("4 steps: %d status writes, %d events %v", writes, len(c.events), reasons)
}
