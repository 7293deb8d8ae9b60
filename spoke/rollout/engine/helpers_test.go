package engine

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func podTemplate(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func baseRollout(replicas int32) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default", Generation: 1},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo"}},
			Template: podTemplate("demo:v1"),
		},
	}
}

func canaryRollout(replicas int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	ro := baseRollout(replicas)
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: steps}
	return ro
}

// routedRollout is a canary with a traffic router and the two Services it needs.
func routedRollout(replicas int32, steps ...v1alpha1.CanaryStep) *v1alpha1.Rollout {
	ro := canaryRollout(replicas, steps...)
	c := ro.Spec.Strategy.Canary
	c.CanaryService, c.StableService = "demo-canary", "demo-stable"
	c.TrafficRouting = &v1alpha1.RolloutTrafficRouting{
		Nginx:         &v1alpha1.NginxTrafficRouting{StableIngress: "demo"},
		ManagedRoutes: []v1alpha1.MangedRoutes{{Name: "header"}, {Name: "mirror"}},
	}
	return ro
}

func blueGreenRollout(replicas int32) *v1alpha1.Rollout {
	ro := baseRollout(replicas)
	ro.Spec.Strategy.BlueGreen = &v1alpha1.BlueGreenStrategy{ActiveService: "demo-active", PreviewService: "demo-preview"}
	return ro
}

func setWeight(w int32) v1alpha1.CanaryStep { return v1alpha1.CanaryStep{SetWeight: ptr.To(w)} }

func pauseFor(d string) v1alpha1.CanaryStep {
	v := intstr.FromString(d)
	return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &v}}
}

func pauseForever() v1alpha1.CanaryStep { return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{}} }

func analysisStep(template string) v1alpha1.CanaryStep {
	return v1alpha1.CanaryStep{Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: template}}}}
}

// gettingStarted is Argo Rollouts' rollouts-demo canary.
func gettingStarted() *v1alpha1.Rollout {
	return canaryRollout(5,
		setWeight(20), pauseForever(),
		setWeight(40), pauseFor("10s"),
		setWeight(60), pauseFor("10s"),
		setWeight(80), pauseFor("10s"))
}

// roundTrip passes a status through JSON, as the API server does: times lose their
// sub-second part.
func roundTrip(t testing.TB, st v1alpha1.RolloutStatus) v1alpha1.RolloutStatus {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out v1alpha1.RolloutStatus
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// actionStrings lists a plan's actions, without its events.
func actionStrings(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if _, ok := a.(Event); ok {
			continue
		}
		out = append(out, a.String())
	}
	return out
}

func eventReasons(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if ev, ok := a.(Event); ok {
			out = append(out, ev.Reason)
		}
	}
	return out
}

func conditionStatus(st *v1alpha1.RolloutStatus, t string) string {
	c := findCondition(st, t)
	if c == nil {
		return "-"
	}
	return string(c.Status) + "/" + c.Reason
}

func hashOf(image string) string { return PodTemplateHash(podTemplate(image), nil) }

func rsName(image string) string { return "demo-" + hashOf(image) }

// rs builds an observed ReplicaSet of image with replicas pods, available of them available.
func rs(image string, revision int64, replicas, available int32) ReplicaSet {
	tmpl := podTemplate(image)
	tmpl.Labels[LabelPodTemplateHash] = hashOf(image)
	return ReplicaSet{
		Name:              rsName(image),
		PodTemplateHash:   hashOf(image),
		Revision:          revision,
		Replicas:          replicas,
		CurrentReplicas:   replicas,
		ReadyReplicas:     available,
		AvailableReplicas: available,
		CreationTimestamp: t0.Add(time.Duration(revision) * time.Hour),
		Template:          tmpl,
	}
}

func services(sel map[string]string) map[string]Service {
	out := map[string]Service{}
	for name, hash := range sel {
		out[name] = Service{Name: name, Selector: hash}
	}
	return out
}

func containsAll(t *testing.T, got []string, want ...string) {
	t.Helper()
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
}

// engineCase is one row of a table test: a Rollout (spec and status) and what was
// observed, the actions expected (events aside), and checks on the plan.
type engineCase struct {
	name string
	ro   *v1alpha1.Rollout
	obs  Observed
	// actions are exactly the plan's actions, in order, events aside; unless contains is
	// set, in which case the plan must contain those.
	actions  []string
	contains []string
	// events are event reasons that must be recorded.
	events []string
	check  func(t *testing.T, p Plan)
}

func runEngineCases(t *testing.T, cases []engineCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.obs.Now.IsZero() {
				tc.obs.Now = t0
			}
			ro := tc.ro.DeepCopy()
			p := Reconcile(ro, tc.obs)
			if !reflect.DeepEqual(ro, tc.ro) {
				t.Errorf("the engine changed its input Rollout")
			}
			got := actionStrings(p)
			if tc.contains != nil {
				containsAll(t, got, tc.contains...)
			} else if !slices.Equal(got, tc.actions) {
				t.Errorf("actions:\n  got  %q\n  want %q", got, tc.actions)
			}
			containsAll(t, eventReasons(p), tc.events...)
			if tc.check != nil {
				tc.check(t, p)
			}
			if again := Reconcile(tc.ro.DeepCopy(), tc.obs); !reflect.DeepEqual(again, p) {
				t.Errorf("the same input gave another plan")
			}
		})
	}
}

// midUpdate turns ro into a v1 -> v2 update at step idx: v1 is stable, v2 desired.
func midUpdate(ro *v1alpha1.Rollout, idx int32) *v1alpha1.Rollout {
	ro = ro.DeepCopy()
	ro.Spec.Template = podTemplate("demo:v2")
	ro.Generation = 2
	ro.Status = v1alpha1.RolloutStatus{
		ObservedGeneration: 2,
		StableRS:           hashOf("demo:v1"),
		CurrentPodHash:     hashOf("demo:v2"),
		CurrentStepIndex:   &idx,
	}
	if c := ro.Spec.Strategy.Canary; c != nil {
		ro.Status.CurrentStepHash = StepsHash(c.Steps)
		ro.Status.Canary = &v1alpha1.CanaryStatus{}
		if c.TrafficRouting != nil {
			ro.Status.Canary.Weights = weights(0)
		}
	} else {
		ro.Status.BlueGreen = &v1alpha1.BlueGreenStatus{ActiveSelector: hashOf("demo:v1"), PreviewSelector: hashOf("demo:v2")}
	}
	return ro
}

// weights are router weights with w to v2 and the rest to v1.
func weights(w int32) *v1alpha1.TrafficWeights {
	return &v1alpha1.TrafficWeights{
		Canary: v1alpha1.WeightDestination{Weight: w, ServiceName: "demo-canary", PodTemplateHash: hashOf("demo:v2")},
		Stable: v1alpha1.WeightDestination{Weight: 100 - w, ServiceName: "demo-stable", PodTemplateHash: hashOf("demo:v1")},
	}
}

func paused(ro *v1alpha1.Rollout, r v1alpha1.PauseReason, since time.Time) *v1alpha1.Rollout {
	ro.Status.PauseConditions = append(ro.Status.PauseConditions, v1alpha1.PauseCondition{Reason: r, StartTime: metav1.NewTime(since)})
	ro.Status.ControllerPause = true
	return ro
}

func observed(rss ...ReplicaSet) Observed { return Observed{Now: t0, ReplicaSets: rss} }

func (o Observed) with(svcs map[string]string) Observed {
	o.Services = services(svcs)
	return o
}

func (o Observed) runs(runs ...AnalysisRun) Observed {
	o.AnalysisRuns = runs
	return o
}

func step(p Plan) int32 {
	if p.Status.CurrentStepIndex == nil {
		return -1
	}
	return *p.Status.CurrentStepIndex
}

func wantStep(t *testing.T, p Plan, idx int32) {
	t.Helper()
	if step(p) != idx {
		t.Errorf("step index = %d, want %d", step(p), idx)
	}
}

func wantPhase(t *testing.T, p Plan, phase v1alpha1.RolloutPhase) {
	t.Helper()
	if p.Status.Phase != phase {
		t.Errorf("phase = %s (%s), want %s", p.Status.Phase, p.Status.Message, phase)
	}
}

func wantCondition(t *testing.T, p Plan, typ, want string) {
	t.Helper()
	if got := conditionStatus(&p.Status, typ); got != want {
		t.Errorf("condition %s = %s, want %s", typ, got, want)
	}
}

func wantPauses(t *testing.T, p Plan, reasons ...v1alpha1.PauseReason) {
	t.Helper()
	var got []v1alpha1.PauseReason
	for _, pc := range p.Status.PauseConditions {
		got = append(got, pc.Reason)
	}
	if !slices.Equal(got, reasons) {
		t.Errorf("pause conditions = %v, want %v", got, reasons)
	}
	if p.Status.ControllerPause != (len(reasons) > 0) {
		t.Errorf("controllerPause = %v with pause conditions %v", p.Status.ControllerPause, got)
	}
}

func wantRequeue(t *testing.T, p Plan, d time.Duration) {
	t.Helper()
	if p.RequeueAfter != d {
		t.Errorf("requeue after %s, want %s", p.RequeueAfter, d)
	}
}

// wantOneEvent checks that the plan records exactly one event, with this message: one event
// per step transition, not one per pod or weight move.
func wantOneEvent(t *testing.T, p Plan, msg string) {
	t.Helper()
	var got []string
	for _, a := range p.Actions {
		if ev, ok := a.(Event); ok {
			got = append(got, ev.Message)
		}
	}
	if len(got) != 1 || got[0] != msg {
		t.Errorf("events %q, want exactly %q", got, msg)
	}
}
