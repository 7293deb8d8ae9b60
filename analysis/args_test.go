package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// fakeResolver serves Secrets and fields from maps; a key it lacks is not found, and fail
// makes every call fail as an API outage would.
type fakeResolver struct {
	secrets map[string]string // "namespace/name/key" -> value
	fields  map[string]string
	fail    error
}

func (f fakeResolver) Secret(_ context.Context, namespace, name, key string) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	v, ok := f.secrets[namespace+"/"+name+"/"+key]
	if !ok {
		return "", fmt.Errorf("secret %s/%s: %w", namespace, name, ErrNotFound)
	}
	return v, nil
}

func (f fakeResolver) Field(_ context.Context, path string) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	v, ok := f.fields[path]
	if !ok {
		return "", fmt.Errorf("field %s: %w", path, ErrNotFound)
	}
	return v, nil
}

func strPtr(s string) *string { return &s }

func secretArg(name, secret, key string) v1alpha1.Argument {
	return v1alpha1.Argument{Name: name, ValueFrom: &v1alpha1.ValueFrom{
		SecretKeyRef: &v1alpha1.SecretKeyRef{Name: secret, Key: key}}}
}

func fieldArg(name, path string) v1alpha1.Argument {
	return v1alpha1.Argument{Name: name, ValueFrom: &v1alpha1.ValueFrom{
		FieldRef: &v1alpha1.FieldRef{FieldPath: path}}}
}

var testResolver = fakeResolver{
	secrets: map[string]string{"shop/dd/api-key": "s3cr3t/+key", "shop/dd/app-key": "app-\"quoted\"-key"},
	fields:  map[string]string{"metadata.labels['app']": "checkout"},
}

func TestResolveArgs(t *testing.T) {
	args := []v1alpha1.Argument{
		{Name: "service", Value: strPtr("checkout-canary")},
		secretArg("api-key", "dd", "api-key"),
		fieldArg("app", "metadata.labels['app']"),
		{Name: "empty", Value: strPtr("")},
	}
	a, err := ResolveArgs(context.Background(), testResolver, "shop", args)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"service": "checkout-canary", "api-key": "s3cr3t/+key", "app": "checkout", "empty": ""} {
		if got, ok := a.Value(name); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, ok, want)
		}
	}
	if !a.IsSecret("api-key") || a.IsSecret("service") || a.IsSecret("app") {
		t.Error("only api-key comes from a Secret")
	}
}

func TestResolveArgsErrors(t *testing.T) {
	outage := errors.New("connection refused")
	tests := []struct {
		name        string
		resolver    ArgResolver
		args        []v1alpha1.Argument
		invalidSpec bool
		wantInMsg   string
	}{
		{"no value", testResolver, []v1alpha1.Argument{{Name: "service"}}, true, "args.service"},
		{"both value and valueFrom", testResolver, []v1alpha1.Argument{{Name: "x", Value: strPtr("1"),
			ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "a"}}}}, true, "both"},
		{"empty valueFrom", testResolver, []v1alpha1.Argument{{Name: "x", ValueFrom: &v1alpha1.ValueFrom{}}}, true, "exactly one"},
		{"defined twice", testResolver, []v1alpha1.Argument{{Name: "x", Value: strPtr("1")}, {Name: "x", Value: strPtr("2")}}, true, "twice"},
		{"missing Secret", testResolver, []v1alpha1.Argument{secretArg("k", "nope", "api-key")}, true, `Secret shop/nope`},
		{"missing key", testResolver, []v1alpha1.Argument{secretArg("k", "dd", "nope")}, true, `key "nope"`},
		{"missing field", testResolver, []v1alpha1.Argument{fieldArg("f", "spec.nope")}, true, "spec.nope"},
		{"API outage is not an InvalidSpec", fakeResolver{fail: outage}, []v1alpha1.Argument{secretArg("k", "dd", "api-key")}, false, "connection refused"},
		{"no resolver", nil, []v1alpha1.Argument{fieldArg("f", "metadata.name")}, false, "no ArgResolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveArgs(context.Background(), tt.resolver, "shop", tt.args)
			if err == nil {
				t.Fatal("want an error")
			}
			if IsInvalidSpec(err) != tt.invalidSpec {
				t.Fatalf("IsInvalidSpec(%v) = %v, want %v", err, !tt.invalidSpec, tt.invalidSpec)
			}
			if tt.invalidSpec && AsInvalidSpec(err).Reason != v1alpha1.AnalysisRunReasonUnresolvedArgument {
				t.Fatalf("reason = %q", AsInvalidSpec(err).Reason)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Fatalf("message %q lacks %q", err.Error(), tt.wantInMsg)
			}
			if tt.name == "API outage is not an InvalidSpec" && !errors.Is(err, outage) {
				t.Fatal("the resolver's error should stay reachable for the caller")
			}
		})
	}
}

// everyProviderMetric uses placeholders in strings of several providers, in a header list, in
// the raw plugin configuration, in a Job's pod template, and in integer-or-string fields.
func everyProviderMetric() v1alpha1.Metric {
	return v1alpha1.Metric{
		Name:             "error-rate",
		Interval:         "{{args.interval}}",
		Count:            ptrIntOrString(intstr.FromString("{{ args.count }}")),
		FailureLimit:     ptrIntOrString(intstr.FromString("{{args.failure-limit}}")),
		SuccessCondition: "result[0] < {{args.threshold}}",
		Provider: v1alpha1.MetricProvider{
			Web: &v1alpha1.WebMetric{
				URL:     "https://api.example.com/q?service={{args.service}}&key={{ args.api-key }}",
				Headers: []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.api-key}}"}},
				Body:    `{"service": "{{args.service}}", "note": "{{args.note}}"}`,
				JSONBody: &runtime.RawExtension{
					Raw: []byte(`{"query":"sum(rate(x{app=\"{{args.service}}\"}[5m]))","{{args.service}}":true}`),
				},
			},
		},
	}
}

func ptrIntOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }

func TestResolveMetric(t *testing.T) {
	a := NewArgs(map[string]string{
		"interval": "30s", "count": "5", "failure-limit": "2", "threshold": "0.05",
		"service": "checkout", "note": "line1\nline2\t\"quoted\" \\ <tag> & {{args.service}}",
	}, map[string]string{"api-key": "k3y"})

	m := everyProviderMetric()
	got, err := a.ResolveMetric(&m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Interval != "30s" || got.Count.String() != "5" || got.FailureLimit.String() != "2" {
		t.Errorf("timing and limits: %q %v %v", got.Interval, got.Count, got.FailureLimit)
	}
	if got.SuccessCondition != "result[0] < 0.05" {
		t.Errorf("successCondition = %q", got.SuccessCondition)
	}
	w := got.Provider.Web
	if w.URL != "https://api.example.com/q?service=checkout&key=k3y" {
		t.Errorf("url = %q", w.URL)
	}
	if w.Headers[0].Value != "Bearer k3y" {
		t.Errorf("header = %q", w.Headers[0].Value)
	}
	// A value with quotes, backslashes and newlines is inserted as text, not as JSON syntax,
	// and a placeholder inside a value is not expanded again.
	wantBody := `{"service": "checkout", "note": "line1` + "\nline2\t" + `"quoted" \ <tag> & {{args.service}}"}`
	if w.Body != wantBody {
		t.Errorf("body = %q\nwant   %q", w.Body, wantBody)
	}
	var jb map[string]any
	if err := json.Unmarshal(w.JSONBody.Raw, &jb); err != nil {
		t.Fatalf("jsonBody is no longer JSON: %v", err)
	}
	if jb["query"] != `sum(rate(x{app="checkout"}[5m]))` || jb["checkout"] != true {
		t.Errorf("jsonBody = %v", jb)
	}
	if m.Provider.Web.URL != everyProviderMetric().Provider.Web.URL {
		t.Error("ResolveMetric modified its argument")
	}
}

func TestResolveMetricJobAndUnknownPlaceholders(t *testing.T) {
	a := NewArgs(map[string]string{"image": "curlimages/curl:8", "url": "http://svc"}, nil)
	m := v1alpha1.Metric{
		Name: "smoke",
		Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{
			Metadata: metav1.ObjectMeta{Labels: map[string]string{"image": "{{args.image}}"}},
		}},
	}
	m.Provider.Job.Spec.Template.Spec.Containers = append(m.Provider.Job.Spec.Template.Spec.Containers,
		corev1Container("{{args.image}}", "curl {{ args.url }}/health && echo '{{ other.thing }}'"))
	got, err := a.ResolveMetric(&m)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Provider.Job.Spec.Template.Spec.Containers[0]
	if c.Image != "curlimages/curl:8" || c.Command[0] != "curl http://svc/health && echo '{{ other.thing }}'" {
		t.Errorf("container = %q %q", c.Image, c.Command)
	}
	if got.Provider.Job.Metadata.Labels["image"] != "curlimages/curl:8" {
		t.Errorf("labels = %v", got.Provider.Job.Metadata.Labels)
	}

	m.Provider.Job.Spec.Template.Spec.Containers[0].Args = []string{"{{args.missing}}"}
	_, err = a.ResolveMetric(&m)
	ise := AsInvalidSpec(err)
	if ise == nil || ise.Reason != v1alpha1.AnalysisRunReasonUnresolvedArgument {
		t.Fatalf("err = %v, want an UnresolvedArgument InvalidSpecError", err)
	}
	if !strings.Contains(ise.Field, "provider.job.spec.template.spec.containers[0].args[0]") ||
		!strings.Contains(ise.Message, "missing") || !strings.Contains(ise.Message, "image, url") {
		t.Fatalf("error should name the field, the argument and the known ones: %v", ise)
	}
}

func TestResolveSpecKeepsArgsAndRejectsBadValues(t *testing.T) {
	a := NewArgs(map[string]string{"count": "five"}, nil)
	spec := v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{{Name: "count", Value: strPtr("five")}},
		Metrics: []v1alpha1.Metric{{
			Name: "m", Interval: "1m", Count: ptrIntOrString(intstr.FromString("{{args.count}}")),
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://x"}},
		}},
	}
	resolved, err := a.ResolveSpec(&spec)
	if err != nil {
		t.Fatal(err)
	}
	if *resolved.Args[0].Value != "five" || spec.Metrics[0].Count.StrVal != "{{args.count}}" {
		t.Fatal("ResolveSpec must copy args and leave its argument alone")
	}
	if err := ValidateSpec(&resolved); !IsInvalidSpec(err) || !strings.Contains(err.Error(), "metrics[0].count") {
		t.Fatalf("a count that is not an integer should be an InvalidSpec naming the field, got %v", err)
	}
}

func TestRedact(t *testing.T) {
	a, err := ResolveArgs(context.Background(), testResolver, "shop", []v1alpha1.Argument{
		secretArg("api-key", "dd", "api-key"),
		secretArg("app-key", "dd", "app-key"),
		{Name: "service", Value: strPtr("checkout")},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, appKey := "s3cr3t/+key", `app-"quoted"-key`
	jsonAppKey := `app-\"quoted\"-key`
	tests := []struct{ in, want string }{
		{"plain " + key + " twice " + key, "plain ***** twice *****"},
		{`Get "https://x/q?key=` + url.QueryEscape(key) + `": dial tcp: refused`, `Get "https://x/q?key=*****": dial tcp: refused`},
		{"path /" + url.PathEscape(key), "path /*****"},
		{`{"key":"` + jsonAppKey + `"}`, `{"key":"*****"}`},
		{"raw " + appKey, "raw *****"},
		{fmt.Sprintf("condition %q does not compile", "result == "+appKey), `condition "result == *****" does not compile`},
		{"service checkout is not secret", "service checkout is not secret"},
	}
	for _, tt := range tests {
		if got := a.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var none *Args
	if none.Redact("x") != "x" || NewArgs(nil, map[string]string{"empty": ""}).Redact("x") != "x" {
		t.Error("no secrets, or an empty secret, must leave text alone")
	}
}

func TestRedactLongestFirst(t *testing.T) {
	a := NewArgs(nil, map[string]string{"short": "abc", "long": "abcdef"})
	if got := a.Redact("x abcdef y abc"); got != "x ***** y *****" {
		t.Fatalf("got %q: a secret containing another must be hidden whole", got)
	}
}

func TestRedactStatus(t *testing.T) {
	a := NewArgs(map[string]string{"service": "checkout"}, map[string]string{"token": "tok-123"})
	st := v1alpha1.AnalysisRunStatus{
		Message:    "metric failed: 401 for tok-123",
		Conditions: []metav1.Condition{{Type: "Completed", Message: "tok-123"}},
		MetricResults: []v1alpha1.MetricResult{{
			Name: "m", Message: "tok-123", Metadata: map[string]string{"url": "http://x?t=tok-123"},
			Measurements: []v1alpha1.Measurement{{Message: "bad tok-123", Value: `{"t":"tok-123"}`, Metadata: map[string]string{"q": "tok-123"}}},
		}},
	}
	a.RedactStatus(&st)
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), "tok-123") {
		t.Fatalf("secret survived: %s", raw)
	}
	if !strings.Contains(string(raw), Redacted) {
		t.Fatal("secret was not replaced by the redaction mark")
	}
}

func TestMergeArgs(t *testing.T) {
	templateArgs := []v1alpha1.Argument{
		{Name: "service"},
		{Name: "threshold", Value: strPtr("0.05")},
		secretArg("api-key", "dd", "api-key"),
	}
	got, err := MergeArgs(templateArgs, []v1alpha1.Argument{
		{Name: "service", Value: strPtr("checkout")},
		{Name: "threshold", Value: strPtr("0.01")},
		{Name: "api-key", Value: strPtr("inline")},
		{Name: "undeclared", Value: strPtr("dropped")},
		{Name: "ignored"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"service": "checkout", "threshold": "0.01", "api-key": "inline"}
	if len(got) != len(want) {
		t.Fatalf("got %d args, want %d: %+v", len(got), len(want), got)
	}
	for _, arg := range got {
		if arg.Value == nil || *arg.Value != want[arg.Name] || arg.ValueFrom != nil {
			t.Errorf("%s = %+v, want value %q only", arg.Name, arg, want[arg.Name])
		}
	}
	if templateArgs[1].Value == nil || *templateArgs[1].Value != "0.05" || templateArgs[2].ValueFrom == nil {
		t.Error("MergeArgs modified the template's args")
	}

	_, err = MergeArgs(templateArgs, nil)
	if ise := AsInvalidSpec(err); ise == nil || ise.Field != "args.service" || ise.Reason != v1alpha1.AnalysisRunReasonUnresolvedArgument {
		t.Fatalf("an argument left without value should be an UnresolvedArgument on args.service, got %v", err)
	}
}

func corev1Container(image, command string) corev1.Container {
	return corev1.Container{Name: "main", Image: image, Command: []string{command}}
}

// TestRedactEscapedForms: a secret with characters that JSON, Go quoting and URLs escape
// differently is hidden in each of those forms.
func TestRedactEscapedForms(t *testing.T) {
	secret := `k3y"<&>+/= \`
	a := NewArgs(nil, map[string]string{"key": secret})
	htmlJSON, _ := json.Marshal("x " + secret)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode("x " + secret)
	for _, in := range []string{
		secret,
		string(htmlJSON),
		plain.String(),
		fmt.Sprintf("%q", "x "+secret),
		"q=" + url.QueryEscape(secret),
		"/" + url.PathEscape(secret),
	} {
		if got := a.Redact(in); strings.Contains(got, "k3y") || !strings.Contains(got, Redacted) {
			t.Errorf("Redact(%s) = %s", in, got)
		}
	}
}
