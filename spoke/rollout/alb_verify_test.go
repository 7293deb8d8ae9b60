package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb/elbv2"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

const albIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web-stable, port: {name: use-annotation}}}
`

// TestALBSetWeightWaitsForTheLoadBalancer runs the real Rollout reconciler on a real API
// server with the alb router verifying weights through the elbv2 reader. The ELBv2 API is
// a local server standing in for AWS (a SaaS back end that cannot run here), serving ELBv2's
// documented XML and checking every request's signature; the test plays the AWS Load
// Balancer Controller by changing the weights that server reports. The setWeight step
// writes weight 20 to the Ingress but does not complete while the load balancer still runs
// 0, nor while ELBv2 denies access (the message says why); once the load balancer runs 20
// the step completes, the update reaches the pause and the weights are verified.
func TestALBSetWeightWaitsForTheLoadBalancer(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{CRDDirs: []string{harness.SpokeCRDDir}, Scheme: scheme(t)})
	api := harness.StartELBv2(t)
	reader, err := elbv2.New(elbv2.Options{Region: harness.ELBv2Region, Endpoint: api.URL, Getenv: api.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	startReconcilerWith(t, env, routers.Options{ALBWeights: reader})
	ns := env.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const host = "k8s-web-0123456789-987654321.eu-west-1.elb.amazonaws.com"
	lbARN := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-web-0123456789/50dc6c495c0c9188"
	weights := func(canary, stable int32) {
		tg := func(svc string, w int32) harness.ELBv2TargetGroup {
			return harness.ELBv2TargetGroup{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/k8s-" + svc + "/0", Weight: w, ResourceID: ns + "/web-" + svc + ":80"}
		}
		api.SetLoadBalancers(harness.ELBv2LoadBalancer{ARN: lbARN, DNSName: host, Listeners: []harness.ELBv2Listener{
			{ARN: lbARN + "/http", Rules: [][]harness.ELBv2TargetGroup{{tg("web-canary", canary), tg("web-stable", stable)}}}}})
	}
	weights(0, 100)

	createWebServices(t, env.Client, ns)
	harness.CreateYAML(t, env.Client, ns, albIngress)
	ing := &networkingv1.Ingress{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, ing); err != nil {
		t.Fatal(err)
	}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: host}}
	if err := env.Client.Status().Update(ctx, ing); err != nil {
		t.Fatal(err)
	}
	harness.CreateYAML(t, env.Client, ns, noPodsRollout("alb: {ingress: web, servicePort: 80}"))
	key := client.ObjectKey{Namespace: ns, Name: "web"}
	waitFor(ctx, t, env.Client, key, "the first revision stable", func(ro *v1alpha1.Rollout) bool {
		return ro.Status.StableRS != "" && ro.Status.StableRS == ro.Status.CurrentPodHash && routerOK(ro)
	})

	setImage(ctx, t, env.Client, key, "example.com/web:v2")
	ro := waitFor(ctx, t, env.Client, key, "weight 20 set but not verified", func(ro *v1alpha1.Rollout) bool {
		w := ro.Status.Canary.Weights
		return w != nil && w.Canary.Weight == 20 && w.Verified != nil && !*w.Verified &&
			strings.Contains(ro.Status.Message, "waiting for weight verification")
	})
	wantStep(t, ro, 0)
	if a := ingressAction(ctx, t, env.Client, ns); !strings.Contains(a, `"ServiceName":"web-canary","ServicePort":"80","Weight":20`) {
		t.Errorf("the Ingress's action is %s, want weight 20 for web-canary", a)
	}

	api.Deny(true)
	ro = waitFor(ctx, t, env.Client, key, "the message saying ELBv2 denied access", func(ro *v1alpha1.Rollout) bool {
		return strings.Contains(ro.Status.Message, "AccessDenied")
	})
	t.Logf("message: %s", ro.Status.Message)
	wantStep(t, ro, 0)
	api.Deny(false)

	weights(20, 80)
	ro = waitFor(ctx, t, env.Client, key, "the update at the pause with weight 20 verified", func(ro *v1alpha1.Rollout) bool {
		w := ro.Status.Canary.Weights
		return ro.Status.CurrentStepIndex != nil && *ro.Status.CurrentStepIndex == 1 &&
			w != nil && w.Canary.Weight == 20 && w.Verified != nil && *w.Verified
	})
	if ro.Status.Phase != v1alpha1.RolloutPhasePaused {
		t.Errorf("phase %s (%s), want Paused", ro.Status.Phase, ro.Status.Message)
	}
}

func wantStep(t *testing.T, ro *v1alpha1.Rollout, step int32) {
	t.Helper()
	if ro.Status.CurrentStepIndex == nil || *ro.Status.CurrentStepIndex != step {
		t.Errorf("step index %v, want %d: the step moved on before the load balancer ran its weight", ro.Status.CurrentStepIndex, step)
	}
}

// ingressAction is the alb router's action annotation on the Ingress web.
func ingressAction(ctx context.Context, t *testing.T, c client.Client, ns string) string {
	t.Helper()
	ing := &networkingv1.Ingress{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, ing); err != nil {
		t.Fatal(err)
	}
	return ing.Annotations["alb.ingress.kubernetes.io/actions.web-stable"]
}
