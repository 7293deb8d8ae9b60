package engine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

func steady(ro *v1alpha1.Rollout, image string) *v1alpha1.Rollout {
	ro = ro.DeepCopy()
	ro.Spec.Template = podTemplate(image)
	ro.Status = v1alpha1.RolloutStatus{StableRS: hashOf(image), CurrentPodHash: hashOf(image), CurrentStepIndex: ptrInt32(int32(len(ro.Spec.Strategy.Canary.Steps)))}
	ro.Status.CurrentStepHash = StepsHash(ro.Spec.Strategy.Canary.Steps)
	return ro
}

// TestHistoryAndOperations covers revisionHistoryLimit, rollbackWindow and restartAt.
func TestHistoryAndOperations(t *testing.T) {
	gs := gettingStarted()
	limited := gs.DeepCopy()
	limited.Spec.RevisionHistoryLimit = ptrInt32(2)
	window := gs.DeepCopy()
	window.Spec.RollbackWindow = &v1alpha1.RollbackWindowSpec{Revisions: 2}
	restart := steady(gs, "demo:v1")
	restart.Spec.RestartAt = &metav1.Time{Time: t0.Add(-time.Minute)}
	pod := func(name string, age time.Duration, available bool) Pod {
		return Pod{Name: name, PodTemplateHash: hashOf("demo:v1"), CreationTimestamp: t0.Add(-age), Available: available}
	}
	runEngineCases(t, []engineCase{{
		name: "revisionHistoryLimit: the oldest ReplicaSets without pods are deleted",
		ro:   steady(limited, "demo:v5"),
		obs: observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 0, 0), rs("demo:v3", 3, 0, 0), rs("demo:v4", 4, 0, 0),
			rs("demo:v5", 5, 5, 5)),
		actions: []string{"DeleteReplicaSet " + rsName("demo:v1"), "DeleteReplicaSet " + rsName("demo:v2")},
	}, {
		name: "rollbackWindow: going back to a recent revision skips the steps",
		ro: func() *v1alpha1.Rollout {
			ro := steady(window, "demo:v3")
			ro.Spec.Template = podTemplate("demo:v2")
			return ro
		}(),
		obs: observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 0, 0), rs("demo:v3", 3, 5, 5)),
		actions: []string{
			"AnnotateReplicaSet " + rsName("demo:v2") + " " + AnnotationRevision + "=4",
			"ScaleReplicaSet " + rsName("demo:v2") + " replicas=2",
			"ScaleReplicaSet " + rsName("demo:v3") + " replicas=4",
		},
		events: []string{EventReasonSkipSteps},
		check:  func(t *testing.T, p Plan) { wantStep(t, p, 8) },
	}, {
		name: "rollbackWindow: an older revision, outside the window, runs the steps",
		ro: func() *v1alpha1.Rollout {
			ro := steady(window, "demo:v4")
			ro.Spec.Template = podTemplate("demo:v1")
			return ro
		}(),
		obs:      observed(rs("demo:v1", 1, 0, 0), rs("demo:v2", 2, 0, 0), rs("demo:v3", 3, 0, 0), rs("demo:v4", 4, 5, 5)),
		contains: []string{"ScaleReplicaSet " + rsName("demo:v1") + " replicas=1"},
		check:    func(t *testing.T, p Plan) { wantStep(t, p, 0) },
	}, {
		name: "restartAt: pods created before it are replaced within maxUnavailable, unavailable ones first",
		ro:   restart,
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 5, 4))
			o.Pods = []Pod{pod("a", time.Hour, true), pod("b", 2*time.Hour, true), pod("c", time.Hour, false), pod("d", time.Hour, true), pod("e", time.Second, true)}
			return o
		}(),
		actions: []string{"EvictPod c"},
	}, {
		name: "restartAt: with every pod available, one at a time",
		ro:   restart,
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 5, 5))
			o.Pods = []Pod{pod("a", time.Hour, true), pod("b", 2*time.Hour, true), pod("c", time.Second, true), pod("d", time.Second, true), pod("e", time.Second, true)}
			return o
		}(),
		actions: []string{"EvictPod b"},
	}, {
		name: "restartAt: every pod is newer, restartedAt records it",
		ro:   restart,
		obs: func() Observed {
			o := observed(rs("demo:v1", 1, 5, 5))
			o.Pods = []Pod{pod("a", time.Second, true), pod("b", time.Second, true), pod("c", time.Second, true), pod("d", time.Second, true), pod("e", time.Second, true)}
			return o
		}(),
		actions: nil,
		events:  []string{EventReasonRestartFinished},
		check: func(t *testing.T, p Plan) {
			if p.Status.RestartedAt == nil || !p.Status.RestartedAt.Time.Equal(t0.Add(-time.Minute)) {
				t.Errorf("restartedAt %v", p.Status.RestartedAt)
			}
		},
	}, {
		name: "restartAt in the future: called back then",
		ro: func() *v1alpha1.Rollout {
			ro := restart.DeepCopy()
			ro.Spec.RestartAt = &metav1.Time{Time: t0.Add(90 * time.Second)}
			return ro
		}(),
		obs:     observed(rs("demo:v1", 1, 5, 5)),
		actions: nil,
		check:   func(t *testing.T, p Plan) { wantRequeue(t, p, 90*time.Second) },
	}})
}
