package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/test/harness"
)

var nsGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// crdDirs are the generated CRDs of both API groups, as the charts ship them, relative to
// the repository root.
var crdDirs = []string{harness.SpokeCRDDir, harness.HubCRDDir}

// minInvalidCases is the size the bad-input corpus must keep: every CEL rule needs a case,
// and the OpenAPI bounds need some too.
const minInvalidCases = 30

// apiServer is one real kube-apiserver (and etcd) shared by the tests of this package, with
// the project's CRDs installed.
type apiServer struct {
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
}

func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	env := harness.NewEnv(t, harness.EnvOptions{CRDDirs: crdDirs})
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &apiServer{
		dynamic: dyn,
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
	}
}

// resource returns the client for obj's kind, in namespace ns when the kind is namespaced.
func (s *apiServer) resource(t *testing.T, obj *unstructured.Unstructured, ns string) dynamic.ResourceInterface {
	t.Helper()
	gvk := obj.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Fatalf("%s is not served by the API server (is its CRD generated?): %v", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		obj.SetNamespace(ns)
		return s.dynamic.Resource(m.Resource).Namespace(ns)
	}
	return s.dynamic.Resource(m.Resource)
}

func (s *apiServer) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	_, err := s.dynamic.Resource(nsGVR).Create(context.Background(), ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

// strict refuses unknown and duplicate fields, as `kubectl apply --validate=strict` does.
var strict = metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}

func TestCRDs(t *testing.T) {
	s := startAPIServer(t)
	t.Run("invalid manifests are refused with their message", func(t *testing.T) { testInvalid(t, s) })
	t.Run("valid manifests are accepted", func(t *testing.T) { testValid(t, s) })
	t.Run("Argo Rollouts manifests keep every field", func(t *testing.T) { testArgo(t, s) })
}

func testInvalid(t *testing.T, s *apiServer) {
	cases := readCases(t, "testdata/invalid")
	if len(cases) < minInvalidCases {
		t.Errorf("the bad-input corpus has %d cases; keep at least %d", len(cases), minInvalidCases)
	}
	ns := s.namespace(t, "invalid")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) == 0 {
				t.Fatalf("%s has no '# want:' line", c.path)
			}
			obj := c.object(t)
			r := s.resource(t, obj, ns)
			_, err := r.Create(context.Background(), obj, strict)
			if c.patch != "" {
				// A rule on updates: the object is valid, the patch to it is not.
				if err != nil {
					t.Fatalf("creating %s before patching it: %v", c.path, err)
				}
				_, err = r.Patch(context.Background(), obj.GetName(), types.MergePatchType, []byte(c.patch),
					metav1.PatchOptions{FieldValidation: metav1.FieldValidationStrict})
			}
			if err == nil {
				t.Fatalf("the API server accepted %s; want an error containing %q", c.path, c.want)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want a validation error, got %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func testValid(t *testing.T, s *apiServer) {
	cases := readCases(t, "testdata/valid", "../examples", "../docs/examples")
	ns := s.namespace(t, "valid")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := c.object(t)
			if _, err := s.resource(t, obj, ns).Create(context.Background(), obj, strict); err != nil {
				t.Fatalf("the API server refused %s: %v", c.path, err)
			}
		})
	}
}

// testArgo creates each Argo Rollouts manifest with only its apiVersion changed and checks
// that every field it set reads back with the same value.
func testArgo(t *testing.T, s *apiServer) {
	cases := readCases(t, "testdata/argo")
	if len(cases) == 0 {
		t.Fatal("no Argo Rollouts manifests under testdata/argo")
	}
	ns := s.namespace(t, "argo")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := c.object(t)
			if obj.GetAPIVersion() != "argoproj.io/v1alpha1" {
				t.Fatalf("%s: want apiVersion argoproj.io/v1alpha1, got %q", c.path, obj.GetAPIVersion())
			}
			obj.SetAPIVersion("rollouts.flotilla.dev/v1alpha1")
			want := obj.DeepCopy().Object
			r := s.resource(t, obj, ns)
			if _, err := r.Create(context.Background(), obj, strict); err != nil {
				t.Fatalf("the API server refused %s: %v", c.path, err)
			}
			got, err := r.Get(context.Background(), obj.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.GetNamespace() != obj.GetNamespace() {
				t.Errorf("namespace: want %q, got %q", obj.GetNamespace(), got.GetNamespace())
			}
			for _, lost := range missing("", normalize(t, want), normalize(t, got.Object)) {
				t.Errorf("lost or changed on the way back: %s", lost)
			}
		})
	}
}

// missing lists the paths of leaves in want that got lacks or holds with another value.
// Fields the server adds (defaults, metadata) are not differences.
func missing(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		var out []string
		for _, k := range sortedKeys(w) {
			out = append(out, missing(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, got %v", path, len(w), got)}
		}
		var out []string
		for i := range w {
			out = append(out, missing(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalize round-trips through JSON so that numbers compare alike on both sides.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryCELRuleHasAnInvalidCase keeps the bad-input corpus honest: every message that a
// CEL rule in the generated CRDs can give must be expected by some case in testdata/invalid.
func TestEveryCELRuleHasAnInvalidCase(t *testing.T) {
	var wants []string
	for _, c := range readCases(t, "testdata/invalid") {
		wants = append(wants, c.want...)
	}
	rules := celMessages(t)
	if len(rules) == 0 {
		t.Fatal("the generated CRDs carry no CEL rules")
	}
	for _, r := range rules {
		found := false
		for _, w := range wants {
			if strings.Contains(w, r.message) || strings.Contains(r.message, w) && len(w) > 20 {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no case in testdata/invalid expects the rule at %s: %q", r.where, r.message)
		}
	}
}

type celRule struct{ where, message string }

func celMessages(t *testing.T) []celRule {
	t.Helper()
	var rules []celRule
	seen := map[string]bool{}
	for _, rel := range crdDirs {
		dir, err := harness.RepoPath(rel)
		if err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, v := range crd.Spec.Versions {
				if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
					continue
				}
				walkSchema(crd.Spec.Names.Kind, v.Schema.OpenAPIV3Schema, func(path string, r apiextensionsv1.ValidationRule) {
					msg := r.Message
					if msg == "" {
						t.Errorf("%s: the rule %q has no message", path, r.Rule)
						return
					}
					if !seen[msg] {
						seen[msg] = true
						rules = append(rules, celRule{where: path, message: msg})
					}
				})
			}
		}
	}
	return rules
}

func walkSchema(path string, s *apiextensionsv1.JSONSchemaProps, visit func(string, apiextensionsv1.ValidationRule)) {
	for _, r := range s.XValidations {
		visit(path, r)
	}
	for _, name := range sortedPropKeys(s.Properties) {
		p := s.Properties[name]
		walkSchema(path+"."+name, &p, visit)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walkSchema(path+"[]", s.Items.Schema, visit)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walkSchema(path+"{}", s.AdditionalProperties.Schema, visit)
	}
}

func sortedPropKeys(m map[string]apiextensionsv1.JSONSchemaProps) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// testCase is one manifest file: its expected error texts and its single document.
type testCase struct {
	name, path string
	want       []string
	// patch, when set, is a JSON merge patch applied after a successful create; the patch is
	// what must be refused (for rules on updates, such as self == oldSelf).
	patch string
	doc   []byte
}

func (c testCase) object(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(c.doc, &obj.Object); err != nil {
		t.Fatalf("%s: %v", c.path, err)
	}
	if obj.GetName() == "" || obj.GetKind() == "" {
		t.Fatalf("%s: a case needs kind and metadata.name", c.path)
	}
	return obj
}

// readCases reads every YAML file under the given folders. A file holds one document; lines
// "# want: TEXT" before it name the texts the API server's error must contain, and a line
// "# patch: JSON" makes the case an update: create, then apply that merge patch.
func readCases(t *testing.T, dirs ...string) []testCase {
	t.Helper()
	var out []testCase
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			c := testCase{name: strings.TrimSuffix(filepath.Base(path), ".yaml"), path: path, doc: raw}
			for line := range strings.Lines(string(raw)) {
				if w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want:"); ok {
					c.want = append(c.want, strings.TrimSpace(w))
				}
				if p, ok := strings.CutPrefix(strings.TrimSpace(line), "# patch:"); ok {
					c.patch = strings.TrimSpace(p)
				}
			}
			if bytes.Contains(raw, []byte("\n---")) {
				return fmt.Errorf("%s: one document per file", path)
			}
			out = append(out, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
