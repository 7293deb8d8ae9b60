package crash_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// event is one watch event of the Rollout or of the canary Ingress.
type event struct {
	rv      uint64
	seen    time.Time
	rollout *v1alpha1.Rollout
	// weight is the canary Ingress's canary-weight (0 once it is deleted); ingress is set for
	// events of the canary Ingress.
	ingress bool
	weight  int32
}

// recorder keeps every watch event of both objects.
type recorder struct {
	mu      sync.Mutex
	events  []event
	latest  *v1alpha1.Rollout
	weight  int32
	exists  bool
	changed chan struct{}
}

// watch records list's events in namespace ns until ctx ends, resuming from the last
// resourceVersion when the server closes the watch.
func (r *recorder) watch(ctx context.Context, t *testing.T, wc client.WithWatch, ns string, list client.ObjectList) {
	rv := ""
	for ctx.Err() == nil {
		w, err := wc.Watch(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("watch %T: %v", list, err)
			}
			return
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				if ctx.Err() != nil {
					break
				}
				t.Errorf("watch %T: error event %v", list, ev.Object)
				continue
			}
			obj, ok := ev.Object.(client.Object)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			rv = obj.GetResourceVersion()
			r.record(t, ev.Type, obj)
		}
		w.Stop()
	}
}

func (r *recorder) record(t *testing.T, typ watch.EventType, obj client.Object) {
	// One etcd serves the whole cluster, so resourceVersions (etcd revisions) of different
	// kinds are ordered against each other: they say which Rollout status was current when
	// the Ingress changed.
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Errorf("resourceVersion %q: %v", obj.GetResourceVersion(), err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch o := obj.(type) {
	case *v1alpha1.Rollout:
		r.events = append(r.events, event{rv: rv, seen: time.Now(), rollout: o})
		r.latest = o
	case *networkingv1.Ingress:
		if o.Name != canaryIngress {
			return
		}
		ev := event{rv: rv, seen: time.Now(), ingress: true}
		if typ != watch.Deleted {
			w, err := strconv.ParseInt(o.Annotations[weightKey], 10, 32)
			if err != nil {
				t.Errorf("canary Ingress %s=%q: %v", weightKey, o.Annotations[weightKey], err)
			}
			ev.weight = int32(w)
		}
		r.events = append(r.events, ev)
		r.weight, r.exists = ev.weight, typ != watch.Deleted
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitRollout waits until the latest Rollout seen by the watch satisfies ok.
func (r *recorder) waitRollout(ctx context.Context, t *testing.T, what string, timeout time.Duration, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	var got *v1alpha1.Rollout
	r.wait(ctx, t, what, timeout, func() (bool, string) {
		got = r.latest
		if got == nil {
			return false, "no Rollout yet"
		}
		return ok(got), describe(got)
	})
	return got
}

// waitWeight waits until the canary Ingress carries weight w.
func (r *recorder) waitWeight(ctx context.Context, t *testing.T, w int32, timeout time.Duration) {
	t.Helper()
	r.wait(ctx, t, fmt.Sprintf("the canary Ingress at weight %d", w), timeout, func() (bool, string) {
		return r.exists && r.weight == w, fmt.Sprintf("canary Ingress exists %v with weight %d", r.exists, r.weight)
	})
}

func (r *recorder) waitIngress(ctx context.Context, t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	r.wait(ctx, t, what, timeout, func() (bool, string) {
		return !r.exists, fmt.Sprintf("canary Ingress exists %v with weight %d", r.exists, r.weight)
	})
}

func (r *recorder) wait(ctx context.Context, t *testing.T, what string, timeout time.Duration, ok func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		done, last := ok()
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("waiting %s for %s; last seen: %s", timeout, what, last)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last seen: %s", what, ctx.Err(), last)
		}
	}
}

func describe(ro *v1alpha1.Rollout) string {
	step := "-"
	if ro.Status.CurrentStepIndex != nil {
		step = strconv.Itoa(int(*ro.Status.CurrentStepIndex))
	}
	return fmt.Sprintf("phase %s step %s hash %s stable %s weight %s available %d message %q",
		ro.Status.Phase, step, ro.Status.CurrentPodHash, ro.Status.StableRS, weightOf(ro), ro.Status.AvailableReplicas, ro.Status.Message)
}

func weightOf(ro *v1alpha1.Rollout) string {
	if w := statusWeights(ro); w != nil {
		return strconv.Itoa(int(w.Canary.Weight))
	}
	return "-"
}

func statusWeights(ro *v1alpha1.Rollout) *v1alpha1.TrafficWeights {
	if ro == nil || ro.Status.Canary == nil {
		return nil
	}
	return ro.Status.Canary.Weights
}

// declared is the canary weight that step index i of steps declares: that of the last
// setWeight at or before it; past the last step, 100 (the update is complete, as in Argo
// Rollouts, until the new ReplicaSet is marked stable and the weight returns to 0).
func declared(steps []v1alpha1.CanaryStep, i int32) int32 {
	if int(i) >= len(steps) {
		return 100
	}
	var w int32
	for _, s := range steps[:i+1] {
		if s.SetWeight != nil {
			w = *s.SetWeight
		}
	}
	return w
}

// checkHistory checks the recorded events: the step sequence of the new revision and the
// router weight against the step the status showed at each change of the canary Ingress.
func checkHistory(t *testing.T, r *recorder, steps []v1alpha1.CanaryStep, newHash string, pauseKills map[int32]time.Duration) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := int32(len(steps))

	// (a) The step index of the new revision: never decreasing, every step entered once in
	// order, so the steps completed are exactly 0..n-1, once each.
	var seq []int32
	var entered []time.Time
	for _, ev := range r.events {
		if ev.rollout == nil || ev.rollout.Status.CurrentPodHash != newHash || ev.rollout.Status.CurrentStepIndex == nil {
			continue
		}
		i := *ev.rollout.Status.CurrentStepIndex
		if len(seq) > 0 && i == seq[len(seq)-1] {
			continue
		}
		seq = append(seq, i)
		entered = append(entered, ev.seen)
	}
	var took []string
	for k := 1; k < len(entered); k++ {
		i, d := seq[k-1], entered[k].Sub(entered[k-1])
		took = append(took, fmt.Sprintf("%d:%s", i, d.Round(10*time.Millisecond)))
		// A restart resumes a pause where it was: had it started the pause again, the step
		// would last at least the time before the kill plus the whole pause.
		if p := steps[i].Pause; p != nil && p.Duration != nil {
			pause, err := time.ParseDuration(p.Duration.String()) // "3s" in rolloutYAML
			if err != nil {
				t.Fatal(err)
			}
			if kill, ok := pauseKills[i]; ok && d >= kill+pause {
				t.Errorf("pause step %d lasted %s after a kill %s into it: the %s pause started again", i, d, kill, pause)
			}
		}
	}
	t.Logf("time in each step (with the kill and restart): %s", strings.Join(took, " "))
	want := make([]int32, 0, n+1)
	for i := int32(0); i <= n; i++ {
		want = append(want, i)
	}
	if fmt.Sprint(seq) != fmt.Sprint(want) {
		t.Errorf("the step indexes the Rollout's status went through: %v, want %v (each step completed once, in order)", seq, want)
	} else {
		t.Logf("step indexes in status: %v", seq)
	}

	// (b) The router weight never exceeds the declared weight of the step that the Rollout's
	// status shows when the canary Ingress changes; and the same for the weight the status
	// itself records.
	var cur *v1alpha1.Rollout
	var pairs []string
	for _, ev := range r.events {
		if ev.rollout != nil {
			cur = ev.rollout
			if sw := statusWeights(cur); sw != nil && cur.Status.CurrentStepIndex != nil && cur.Status.StableRS != cur.Status.CurrentPodHash {
				if w, d := sw.Canary.Weight, declared(steps, *cur.Status.CurrentStepIndex); w > d {
					t.Errorf("rv %d: the status records canary weight %d at step %d, which declares %d", ev.rv, w, *cur.Status.CurrentStepIndex, d)
				}
			}
			continue
		}
		allowed, step := int32(0), "stable"
		if cur != nil && cur.Status.CurrentStepIndex != nil && cur.Status.StableRS != cur.Status.CurrentPodHash {
			allowed = declared(steps, *cur.Status.CurrentStepIndex)
			step = strconv.Itoa(int(*cur.Status.CurrentStepIndex))
		}
		pairs = append(pairs, fmt.Sprintf("(%s,%d)", step, ev.weight))
		if ev.weight > allowed {
			t.Errorf("rv %d: the canary Ingress has weight %d while the status shows step %s, which allows %d (status: %s)",
				ev.rv, ev.weight, step, allowed, describe(cur))
		}
	}
	t.Logf("(status step, router weight) at every change of the canary Ingress: %s", strings.Join(pairs, " "))

	// The router moved through the declared weights in order, each once (a weight that came
	// back after another would be a repeated step), and back to 0 at the end.
	var weights, wantWeights []int32
	for _, ev := range r.events {
		if ev.ingress && (len(weights) == 0 || weights[len(weights)-1] != ev.weight) {
			weights = append(weights, ev.weight)
		}
	}
	for _, s := range steps {
		if s.SetWeight != nil {
			wantWeights = append(wantWeights, *s.SetWeight)
		}
	}
	wantWeights = append(wantWeights, 0)
	if fmt.Sprint(weights) != fmt.Sprint(wantWeights) {
		t.Errorf("the canary Ingress's weights: %v, want %v", weights, wantWeights)
	}
}
