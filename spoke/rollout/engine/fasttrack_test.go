package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
)

// placeAt sets what the hub stamps on a member Rollout it places at fleet revision rev: the
// term, the revision, and the fast-track directive when fastTrack is not "".
func placeAt(ro *v1alpha1.Rollout, rev, fastTrack string) {
	federation.StampTerm(ro, 3)
	ro.Annotations[federation.RevisionAnnotation] = rev
	delete(ro.Annotations, federation.FastTrackAnnotation)
	if fastTrack != "" {
		ro.Annotations[federation.FastTrackAnnotation] = fastTrack
	}
}

// placed is ro stamped by placeAt.
func placed(ro *v1alpha1.Rollout, rev, fastTrack string) *v1alpha1.Rollout {
	ro = ro.DeepCopy()
	placeAt(ro, rev, fastTrack)
	return ro
}

// returnTo is a Rollout stable at demo:v3 whose template the hub set back to demo:v1, an
// old ReplicaSet scaled to zero, with no rollbackWindow: only the hub's directive can skip the
// steps.
func returnTo(ro *v1alpha1.Rollout, rev, fastTrack string) *v1alpha1.Rollout {
	ro = steady(ro, "demo:v3")
	ro.Spec.Template = podTemplate("demo:v1")
	return placed(ro, rev, fastTrack)
}

// TestHubFastTrack covers the hub's fast-track directive one reconcile at a time.
func TestHubFastTrack(t *testing.T) {
	gs := gettingStarted()
	old := observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 0, 0), rs("demo:v3", 3, 5, 5))
	withoutTerm := returnTo(gs, "1", "1")
	delete(withoutTerm.Annotations, federation.TermAnnotation)
	atPause := paused(midUpdate(gs, 1), v1alpha1.PauseReasonCanaryPauseStep, t0.Add(-time.Hour))
	runEngineCases(t, []engineCase{{
		name: "canary: the directive for the revision placed skips every step, even beyond rollbackWindow",
		ro:   returnTo(gs, "1", "1"),
		obs:  old,
		contains: []string{
			"ScaleReplicaSet " + rsName("demo:v1") + " replicas=2",
		},
		events: []string{EventReasonSkipSteps},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 8)
			wantPauses(t, p)
			wantSkipEvent(t, p, "fleet.flotilla.dev/fast-track=1")
			if !strings.Contains(p.Status.Message, "fast-tracked by the hub (fleet.flotilla.dev/fast-track=1)") {
				t.Errorf("status.message %q does not say the hub fast-tracked the update", p.Status.Message)
			}
		},
	}, {
		name:     "canary: a directive for another revision is ignored: the steps run",
		ro:       returnTo(gs, "4", "1"),
		obs:      old,
		contains: []string{"ScaleReplicaSet " + rsName("demo:v1") + " replicas=1"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 0)
			if slices.Contains(eventReasons(p), EventReasonSkipSteps) || strings.Contains(p.Status.Message, "fast-track") {
				t.Errorf("a directive for revision 1 fast-tracked revision 4: events %v, message %q", eventReasons(p), p.Status.Message)
			}
		},
	}, {
		name:     "canary: a directive on a Rollout no hub stamped with a term is ignored",
		ro:       withoutTerm,
		obs:      old,
		contains: []string{"ScaleReplicaSet " + rsName("demo:v1") + " replicas=1"},
		check:    func(t *testing.T, p Plan) { wantStep(t, p, 0) },
	}, {
		name:     "canary: an update held at an indefinite pause goes on once the directive applies",
		ro:       placed(atPause, "2", "2"),
		obs:      observed(rs("demo:v1", 1, 4, 4), rs("demo:v2", 2, 1, 1)),
		contains: []string{"ScaleReplicaSet " + rsName("demo:v2") + " replicas=3"},
		check: func(t *testing.T, p Plan) {
			wantStep(t, p, 8)
			wantPauses(t, p)
			if p.Status.Phase == v1alpha1.RolloutPhasePaused {
				t.Errorf("still Paused: %s", p.Status.Message)
			}
		},
	}, {
		name:    "canary: no update under way, the directive changes nothing",
		ro:      placed(steady(gs, "demo:v1"), "1", "1"),
		obs:     observed(rs("demo:v1", 1, 5, 5)),
		actions: nil,
		check: func(t *testing.T, p Plan) {
			wantPhase(t, p, v1alpha1.RolloutPhaseHealthy)
			if len(eventReasons(p)) != 0 {
				t.Errorf("events %v for a Rollout with nothing to do", eventReasons(p))
			}
		},
	}})
}

// wantSkipEvent checks that the plan records the SkipSteps event naming the directive.
func wantSkipEvent(t *testing.T, p Plan, directive string) {
	t.Helper()
	for _, a := range p.Actions {
		if ev, ok := a.(Event); ok && ev.Reason == EventReasonSkipSteps && strings.Contains(ev.Message, directive) {
			return
		}
	}
	t.Errorf("no %s event naming %s in %v", EventReasonSkipSteps, directive, p.Actions)
}

// TestSimulateHubFastTrackCanary: a canary with an indefinite pause step goes out as fleet
// revision 2 (promoted by hand), the v1 ReplicaSet is scaled to zero, and the hub returns the
// cluster to revision 1 with the directive: the Rollout reaches Healthy on v1 without a pause,
// a step or an AnalysisRun. The hub's next normal update (revision 3, whether or not the stale
// directive is still there) runs its steps again and holds at the pause.
func TestSimulateHubFastTrackCanary(t *testing.T) {
	ro := gettingStarted()
	ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{
		RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}}
	placeAt(ro, "1", "")
	c := deploy(t, ro)
	c.setImage("demo:v2")
	placeAt(c.ro, "2", "")
	c.settle(atIndefinitePause)
	c.promote()
	c.settle((*cluster).healthy)
	if n, _ := c.pods("demo:v1"); n != 0 || c.ro.Status.StableRS != hashOf("demo:v2") {
		t.Fatalf("want v2 stable and v1 scaled to zero before the return: %s", c.describe())
	}
	runs := len(c.runs)
	c.steps, c.events = nil, nil

	c.setImage("demo:v1")
	placeAt(c.ro, "1", "1")
	sawPause := false
	c.checks = append(c.checks, func(c *cluster, _ Action) { sawPause = sawPause || len(c.ro.Status.PauseConditions) > 0 })
	c.settle((*cluster).healthy)
	if !c.healthy() || c.ro.Status.StableRS != hashOf("demo:v1") {
		t.Fatalf("the fast-tracked return did not reach Healthy on v1: %s", c.describe())
	}
	if sawPause || !slices.Equal(c.steps, []int32{8}) || len(c.runs) != runs {
		t.Errorf("the fast-tracked return stepped: paused %v, step indexes %v, AnalysisRuns %d -> %d", sawPause, c.steps, runs, len(c.runs))
	}
	if n, a := c.pods("demo:v1"); n != 5 || a != 5 {
		t.Errorf("v1 pods %d/%d, want 5/5", a, n)
	}

	c.setImage("demo:v3")
	placeAt(c.ro, "3", "1") // the stale directive left behind names revision 1
	c.settle(atIndefinitePause)
	if !atIndefinitePause(c) || *c.ro.Status.CurrentStepIndex != 1 {
		t.Fatalf("the normal update to revision 3 was fast-tracked: %s", c.describe())
	}
}

// TestSimulateHubFastTrackBlueGreen: a blue-green Rollout that waits for a manual promotion,
// with pre- and post-promotion analyses, returns to v1 (its ReplicaSet scaled down, past the
// scale-down delay) at once under the directive: no pause, no AnalysisRun, the active Service
// on v1. A directive for another revision leaves the update waiting for its promotion.
func TestSimulateHubFastTrackBlueGreen(t *testing.T) {
	ro := blueGreenRollout(3)
	b := ro.Spec.Strategy.BlueGreen
	b.AutoPromotionEnabled = ptrBool(false)
	b.PrePromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	b.PostPromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "smoke"}}}
	placeAt(ro, "1", "")
	c := deploy(t, ro, "demo-active", "demo-preview")
	c.setImage("demo:v2")
	placeAt(c.ro, "2", "")
	c.settle((*cluster).paused)
	c.promote()
	c.settle((*cluster).healthy)
	c.settle(func(c *cluster) bool { n, _ := c.pods("demo:v1"); return n == 0 })
	if n, _ := c.pods("demo:v1"); n != 0 || c.svcs["demo-active"] != hashOf("demo:v2") {
		t.Fatalf("want v2 active and v1 scaled down before the return: %s", c.describe())
	}
	runs := len(c.runs)

	other := newClusterFrom(c)
	other.setImage("demo:v1")
	placeAt(other.ro, "1", "2")
	other.settle((*cluster).paused)
	if !other.paused() || other.svcs["demo-active"] != hashOf("demo:v2") {
		t.Errorf("a directive for revision 2 fast-tracked revision 1: %s", other.describe())
	}

	c.setImage("demo:v1")
	placeAt(c.ro, "1", "1")
	sawPause := false
	c.checks = append(c.checks, func(c *cluster, _ Action) { sawPause = sawPause || len(c.ro.Status.PauseConditions) > 0 })
	c.settle((*cluster).healthy)
	if !c.healthy() || c.svcs["demo-active"] != hashOf("demo:v1") || c.ro.Status.StableRS != hashOf("demo:v1") {
		t.Fatalf("the fast-tracked return did not promote v1: %s", c.describe())
	}
	if sawPause || len(c.runs) != runs {
		t.Errorf("the fast-tracked return paused (%v) or ran analyses (%d -> %d)", sawPause, runs, len(c.runs))
	}
}

// newClusterFrom is a copy of c's state, to try another course from the same point.
func newClusterFrom(c *cluster) *cluster {
	cp := *c
	cp.ro = c.ro.DeepCopy()
	cp.rss = nil
	for _, s := range c.rss {
		r := *s
		r.pods = slices.Clone(s.pods)
		cp.rss = append(cp.rss, &r)
	}
	cp.runs, cp.exps, cp.svcs = maps.Clone(c.runs), maps.Clone(c.exps), maps.Clone(c.svcs)
	cp.checks = slices.Clone(c.checks)
	return &cp
}
