package plugin

import (
	"bytes"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rs(name, hash string, rev string, uid types.UID, replicas, ready int32, image string, age time.Duration) appsv1.ReplicaSet {
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			Labels: map[string]string{engine.LabelPodTemplateHash: hash}, Annotations: map[string]string{engine.AnnotationRevision: rev}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: image}}}}},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready},
	}
}

func pod(name string, owner types.UID, ready bool, age time.Duration) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			OwnerReferences: []metav1.OwnerReference{{UID: owner, Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Ready: ready}}},
	}
}

// TestRenderCanaryPaused: a canary paused at step 1 shows its step, the set and actual
// weights, both images with their roles, and each revision's ReplicaSet, pods and analysis.
func TestRenderCanaryPaused(t *testing.T) {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "shop", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](5), Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](40)}},
		}}},
		Status: v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, Message: "CanaryPauseStep", CurrentStepIndex: ptr.To[int32](1),
			StableRS: "aaa", CurrentPodHash: "bbb", Replicas: 5, UpdatedReplicas: 1, ReadyReplicas: 5, AvailableReplicas: 5},
	}
	tree := Tree{
		Rollout: ro,
		ReplicaSets: []appsv1.ReplicaSet{
			rs("demo-aaa", "aaa", "1", "u1", 4, 4, "demo:blue", time.Hour),
			rs("demo-bbb", "bbb", "2", "u2", 1, 1, "demo:yellow", 2*time.Minute),
		},
		Pods: []corev1.Pod{
			pod("demo-bbb-x", "u2", true, time.Minute),
			pod("demo-aaa-b", "u1", true, time.Hour),
			pod("demo-aaa-a", "u1", false, time.Hour),
		},
		AnalysisRuns: []v1alpha1.AnalysisRun{{
			ObjectMeta: metav1.ObjectMeta{Name: "demo-bbb-2", CreationTimestamp: metav1.NewTime(t0.Add(-time.Minute)),
				Labels: map[string]string{engine.LabelPodTemplateHash: "bbb"}},
			Status: v1alpha1.AnalysisRunStatus{Phase: v1alpha1.AnalysisPhaseRunning, MetricResults: []v1alpha1.MetricResult{{Successful: 3, Failed: 1}}},
		}},
	}
	var b bytes.Buffer
	Render(&b, tree, t0)
	want := `Name:            demo
Namespace:       shop
Status:          ॥ Paused
Message:         CanaryPauseStep
Strategy:        Canary
  Step:          1/3
  SetWeight:     20
  ActualWeight:  20
Images:          demo:blue (stable)
                 demo:yellow (canary)
Replicas:        
  Desired:       5
  Current:       5
  Updated:       1
  Ready:         5
  Available:     5

NAME                   KIND         STATUS     AGE  INFO
⟳ demo                 Rollout      ॥ Paused   60m  
├──# revision:2                                     
│  ├──⧉ demo-bbb       ReplicaSet   ✔ Healthy  2m   canary ready:1/1
│  │  └──□ demo-bbb-x  Pod          ✔ Running  60s  ready:1/1
│  └──α demo-bbb-2     AnalysisRun  ✔ Running  60s  ✔ 3,✖ 1
└──# revision:1                                     
   └──⧉ demo-aaa       ReplicaSet   ✔ Healthy  60m  stable ready:4/4
      ├──□ demo-aaa-a  Pod          ✔ Running  60m  ready:0/1
      └──□ demo-aaa-b  Pod          ✔ Running  60m  ready:1/1
`
	if got := b.String(); got != want {
		t.Errorf("tree differs:\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestRenderBlueGreen: a blue-green Rollout marks the active and the preview ReplicaSets and
// shows a scaled-down old one.
func TestRenderBlueGreen(t *testing.T) {
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "bg", Namespace: "shop", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: v1alpha1.RolloutSpec{Replicas: ptr.To[int32](2), Strategy: v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
			ActiveService: "active", PreviewService: "preview",
		}}},
		Status: v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutPhasePaused, StableRS: "aaa", CurrentPodHash: "bbb",
			BlueGreen: &v1alpha1.BlueGreenStatus{ActiveSelector: "aaa", PreviewSelector: "bbb"}},
	}
	tree := Tree{Rollout: ro, ReplicaSets: []appsv1.ReplicaSet{
		rs("bg-000", "000", "1", "u0", 0, 0, "demo:red", 2*time.Hour),
		rs("bg-aaa", "aaa", "2", "u1", 2, 2, "demo:blue", time.Hour),
		rs("bg-bbb", "bbb", "3", "u2", 2, 1, "demo:green", time.Minute),
	}}
	var b bytes.Buffer
	Render(&b, tree, t0)
	want := `Name:         bg
Namespace:    shop
Status:       ॥ Paused
Strategy:     BlueGreen
Images:       demo:blue (active, stable)
              demo:green (preview)
Replicas:     
  Desired:    2
  Current:    0
  Updated:    0
  Ready:      0
  Available:  0

NAME             KIND        STATUS         AGE   INFO
⟳ bg             Rollout     ॥ Paused       60m   
├──# revision:3                                   
│  └──⧉ bg-bbb   ReplicaSet  ◌ Progressing  60s   preview ready:1/2
├──# revision:2                                   
│  └──⧉ bg-aaa   ReplicaSet  ✔ Healthy      60m   active,stable ready:2/2
└──# revision:1                                   
   └──⧉ bg-000   ReplicaSet  ◌ ScaledDown   120m  ready:0/0
`
	if got := b.String(); got != want {
		t.Errorf("tree differs:\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestSetWeightAndActualWeight: the set weight is the last setWeight at or before the step;
// the actual weight is the router's when status has one, else the available-pod share.
func TestSetWeightAndActualWeight(t *testing.T) {
	ro := &v1alpha1.Rollout{Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
		Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}}, {SetWeight: ptr.To[int32](60)}, {Pause: &v1alpha1.RolloutPause{}}},
	}}}}
	for step, want := range map[int32]int32{0: 20, 1: 20, 2: 60, 3: 60, 4: 100} {
		ro.Status.CurrentStepIndex = ptr.To(step)
		if got := SetWeight(ro); got != want {
			t.Errorf("step %d: set weight %d, want %d", step, got, want)
		}
	}
	ro.Status.CurrentPodHash = "b"
	rss := []appsv1.ReplicaSet{rs("a", "a", "1", "1", 3, 3, "x", 0), rs("b", "b", "2", "2", 1, 1, "y", 0)}
	if got := ActualWeight(ro, rss); got != 25 {
		t.Errorf("actual weight from pods %d, want 25", got)
	}
	ro.Status.Canary = &v1alpha1.CanaryStatus{Weights: &v1alpha1.TrafficWeights{Canary: v1alpha1.WeightDestination{Weight: 40}}}
	if got := ActualWeight(ro, rss); got != 40 {
		t.Errorf("actual weight from the router %d, want 40", got)
	}
}
