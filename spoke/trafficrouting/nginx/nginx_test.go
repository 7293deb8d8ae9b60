package nginx_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/nginx"
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

func (f *fixture) rollout(nginxCfg *v1alpha1.NginxTrafficRouting, managed ...string) *v1alpha1.Rollout {
	tr := &v1alpha1.RolloutTrafficRouting{Nginx: nginxCfg}
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

func (f *fixture) router(ro *v1alpha1.Rollout) *nginx.Router {
	r, err := nginx.New(f.writes, ro)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func pathType(p networkingv1.PathType) *networkingv1.PathType { return &p }

func backend(svc string, port int32) networkingv1.IngressBackend {
	return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: svc, Port: networkingv1.ServiceBackendPort{Number: port}}}
}

// stableIngress creates the user's Ingress: host web.example.com routes / to the stable
// Service and /admin to another one; host other.example.com routes to another Service.
func (f *fixture) stableIngress(name string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns,
			Annotations: map[string]string{
				"nginx.ingress.kubernetes.io/rewrite-target": "/",
				"kubernetes.io/ingress.class":                "nginx",
			}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}, SecretName: "web-tls"}},
			Rules: []networkingv1.IngressRule{
				{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{
						{Path: "/", PathType: pathType(networkingv1.PathTypePrefix), Backend: backend("web-stable", 80)},
						{Path: "/admin", PathType: pathType(networkingv1.PathTypePrefix), Backend: backend("admin", 80)},
					}}}},
				{Host: "other.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{
						{Path: "/", PathType: pathType(networkingv1.PathTypePrefix), Backend: backend("other", 80)},
					}}}},
			},
		},
	}
	if err := f.c.Create(f.ctx, ing); err != nil {
		f.t.Fatal(err)
	}
	return ing
}

func (f *fixture) get(name string) *networkingv1.Ingress {
	f.t.Helper()
	ing := &networkingv1.Ingress{}
	if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, ing); err != nil {
		f.t.Fatalf("getting Ingress %s: %v", name, err)
	}
	return ing
}

func (f *fixture) gone(name string) {
	f.t.Helper()
	err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &networkingv1.Ingress{})
	if !apierrors.IsNotFound(err) {
		f.t.Fatalf("Ingress %s: want it gone, got err %v", name, err)
	}
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

// wantCanary checks the canary Ingress's annotations exactly, its owner and its spec.
func (f *fixture) wantCanary(name string, ro *v1alpha1.Rollout, annotations map[string]string, spec networkingv1.IngressSpec) *networkingv1.Ingress {
	f.t.Helper()
	ing := f.get(name)
	if !equality.Semantic.DeepEqual(ing.Annotations, annotations) {
		f.t.Errorf("canary Ingress annotations:\n got %v\nwant %v", ing.Annotations, annotations)
	}
	wantOwners := []metav1.OwnerReference{{APIVersion: "rollouts.flotilla.dev/v1alpha1", Kind: "Rollout",
		Name: ro.Name, UID: ro.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
	if !equality.Semantic.DeepEqual(ing.OwnerReferences, wantOwners) {
		f.t.Errorf("canary Ingress ownerReferences:\n got %+v\nwant %+v", ing.OwnerReferences, wantOwners)
	}
	if !equality.Semantic.DeepEqual(ing.Spec, spec) {
		f.t.Errorf("canary Ingress spec:\n got %+v\nwant %+v", ing.Spec, spec)
	}
	return ing
}

func canarySpec() networkingv1.IngressSpec {
	return networkingv1.IngressSpec{
		IngressClassName: ptr.To("nginx"),
		TLS:              []networkingv1.IngressTLS{{Hosts: []string{"web.example.com"}, SecretName: "web-tls"}},
		Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", PathType: pathType(networkingv1.PathTypePrefix), Backend: backend("web-canary", 80)},
			}}}}},
	}
}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestNginx(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})

	t.Run("canary 20 50 100 then abort", func(t *testing.T) {
		f := newFixture(t, env)
		stable := f.stableIngress("web")
		ro := f.rollout(&v1alpha1.NginxTrafficRouting{
			StableIngress:                "web",
			AdditionalIngressAnnotations: map[string]string{"load-balance": "ewma"},
			CanaryIngressAnnotations:     map[string]string{"example.com/team": "web"},
		})
		r := f.router(ro)
		canary := nginx.CanaryIngressName("web", "web")
		if canary != "web-web-canary" {
			t.Fatalf("canary Ingress name %q", canary)
		}

		f.must(r.SetWeight(f.ctx, 0))
		f.gone(canary)
		f.wantWrites(0, "weight 0 before the update")

		base := map[string]string{
			"kubernetes.io/ingress.class":              "nginx",
			"nginx.ingress.kubernetes.io/canary":       "true",
			"nginx.ingress.kubernetes.io/load-balance": "ewma",
			"example.com/team":                         "web",
		}
		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(1, "weight 20")
		wantManager(t, f.wantCanary(canary, ro, with(base, "nginx.ingress.kubernetes.io/canary-weight", "20"), canarySpec()))

		// Another controller annotates and labels the canary Ingress.
		f.must(f.c.Patch(f.ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: canary, Namespace: f.ns}},
			client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"scanned":"yes"},"annotations":{"other.example.com/seen":"true"}}}`)),
			client.FieldOwner("other-controller")))
		user := with(nil, "other.example.com/seen", "true")

		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(0, "weight 20 again")

		for _, w := range []int32{50, 100} {
			f.must(r.SetWeight(f.ctx, w))
			f.wantWrites(1, "new weight")
			ing := f.wantCanary(canary, ro, with(base, "nginx.ingress.kubernetes.io/canary-weight", itoa(w), "other.example.com/seen", user["other.example.com/seen"]), canarySpec())
			if ing.Labels["scanned"] != "yes" {
				t.Errorf("weight %d: another controller's label is gone: %v", w, ing.Labels)
			}
			f.must(r.SetWeight(f.ctx, w))
			f.wantWrites(0, "same weight again")
		}

		// Abort: everything back to stable, and the canary Ingress goes away.
		f.must(r.SetWeight(f.ctx, 0))
		f.wantWrites(1, "abort")
		f.gone(canary)
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.wantWrites(0, "weight 0 again")

		after := f.get("web")
		if after.ResourceVersion != stable.ResourceVersion {
			t.Errorf("the stable Ingress was written: resourceVersion %s, was %s", after.ResourceVersion, stable.ResourceVersion)
		}
	})

	t.Run("header route by canary-by-header", func(t *testing.T) {
		f := newFixture(t, env)
		f.stableIngress("web")
		ro := f.rollout(&v1alpha1.NginxTrafficRouting{StableIngress: "web"}, "beta", "internal")
		r := f.router(ro)
		canary := nginx.CanaryIngressName("web", "web")
		base := map[string]string{
			"kubernetes.io/ingress.class":        "nginx",
			"nginx.ingress.kubernetes.io/canary": "true",
		}

		exact := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "yes"}}}}
		f.must(r.SetHeaderRoute(f.ctx, exact))
		f.wantWrites(1, "header route at weight 0")
		header := with(base,
			"rollouts.flotilla.dev/header-route", "beta",
			"nginx.ingress.kubernetes.io/canary-by-header", "X-Beta",
			"nginx.ingress.kubernetes.io/canary-by-header-value", "yes")
		f.wantCanary(canary, ro, with(header, "nginx.ingress.kubernetes.io/canary-weight", "0"), canarySpec())
		f.must(r.SetHeaderRoute(f.ctx, exact))
		f.must(r.SetWeight(f.ctx, 0))
		f.wantWrites(0, "same header route, weight 0")

		for _, w := range []int32{20, 50, 100} {
			f.must(r.SetWeight(f.ctx, w))
			f.wantWrites(1, "weight with a header route")
			f.wantCanary(canary, ro, with(header, "nginx.ingress.kubernetes.io/canary-weight", itoa(w)), canarySpec())
		}

		// A regex replaces the exact value; a prefix becomes an anchored pattern.
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Prefix: "v1.2"}}}}))
		f.wantCanary(canary, ro, with(base,
			"rollouts.flotilla.dev/header-route", "beta",
			"nginx.ingress.kubernetes.io/canary-by-header", "X-Beta",
			"nginx.ingress.kubernetes.io/canary-by-header-pattern", `^v1\.2`,
			"nginx.ingress.kubernetes.io/canary-weight", "100"), canarySpec())

		// One header route at a time, one header per route.
		err := r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "internal", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Internal", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}})
		wantInvalid(t, err)
		err = r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "A", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}},
			{HeaderName: "B", HeaderValue: &v1alpha1.StringMatch{Exact: "2"}}}})
		wantInvalid(t, err)
		// Removing a route that is not active changes nothing.
		f.writes.Reset()
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "internal"}))
		f.wantWrites(0, "removing an inactive route")

		// Removing the route keeps the weight.
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta"}))
		f.wantWrites(1, "removing the header route")
		f.wantCanary(canary, ro, with(base, "nginx.ingress.kubernetes.io/canary-weight", "100"), canarySpec())

		// Abort with a header route: weight 0 keeps the Ingress for the route, and
		// RemoveManagedRoutes then removes both.
		f.must(r.SetHeaderRoute(f.ctx, exact))
		f.must(r.SetWeight(f.ctx, 0))
		f.wantCanary(canary, ro, with(header, "nginx.ingress.kubernetes.io/canary-weight", "0"), canarySpec())
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.gone(canary)
	})

	t.Run("several stable Ingresses, prefix and maxTrafficWeight", func(t *testing.T) {
		f := newFixture(t, env)
		f.stableIngress("public")
		f.stableIngress("internal")
		ro := f.rollout(&v1alpha1.NginxTrafficRouting{
			StableIngresses:              []string{"public", "internal"},
			AnnotationPrefix:             "custom.nginx.org",
			AdditionalIngressAnnotations: map[string]string{"custom.nginx.org/load-balance": "ewma"},
		})
		ro.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = ptr.To[int32](1000)
		r := f.router(ro)
		f.must(r.SetWeight(f.ctx, 200))
		f.wantWrites(2, "two canary Ingresses")
		for _, stable := range []string{"public", "internal"} {
			f.wantCanary(nginx.CanaryIngressName("web", stable), ro, map[string]string{
				"kubernetes.io/ingress.class":          "nginx",
				"custom.nginx.org/canary":              "true",
				"custom.nginx.org/canary-weight":       "200",
				"custom.nginx.org/canary-weight-total": "1000",
				"custom.nginx.org/load-balance":        "ewma",
			}, canarySpec())
		}
		// Dropping maxTrafficWeight from the Rollout drops canary-weight-total, which the
		// router applied before.
		ro.Spec.Strategy.Canary.TrafficRouting.MaxTrafficWeight = nil
		r = f.router(ro)
		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(2, "weight out of 100")
		if a := f.get(nginx.CanaryIngressName("web", "public")).Annotations; a["custom.nginx.org/canary-weight-total"] != "" || a["custom.nginx.org/canary-weight"] != "20" {
			t.Errorf("annotations after dropping maxTrafficWeight: %v", a)
		}
	})

	t.Run("errors", func(t *testing.T) {
		f := newFixture(t, env)
		r := f.router(f.rollout(&v1alpha1.NginxTrafficRouting{StableIngress: "missing"}, "beta"))
		err := r.SetWeight(f.ctx, 20)
		var notFound *trafficrouting.ObjectNotFoundError
		if !errors.As(err, &notFound) || notFound.Kind != "Ingress" || notFound.Name != "missing" {
			t.Fatalf("missing stable Ingress: got %v", err)
		}
		if trafficrouting.Reason(err) != trafficrouting.ReasonObjectNotFound {
			t.Errorf("reason %q", trafficrouting.Reason(err))
		}
		t.Logf("missing stable Ingress: %v", err)

		// A stable Ingress that does not route to the stable Service.
		ing := f.stableIngress("web")
		ing.Spec.Rules = ing.Spec.Rules[1:]
		f.must(f.c.Update(f.ctx, ing))
		r = f.router(f.rollout(&v1alpha1.NginxTrafficRouting{StableIngress: "web"}, "beta"))
		err = r.SetWeight(f.ctx, 20)
		wantInvalid(t, err)
		t.Logf("no stable path: %v", err)

		// A canary Ingress of that name that the Rollout does not own.
		f.stableIngress("shop")
		taken := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: nginx.CanaryIngressName("web", "shop"), Namespace: f.ns},
			Spec: networkingv1.IngressSpec{DefaultBackend: ptr.To(backend("x", 80))}}
		f.must(f.c.Create(f.ctx, taken))
		r = f.router(f.rollout(&v1alpha1.NginxTrafficRouting{StableIngress: "shop"}, "beta"))
		f.writes.Reset()
		err = r.SetWeight(f.ctx, 20)
		wantInvalid(t, err)
		t.Logf("canary Ingress taken: %v", err)
		f.wantWrites(0, "taken canary Ingress")

		// A route that managedRoutes does not list.
		err = r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "unlisted", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "A", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}})
		wantInvalid(t, err)
	})
}

func wantInvalid(t *testing.T, err error) {
	t.Helper()
	var invalid *trafficrouting.InvalidConfigError
	if !errors.As(err, &invalid) {
		t.Fatalf("want an InvalidConfigError, got %v", err)
	}
	if trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
		t.Errorf("reason %q", trafficrouting.Reason(err))
	}
}

func itoa(w int32) string { return strconv.Itoa(int(w)) }

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
