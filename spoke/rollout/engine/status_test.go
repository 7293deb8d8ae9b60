package engine

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// TestDerivePhase: the phase and the message come from the conditions alone.
func TestDerivePhase(t *testing.T) {
	c := func(typ string, s metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
	}
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		phase v1alpha1.RolloutPhase
		msg   string
	}{
		{"no conditions", nil, v1alpha1.RolloutPhaseProgressing, ""},
		{"healthy", []metav1.Condition{c("Healthy", "True", "AllReplicasHealthy", "x"), c("Progressing", "True", "NewReplicaSetAvailable", "")}, v1alpha1.RolloutPhaseHealthy, ""},
		{"updating", []metav1.Condition{c("Healthy", "False", "UpdateInProgress", "waiting for 2 pods"), c("Progressing", "True", "ReplicaSetUpdated", "")}, v1alpha1.RolloutPhaseProgressing, "waiting for 2 pods"},
		{"paused wins over progressing", []metav1.Condition{c("Paused", "True", "CanaryPauseStep", "a pause step"), c("Healthy", "False", "UpdateInProgress", "")}, v1alpha1.RolloutPhasePaused, "CanaryPauseStep: a pause step"},
		{"deadline exceeded", []metav1.Condition{c("Progressing", "False", "ProgressDeadlineExceeded", "no progress"), c("Paused", "True", "x", "")}, v1alpha1.RolloutPhaseDegraded, "ProgressDeadlineExceeded: no progress"},
		{"aborted wins over paused", []metav1.Condition{c("Aborted", "True", "AnalysisRunFailed", "run failed"), c("Paused", "True", "x", "")}, v1alpha1.RolloutPhaseDegraded, "AnalysisRunFailed: run failed"},
		{"invalid spec wins", []metav1.Condition{c("InvalidSpec", "True", "InvalidSpec", "bad"), c("Aborted", "True", "x", "y")}, v1alpha1.RolloutPhaseDegraded, "InvalidSpec: bad"},
		{"replica failure", []metav1.Condition{c("ReplicaFailure", "True", "FailedCreate", "quota"), c("Healthy", "False", "x", "")}, v1alpha1.RolloutPhaseDegraded, "FailedCreate: quota"},
		{"retried", []metav1.Condition{c("Aborted", "False", "Retried", ""), c("Healthy", "False", "UpdateInProgress", "m")}, v1alpha1.RolloutPhaseProgressing, "m"},
	} {
		st := &v1alpha1.RolloutStatus{Conditions: tc.conds}
		if p, m := derivePhase(st); p != tc.phase || m != tc.msg {
			t.Errorf("%s: %s %q, want %s %q", tc.name, p, m, tc.phase, tc.msg)
		}
	}
}

// TestStatusCounts checks the counts, the selector, observedGeneration and the
// ReplicaFailure condition.
func TestStatusCounts(t *testing.T) {
	ro := midUpdate(gettingStarted(), 0)
	ro.Generation = 7
	failing := rs("demo:v2", 2, 1, 0)
	failing.FailureMessage = "exceeded quota"
	p := Reconcile(ro, observed(rs("demo:v1", 1, 4, 4), failing))
	st := p.Status
	if st.ObservedGeneration != 7 || st.Replicas != 5 || st.UpdatedReplicas != 1 || st.AvailableReplicas != 4 || st.ReadyReplicas != 4 || st.HPAReplicas != 5 {
		t.Errorf("counts %+v", st)
	}
	if st.Selector != "app=demo" {
		t.Errorf("selector %q", st.Selector)
	}
	wantCondition(t, p, v1alpha1.RolloutReplicaFailure, "True/FailedCreate")
	wantCondition(t, p, v1alpha1.RolloutAvailable, "True/MinimumReplicasAvailable")
	wantPhase(t, p, v1alpha1.RolloutPhaseDegraded)
	for _, c := range st.Conditions {
		if c.ObservedGeneration != 7 {
			t.Errorf("condition %s observedGeneration %d", c.Type, c.ObservedGeneration)
		}
	}
}

// TestConvergence: a Healthy Rollout reconciled again yields no action and the same status.
func TestConvergence(t *testing.T) {
	for _, ro := range []*v1alpha1.Rollout{gettingStarted(), routedRollout(4, setWeight(50)), blueGreenRollout(2)} {
		c := newCluster(t, ro, "demo-canary", "demo-stable", "demo-active", "demo-preview")
		c.settle((*cluster).healthy)
		c.settle(nil)
		before := c.ro.Status.DeepCopy()
		c.now = c.now.Add(time.Hour)
		p, changed := c.reconcile()
		if changed || len(p.Actions) != 0 || p.RequeueAfter != 0 {
			t.Errorf("%s: not converged: %v requeue %s\n%+v\n%+v", c.describe(), p.Actions, p.RequeueAfter, before, c.ro.Status)
		}
	}
}

func TestAntiAffinity(t *testing.T) {
	ro := midUpdate(gettingStarted(), 0)
	ro.Spec.Strategy.Canary.AntiAffinity = &v1alpha1.AntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: &v1alpha1.PreferredDuringSchedulingIgnoredDuringExecution{Weight: 40}}
	p := Reconcile(ro, observed(rs("demo:v1", 1, 5, 5)))
	cr := p.Actions[0].(CreateReplicaSet)
	terms := cr.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	if len(terms) != 1 || terms[0].Weight != 40 || terms[0].PodAffinityTerm.LabelSelector.MatchLabels[LabelPodTemplateHash] != hashOf("demo:v1") ||
		terms[0].PodAffinityTerm.TopologyKey != corev1.LabelHostname {
		t.Errorf("anti-affinity %+v", terms)
	}
	if cr.PodTemplateHash != hashOf("demo:v2") || cr.Template.Labels[LabelPodTemplateHash] != hashOf("demo:v2") {
		t.Errorf("the hash is the template's, before the anti-affinity: %s", cr.PodTemplateHash)
	}
}

// TestHoldCounts: while a step waits for its pods, pods becoming available are not a status
// write of their own; HPAReplicas, which a HorizontalPodAutoscaler reads, always is; and
// after a tenth of the progress deadline the counts are written again, with the progress.
func TestHoldCounts(t *testing.T) {
	ro := midUpdate(canaryRollout(10, setWeight(20), setWeight(40)), 0)
	at := func(d time.Duration, v1Current, v2Avail int32) Observed {
		v1, v2 := rs("demo:v1", 1, 8, 8), rs("demo:v2", 2, 2, v2Avail)
		v1.CurrentReplicas = v1Current
		o := observed(v1, v2)
		o.Now = t0.Add(d)
		return o
	}
	first := Reconcile(ro, at(0, 8, 0))
	ro.Status = roundTrip(t, first.Status)

	p := Reconcile(ro, at(2*time.Second, 8, 1))
	if !equality.Semantic.DeepEqual(p.Status, ro.Status) {
		t.Errorf("one more canary pod available mid-step changed the status: available %d, was %d", p.Status.AvailableReplicas, ro.Status.AvailableReplicas)
	}
	if want := 60*time.Second - 2*time.Second; p.RequeueAfter != want {
		t.Errorf("requeue after %s, want %s: the held counts are written a tenth of the progress deadline after the last progress", p.RequeueAfter, want)
	}

	p = Reconcile(ro, at(3*time.Second, 9, 1))
	if p.Status.HPAReplicas != 11 {
		t.Errorf("HPAReplicas %d with 11 pods running, want 11: the scale subresource is never held", p.Status.HPAReplicas)
	}

	p = Reconcile(ro, at(61*time.Second, 8, 1))
	if p.Status.AvailableReplicas != 9 {
		t.Errorf("a tenth of the progress deadline on, available %d, want 9", p.Status.AvailableReplicas)
	}
	if c := findCondition(&p.Status, v1alpha1.RolloutProgressing); c == nil || !c.LastTransitionTime.Time.Equal(t0.Add(61*time.Second)) {
		t.Errorf("Progressing %v, want the progress recorded at 61s", c)
	}
}
