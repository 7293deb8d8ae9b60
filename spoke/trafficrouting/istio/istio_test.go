package istio_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/istio"
	"github.com/flotilla-io/flotilla/test/harness"
)

var (
	virtualService  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	destinationRule = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"}
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	env    *harness.Env
	writes *harness.WriteRecorder
	ns     string
}

func newFixture(t *testing.T, env *harness.Env) *fixture {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, ctx: ctx, env: env, writes: harness.RecordWrites(env.Client), ns: env.Namespace(t)}
}

func (f *fixture) rollout(cfg *v1alpha1.IstioTrafficRouting, managed ...string) *v1alpha1.Rollout {
	tr := &v1alpha1.RolloutTrafficRouting{Istio: cfg}
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

func (f *fixture) router(ro *v1alpha1.Rollout, c client.Client) *istio.Router {
	if c == nil {
		c = f.writes
	}
	r, err := istio.New(c, ro)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
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

func (f *fixture) create(ns, manifest string) {
	harness.CreateYAML(f.t, f.env.Client, ns, strings.ReplaceAll(manifest, "NS", f.ns))
}

// spec checks the spec of a VirtualService or DestinationRule exactly.
func (f *fixture) spec(gvk schema.GroupVersionKind, ns, name, want string) map[string]any {
	f.t.Helper()
	obj := harness.GetUnstructured(f.t, f.env.Client, gvk, ns, name)
	if !harness.EqualYAML(f.t, gvk.Kind+" "+name+" spec", strings.ReplaceAll(want, "NS", f.ns), obj.Object["spec"]) {
		f.t.FailNow()
	}
	return obj.Object
}

const webVS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  gateways: [web-gateway]
  http:
  - name: docs
    match: [{uri: {prefix: /docs}}]
    route: [{destination: {host: docs}}]
  - name: primary
    retries: {attempts: 3, perTryTimeout: 2s}
    route:
    - destination: {host: web-stable, port: {number: 80}}
      weight: 100
    - destination: {host: web-canary, port: {number: 80}}
      weight: 0
  tls:
  - match: [{port: 443, sniHosts: [web.example.com]}]
    route:
    - destination: {host: web-stable.NS.svc.cluster.local, port: {number: 443}}
      weight: 100
    - destination: {host: web-canary.NS.svc.cluster.local, port: {number: 443}}
  tcp:
  - match: [{port: 3306}]
    route:
    - destination: {host: web-stable, port: {number: 3306}}
      weight: 100
    - destination: {host: web-canary, port: {number: 3306}}
      weight: 0
`

// webSpec is the spec of webVS at a weight, with managed routes in front of docs and the
// user's later timeout on docs.
func webSpec(canary int, managed string) string {
	c, s := strconv.Itoa(canary), strconv.Itoa(100-canary)
	return `
hosts: [web.example.com]
gateways: [web-gateway]
http:` + managed + `
- name: docs
  match: [{uri: {prefix: /docs}}]
  route: [{destination: {host: docs}}]
  timeout: 5s
- name: primary
  retries: {attempts: 3, perTryTimeout: 2s}
  route:
  - destination: {host: web-stable, port: {number: 80}}
    weight: ` + s + `
  - destination: {host: web-canary, port: {number: 80}}
    weight: ` + c + `
tls:
- match: [{port: 443, sniHosts: [web.example.com]}]
  route:
  - destination: {host: web-stable.NS.svc.cluster.local, port: {number: 443}}
    weight: ` + s + `
  - destination: {host: web-canary.NS.svc.cluster.local, port: {number: 443}}
    weight: ` + c + `
tcp:
- match: [{port: 3306}]
  route:
  - destination: {host: web-stable, port: {number: 3306}}
    weight: ` + s + `
  - destination: {host: web-canary, port: {number: 3306}}
    weight: ` + c + `
`
}

func TestIstio(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})

	// First without the CRDs.
	t.Run("CRD not installed", func(t *testing.T) {
		f := newFixture(t, env)
		r := f.router(f.rollout(&v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"}}), nil)
		err := r.SetWeight(f.ctx, 20)
		var missing *trafficrouting.CRDNotInstalledError
		if !errors.As(err, &missing) || missing.GroupKind != istio.VirtualServiceKind {
			t.Fatalf("want a CRDNotInstalledError, got %v", err)
		}
		t.Logf("without the CRD: %v", err)
		f.wantWrites(0, "without the CRD")
	})

	// Istio's CRDs as istio.io/api v1.32.0 ships them.
	dir := harness.CRDDir(t, harness.ModuleFiles(t, "istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml"),
		"virtualservices.networking.istio.io", "destinationrules.networking.istio.io")
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}

	t.Run("host-level canary 20 50 100, header and mirror routes, then abort", func(t *testing.T) {
		f := newFixture(t, env)
		f.create(f.ns, webVS)
		ro := f.rollout(&v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{
			Name: "web", Routes: []string{"primary"},
			TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"web.example.com"}}},
			TCPRoutes: []v1alpha1.TCPRoute{{Port: 3306}},
		}}, "beta", "mirror")
		r := f.router(ro, nil)

		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(1, "weight 20")
		wantManager(t, harness.GetUnstructured(t, env.Client, virtualService, f.ns, "web"))
		// The user edits the VirtualService meanwhile: a timeout on their own route, a label.
		f.must(env.Client.Patch(f.ctx, harness.GetUnstructured(t, env.Client, virtualService, f.ns, "web"),
			client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/http/0/timeout","value":"5s"},{"op":"add","path":"/metadata/labels","value":{"team":"web"}}]`)),
			client.FieldOwner(harness.UserFieldOwner)))
		f.spec(virtualService, f.ns, "web", webSpec(20, ""))
		f.must(r.SetWeight(f.ctx, 20))
		f.wantWrites(0, "weight 20 again")

		for _, w := range []int{50, 100} {
			f.must(r.SetWeight(f.ctx, int32(w)))
			f.wantWrites(1, "new weight")
			obj := f.spec(virtualService, f.ns, "web", webSpec(w, ""))
			if labels := obj["metadata"].(map[string]any)["labels"]; !harness.EqualYAML(t, "labels", "{team: web}", labels) {
				t.FailNow()
			}
			f.must(r.SetWeight(f.ctx, int32(w)))
			f.wantWrites(0, "same weight again")
		}

		// A mirror route, then a header route, which goes above it (managedRoutes order).
		mirror := &v1alpha1.SetMirrorRoute{Name: "mirror", Percentage: new(int32(50)), Match: []v1alpha1.RouteMatch{
			{Method: &v1alpha1.StringMatch{Exact: "POST"}},
			{Path: &v1alpha1.StringMatch{Prefix: "/api"}, Headers: map[string]v1alpha1.StringMatch{"X-Debug": {Exact: "1"}}},
		}}
		f.must(r.SetMirrorRoute(f.ctx, mirror))
		f.wantWrites(1, "mirror route")
		f.must(r.SetMirrorRoute(f.ctx, mirror))
		f.wantWrites(0, "mirror route again")
		mirrorRoute := func(canary int) string {
			return `
- name: mirror
  match:
  - method: {exact: POST}
  - uri: {prefix: /api}
    headers: {X-Debug: {exact: "1"}}
  route:
  - destination: {host: web-stable, port: {number: 80}}
    weight: ` + strconv.Itoa(100-canary) + `
  - destination: {host: web-canary, port: {number: 80}}
    weight: ` + strconv.Itoa(canary) + `
  mirror: {host: web-canary, port: {number: 80}}
  mirrorPercentage: {value: 50}`
		}
		f.spec(virtualService, f.ns, "web", webSpec(100, mirrorRoute(100)))

		beta := &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Exact: "true"}},
			{HeaderName: "X-Region", HeaderValue: &v1alpha1.StringMatch{Regex: "eu-.*"}}}}
		f.must(r.SetHeaderRoute(f.ctx, beta))
		f.wantWrites(1, "header route")
		f.must(r.SetHeaderRoute(f.ctx, beta))
		f.wantWrites(0, "header route again")
		betaRoute := `
- name: beta
  match: [{headers: {X-Beta: {exact: "true"}, X-Region: {regex: eu-.*}}}]
  route: [{destination: {host: web-canary, port: {number: 80}}, weight: 100}]`
		f.spec(virtualService, f.ns, "web", webSpec(100, betaRoute+mirrorRoute(100)))

		// Weights reach the mirror route's copy of the destinations too.
		f.must(r.SetWeight(f.ctx, 50))
		f.wantWrites(1, "weight 50 with routes")
		f.spec(virtualService, f.ns, "web", webSpec(50, betaRoute+mirrorRoute(50)))

		// A route without matches is removed.
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta"}))
		f.wantWrites(1, "removing the header route")
		f.spec(virtualService, f.ns, "web", webSpec(50, mirrorRoute(50)))

		// Abort: all to stable, the managed routes go, the user's edits stay.
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.wantWrites(2, "abort")
		f.spec(virtualService, f.ns, "web", webSpec(0, ""))
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.must(r.UpdateHash(f.ctx, "c1", "s1"))
		f.wantWrites(0, "abort again")
		if v, err := r.VerifyWeight(f.ctx, 0); err != nil || v != trafficrouting.VerificationUnsupported {
			t.Errorf("VerifyWeight: %v %v", v, err)
		}
	})

	t.Run("subset-level with experiments, several VirtualServices", func(t *testing.T) {
		f := newFixture(t, env)
		other := env.Namespace(t)
		f.create(f.ns, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - name: legacy
    labels: {version: v0}
  - name: stable
    labels: {app: web}
  - name: canary
    labels: {app: web}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
`)
		f.create(f.ns, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: stable}
      weight: 90
    - destination: {host: web, subset: canary}
      weight: 0
    - destination: {host: web, subset: legacy}
      weight: 10
`)
		f.create(other, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-edge}
spec:
  hosts: [web.example.com]
  http:
  - name: main
    route:
    - destination: {host: web.NS.svc.cluster.local, subset: stable, port: {number: 8080}}
      weight: 100
    - destination: {host: web.NS.svc.cluster.local, subset: canary, port: {number: 8080}}
      weight: 0
`)
		ro := f.rollout(&v1alpha1.IstioTrafficRouting{
			VirtualServices: []v1alpha1.IstioVirtualService{{Name: "web"}, {Name: "web-edge." + other}},
			DestinationRule: &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable",
				AdditionalSubsetNames: []string{"legacy"}},
		}, "beta")
		ro.Spec.Strategy.Canary.StableService, ro.Spec.Strategy.Canary.CanaryService = "", ""
		r := f.router(ro, nil)

		f.must(r.UpdateHash(f.ctx, "c1", "s1"))
		f.wantWrites(1, "hashes")
		drSpec := func(extra string) string {
			return `
host: web
trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
subsets:
- name: legacy
  labels: {version: v0}
- name: stable
  labels: {app: web, rollouts-pod-template-hash: s1}
- name: canary
  labels: {app: web, rollouts-pod-template-hash: c1}
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}` + extra
		}
		f.spec(destinationRule, f.ns, "web", drSpec(""))
		f.must(r.UpdateHash(f.ctx, "c1", "s1"))
		f.wantWrites(0, "same hashes")

		exp := v1alpha1.WeightDestination{ServiceName: "web-exp", PodTemplateHash: "e1", Weight: 10}
		f.must(r.UpdateHash(f.ctx, "c1", "s1", exp))
		f.must(r.SetWeight(f.ctx, 20, exp))
		f.wantWrites(3, "experiment")
		dr := f.spec(destinationRule, f.ns, "web", drSpec(`
- name: web-exp
  labels: {rollouts-pod-template-hash: e1}`))
		if a := dr["metadata"].(map[string]any)["annotations"]; !harness.EqualYAML(t, "annotations", `{rollouts.flotilla.dev/managed-subsets: web-exp}`, a) {
			t.FailNow()
		}
		// The legacy subset keeps its 10: stable gets 100 - 20 - 10 - 10.
		f.spec(virtualService, f.ns, "web", `
hosts: [web]
http:
- route:
  - destination: {host: web, subset: stable}
    weight: 60
  - destination: {host: web, subset: canary}
    weight: 20
  - destination: {host: web, subset: legacy}
    weight: 10
  - destination: {host: web-exp}
    weight: 10
`)
		f.spec(virtualService, other, "web-edge", `
hosts: [web.example.com]
http:
- name: main
  route:
  - destination: {host: web.NS.svc.cluster.local, subset: stable, port: {number: 8080}}
    weight: 70
  - destination: {host: web.NS.svc.cluster.local, subset: canary, port: {number: 8080}}
    weight: 20
  - destination: {host: web-exp}
    weight: 10
`)
		f.must(r.SetWeight(f.ctx, 20, exp))
		f.must(r.UpdateHash(f.ctx, "c1", "s1", exp))
		f.wantWrites(0, "experiment again")

		// Header route on both VirtualServices, to the DestinationRule's host and canary subset.
		f.must(r.SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "beta", Match: []v1alpha1.HeaderRoutingMatch{
			{HeaderName: "X-Beta", HeaderValue: &v1alpha1.StringMatch{Prefix: "v2"}}}}))
		f.wantWrites(2, "header routes")
		obj := harness.GetUnstructured(t, env.Client, virtualService, other, "web-edge")
		harness.EqualYAML(t, "web-edge's header route", `
name: beta
match: [{headers: {X-Beta: {prefix: v2}}}]
route: [{destination: {host: web, subset: canary, port: {number: 8080}}, weight: 100}]
`, obj.Object["spec"].(map[string]any)["http"].([]any)[0])

		// The experiment ends and the update is aborted.
		f.must(r.UpdateHash(f.ctx, "c1", "s1"))
		f.must(r.SetWeight(f.ctx, 0))
		f.must(r.RemoveManagedRoutes(f.ctx))
		f.wantWrites(5, "abort")
		dr = f.spec(destinationRule, f.ns, "web", drSpec(""))
		if a, ok := dr["metadata"].(map[string]any)["annotations"]; ok {
			t.Errorf("annotations left: %v", a)
		}
		f.spec(virtualService, f.ns, "web", `
hosts: [web]
http:
- route:
  - destination: {host: web, subset: stable}
    weight: 90
  - destination: {host: web, subset: canary}
    weight: 0
  - destination: {host: web, subset: legacy}
    weight: 10
`)
		f.spec(virtualService, other, "web-edge", `
hosts: [web.example.com]
http:
- name: main
  route:
  - destination: {host: web.NS.svc.cluster.local, subset: stable, port: {number: 8080}}
    weight: 100
  - destination: {host: web.NS.svc.cluster.local, subset: canary, port: {number: 8080}}
    weight: 0
`)
	})

	t.Run("a concurrent edit fails the patch instead of clobbering it", func(t *testing.T) {
		f := newFixture(t, env)
		f.create(f.ns, webVS)
		ro := f.rollout(&v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"},
			TLSRoutes: []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"web.example.com"}}}, TCPRoutes: []v1alpha1.TCPRoute{{Port: 3306}}}}, "beta")
		// Between the router's read and its patch, the user swaps the two HTTP routes.
		racer := &racingClient{Client: env.Client, race: func(ctx context.Context) error {
			return env.Client.Patch(ctx, harness.GetUnstructured(t, env.Client, virtualService, f.ns, "web"),
				client.RawPatch(types.JSONPatchType, []byte(`[{"op":"move","from":"/spec/http/1","path":"/spec/http/0"}]`)),
				client.FieldOwner(harness.UserFieldOwner))
		}}
		r := f.router(ro, racer)
		err := r.SetWeight(f.ctx, 20)
		if !errors.Is(err, trafficrouting.ErrChanged) || trafficrouting.Reason(err) != "" {
			t.Fatalf("want a transient ErrChanged, got %v", err)
		}
		t.Logf("concurrent edit: %v", err)
		obj := harness.GetUnstructured(t, env.Client, virtualService, f.ns, "web")
		if name := obj.Object["spec"].(map[string]any)["http"].([]any)[1].(map[string]any)["name"]; name != "docs" {
			t.Fatalf("the user's edit was lost: http[1] is %v", name)
		}
		// The next try reads the new order and succeeds.
		f.must(r.SetWeight(f.ctx, 20))
		http := harness.GetUnstructured(t, env.Client, virtualService, f.ns, "web").Object["spec"].(map[string]any)["http"]
		harness.EqualYAML(t, "HTTP routes", `
- name: primary
  retries: {attempts: 3, perTryTimeout: 2s}
  route:
  - destination: {host: web-stable, port: {number: 80}}
    weight: 80
  - destination: {host: web-canary, port: {number: 80}}
    weight: 20
- name: docs
  match: [{uri: {prefix: /docs}}]
  route: [{destination: {host: docs}}]
`, http)
	})

	t.Run("errors", func(t *testing.T) {
		f := newFixture(t, env)
		vs := func(name string, routes ...string) *v1alpha1.IstioTrafficRouting {
			return &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: name, Routes: routes}}
		}
		r := f.router(f.rollout(vs("missing")), nil)
		err := r.SetWeight(f.ctx, 20)
		var notFound *trafficrouting.ObjectNotFoundError
		if !errors.As(err, &notFound) || notFound.Kind != "VirtualService" || notFound.Name != "missing" {
			t.Fatalf("missing VirtualService: got %v", err)
		}
		t.Logf("missing VirtualService: %v", err)
		f.must(r.RemoveManagedRoutes(f.ctx)) // nothing to remove from a missing VirtualService

		f.create(f.ns, webVS)
		wantRouteNotFound := func(err error, what string) {
			t.Helper()
			var rnf *trafficrouting.RouteNotFoundError
			if !errors.As(err, &rnf) {
				t.Fatalf("%s: want a RouteNotFoundError, got %v", what, err)
			}
			t.Logf("%s: %v", what, err)
		}
		wantRouteNotFound(f.router(f.rollout(vs("web", "nope")), nil).SetWeight(f.ctx, 20), "missing HTTP route")
		tls := f.rollout(vs("web", "primary"))
		tls.Spec.Strategy.Canary.TrafficRouting.Istio.VirtualService.TLSRoutes = []v1alpha1.TLSRoute{{Port: 443, SNIHosts: []string{"other.example.com"}}}
		wantRouteNotFound(f.router(tls, nil).SetWeight(f.ctx, 20), "missing TLS route")

		wantInvalid(t, f.router(f.rollout(vs("web")), nil).SetWeight(f.ctx, 20), "two HTTP routes, none named")
		wantInvalid(t, f.router(f.rollout(vs("web", "docs")), nil).SetWeight(f.ctx, 20), "route without the canary")

		dr := f.rollout(&v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web"},
			DestinationRule: &v1alpha1.IstioDestinationRule{Name: "web", CanarySubsetName: "canary", StableSubsetName: "stable"}})
		err = f.router(dr, nil).UpdateHash(f.ctx, "c", "s")
		if !errors.As(err, &notFound) || notFound.Kind != "DestinationRule" {
			t.Fatalf("missing DestinationRule: got %v", err)
		}
		t.Logf("missing DestinationRule: %v", err)
		f.create(f.ns, `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  subsets: [{name: stable}]
`)
		wantRouteNotFound(f.router(dr, nil).UpdateHash(f.ctx, "c", "s"), "missing subset")

		wantInvalid(t, f.router(f.rollout(vs("web", "primary"), "beta"), nil).SetHeaderRoute(f.ctx, &v1alpha1.SetHeaderRoute{Name: "gamma",
			Match: []v1alpha1.HeaderRoutingMatch{{HeaderName: "A", HeaderValue: &v1alpha1.StringMatch{Exact: "1"}}}}), "route not in managedRoutes")
		f.wantWrites(0, "errors")
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

// racingClient runs race once, just before the first patch it passes on.
type racingClient struct {
	client.Client
	race func(context.Context) error
}

func (c *racingClient) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	if c.race != nil {
		race := c.race
		c.race = nil
		if err := race(ctx); err != nil {
			return err
		}
	}
	return c.Client.Patch(ctx, obj, p, opts...)
}

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
