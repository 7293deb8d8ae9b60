package alb_test

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb/elbv2"
	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	webHost = "k8s-web-0123456789-987654321.eu-west-1.elb.amazonaws.com"
	webLB   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/k8s-web-0123456789/50dc6c495c0c9188"
)

// tg is the target group the AWS Load Balancer Controller makes for Service svc port 80 of
// Ingress ns/web, with weight w in an action.
func tg(ns, svc string, w int32) harness.ELBv2TargetGroup {
	return harness.ELBv2TargetGroup{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/k8s-" + svc + "/0", Weight: w, ResourceID: ns + "/web-" + svc + ":80"}
}

// webLoadBalancers are three load balancers, web's on DescribeLoadBalancers' second page:
// web's has an HTTP and an HTTPS listener, each with a header route's action (everything to
// the canary), the weighted action, and an action of another Ingress.
func webLoadBalancers(ns, arn string, http, https []harness.ELBv2TargetGroup) []harness.ELBv2LoadBalancer {
	other := harness.ELBv2TargetGroup{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/k8s-other/0", Weight: 1, ResourceID: ns + "/other-web-stable:80"}
	listener := func(name string, weighted []harness.ELBv2TargetGroup) harness.ELBv2Listener {
		return harness.ELBv2Listener{ARN: arn + "/" + name, Rules: [][]harness.ELBv2TargetGroup{
			{tg(ns, "web-canary", 100)}, weighted, {other}}}
	}
	return []harness.ELBv2LoadBalancer{
		{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/1", DNSName: "a-1.eu-west-1.elb.amazonaws.com"},
		{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/b/2", DNSName: "b-2.eu-west-1.elb.amazonaws.com"},
		{ARN: arn, DNSName: webHost, Listeners: []harness.ELBv2Listener{listener("http", http), listener("https", https)}},
	}
}

// testVerifyELBv2 verifies weights through the elbv2 reader, which asks a local server
// standing in for the AWS ELBv2 API (AWS is a SaaS back end that cannot run here; the
// server checks every request's signature): Verified only once every listener's weighted
// action has the weights, Pending before, and an error, never Verified, when the Ingress
// has no load balancer yet, when no load balancer has its hostname, when ELBv2 denies
// access, and when the load balancer was replaced (after which it is found again).
func testVerifyELBv2(t *testing.T, f *fixture) {
	api := harness.StartELBv2(t)
	reader, err := elbv2.New(elbv2.Options{Region: harness.ELBv2Region, Endpoint: api.URL, Getenv: api.Getenv})
	f.must(err)
	ing := f.ingress("web", "web-stable")
	ro := f.rollout(&v1alpha1.ALBTrafficRouting{Ingress: "web", ServicePort: 80}, "beta")
	r := f.router(ro, alb.WithWeightReader(reader))
	exp := v1alpha1.WeightDestination{ServiceName: "web-exp", Weight: 10}
	f.must(r.SetWeight(f.ctx, 20, exp))
	ns := f.ns
	old := []harness.ELBv2TargetGroup{tg(ns, "web-canary", 0), tg(ns, "web-stable", 100)}
	applied := []harness.ELBv2TargetGroup{tg(ns, "web-canary", 20), tg(ns, "web-exp", 10), tg(ns, "web-stable", 70)}
	api.SetLoadBalancers(webLoadBalancers(ns, webLB, old, old)...)

	verify := func(want trafficrouting.Verification, errText string) {
		t.Helper()
		v, err := r.VerifyWeight(f.ctx, 20, exp)
		switch {
		case errText == "" && (err != nil || v != want):
			t.Errorf("VerifyWeight: %v, %v; want %v", v, err, want)
		case errText != "" && (err == nil || !strings.Contains(err.Error(), errText) || v == trafficrouting.VerificationVerified):
			t.Errorf("VerifyWeight: %v, %v; want an error with %q, not verified", v, err, errText)
		case errText != "":
			t.Logf("VerifyWeight: %v", err)
		}
	}

	// The AWS Load Balancer Controller has not given the Ingress a load balancer yet.
	verify(0, "status.loadBalancer.ingress has no hostname yet")
	f.must(f.c.Get(f.ctx, client.ObjectKeyFromObject(ing), ing))

	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: "gone-1.eu-west-1.elb.amazonaws.com"}}
	f.must(f.c.Status().Update(f.ctx, ing))
	verify(0, "no load balancer in region eu-west-1 has the DNS name gone-1.eu-west-1.elb.amazonaws.com")

	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: webHost}}
	f.must(f.c.Status().Update(f.ctx, ing))
	verify(trafficrouting.VerificationPending, "")

	// The controller applied the weights on the HTTP listener only, then on both.
	api.SetLoadBalancers(webLoadBalancers(ns, webLB, applied, old)...)
	verify(trafficrouting.VerificationPending, "")
	api.SetLoadBalancers(webLoadBalancers(ns, webLB, applied, applied)...)
	verify(trafficrouting.VerificationVerified, "")

	api.Deny(true)
	verify(0, "AccessDenied: User: arn:aws:sts::123456789012:assumed-role/flotilla-spoke/test is not authorized to perform: elasticloadbalancing:DescribeListeners")
	api.Deny(false)

	// The load balancer is replaced under the same DNS name: the reader forgets the old ARN.
	api.SetLoadBalancers(webLoadBalancers(ns, webLB+"0", applied, applied)...)
	verify(0, "LoadBalancerNotFound")
	verify(trafficrouting.VerificationVerified, "")

	// A load balancer without the weighted action (the controller has not built it, or the
	// servicePort does not match) is an error.
	api.SetLoadBalancers(webLoadBalancers(ns, webLB+"0", []harness.ELBv2TargetGroup{tg(ns, "web-canary", 100)}, nil)...)
	verify(0, "has no forward action to the target group of Service web-stable port 80")

	if got := strings.Count(strings.Join(api.Requests(), " "), "DescribeLoadBalancers"); got != 6 {
		t.Errorf("DescribeLoadBalancers asked %d times, want 6: two pages for each of the missing, the first and the replaced load balancer, none while its ARN is known", got)
	}
}
