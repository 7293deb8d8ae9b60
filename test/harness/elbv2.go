/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package harness

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/internal/awsauth"
)

// The credentials and region the ELBv2 server accepts requests for.
const (
	ELBv2AccessKeyID     = "AKIDFLOTILLATEST"
	ELBv2SecretAccessKey = "flotilla/test/secret/key"
	ELBv2Region          = "eu-west-1"
)

// elbv2PageSize is how many load balancers one DescribeLoadBalancers page holds here: AWS
// returns at most PageSize per page, and fewer keeps the readers' paging tested.
const elbv2PageSize = 2

// ELBv2 stands in for the AWS Elastic Load Balancing v2 Query API, a SaaS back end that
// cannot run here. It serves, on loopback, the documented request and response shapes
// (API version 2015-12-01) of DescribeLoadBalancers, DescribeListeners, DescribeRules and
// DescribeTags, and checks that every request carries a valid Signature Version 4 for
// service elasticloadbalancing in ELBv2Region with ELBv2AccessKeyID: a request that is not
// signed so fails the test and is refused with AWS's error document.
type ELBv2 struct {
	// URL is the endpoint, such as http://127.0.0.1:40123.
	URL string

	t        testing.TB
	mu       sync.Mutex
	lbs      []ELBv2LoadBalancer
	denied   bool
	requests []string
}

// ELBv2LoadBalancer is an Application Load Balancer with its listeners.
type ELBv2LoadBalancer struct {
	ARN, DNSName string
	Listeners    []ELBv2Listener
}

// ELBv2Listener is a listener with one forward action per rule (priority 1, 2, ...) and a
// default rule that answers 404.
type ELBv2Listener struct {
	ARN   string
	Rules [][]ELBv2TargetGroup
}

// ELBv2TargetGroup is a target group of a forward action: its ARN, its weight in the action,
// and the value of its ingress.k8s.aws/resource tag ("" for none).
type ELBv2TargetGroup struct {
	ARN        string
	Weight     int32
	ResourceID string
}

// Getenv gives the AWS credential variables of the server's key to a reader's Getenv.
func (e *ELBv2) Getenv(key string) string {
	switch key {
	case "AWS_ACCESS_KEY_ID":
		return ELBv2AccessKeyID
	case "AWS_SECRET_ACCESS_KEY":
		return ELBv2SecretAccessKey
	}
	return ""
}

// StartELBv2 starts the server; it stops when the test ends.
func StartELBv2(t testing.TB) *ELBv2 {
	t.Helper()
	e := &ELBv2{t: t}
	srv := httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// SetLoadBalancers replaces every load balancer.
func (e *ELBv2) SetLoadBalancers(lbs ...ELBv2LoadBalancer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lbs = lbs
}

// Deny makes every request fail with AccessDenied, as for a role without the
// elasticloadbalancing:Describe* permissions, until Deny(false).
func (e *ELBv2) Deny(denied bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.denied = denied
}

// Requests returns the actions asked for so far, in order.
func (e *ELBv2) Requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

func (e *ELBv2) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		e.fail(w, http.StatusBadRequest, "MalformedInput", err.Error())
		return
	}
	if msg := e.checkSignature(r, body); msg != "" {
		e.t.Errorf("ELBv2 request not signed as AWS requires: %s", msg)
		e.fail(w, http.StatusForbidden, "SignatureDoesNotMatch", msg)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		e.fail(w, http.StatusBadRequest, "MalformedInput", "want a POST with a form body")
		return
	}
	if v := form.Get("Version"); v != "2015-12-01" {
		e.fail(w, http.StatusBadRequest, "InvalidAction", "unsupported API version "+v)
		return
	}
	action := form.Get("Action")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, action)
	if e.denied {
		e.fail(w, http.StatusForbidden, "AccessDenied",
			"User: arn:aws:sts::123456789012:assumed-role/flotilla-spoke/test is not authorized to perform: elasticloadbalancing:"+action)
		return
	}
	if ps := form.Get("PageSize"); ps != "" {
		if n, err := strconv.Atoi(ps); err != nil || n < 1 || n > 400 {
			e.fail(w, http.StatusBadRequest, "ValidationError", "PageSize must be from 1 to 400")
			return
		}
	}
	var out strings.Builder
	switch action {
	case "DescribeLoadBalancers":
		start, _ := strconv.Atoi(form.Get("Marker"))
		out.WriteString("<LoadBalancers>")
		end := min(start+elbv2PageSize, len(e.lbs))
		for _, lb := range e.lbs[start:end] {
			fmt.Fprintf(&out, "<member><LoadBalancerArn>%s</LoadBalancerArn><DNSName>%s</DNSName><Type>application</Type><Scheme>internet-facing</Scheme>"+
				"<State><Code>active</Code></State></member>", esc(lb.ARN), esc(lb.DNSName))
		}
		out.WriteString("</LoadBalancers>")
		if end < len(e.lbs) {
			fmt.Fprintf(&out, "<NextMarker>%d</NextMarker>", end)
		}
	case "DescribeListeners":
		lb := e.loadBalancer(form.Get("LoadBalancerArn"))
		if lb == nil {
			e.fail(w, http.StatusBadRequest, "LoadBalancerNotFound", "One or more load balancers not found")
			return
		}
		out.WriteString("<Listeners>")
		for _, l := range lb.Listeners {
			fmt.Fprintf(&out, "<member><ListenerArn>%s</ListenerArn><LoadBalancerArn>%s</LoadBalancerArn><Port>80</Port><Protocol>HTTP</Protocol></member>",
				esc(l.ARN), esc(lb.ARN))
		}
		out.WriteString("</Listeners>")
	case "DescribeRules":
		l := e.listener(form.Get("ListenerArn"))
		if l == nil {
			e.fail(w, http.StatusBadRequest, "ListenerNotFound", "One or more listeners not found")
			return
		}
		out.WriteString("<Rules>")
		for i, rule := range l.Rules {
			fmt.Fprintf(&out, "<member><RuleArn>%s/rule/%d</RuleArn><Priority>%d</Priority><IsDefault>false</IsDefault><Actions><member><Type>forward</Type><Order>1</Order><ForwardConfig><TargetGroups>",
				esc(l.ARN), i+1, i+1)
			for _, tg := range rule {
				fmt.Fprintf(&out, "<member><TargetGroupArn>%s</TargetGroupArn><Weight>%d</Weight></member>", esc(tg.ARN), tg.Weight)
			}
			out.WriteString("</TargetGroups><TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig></ForwardConfig></member></Actions></member>")
		}
		fmt.Fprintf(&out, "<member><RuleArn>%s/rule/default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault><Actions><member><Type>fixed-response</Type>"+
			"<FixedResponseConfig><StatusCode>404</StatusCode><ContentType>text/plain</ContentType></FixedResponseConfig></member></Actions></member></Rules>", esc(l.ARN))
	case "DescribeTags":
		out.WriteString("<TagDescriptions>")
		for i := 1; form.Has("ResourceArns.member." + strconv.Itoa(i)); i++ {
			if i > 20 {
				e.fail(w, http.StatusBadRequest, "ValidationError", "ResourceArns: at most 20")
				return
			}
			arn := form.Get("ResourceArns.member." + strconv.Itoa(i))
			fmt.Fprintf(&out, "<member><ResourceArn>%s</ResourceArn><Tags>", esc(arn))
			if id := e.resourceID(arn); id != "" {
				fmt.Fprintf(&out, "<member><Key>ingress.k8s.aws/resource</Key><Value>%s</Value></member>", esc(id))
			}
			out.WriteString("<member><Key>elbv2.k8s.aws/cluster</Key><Value>test</Value></member></Tags></member>")
		}
		out.WriteString("</TagDescriptions>")
	default:
		e.fail(w, http.StatusBadRequest, "InvalidAction", "action "+action+" is not valid for this web service")
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><%sResult>%s</%sResult>`+
		`<ResponseMetadata><RequestId>%d</RequestId></ResponseMetadata></%sResponse>`, action, action, out.String(), action, len(e.requests), action)
}

// checkSignature returns what is wrong with the request's signature, or "".
func (e *ELBv2) checkSignature(r *http.Request, body []byte) string {
	date := r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", date)
	if err != nil {
		return "no valid X-Amz-Date"
	}
	scope := fmt.Sprintf("Credential=%s/%s/%s/elasticloadbalancing/aws4_request,", ELBv2AccessKeyID, at.Format("20060102"), ELBv2Region)
	auth := r.Header.Get("Authorization")
	if !strings.Contains(auth, scope) {
		return fmt.Sprintf("Authorization %q lacks %s", auth, scope)
	}
	// Sign the same request again with the key; the signer is checked against AWS's own
	// test suite (internal/awsauth).
	want, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	want.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	awsauth.Sign(want, body, awsauth.Credentials{AccessKeyID: ELBv2AccessKeyID, SecretAccessKey: ELBv2SecretAccessKey}, ELBv2Region, "elasticloadbalancing", at)
	if got := want.Header.Get("Authorization"); got != auth {
		return fmt.Sprintf("signature %q, want %q", auth, got)
	}
	return ""
}

func (e *ELBv2) loadBalancer(arn string) *ELBv2LoadBalancer {
	for i := range e.lbs {
		if e.lbs[i].ARN == arn {
			return &e.lbs[i]
		}
	}
	return nil
}

func (e *ELBv2) listener(arn string) *ELBv2Listener {
	for i := range e.lbs {
		for j := range e.lbs[i].Listeners {
			if e.lbs[i].Listeners[j].ARN == arn {
				return &e.lbs[i].Listeners[j]
			}
		}
	}
	return nil
}

func (e *ELBv2) resourceID(arn string) string {
	for _, lb := range e.lbs {
		for _, l := range lb.Listeners {
			for _, rule := range l.Rules {
				for _, tg := range rule {
					if tg.ARN == arn {
						return tg.ResourceID
					}
				}
			}
		}
	}
	return ""
}

// fail answers with AWS's Query API error document for an error of the caller (Sender).
func (e *ELBv2) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>0</RequestId></ErrorResponse>`,
		code, esc(msg))
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
