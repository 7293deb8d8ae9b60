package engine

import (
	"math/rand"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestNeverPanics feeds the engine random specs, statuses and observations, valid or not: it
// must always return a plan, and a second call with the same input the same plan.
func TestNeverPanics(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	images := []string{"demo:v1", "demo:v2", "demo:v3"}
	phases := []v1alpha1.AnalysisPhase{"", v1alpha1.AnalysisPhaseRunning, v1alpha1.AnalysisPhaseSuccessful, v1alpha1.AnalysisPhaseFailed, v1alpha1.AnalysisPhaseInconclusive, v1alpha1.AnalysisPhaseError}
	randomStep := func() v1alpha1.CanaryStep {
		switch r.Intn(7) {
		case 0:
			return setWeight(int32(r.Intn(120)))
		case 1:
			d := intstr.FromInt32(int32(r.Intn(30)))
			return v1alpha1.CanaryStep{Pause: &v1alpha1.RolloutPause{Duration: &d}}
		case 2:
			return pauseForever()
		case 3:
			return analysisStep("t")
		case 4:
			return v1alpha1.CanaryStep{SetCanaryScale: &v1alpha1.SetCanaryScale{Replicas: ptrInt32(int32(r.Intn(5)))}}
		case 5:
			return v1alpha1.CanaryStep{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "header"}}
		}
		return v1alpha1.CanaryStep{Experiment: &v1alpha1.RolloutExperimentStep{Templates: []v1alpha1.RolloutExperimentTemplate{{Name: "a", SpecRef: "stable", Weight: ptrInt32(5)}}}}
	}
	for i := range 3000 {
		replicas := int32(r.Intn(7))
		var ro *v1alpha1.Rollout
		switch r.Intn(3) {
		case 0:
			var steps []v1alpha1.CanaryStep
			for range r.Intn(6) {
				steps = append(steps, randomStep())
			}
			ro = routedRollout(replicas, steps...)
			ro.Spec.Strategy.Canary.DynamicStableScale = r.Intn(2) == 0
		case 1:
			ro = canaryRollout(replicas, setWeight(int32(r.Intn(101))), pauseForever(), analysisStep("t"))
			ro.Spec.Strategy.Canary.Analysis = &v1alpha1.RolloutAnalysisBackground{RolloutAnalysis: v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "b"}}}}
		default:
			ro = blueGreenRollout(replicas)
			b := ro.Spec.Strategy.BlueGreen
			b.AutoPromotionEnabled = ptrBool(r.Intn(2) == 0)
			b.AutoPromotionSeconds = int32(r.Intn(3))
			if r.Intn(2) == 0 {
				b.PreviewReplicaCount = ptrInt32(int32(r.Intn(4)))
			}
			b.PostPromotionAnalysis = &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "p"}}}
		}
		ro.Spec.Template = podTemplate(images[r.Intn(3)])
		ro.Spec.Paused = r.Intn(8) == 0
		st := &ro.Status
		st.StableRS = hashOf(images[r.Intn(3)])
		st.CurrentPodHash = hashOf(images[r.Intn(3)])
		st.CurrentStepIndex = ptrInt32(int32(r.Intn(8) - 1))
		st.Abort = r.Intn(5) == 0
		st.PromoteFull = r.Intn(6) == 0
		st.ControllerPause = r.Intn(3) == 0
		if r.Intn(3) == 0 {
			st.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.NewTime(t0.Add(-time.Duration(r.Intn(60)) * time.Second))}}
		}
		if r.Intn(3) == 0 {
			st.Canary = &v1alpha1.CanaryStatus{Weights: weights(int32(r.Intn(101)))}
		}
		if r.Intn(4) == 0 {
			st.Conditions = []metav1.Condition{{Type: v1alpha1.RolloutAborted, Status: metav1.ConditionTrue, Reason: "x"}}
		}
		obs := Observed{Now: t0, Services: services(map[string]string{
			"demo-canary": hashOf(images[r.Intn(3)]), "demo-stable": hashOf(images[r.Intn(3)]),
			"demo-active": hashOf(images[r.Intn(3)]), "demo-preview": ""})}
		for j, img := range images {
			if r.Intn(2) == 0 {
				spec := int32(r.Intn(8))
				x := rs(img, int64(j+1), spec, int32(r.Intn(int(spec)+1)))
				if r.Intn(4) == 0 {
					d := t0.Add(time.Duration(r.Intn(60)-30) * time.Second)
					x.ScaleDownDeadline = &d
				}
				obs.ReplicaSets = append(obs.ReplicaSets, x)
			}
		}
		for range r.Intn(3) {
			obs.AnalysisRuns = append(obs.AnalysisRuns, AnalysisRun{Name: stepRun(string(rune('0' + r.Intn(4)))), Phase: phases[r.Intn(len(phases))]})
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("case %d panicked: %v\nspec %+v\nstatus %+v", i, p, ro.Spec, ro.Status)
				}
			}()
			p := Reconcile(ro, obs)
			if p.Status.Phase == "" {
				t.Fatalf("case %d: no phase", i)
			}
			for _, a := range p.Actions {
				if s, ok := a.(ScaleReplicaSet); ok && s.Replicas < 0 {
					t.Fatalf("case %d: %s", i, s)
				}
			}
		}()
	}
}
