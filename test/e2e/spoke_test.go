package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/analysis/providers"
	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/spoke/analysisrun"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

// member is one full cluster running the Rollout controller in this process.
type member struct {
	c          client.Client
	kubeconfig string
	cluster    *harness.Cluster
}

// memberOptions add to a member what some tests need: vendor CRDs, and router settings
// that depend on the running cluster (a data plane that reads it).
type memberOptions struct {
	crdDirs []string
	routers func(*harness.Cluster) routers.Options
}

func startMember(t *testing.T) member { return startMemberWith(t, memberOptions{}) }

func startMemberWith(t *testing.T, opts memberOptions) member {
	t.Helper()
	s := plugin.Scheme()
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{{
		Name: "member", Nodes: 3, CRDDirs: append([]string{harness.SpokeCRDDir}, opts.crdDirs...),
	}}})
	cl := fleet.Clusters[0]
	var ro routers.Options
	if opts.routers != nil {
		ro = opts.routers(cl)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapcore.InfoLevel)))
	// The agent's cache holds only the ReplicaSets Rollouts create (cmd/flotilla-spoke).
	hashed, err := labels.NewRequirement(engine.LabelPodTemplateHash, selection.Exists, nil)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cl.Config, ctrl.Options{
		Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{&appsv1.ReplicaSet{}: {Label: labels.NewSelector().Add(*hashed)}}},
		// Each test of the package starts a manager with the same controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollout.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.Builder(ro),
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	ar := &analysisrun.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"),
		Providers: providers.New(providers.Deps{
			Secrets:   analysisrun.SecretReader{Reader: mgr.GetAPIReader()},
			Namespace: "flotilla-system",
		}),
	}
	if err := ar.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return member{c: cl.Client, kubeconfig: cl.KubeconfigPath, cluster: cl}
}

// kubectlFlotilla runs `kubectl flotilla -n NS ARGS` in-process against the member.
func (m member) kubectlFlotilla(t *testing.T, ns string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _, err := plugin.Run(ctx, m.kubeconfig, append([]string{"-n", ns}, args...)...)
	if err != nil {
		t.Fatalf("kubectl flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("kubectl flotilla %s\n%s", strings.Join(args, " "), out)
	return out
}

func (m member) createRollout(t *testing.T, ns, manifest string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(manifest), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = ns
	if err := m.c.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

func (m member) createService(t *testing.T, ns, name, app string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if err := m.c.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
}

// selects is the pod-template hash the Service selects.
func (m member) selects(ctx context.Context, t *testing.T, ns, name string) string {
	t.Helper()
	svc := &corev1.Service{}
	if err := m.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector[engine.LabelPodTemplateHash]
}

// waitRollout polls every 200ms until ok or ctx ends, then fails with what it last saw.
func (m member) waitRollout(ctx context.Context, t *testing.T, key client.ObjectKey, what string, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	waitFor(ctx, t, what, func() (bool, string) {
		if err := m.c.Get(ctx, key, ro); err != nil {
			return false, err.Error()
		}
		step := "-"
		if ro.Status.CurrentStepIndex != nil {
			step = fmt.Sprint(*ro.Status.CurrentStepIndex)
		}
		return ok(ro), fmt.Sprintf("phase %s step %s available %d stable %s current %s message %q",
			ro.Status.Phase, step, ro.Status.AvailableReplicas, ro.Status.StableRS, ro.Status.CurrentPodHash, ro.Status.Message)
	})
	return ro
}

func waitFor(ctx context.Context, t *testing.T, what string, ok func() (bool, string)) {
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

// replicaSets describes the namespace's ReplicaSets by hash: desired and ready pods.
func (m member) replicaSets(ctx context.Context, t *testing.T, ns string) map[string][2]int32 {
	t.Helper()
	list := &appsv1.ReplicaSetList{}
	if err := m.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int32{}
	for _, rs := range list.Items {
		out[rs.Labels[engine.LabelPodTemplateHash]] = [2]int32{*rs.Spec.Replicas, rs.Status.ReadyReplicas}
	}
	return out
}

func healthyAt(gen bool) func(*v1alpha1.Rollout) bool {
	return func(ro *v1alpha1.Rollout) bool {
		return ro.Status.Phase == v1alpha1.RolloutPhaseHealthy && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			(!gen || ro.Status.ObservedGeneration == ro.Generation) && ro.Spec.Replicas != nil && ro.Status.AvailableReplicas == *ro.Spec.Replicas
	}
}
