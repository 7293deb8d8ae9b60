package routers_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/nginx"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

var virtualService = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}

func rollout(ns string, tr *v1alpha1.RolloutTrafficRouting) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: uuid.NewUUID()},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary", TrafficRouting: tr,
		}}},
	}
}

// TestIstioAndNginxTogether drives two routers of one Rollout as one: each weight lands in
// the VirtualService and in the nginx canary Ingress, and the abort returns both to stable.
func TestIstioAndNginxTogether(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})
	dir := harness.CRDDir(t, harness.ModuleFiles(t, "istio.io/api", "v1.32.0", "kubernetes/customresourcedefinitions.gen.yaml"),
		"virtualservices.networking.istio.io")
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := env.Namespace(t)
	harness.CreateYAML(t, env.Client, ns, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - name: primary
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
`)
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{{
			Host: "web.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web-stable", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
	if err := env.Client.Create(ctx, ing); err != nil {
		t.Fatal(err)
	}

	ro := rollout(ns, &v1alpha1.RolloutTrafficRouting{
		Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
		Nginx: &v1alpha1.NginxTrafficRouting{StableIngress: "web"},
	})
	r, err := routers.New(env.Client, ro)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Type(); got != "istio+nginx" {
		t.Errorf("Type() = %q, want istio+nginx", got)
	}

	for _, w := range []int32{30, 60, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatalf("weight %d: %v", w, err)
		}
		vs := harness.GetUnstructured(t, env.Client, virtualService, ns, "web")
		harness.EqualYAML(t, "VirtualService routes at weight", `
- destination: {host: web-stable}
  weight: `+itoa(100-w)+`
- destination: {host: web-canary}
  weight: `+itoa(w)+`
`, mustNested(t, vs.Object, "spec", "http", 0, "route"))
		canary := &networkingv1.Ingress{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: nginx.CanaryIngressName("web", "web")}, canary)
		switch {
		case w == 0 && err == nil:
			t.Errorf("weight 0: the nginx canary Ingress should be gone after the abort")
		case w > 0 && err != nil:
			t.Fatalf("weight %d: canary Ingress: %v", w, err)
		case w > 0 && canary.Annotations["nginx.ingress.kubernetes.io/canary-weight"] != itoa(w):
			t.Errorf("weight %d: canary-weight = %q", w, canary.Annotations["nginx.ingress.kubernetes.io/canary-weight"])
		}
	}
}

// TestGatewayAPIPluginConfig: an Argo Rollout that uses the Gateway API plugin is served by
// the built-in router; other plugins are refused with a message that says what to do.
func TestGatewayAPIPluginConfig(t *testing.T) {
	ro := rollout("default", &v1alpha1.RolloutTrafficRouting{Plugins: map[string]runtime.RawExtension{
		routers.GatewayAPIPlugin: {Raw: []byte(`{"httpRoute": "web", "namespace": "default"}`)},
	}})
	r, err := routers.New(nil, ro)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type() != "gatewayAPI" {
		t.Errorf("Type() = %q, want gatewayAPI", r.Type())
	}

	ro = rollout("default", &v1alpha1.RolloutTrafficRouting{Plugins: map[string]runtime.RawExtension{
		"acme/mesh": {Raw: []byte(`{}`)},
	}})
	_, err = routers.New(nil, ro)
	var invalid *trafficrouting.InvalidConfigError
	if !errors.As(err, &invalid) {
		t.Fatalf("want an InvalidConfigError for an unknown plugin, got %v", err)
	}
}

func itoa(w int32) string { return strconv.Itoa(int(w)) }

func mustNested(t *testing.T, obj map[string]any, path ...any) any {
	t.Helper()
	var cur any = obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, k)
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			cur = l[k]
		}
	}
	return cur
}
