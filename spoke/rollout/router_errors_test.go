package rollout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

var virtualService = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

// startReconciler runs the real Rollout reconciler, with every router, against the env.
func startReconciler(t *testing.T, env *harness.Env) {
	t.Helper()
	startReconcilerWith(t, env, routers.Options{})
}

// startReconcilerWith runs the real Rollout reconciler with routers built with opts.
func startReconcilerWith(t *testing.T, env *harness.Env, opts routers.Options) {
	t.Helper()
	ctrl.SetLogger(logr.Discard())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollout.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.Builder(opts),
		// The router's objects are not watched: a fixed router error is seen on this retry.
		RouterErrorRetry: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		cancel()
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
}

// noPodsRollout is a Rollout of replicas 0 whose trafficRouting is the one router given (in
// YAML flow style), with the steps setWeight 20 and pause. It runs no pods, so its steps need
// no kubelet: every step moves on as soon as the router has the weight.
func noPodsRollout(router string) string {
	return `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stable
      trafficRouting:
        ` + router + `
      steps:
      - setWeight: 20
      - pause: {}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.com/web:v1"}]
`
}

// createWebServices creates the Services web-stable and web-canary.
func createWebServices(t *testing.T, c client.Client, ns string) {
	t.Helper()
	for _, name := range []string{"web-stable", "web-canary"} {
		harness.CreateYAML(t, c, ns, `
apiVersion: v1
kind: Service
metadata: {name: `+name+`}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`)
	}
}

// webVirtualService is the VirtualService the Rollout names, with its HTTP route named
// route.
func webVirtualService(route string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: %s
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
`, route)
}

// TestRouterErrorsPauseTheRollout runs the real Rollout reconciler on a real API server
// through the three router errors a person must fix: the router's CRD is not installed, the
// VirtualService does not exist, the named route is not in it. Each shows as the
// Progressing and TrafficRouted conditions with its reason and a Warning event of that
// reason, and the Rollout
// stays where it was (no step completes, no weight is recorded) until the user fixes it;
// then it goes on by itself.
func TestRouterErrorsPauseTheRollout(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{CRDDirs: []string{harness.SpokeCRDDir}, Scheme: scheme(t)})
	startReconciler(t, env)
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createWebServices(t, env.Client, ns)
	harness.CreateYAML(t, env.Client, ns, noPodsRollout("istio: {virtualService: {name: web, routes: [primary]}}"))
	key := client.ObjectKey{Namespace: ns, Name: "web"}

	// 1. Istio is not installed.
	ro := waitRouterError(ctx, t, env.Client, key, trafficrouting.ReasonCRDNotInstalled, "VirtualService.networking.istio.io")
	if ro.Status.StableRS != "" || (ro.Status.Canary != nil && ro.Status.Canary.Weights != nil) {
		t.Errorf("the Rollout moved on without its router: stableRS %q, canary %+v", ro.Status.StableRS, ro.Status.Canary)
	}

	// 2. The user installs Istio's CRDs (as istio.io/api v1.32.0 ships them); the
	// VirtualService is still missing.
	dir := harness.CRDDir(t, harness.ModuleFiles(t, "istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml"),
		"virtualservices.networking.istio.io", "destinationrules.networking.istio.io")
	names, err := harness.ApplyCRDs(ctx, env.Client, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitFor(ctx, "Istio's CRDs established", time.Minute, harness.CRDsEstablished(env.Client, names...)); err != nil {
		t.Fatal(err)
	}
	waitRouterError(ctx, t, env.Client, key, trafficrouting.ReasonObjectNotFound, "VirtualService "+ns+"/web does not exist")

	// 3. The user creates it: the first revision goes on and becomes stable, the
	// VirtualService sends everything to stable.
	harness.CreateYAML(t, env.Client, ns, webVirtualService("primary"))
	waitFor(ctx, t, env.Client, key, "the first revision stable with weight 0 recorded", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.StableRS != "" && ro.Status.StableRS == ro.Status.CurrentPodHash &&
			ro.Status.Canary != nil && ro.Status.Canary.Weights != nil && routerOK(ro)
	})
	if got := canaryWeight(t, env.Client, ns); got != 0 {
		t.Errorf("the VirtualService gives the canary %d, want 0", got)
	}

	// 4. The user renames the route, then updates the image: the setWeight step cannot
	// set its weight and the update stays at step 0.
	patchVirtualServiceRoute(ctx, t, env.Client, ns, "renamed")
	setImage(ctx, t, env.Client, key, "example.com/web:v2")
	ro = waitRouterError(ctx, t, env.Client, key, trafficrouting.ReasonRouteNotFound, `HTTP route "primary"`)
	wantHeldAtStep0(t, ro)

	// 5. The VirtualService goes away altogether.
	vs := harness.GetUnstructured(t, env.Client, virtualService, ns, "web")
	if err := env.Client.Delete(ctx, vs); err != nil {
		t.Fatal(err)
	}
	ro = waitRouterError(ctx, t, env.Client, key, trafficrouting.ReasonObjectNotFound, "VirtualService "+ns+"/web does not exist")
	wantHeldAtStep0(t, ro)

	// 6. The user creates it again, with the route: the step sets weight 20 and the update
	// goes on to the pause.
	harness.CreateYAML(t, env.Client, ns, webVirtualService("primary"))
	ro = waitFor(ctx, t, env.Client, key, "the update at the pause step with weight 20", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1 &&
			ro.Status.Canary.Weights.Canary.Weight == 20 && routerOK(ro)
	})
	if ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Errorf("phase %s (%s), want Paused", ro.Status.Phase, ro.Status.Message)
	}
	if got := canaryWeight(t, env.Client, ns); got != 20 {
		t.Errorf("the VirtualService gives the canary %d, want 20", got)
	}
}

// waitRouterError waits until the Rollout's Progressing condition is False with reason and
// a message containing text, and a Warning event of that reason was recorded on it.
func waitRouterError(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, reason, text string) *v1alpha1.Rollout {
	t.Helper()
	ro := waitFor(ctx, t, c, key, "the Progressing and TrafficRouted conditions "+reason, func(ro *v1alpha1.Rollout) bool {
		for _, typ := range []string{v1alpha1.RolloutProgressing, v1alpha1.RolloutTrafficRouted} {
			cond := meta.FindStatusCondition(ro.Status.Conditions, typ)
			if cond == nil || cond.Status != "False" || cond.Reason != reason || !strings.Contains(cond.Message, text) {
				return false
			}
		}
		return true
	})
	t.Logf("%s: %s", reason, meta.FindStatusCondition(ro.Status.Conditions, v1alpha1.RolloutProgressing).Message)
	waitEvent(ctx, t, c, key, corev1.EventTypeWarning, reason, text)
	return ro
}

// waitEvent waits for an event of the type and reason on the Rollout whose note contains text.
func waitEvent(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, eventType, reason, text string) {
	t.Helper()
	err := harness.WaitFor(ctx, "a "+eventType+" event "+reason+" naming "+text, 30*time.Second, func(ctx context.Context) (bool, string, error) {
		list := &eventsv1.EventList{}
		if err := c.List(ctx, list, client.InNamespace(key.Namespace)); err != nil {
			return false, "", err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.Regarding.Name == key.Name && ev.Type == eventType && ev.Reason == reason && strings.Contains(ev.Note, text) {
				return true, "", nil
			}
			seen = append(seen, ev.Type+" "+ev.Reason+": "+ev.Note)
		}
		return false, fmt.Sprintf("events: %q", seen), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// routerOK is whether no router error is reported any more: the router carries the
// weights and Progressing has no router error.
func routerOK(ro *v1alpha1.Rollout) bool {
	progressing := meta.FindStatusCondition(ro.Status.Conditions, v1alpha1.RolloutProgressing)
	routed := meta.FindStatusCondition(ro.Status.Conditions, v1alpha1.RolloutTrafficRouted)
	return progressing != nil && !strings.HasPrefix(progressing.Reason, "TrafficRout") &&
		routed != nil && routed.Status == metav1.ConditionTrue
}

func wantHeldAtStep0(t *testing.T, ro *v1alpha1.Rollout) {
	t.Helper()
	if ro.Status.CurrentStepIndex == nil || *ro.Status.CurrentStepIndex != 0 {
		t.Errorf("step index %v, want 0: the update moved on past a step whose weight could not be set", ro.Status.CurrentStepIndex)
	}
	if w := ro.Status.Canary.Weights; w == nil || w.Canary.Weight != 0 {
		t.Errorf("weights %+v, want canary 0 recorded: the weight was never set", w)
	}
}

func waitFor(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, what string, ok func(*v1alpha1.Rollout) bool) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	err := harness.WaitFor(ctx, what, time.Minute, func(ctx context.Context) (bool, string, error) {
		if err := c.Get(ctx, key, ro); err != nil {
			return false, "", err
		}
		return ok(ro), fmt.Sprintf("step %v phase %s message %q conditions %v", ptr.Deref(ro.Status.CurrentStepIndex, -1), ro.Status.Phase, ro.Status.Message, ro.Status.Conditions), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

func setImage(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, image string) {
	t.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	p := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, image)
	if err := c.Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

func patchVirtualServiceRoute(ctx context.Context, t *testing.T, c client.Client, ns, route string) {
	t.Helper()
	vs := harness.GetUnstructured(t, c, virtualService, ns, "web")
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	http[0].(map[string]any)["name"] = route
	if err := unstructured.SetNestedSlice(vs.Object, http, "spec", "http"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, vs); err != nil {
		t.Fatal(err)
	}
}

// canaryWeight is the weight the VirtualService's first HTTP route gives web-canary.
func canaryWeight(t *testing.T, c client.Client, ns string) int64 {
	t.Helper()
	vs := harness.GetUnstructured(t, c, virtualService, ns, "web")
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	for _, d := range http[0].(map[string]any)["route"].([]any) {
		d := d.(map[string]any)
		if d["destination"].(map[string]any)["host"] == "web-canary" {
			w, _ := d["weight"].(int64)
			return w
		}
	}
	t.Fatalf("the VirtualService has no web-canary destination")
	return 0
}
