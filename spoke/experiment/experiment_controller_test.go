package experiment_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/experiment"
	"github.com/flotilla-io/flotilla/test/harness"
)

// env is one API server (no controller-manager: the tests play the ReplicaSet controller
// and the AnalysisRun controller by writing their status) running the Experiment controller.
type env struct {
	c  client.Client
	ns string
}

func start(t *testing.T) *env {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	e := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.SpokeCRDDir}})
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	r := &experiment.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("flotilla-spoke")}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return &env{c: e.Client, ns: e.Namespace(t)}
}

const template = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: hash
  metrics:
  - name: success-rate
    interval: 10s
    successCondition: result[0] >= 0.99
    provider:
      prometheus:
        address: http://127.0.0.1:9
        query: rate(x{hash="{{args.hash}}"}[1m])
`

func (e *env) create(t *testing.T, manifest string, obj client.Object) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(manifest), obj); err != nil {
		t.Fatal(err)
	}
	obj.SetNamespace(e.ns)
	if err := e.c.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func experimentYAML(name, extra string) string {
	return fmt.Sprintf(`
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  scaleDownDelaySeconds: 1
  templates:
  - name: baseline
    replicas: 2
    selector:
      matchLabels: {app: web, role: baseline}
    template:
      metadata:
        labels: {app: web, role: baseline}
      spec:
        containers:
        - name: web
          image: example.com/web:blue
          ports: [{name: http, containerPort: 8080}]
  - name: canary
    selector:
      matchLabels: {app: web, role: canary}
    service: {}
    template:
      metadata:
        labels: {app: web, role: canary}
      spec:
        containers:
        - name: web
          image: example.com/web:green
          ports: [{name: http, containerPort: 8080}]
%s`, name, extra)
}

// makeAvailable plays the ReplicaSet controller: each of the experiment's ReplicaSets reports
// as many available pods as it asks for.
func (e *env) makeAvailable(t *testing.T, ex string) {
	t.Helper()
	for _, tmpl := range []string{"baseline", "canary"} {
		rs := e.waitRS(t, ex+"-"+tmpl, "created", func(rs *appsv1.ReplicaSet) bool { return true })
		n := *rs.Spec.Replicas
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n, ObservedGeneration: rs.Generation}
		if err := e.c.Status().Update(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) waitRS(t *testing.T, name, what string, ok func(*appsv1.ReplicaSet) bool) *appsv1.ReplicaSet {
	t.Helper()
	rs := &appsv1.ReplicaSet{}
	wait(t, "ReplicaSet "+name+" "+what, func() (bool, string) {
		err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, rs)
		if err != nil {
			return false, err.Error()
		}
		return ok(rs), fmt.Sprintf("replicas %d available %d annotations %v", *rs.Spec.Replicas, rs.Status.AvailableReplicas, rs.Annotations)
	})
	return rs
}

func (e *env) waitExperiment(t *testing.T, name, what string, ok func(*v1alpha1.Experiment) bool) *v1alpha1.Experiment {
	t.Helper()
	ex := &v1alpha1.Experiment{}
	wait(t, "experiment "+name+" "+what, func() (bool, string) {
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, ex); err != nil {
			return false, err.Error()
		}
		return ok(ex), fmt.Sprintf("phase %s message %q templates %+v runs %+v", ex.Status.Phase, ex.Status.Message, ex.Status.TemplateStatuses, ex.Status.AnalysisRuns)
	})
	return ex
}

func (e *env) setRunPhase(t *testing.T, name string, phase v1alpha1.AnalysisPhase) {
	t.Helper()
	run := &v1alpha1.AnalysisRun{}
	wait(t, "AnalysisRun "+name+" created", func() (bool, string) {
		err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: name}, run)
		return err == nil, fmt.Sprint(err)
	})
	patch := fmt.Sprintf(`{"status":{"phase":%q,"message":"set by the test"}}`, phase)
	if err := e.c.Status().Patch(context.Background(), run, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func wait(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		var done bool
		if done, last = ok(); done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting 20s for %s; last seen: %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExperiment(t *testing.T) {
	e := start(t)
	e.create(t, template, &v1alpha1.AnalysisTemplate{})

	t.Run("runs its templates for the duration, then scales them down after the delay", func(t *testing.T) {
		e.create(t, experimentYAML("timed", "  duration: 2s\n"), &v1alpha1.Experiment{})
		rs := e.waitRS(t, "timed-baseline", "created with 2 replicas", func(rs *appsv1.ReplicaSet) bool { return *rs.Spec.Replicas == 2 })
		if rs.Labels[experiment.LabelPodTemplateHash] == "" || rs.Spec.Selector.MatchLabels[experiment.LabelPodTemplateHash] == "" ||
			len(rs.OwnerReferences) != 1 || rs.OwnerReferences[0].Kind != "Experiment" {
			t.Fatalf("ReplicaSet %s: labels %v selector %v owners %v", rs.Name, rs.Labels, rs.Spec.Selector, rs.OwnerReferences)
		}
		e.waitExperiment(t, "timed", "Pending", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhasePending })

		e.makeAvailable(t, "timed")
		e.waitExperiment(t, "timed", "Running", func(ex *v1alpha1.Experiment) bool {
			return ex.Status.Phase == v1alpha1.AnalysisPhaseRunning && ex.Status.AvailableAt != nil
		})
		svc := &corev1.Service{}
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "timed-canary"}, svc); err != nil {
			t.Fatalf("the canary template's Service: %v", err)
		}
		if got := svc.Spec.Selector[experiment.LabelPodTemplateHash]; got == "" {
			t.Errorf("Service selector %v has no pod-template-hash", svc.Spec.Selector)
		}
		ex := e.waitExperiment(t, "timed", "Successful", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
		// The controller requeues exactly at the end of the duration (nothing else changes).
		ended := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ExperimentConditionCompleted)
		if ended == nil || ended.Status != metav1.ConditionTrue {
			t.Fatalf("Completed condition %+v", ended)
		}
		if late := ended.LastTransitionTime.Sub(ex.Status.AvailableAt.Add(2 * time.Second)); late < -time.Second || late > 1500*time.Millisecond {
			t.Errorf("completed %s after the end of the duration", late)
		}
		wait(t, "events for the phase changes", func() (bool, string) {
			list := &eventsv1.EventList{}
			if err := e.c.List(context.Background(), list, client.InNamespace(e.ns)); err != nil {
				return false, err.Error()
			}
			seen := map[string]bool{}
			for _, ev := range list.Items {
				if ev.Regarding.Name == "timed" {
					seen[ev.Reason] = true
				}
			}
			return seen["ExperimentPending"] && seen["ExperimentRunning"] && seen["ExperimentSuccessful"] && seen["TemplateRunning"], fmt.Sprint(seen)
		})
		// Scaled down after scaleDownDelaySeconds, and the Service goes with the pods.
		e.waitRS(t, "timed-canary", "scaled to 0", func(rs *appsv1.ReplicaSet) bool { return *rs.Spec.Replicas == 0 })
		e.makeAvailable(t, "timed")
		wait(t, "the canary Service deleted", func() (bool, string) {
			err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "timed-canary"}, &corev1.Service{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})

	t.Run("ends with the analyses required for completion", func(t *testing.T) {
		e.create(t, experimentYAML("required", `  analyses:
  - name: rate
    templateName: success-rate
    requiredForCompletion: true
    args:
    - name: hash
      value: "{{templates.canary.podTemplateHash}}"
`), &v1alpha1.Experiment{})
		e.makeAvailable(t, "required")
		e.waitExperiment(t, "required", "Running", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseRunning })
		run := &v1alpha1.AnalysisRun{}
		wait(t, "the AnalysisRun", func() (bool, string) {
			err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "required-rate"}, run)
			return err == nil, fmt.Sprint(err)
		})
		rs := e.waitRS(t, "required-canary", "exists", func(*appsv1.ReplicaSet) bool { return true })
		if got := run.Spec.Args[0].Value; got == nil || *got != rs.Labels[experiment.LabelPodTemplateHash] {
			t.Errorf("the run's hash arg is %v, want the canary's pod-template-hash %s", got, rs.Labels[experiment.LabelPodTemplateHash])
		}
		e.setRunPhase(t, "required-rate", v1alpha1.AnalysisPhaseSuccessful)
		e.waitExperiment(t, "required", "Successful", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
		e.waitRS(t, "required-baseline", "scaled to 0", func(rs *appsv1.ReplicaSet) bool { return *rs.Spec.Replicas == 0 })
	})

	t.Run("a failed analysis fails it and terminates the other runs", func(t *testing.T) {
		e.create(t, experimentYAML("failing", `  duration: 1h
  analyses:
  - name: a
    templateName: success-rate
    args: [{name: hash, value: x}]
  - name: b
    templateName: success-rate
    args: [{name: hash, value: y}]
`), &v1alpha1.Experiment{})
		e.makeAvailable(t, "failing")
		e.setRunPhase(t, "failing-b", v1alpha1.AnalysisPhaseRunning)
		e.setRunPhase(t, "failing-a", v1alpha1.AnalysisPhaseFailed)
		e.waitExperiment(t, "failing", "Failed", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseFailed })
		wait(t, "run b terminated", func() (bool, string) {
			run := &v1alpha1.AnalysisRun{}
			err := e.c.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "failing-b"}, run)
			return err == nil && run.Spec.Terminate, fmt.Sprint(err)
		})
	})

	t.Run("terminate ends it Successful", func(t *testing.T) {
		e.create(t, experimentYAML("stopped", ""), &v1alpha1.Experiment{})
		e.makeAvailable(t, "stopped")
		ex := e.waitExperiment(t, "stopped", "Running", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseRunning })
		terminated := time.Now()
		if err := e.c.Patch(context.Background(), ex, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"terminate":true}}`))); err != nil {
			t.Fatal(err)
		}
		e.waitExperiment(t, "stopped", "Successful", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful })
		e.waitRS(t, "stopped-baseline", "scaled to 0", func(rs *appsv1.ReplicaSet) bool { return *rs.Spec.Replicas == 0 })
		if d := time.Since(terminated); d < time.Second {
			t.Errorf("scaled to 0 %s after terminate, before scaleDownDelaySeconds (1s)", d)
		}
	})

	t.Run("a missing analysis template is an Error", func(t *testing.T) {
		e.create(t, experimentYAML("invalid", `  analyses:
  - name: a
    templateName: nope
`), &v1alpha1.Experiment{})
		ex := e.waitExperiment(t, "invalid", "Error", func(ex *v1alpha1.Experiment) bool { return ex.Status.Phase == v1alpha1.AnalysisPhaseError })
		if c := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ExperimentConditionInvalidSpec); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("InvalidSpec condition %+v", c)
		}
	})
}
