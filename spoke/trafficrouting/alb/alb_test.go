package alb_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb"
	"github.com/flotilla-io/flotilla/test/harness"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	c      client.Client          // the test's own client
	writes *harness.WriteRecorder // the router's client
	ns     string
}

func newFixture(t *testing.T, env *harness.Env) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, ctx: ctx, c: env.Client, writes: harness.RecordWrites(env.Client), ns: env.Namespace(t)}
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) wantWrites(n int, what string) {
	f.t.Helper()
	if got := f.writes.Writes(); len(got) != n {
		f.t.Fatalf("%s: writes %v, want %d", what, got, n)
	}
	f.writes.Reset()
}

func (f *fixture) rollout(cfg *v1alpha1.ALBTrafficRouting, managed ...string) *v1alpha1.Rollout {
	tr := &v1alpha1.RolloutTrafficRouting{ALB: cfg}
	for _, m := range managed {
		tr.ManagedRoutes = append(tr.ManagedRoutes, v1alpha1.MangedRoutes{Name: m})
	}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns, UID: uuid.NewUUID()},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary", TrafficRouting: tr,
		}}},
	}
}

func (f *fixture) router(ro *v1alpha1.Rollout, opts ...alb.Option) *alb.Router {
	r, err := alb.New(f.writes, ro, opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

var prefix = networkingv1.PathTypePrefix

func path(p, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: &prefix, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}
}

var (
	useAnnotation = networkingv1.ServiceBackendPort{Name: "use-annotation"}
	port80        = networkingv1.ServiceBackendPort{Number: 80}
)

func rules(webPaths ...networkingv1.HTTPIngressPath) []networkingv1.IngressRule {
	return []networkingv1.IngressRule{
		{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: webPaths}}},
		{Host: "other.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{path("/", "other", port80)}}}},
	}
}

// ingress creates the user's Ingress: web.example.com routes /api to root through the
// action annotation and /admin to another Service; other.example.com has nothing to do with
// the Rollout.
func (f *fixture) ingress(name, root string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns, Annotations: map[string]string{
			"alb.ingress.kubernetes.io/scheme": "internet-facing",
		}},
		Spec: networkingv1.IngressSpec{Rules: rules(path("/api", root, useAnnotation), path("/admin", "admin", port80))},
	}
	f.must(f.c.Create(f.ctx, ing))
	return ing
}

func (f *fixture) want(name string, annotations map[string]string, rules []networkingv1.IngressRule) {
	f.t.Helper()
	ing := &networkingv1.Ingress{}
	f.must(f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, ing))
	if !equality.Semantic.DeepEqual(ing.Annotations, annotations) {
		f.t.Errorf("Ingress %s annotations:\n got %v\nwant %v", name, ing.Annotations, annotations)
	}
	if !equality.Semantic.DeepEqual(ing.Spec.Rules, rules) {
		f.t.Errorf("Ingress %s rules:\n got %+v\nwant %+v", name, ing.Spec.Rules, rules)
	}
}

func forward(canary, stable int) string {
	return `{"Type":"forward","ForwardConfig":{"TargetGroups":[` +
		`{"ServiceName":"web-canary","ServicePort":"80","Weight":` + itoa(canary) + `},` +
		`{"ServiceName":"web-stable","ServicePort":"80","Weight":` + itoa(stable) + `}]}}`
}

const toCanary = `{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"web-canary","ServicePort":"80","Weight":100}]}}`

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestALB(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})

	t.Run("canary 20 50 100, header routes, then abort", func(t *testing.T) {
		f := newFixture(t, env)
		f.ingress("web", "web-stable")
		ro := f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 80}, "beta", "internal")
		r := f.router(ro)
		user := map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing"}
		original := rules(path("/api", "web-stable", useAnnotation), path("/admin", "admin", port80))
		action := "alb.ingress.kubernetes.io/actions.web-stable"

		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(1, "weight 20")
		ing := &networkingv1.Ingress{}
		f.must(f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: "web"}, ing))
		wantManager(t, ing)
		f.want("web", merge(user, map[string]string{action: forward(20, 80)}), original)
		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(0, "weight 20 again")

		// The user changes something else of the Ingress meanwhile.
		f.must(f.c.Patch(f.ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: f.ns}},
			client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"alb.ingress.kubernetes.io/ssl-redirect":"443"}}}`)),
			client.FieldOwner("kubectl")))
		user["alb.ingress.kubernetes.io/ssl-redirect"] = "443"

		for _, w := range []int{50, 100} {
			f.must(r.SetWeight(f.ctx, int32(w)))
			f.wantWrites(1, "new weight")
			f.want("web", merge(user, map[string]string{action: forward(w, 100-w)}), original)
			f.must(r.SetWeight(f.ctx, int32(w)))
			f.wantWrites(0, "same weight again")
		}

		// Header routes, set in the reverse of managedRoutes' order; paths follow that order.
		internal := &v1alpha1.SetHeaderRoute{Name: "internal", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Internal", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}
		f.must(r.SetHeaderRoute(f.ctx, internal))
		f.wantWrites(1, "header route internal")
		f.must(r.SetHeaderRoute(f.ctx, internal))
		f.wantWrites(0, "header route internal again")
		beta := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}},
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}},
			{HeaderName: "X-Region", HeaderValue: &v1alpha1.StringMatch{Exact: "eu"}}}}
		f.must(r.SetHeaderRoute(f.ctx, beta))
		f.wantWrites(1, "header route beta")
		routes := map[string]string{
			action: forward(100, 0),
			"alb.ingress.kubernetes.io/actions.internal":    toCanary,
			"alb.ingress.kubernetes.io/conditions.internal": `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Internal","values":["1"]}}]`,
			"alb.ingress.kubernetes.io/actions.beta":        toCanary,
			"alb.ingress.kubernetes.io/conditions.beta": `[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Beta","values":["yes","true"]}},` +
				`{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Region","values":["eu"]}}]`,
		}
		f.want("web", merge(user, routes), rules(
			path("/api", "beta", useAnnotation), path("/api", "internal", useAnnotation),
			path("/api", "web-stable", useAnnotation), path("/admin", "admin", port80)))
		f.must(r.SetWeight(f.ctx, 100))
		f.wantWrites(0, "weight 100 with header routes")

		// A route without matches is removed.
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "internal"}))
		f.wantWrites(1, "removing internal")
		delete(routes, "alb.ingress.kubernetes.io/actions.internal")
		delete(routes, "alb.ingress.kubernetes.io/conditions.internal")
		f.want("web", merge(user, routes), rules(
			path("/api", "beta", useAnnotation), path("/api", "web-stable", useAnnotation), path("/admin", "admin", port80)))

		// Abort: all to stable, then the managed routes go.
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.wantWrites(2, "abort")
		f.want("web", merge(user, map[string]string{action: forward(0, 100)}), original)
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.wantWrites(0, "abort again")

		v, err := r.VerifyWeight(f.ctx, 0)
		if err != nil || v != trafficrouting.VerificationUnsupported {
			t.Errorf("VerifyWeight without a reader: %v, %v", v, err)
		}
	})

	t.Run("pingPong, rootService, stickiness, experiments, several Ingresses", func(t *testing.T) {
		f := newFixture(t, env)
		f.ingress("public", "web-root")
		f.ingress("private", "web-root")
		ro := f.rollout(&v1alpha1.ALBTrafficRouting{Ingresses: []string{"public", "private"}, ServicePort: 8080,
			RootService: "web-root", AnnotationPrefix: "custom.alb.io",
			StickinessConfig: &v1alpha1.StickinessConfig{Enabled: true, DurationSeconds: 300}})
		ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "", ""
		ro.Spec.Strategy.Canary.PingPong = &v1alpha1.PingPongSpec{PingService: "web-ping", PongService: "web-pong"}
		ro.Status.Canary = &v1alpha1.CanaryStatus{StablePingPong: v1alpha1.PPPong}
		r := f.router(ro)
		exp := v1alpha1.WeightDestination{ServiceName: "web-exp", Weight: 10}
		f.must(r.SetWeight(f.ctx, 20, exp))
		f.wantWrites(2, "two Ingresses")
		want := `{"Type":"forward","ForwardConfig":{"TargetGroups":[` +
			`{"ServiceName":"web-ping","ServicePort":"8080","Weight":20},` +
			`{"ServiceName":"web-exp","ServicePort":"8080","Weight":10},` +
			`{"ServiceName":"web-pong","ServicePort":"8080","Weight":70}],` +
			`"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}`
		for _, name := range []string{"public", "private"} {
			f.want(name, map[string]string{"alb.ingress.kubernetes.io/scheme": "internet-facing", "custom.alb.io/actions.web-root": want},
				rules(path("/api", "web-root", useAnnotation), path("/admin", "admin", port80)))
		}

	})

	t.Run("verify weights through ELBv2", func(t *testing.T) { testVerifyELBv2(t, newFixture(t, env)) })

	t.Run("errors", func(t *testing.T) {
		f := newFixture(t, env)
		r := f.router(f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "missing", ServicePort: 80}, "beta"))
		err := r.SetWeight(f.ctx, 20)
		var notFound *trafficrouting.ObjectNotFoundError
		if !errors.As(err, &notFound) || notFound.Kind != "Ingress" || notFound.Name != "missing" {
			t.Fatalf("missing Ingress: got %v", err)
		}
		t.Logf("missing Ingress: %v", err)

		f.ingress("other", "not-web")
		r = f.router(f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "other", ServicePort: 80}, "beta"))
		wantInvalid(t, r.SetWeight(f.ctx, 20), "no root path")

		numbered := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "numbered", Namespace: f.ns},
			Spec: networkingv1.IngressSpec{Rules: rules(path("/", "web-stable", port80))}}
		f.must(f.c.Create(f.ctx, numbered))
		r = f.router(f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "numbered", ServicePort: 80}, "beta"))
		wantInvalid(t, r.SetWeight(f.ctx, 20), "root path without use-annotation")

		f.ingress("web", "web-stable")
		r = f.router(f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 80}, "beta"))
		f.writes.Reset()
		wantInvalid(t, r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Prefix: "y"}}}}), "prefix match")
		wantInvalid(t, r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "unlisted", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "y"}}}}), "route not in managedRoutes")
		f.wantWrites(0, "refused header routes")
	})
}

func wantInvalid(t *testing.T, err error, what string) {
	t.Helper()
	var invalid *trafficrouting.InvalidConfigError
	if !errors.As(err, &invalid) {
		t.Fatalf("%s: want an InvalidConfigError, got %v", what, err)
	}
	t.Logf("%s: %v", what, err)
}

func itoa(i int) string { return strconv.Itoa(i) }

// wantManager fails the test unless the field manager flotilla-spoke has fields of obj.
func wantManager(t *testing.T, obj metav1.Object) {
	t.Helper()
	for _, e := range obj.GetManagedFields() {
		if e.Manager == trafficrouting.FieldManager {
			return
		}
	}
	t.Errorf("%s has no fields of manager %s", obj.GetName(), trafficrouting.FieldManager)
}
