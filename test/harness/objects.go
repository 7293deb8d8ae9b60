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
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// UserFieldOwner is the field manager of the objects CreateYAML creates: the user's, as
// opposed to a controller's.
const UserFieldOwner = "test-user"

// CreateYAML creates the one object of manifest in namespace, with UserFieldOwner, and
// returns it as the API server answered.
func CreateYAML(t testing.TB, c client.Client, namespace, manifest string) *unstructured.Unstructured {
	t.Helper()
	objs, err := decodeManifests([]byte(manifest))
	if err != nil || len(objs) != 1 {
		t.Fatalf("CreateYAML: want one object in the manifest, got %d (%v)", len(objs), err)
	}
	obj := objs[0]
	if namespace != "" {
		obj.SetNamespace(namespace)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Create(ctx, obj, client.FieldOwner(UserFieldOwner)); err != nil {
		t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return obj
}

// CheckoutFleetRollout is the checkout FleetRollout the hub's tests share, relative to the
// repo root: read it with ReadYAMLFile and change in code what a test needs otherwise.
const CheckoutFleetRollout = "test/testdata/checkout-fleetrollout.yaml"

// ReadYAMLFile decodes the one YAML document of the file rel (relative to the repo root) into
// obj, strictly: a field obj does not have fails the test, so a fixture cannot drift from the
// API unnoticed.
func ReadYAMLFile(t testing.TB, rel string, obj any) {
	t.Helper()
	path, err := RepoPath(rel)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// GetUnstructured reads the object gvk namespace/name, failing the test if it cannot.
func GetUnstructured(t testing.TB, c client.Client, gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		t.Fatalf("reading %s %s/%s: %v", gvk.Kind, namespace, name, err)
	}
	return obj
}

// EqualYAML reports, as a test error that shows both, whether got (an unstructured value,
// such as an object's spec) differs from the YAML document want.
func EqualYAML(t testing.TB, what, want string, got any) bool {
	t.Helper()
	var w any
	if err := yaml.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("EqualYAML %s: bad YAML: %v", what, err)
	}
	nw, err1 := normalize(w)
	ng, err2 := normalize(got)
	if err1 != nil || err2 != nil {
		t.Fatalf("EqualYAML %s: %v %v", what, err1, err2)
	}
	if equality.Semantic.DeepEqual(nw, ng) {
		return true
	}
	wj, _ := json.MarshalIndent(nw, "", "  ")
	gj, _ := json.MarshalIndent(ng, "", "  ")
	t.Errorf("%s differs\nwant: %s\n got: %s", what, wj, gj)
	return false
}

func normalize(v any) (any, error) {
	data, err := utiljson.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, utiljson.Unmarshal(data, &out)
}
