package charts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/test/harness"
)

// The charts' tests run the real helm (bin/helm, `make helm`) and a real API server.

const (
	spokeChart = "flotilla-spoke"
	hubChart   = "flotilla-hub"
	// systemNamespace is where the tests install both charts, as docs/install.md does.
	systemNamespace = "flotilla-system"
	// waitTimeout bounds every wait on the API server or the controllers.
	waitTimeout = 2 * time.Minute
)

// helm runs bin/helm with args and returns its standard output. Its cache, config and data
// folders are the test's own, so nothing of the user's helm setup is read or written.
func helm(t testing.TB, args ...string) string {
	t.Helper()
	out, err := helmRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helmRun is helm that returns its failure, with what it printed, instead of failing the test.
func helmRun(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := repoPath(t, "bin/helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm is not built (run `make helm`): %v", err)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// chartPath is the folder of a chart.
func chartPath(t testing.TB, chart string) string { return repoPath(t, "charts/"+chart) }

// testdata is the path of a file of charts/testdata.
func testdata(t testing.TB, name string) string { return repoPath(t, "charts/testdata/"+name) }

func repoPath(t testing.TB, rel string) string {
	t.Helper()
	p, err := harness.RepoPath(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeVersion is the version of the API server the tests apply to, which `helm template`
// renders for.
func kubeVersion() string {
	if v := os.Getenv("KUBE_VERSION"); v != "" {
		return v
	}
	return harness.DefaultKubeVersion
}

// rendered is the output of `helm template`, object by object.
type rendered []*unstructured.Unstructured

// render runs `helm template` for release of chart in namespace, with the CRDs, and
// the given values files.
func render(t testing.TB, chart, release, namespace string, valuesFiles ...string) rendered {
	t.Helper()
	args := []string{"template", release, chartPath(t, chart), "--namespace", namespace, "--include-crds",
		"--kube-version", kubeVersion()}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	out := helm(t, args...)
	var objs rendered
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("helm template %s: output is not YAML: %v", chart, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

// all returns the objects of kind.
func (r rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range r {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

// one returns the only object of kind, failing the test if there is not exactly one.
func (r rendered) one(t testing.TB, kind string) *unstructured.Unstructured {
	t.Helper()
	got := r.all(kind)
	if len(got) != 1 {
		t.Fatalf("want one %s, rendered %d", kind, len(got))
	}
	return got[0]
}

// install applies every rendered object to the API server by server-side apply with strict
// field validation, the CRDs first (waiting until they are served), as `helm install` orders
// them. Every object must be accepted as rendered.
func install(ctx context.Context, t testing.TB, c client.Client, objs rendered) {
	t.Helper()
	crds := objs.all("CustomResourceDefinition")
	for _, u := range crds {
		apply(ctx, t, c, u)
	}
	for _, u := range crds {
		waitEstablished(ctx, t, c, u.GetName())
	}
	for _, u := range objs {
		if u.GetKind() != "CustomResourceDefinition" {
			apply(ctx, t, c, u)
		}
	}
}

func apply(ctx context.Context, t testing.TB, c client.Client, u *unstructured.Unstructured) {
	t.Helper()
	// client.Client.Apply takes no field validation; the patch form sends fieldValidation=Strict.
	if err := c.Patch(ctx, u.DeepCopy(), client.Apply, client.FieldOwner("helm"), client.ForceOwnership, //nolint:staticcheck // see above
		client.FieldValidation("Strict")); err != nil {
		t.Fatalf("applying %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
}

func waitEstablished(ctx context.Context, t testing.TB, c client.Client, name string) {
	t.Helper()
	err := harness.WaitFor(ctx, "CRD "+name+" established", waitTimeout, func(ctx context.Context) (bool, string, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			return false, err.Error(), nil //nolint:nilerr // not served yet: look again
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("conditions %v", crd.Status.Conditions), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// serviceAccountUser is the user name of a ServiceAccount.
func serviceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// forbidden records every request the API server refused with 403 Forbidden.
type forbidden struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (f *forbidden) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusForbidden {
		f.mu.Lock()
		f.seen = append(f.seen, req.Method+" "+req.URL.Path)
		f.mu.Unlock()
	}
	return resp, err
}

func (f *forbidden) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// impersonate returns a config that acts as the ServiceAccount namespace/name, with only
// the permissions RBAC gives it, and the recorder of the requests it was refused.
func impersonate(admin *rest.Config, namespace, name string) (*rest.Config, *forbidden) {
	cfg := rest.CopyConfig(admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(namespace, name)}
	cfg.QPS, cfg.Burst = 200, 400 // the binaries' defaults (kube-api-qps, kube-api-burst)
	f := &forbidden{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { f.next = rt; return f })
	return cfg, f
}
