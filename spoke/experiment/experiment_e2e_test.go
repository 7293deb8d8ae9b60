package experiment_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/experiment"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

const experimentRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - experiment:
          duration: 2s
          scaleDownDelaySeconds: 1
          templates:
          - name: canary
            specRef: canary
          - name: baseline
            specRef: stable
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: example.com/web:blue
`

// TestRolloutExperimentStep runs a Rollout's experiment step on a full control plane (pods
// are scheduled and become Ready) with the Rollout and Experiment controllers: the step's
// Experiment runs its two templates for its duration, ends Successful, the Rollout goes on
// to Healthy, and the templates' ReplicaSets are scaled to 0 after the delay.
func TestRolloutExperimentStep(t *testing.T) {
	s := harness.NewScheme(v1alpha1.AddToScheme)
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{{
		Name: "member", Nodes: 2, CRDDirs: []string{harness.SpokeCRDDir},
	}}})
	cl := fleet.Clusters[0]
	mgr, err := ctrl.NewManager(cl.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	rr := &rollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.New}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := rr.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	er := &experiment.Reconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("flotilla-spoke")}
	if err := er.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	c := cl.Client
	ns := harness.Namespace(t, c)
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(experimentRollout), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(ro)
	healthy := func(what string, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
		got := &v1alpha1.Rollout{}
		poll(ctx, t, what, func() (bool, string) {
			if err := c.Get(ctx, key, got); err != nil {
				return false, err.Error()
			}
			return ok(got), fmt.Sprintf("phase %s message %q stable %s current %s", got.Status.Phase, got.Status.Message, got.Status.StableRS, got.Status.CurrentPodHash)
		})
		return got
	}
	first := healthy("the first revision Healthy", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.AvailableReplicas == 2
	})
	if err := c.Patch(ctx, first, client.RawPatch("application/merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"example.com/web:green"}]}}}}`))); err != nil {
		t.Fatal(err)
	}

	// The step's Experiment runs with real pods and ends Successful after its duration.
	var ex v1alpha1.Experiment
	poll(ctx, t, "the step's Experiment Successful", func() (bool, string) {
		list := &v1alpha1.ExperimentList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		if len(list.Items) != 1 {
			return false, fmt.Sprintf("%d experiments", len(list.Items))
		}
		ex = list.Items[0]
		return ex.Status.Phase == v1alpha1.AnalysisPhaseSuccessful,
			fmt.Sprintf("phase %s message %q templates %+v", ex.Status.Phase, ex.Status.Message, ex.Status.TemplateStatuses)
	})
	if ex.Status.AvailableAt == nil {
		t.Fatalf("experiment %s ended without availableAt", ex.Name)
	}
	for _, ts := range ex.Status.TemplateStatuses {
		if ts.Status != v1alpha1.TemplateStatusSuccessful {
			t.Errorf("template %s: %s", ts.Name, ts.Status)
		}
	}
	healthy("Healthy on the new revision", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Status.StableRS != first.Status.StableRS
	})
	// The templates' ReplicaSets are scaled to 0 after scaleDownDelaySeconds, their pods gone.
	for _, tmpl := range []string{"canary", "baseline"} {
		name := ex.Name + "-" + tmpl
		poll(ctx, t, "ReplicaSet "+name+" scaled to 0 with no pods", func() (bool, string) {
			rs := &appsv1.ReplicaSet{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs); err != nil {
				return false, err.Error()
			}
			pods := &corev1.PodList{}
			if err := c.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(rs.Spec.Selector.MatchLabels)); err != nil {
				return false, err.Error()
			}
			owned := 0
			for _, p := range pods.Items {
				for _, o := range p.OwnerReferences {
					if o.UID == rs.UID && p.DeletionTimestamp == nil {
						owned++
					}
				}
			}
			return *rs.Spec.Replicas == 0 && owned == 0, fmt.Sprintf("replicas %d, %d pods", *rs.Spec.Replicas, owned)
		})
	}
}

// poll checks ok every 200ms until it holds or ctx ends, then fails with what it last saw.
func poll(ctx context.Context, t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	var last string
	for {
		var done bool
		if done, last = ok(); done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last seen: %s", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
