package rollout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/test/harness"
)

// fastTrackRollout is a Rollout as a hub places it (placed label, term 1, fleet revision 1)
// with no pods, rollbackWindow 1 and the steps setWeight 20 and an indefinite pause.
const fastTrackRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: web
  labels: {fleet.flotilla.dev/placed: "true"}
  annotations: {fleet.flotilla.dev/term: "1", fleet.flotilla.dev/revision: "1"}
spec:
  replicas: 0
  rollbackWindow: {revisions: 1}
  selector: {matchLabels: {app: web}}
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web:v1"}]
`

// TestHubFastTrackBeyondRollbackWindow runs the real Rollout reconciler on a real API server.
// Revisions v1, v2 and v3 go out one after the other, each held at its pause step until
// promoted. Then the hub returns the Rollout to v1 (fleet revision 1) with the fast-track
// directive: v1's ReplicaSet is outside rollbackWindow (v2 came between) and scaled to zero,
// yet the update skips its steps. Every status the API server held on the way (read through a
// watch) is checked: none is Paused or at a step. A SkipSteps event names the directive. The
// next normal placement (v4, revision 4, the stale directive for revision 1 still there) holds
// at its pause step again; and a fast-track from a deposed leader (a lower term) is refused
// with StaleTerm, the Rollout staying where it was.
func TestHubFastTrackBeyondRollbackWindow(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{CRDDirs: []string{harness.SpokeCRDDir}, Scheme: scheme(t)})
	startReconciler(t, env)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := env.Client
	key := client.ObjectKey{Namespace: ns, Name: "web"}
	harness.CreateYAML(t, c, ns, fastTrackRollout)
	healthyOn := func(what string, hash func(string) bool) *v1alpha1.Rollout {
		t.Helper()
		return waitFor(ctx, t, c, key, what, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.ObservedGeneration == ro.Generation && ro.Status.Phase == v1alpha1.RolloutPhaseHealthy &&
				ro.Status.StableRS == ro.Status.CurrentPodHash && hash(ro.Status.CurrentPodHash)
		})
	}
	pausedAtStep1 := func(what string) *v1alpha1.Rollout {
		t.Helper()
		return waitFor(ctx, t, c, key, what, func(ro *v1alpha1.Rollout) bool {
			return ro.Status.ObservedGeneration == ro.Generation && ro.Status.Phase == v1alpha1.RolloutPhasePaused &&
				ptr.Deref(ro.Status.CurrentStepIndex, -1) == 1 && ro.Status.StableRS != ro.Status.CurrentPodHash
		})
	}
	v1 := healthyOn("v1 stable", func(h string) bool { return h != "" }).Status.CurrentPodHash
	for i, image := range []string{"example.com/web:v2", "example.com/web:v3"} {
		place(ctx, t, c, key, image, i+2, 1, "")
		ro := pausedAtStep1(image + " held at its pause step")
		promote(ctx, t, c, ro)
		healthyOn(image+" stable", func(h string) bool { return h == ro.Status.CurrentPodHash })
	}

	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &v1alpha1.RolloutList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	place(ctx, t, c, key, "example.com/web:v1", 1, 2, "1")
	healthyOn("back on v1, fast-tracked", func(h string) bool { return h == v1 })
	for seen := false; !seen; {
		select {
		case ev := <-w.ResultChan():
			ro, ok := ev.Object.(*v1alpha1.Rollout)
			if ev.Type != watch.Modified || !ok || ro.Status.CurrentPodHash != v1 {
				continue
			}
			if ro.Status.Phase == v1alpha1.RolloutPhasePaused || ptr.Deref(ro.Status.CurrentStepIndex, 2) < 2 {
				t.Errorf("the fast-tracked return went through a step: phase %s, step %d, message %q",
					ro.Status.Phase, ptr.Deref(ro.Status.CurrentStepIndex, -1), ro.Status.Message)
			}
			seen = ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == v1
		case <-ctx.Done():
			t.Fatal("the watch never showed the return to v1 Healthy")
		}
	}
	waitEvent(ctx, t, c, key, corev1.EventTypeNormal, "SkipSteps", federation.FastTrackAnnotation+"=1")

	place(ctx, t, c, key, "example.com/web:v4", 4, 2, "1") // the stale directive stays
	v4 := pausedAtStep1("v4 (revision 4) held at its pause step despite the directive for revision 1")

	place(ctx, t, c, key, "example.com/web:v1", 1, 1, "1") // a deposed leader, term 1
	ro := waitFor(ctx, t, c, key, "the stale fast-track refused", func(ro *v1alpha1.Rollout) bool {
		cond := meta.FindStatusCondition(ro.Status.Conditions, v1alpha1.RolloutInvalidSpec)
		return cond != nil && cond.Status == metav1.ConditionTrue && cond.Reason == v1alpha1.RolloutReasonStaleTerm
	})
	if ro.Status.CurrentPodHash != v4.Status.CurrentPodHash || ptr.Deref(ro.Status.CurrentStepIndex, -1) != 1 || ro.Status.StableRS != v1 {
		t.Errorf("a fast-track from term 1 moved the Rollout: current %s step %d stable %s, want %s at step 1 over %s",
			ro.Status.CurrentPodHash, ptr.Deref(ro.Status.CurrentStepIndex, -1), ro.Status.StableRS, v4.Status.CurrentPodHash, v1)
	}
}

// place does what the hub's server-side apply does to the Rollout: the image, fleet revision
// rev and term; fastTrack "" removes the directive (a normal dispatch), anything else is kept
// or set ("1" on a later revision leaves a stale one in place).
func place(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, image string, rev int, term uint64, fastTrack string) {
	t.Helper()
	ft := "null"
	if fastTrack != "" {
		ft = fmt.Sprintf("%q", fastTrack)
	}
	p := fmt.Sprintf(`{"metadata":{"annotations":{%q:"%d",%q:"%d",%q:%s}},"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`,
		federation.RevisionAnnotation, rev, federation.TermAnnotation, term, federation.FastTrackAnnotation, ft, image)
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

// promote clears the pause conditions, as kubectl flotilla promote does.
func promote(ctx context.Context, t *testing.T, c client.Client, ro *v1alpha1.Rollout) {
	t.Helper()
	if err := c.Status().Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(`{"status":{"pauseConditions":null}}`))); err != nil {
		t.Fatal(err)
	}
}
