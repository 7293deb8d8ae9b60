// Package elbv2 reads the weights an AWS Application Load Balancer applies, for the alb
// router's weight verification, from the Elastic Load Balancing v2 Query API (Version
// 2015-12-01, POST with a form body, XML answers, signed with AWS Signature Version 4 for
// service "elasticloadbalancing"; no AWS SDK), as Argo Rollouts does with the SDK:
//
//  1. the load balancer whose DNSName is the hostname in the Ingress's
//     status.loadBalancer.ingress (DescribeLoadBalancers, every page);
//  2. its listeners (DescribeListeners) and their rules (DescribeRules), keeping each
//     forward action's target groups and weights (ForwardConfig.TargetGroups);
//  3. the tags of those target groups (DescribeTags, 20 at a time): the AWS Load Balancer
//     Controller tags the target group of Service <svc> port <port> of Ingress <ns>/<ing>
//     with ingress.k8s.aws/resource = <ns>/<ing>-<svc>:<port>.
//
// Credentials come from the AWS SDKs' default chain (see internal/awsauth): the variables
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (a Deployment may fill them
// from a Secret), IAM roles for service accounts, or the shared credentials file. The
// endpoint is https://elasticloadbalancing.<region>.amazonaws.com unless Options.Endpoint,
// AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 or AWS_ENDPOINT_URL names another.
package elbv2

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/flotilla-io/flotilla/internal/awsauth"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/alb"
)

const (
	// APIVersion is the ELBv2 Query API version.
	APIVersion = "2015-12-01"
	// SigningName is the service name ELBv2 requests are signed for.
	SigningName = "elasticloadbalancing"
	// TagResourceID is the tag the AWS Load Balancer Controller puts on a target group to
	// name the Ingress, Service and port it serves: <namespace>/<ingress>-<service>:<port>.
	TagResourceID = "ingress.k8s.aws/resource"

	// pageSize is the largest page DescribeLoadBalancers, DescribeListeners and
	// DescribeRules return; tagsPerCall the most ARNs one DescribeTags takes.
	pageSize    = 400
	tagsPerCall = 20
	// requestTimeout bounds one request.
	requestTimeout = 10 * time.Second
	// errLoadBalancerNotFound is ELBv2's error code for an ARN of no load balancer.
	errLoadBalancerNotFound = "LoadBalancerNotFound"
)

// Options configure a Reader.
type Options struct {
	// Region is the AWS region of the load balancers; "" means AWS_REGION or
	// AWS_DEFAULT_REGION.
	Region string
	// Endpoint is the base URL of the ELBv2 API; "" means the region's (see the package
	// documentation).
	Endpoint string
	// HTTPClient sends the requests; nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Getenv reads the AWS settings; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock for signatures; nil means time.Now.
	Now func() time.Time
}

// Reader implements alb.WeightReader over the ELBv2 API. It is safe for concurrent use.
type Reader struct {
	region   string
	endpoint string
	client   *http.Client
	creds    awsauth.Source
	now      func() time.Time

	mu  sync.Mutex
	arn map[string]string // load balancer ARN by DNS name, forgotten when ELBv2 no longer knows it
}

var _ alb.WeightReader = (*Reader)(nil)

// New returns a Reader. It fails when no region is set or the endpoint is not a URL.
func New(opts Options) (*Reader, error) {
	cfg := awsauth.Config{Getenv: opts.Getenv, HTTPClient: opts.HTTPClient, Now: opts.Now}
	r := &Reader{region: opts.Region, client: opts.HTTPClient, now: opts.Now, arn: map[string]string{}}
	if r.region == "" {
		r.region = cfg.Region()
	}
	if r.region == "" {
		return nil, errors.New("no AWS region: set aws-region, AWS_REGION or AWS_DEFAULT_REGION")
	}
	r.endpoint = opts.Endpoint
	if r.endpoint == "" {
		r.endpoint = cfg.Endpoint("ELASTIC_LOAD_BALANCING_V2", SigningName, r.region)
	}
	if u, err := url.Parse(r.endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ELBv2 endpoint %q is not an http or https URL", r.endpoint)
	}
	r.endpoint = strings.TrimRight(r.endpoint, "/") + "/"
	if r.client == nil {
		r.client = &http.Client{Timeout: requestTimeout}
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.creds = cfg.Chain("")
	return r, nil
}

// ForwardWeights returns the weights of every forward action of the load balancers of ing
// (its status hostnames), each as the weights of the target groups of ing's Services at
// servicePort, by Service name. Target groups of other Ingresses, Services or ports are left
// out, and so are actions with none of ing's target groups.
func (r *Reader) ForwardWeights(ctx context.Context, ing *networkingv1.Ingress, servicePort int32) ([]map[string]int32, error) {
	var hosts []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		if lb.Hostname != "" {
			hosts = append(hosts, lb.Hostname)
		}
	}
	if len(hosts) == 0 {
		return nil, errors.New("status.loadBalancer.ingress has no hostname yet: the AWS Load Balancer Controller has not given the Ingress a load balancer")
	}
	creds, err := r.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	var out []map[string]int32
	for _, host := range hosts {
		actions, err := r.loadBalancerActions(ctx, creds, host)
		if err != nil {
			return nil, err
		}
		tags, err := r.resourceIDs(ctx, creds, actions)
		if err != nil {
			return nil, err
		}
		prefix, suffix := ing.Namespace+"/"+ing.Name+"-", ":"+strconv.Itoa(int(servicePort))
		for _, a := range actions {
			weights := map[string]int32{}
			for _, tg := range a {
				id := tags[tg.ARN]
				if svc, ok := strings.CutPrefix(id, prefix); ok && strings.HasSuffix(svc, suffix) && tg.Weight != nil {
					weights[strings.TrimSuffix(svc, suffix)] = *tg.Weight
				}
			}
			if len(weights) > 0 {
				out = append(out, weights)
			}
		}
	}
	return out, nil
}

// loadBalancerActions returns the target groups of every forward action of every rule of
// every listener of the load balancer named host.
func (r *Reader) loadBalancerActions(ctx context.Context, creds awsauth.Credentials, host string) ([][]targetGroupTuple, error) {
	arn, err := r.loadBalancerARN(ctx, creds, host)
	if err != nil {
		return nil, err
	}
	var listeners []string
	err = r.pages(ctx, creds, url.Values{"Action": {"DescribeListeners"}, "LoadBalancerArn": {arn}}, func(body []byte) (string, error) {
		var resp struct {
			Listeners []struct {
				ARN string `xml:"ListenerArn"`
			} `xml:"DescribeListenersResult>Listeners>member"`
			NextMarker string `xml:"DescribeListenersResult>NextMarker"`
		}
		err := xml.Unmarshal(body, &resp)
		for _, l := range resp.Listeners {
			listeners = append(listeners, l.ARN)
		}
		return resp.NextMarker, err
	})
	if apiErr := (*awsauth.APIError)(nil); errors.As(err, &apiErr) && apiErr.Code == errLoadBalancerNotFound {
		r.mu.Lock()
		delete(r.arn, host)
		r.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	var actions [][]targetGroupTuple
	for _, l := range listeners {
		err := r.pages(ctx, creds, url.Values{"Action": {"DescribeRules"}, "ListenerArn": {l}}, func(body []byte) (string, error) {
			var resp struct {
				Rules []struct {
					Actions []struct {
						Type         string             `xml:"Type"`
						TargetGroups []targetGroupTuple `xml:"ForwardConfig>TargetGroups>member"`
					} `xml:"Actions>member"`
				} `xml:"DescribeRulesResult>Rules>member"`
				NextMarker string `xml:"DescribeRulesResult>NextMarker"`
			}
			err := xml.Unmarshal(body, &resp)
			for _, rule := range resp.Rules {
				for _, a := range rule.Actions {
					if a.Type == "forward" && len(a.TargetGroups) > 0 {
						actions = append(actions, a.TargetGroups)
					}
				}
			}
			return resp.NextMarker, err
		})
		if err != nil {
			return nil, err
		}
	}
	return actions, nil
}

type targetGroupTuple struct {
	ARN    string `xml:"TargetGroupArn"`
	Weight *int32 `xml:"Weight"`
}

// loadBalancerARN finds the load balancer whose DNS name is host, reading every page of
// DescribeLoadBalancers the first time.
func (r *Reader) loadBalancerARN(ctx context.Context, creds awsauth.Credentials, host string) (string, error) {
	r.mu.Lock()
	arn, ok := r.arn[host]
	r.mu.Unlock()
	if ok {
		return arn, nil
	}
	err := r.pages(ctx, creds, url.Values{"Action": {"DescribeLoadBalancers"}}, func(body []byte) (string, error) {
		var resp struct {
			LoadBalancers []struct {
				ARN     string `xml:"LoadBalancerArn"`
				DNSName string `xml:"DNSName"`
			} `xml:"DescribeLoadBalancersResult>LoadBalancers>member"`
			NextMarker string `xml:"DescribeLoadBalancersResult>NextMarker"`
		}
		err := xml.Unmarshal(body, &resp)
		for _, lb := range resp.LoadBalancers {
			if strings.EqualFold(lb.DNSName, host) {
				arn = lb.ARN
				return "", err
			}
		}
		return resp.NextMarker, err
	})
	if err != nil {
		return "", err
	}
	if arn == "" {
		return "", fmt.Errorf("no load balancer in region %s has the DNS name %s", r.region, host)
	}
	r.mu.Lock()
	r.arn[host] = arn
	r.mu.Unlock()
	return arn, nil
}

// resourceIDs returns the ingress.k8s.aws/resource tag of each target group of actions, by
// ARN.
func (r *Reader) resourceIDs(ctx context.Context, creds awsauth.Credentials, actions [][]targetGroupTuple) (map[string]string, error) {
	var arns []string
	seen := map[string]bool{}
	for _, a := range actions {
		for _, tg := range a {
			if !seen[tg.ARN] {
				seen[tg.ARN] = true
				arns = append(arns, tg.ARN)
			}
		}
	}
	ids := map[string]string{}
	for start := 0; start < len(arns); start += tagsPerCall {
		form := url.Values{"Action": {"DescribeTags"}}
		for i, arn := range arns[start:min(start+tagsPerCall, len(arns))] {
			form.Set("ResourceArns.member."+strconv.Itoa(i+1), arn)
		}
		body, err := r.call(ctx, creds, form)
		if err != nil {
			return nil, err
		}
		var resp struct {
			Descriptions []struct {
				ARN  string `xml:"ResourceArn"`
				Tags []struct {
					Key   string `xml:"Key"`
					Value string `xml:"Value"`
				} `xml:"Tags>member"`
			} `xml:"DescribeTagsResult>TagDescriptions>member"`
		}
		if err := xml.Unmarshal(body, &resp); err != nil {
			return nil, fmt.Errorf("ELBv2 DescribeTags answered with something other than a DescribeTagsResponse: %w", err)
		}
		for _, d := range resp.Descriptions {
			for _, tag := range d.Tags {
				if tag.Key == TagResourceID {
					ids[d.ARN] = tag.Value
				}
			}
		}
	}
	return ids, nil
}

// pages calls the action of form for every page, giving each answer to page, which returns
// the next marker ("" for the last page).
func (r *Reader) pages(ctx context.Context, creds awsauth.Credentials, form url.Values, page func([]byte) (string, error)) error {
	form.Set("PageSize", strconv.Itoa(pageSize))
	for {
		body, err := r.call(ctx, creds, form)
		if err != nil {
			return err
		}
		next, err := page(body)
		if err != nil {
			return fmt.Errorf("ELBv2 %s answered with something other than its response: %w", form.Get("Action"), err)
		}
		if next == "" {
			return nil
		}
		form.Set("Marker", next)
	}
}

// call sends one request of the form's action.
func (r *Reader) call(ctx context.Context, creds awsauth.Credentials, form url.Values) ([]byte, error) {
	form.Set("Version", APIVersion)
	body, err := awsauth.Query(ctx, r.client, r.endpoint, form, creds, r.region, SigningName, r.now())
	if err != nil {
		return nil, fmt.Errorf("ELBv2 %s: %w", form.Get("Action"), err)
	}
	return body, nil
}
