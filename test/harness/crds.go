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
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply field manager of everything the harness applies.
const FieldOwner = "flotilla-harness"

// crdEstablishTimeout bounds the wait for applied CRDs to be served.
const crdEstablishTimeout = 60 * time.Second

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// ReadManifests decodes every object in the .yaml, .yml and .json files of dirs (not
// recursive), in file-name order; an entry of dirs may also name one file. A folder with no
// manifests yields nothing; a path that does not exist is an error.
func ReadManifests(dirs ...string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, dir := range dirs {
		var paths []string
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			paths = []string{dir} // one file
		} else {
			entries, err := os.ReadDir(dir)
			if err != nil {
				return nil, fmt.Errorf("reading manifests: %w", err)
			}
			for _, e := range entries {
				ext := filepath.Ext(e.Name())
				if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
					paths = append(paths, filepath.Join(dir, e.Name()))
				}
			}
		}
		for _, path := range paths {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			fileObjs, err := decodeManifests(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			objs = append(objs, fileObjs...)
		}
	}
	return objs, nil
}

func decodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) == 0 {
			continue // an empty document between "---" lines
		}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("object without kind or name: %v", u.Object)
		}
		objs = append(objs, u)
	}
}

// ApplyCRDs server-side applies every manifest in dirs and waits until every CRD among
// them is Established. It returns the names of the CRDs.
func ApplyCRDs(ctx context.Context, c client.Client, dirs ...string) ([]string, error) {
	objs, err := ReadManifests(dirs...)
	if err != nil {
		return nil, err
	}
	var names []string
	var kinds []schema.GroupVersionKind
	for _, obj := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		if obj.GroupVersionKind().GroupKind() == crdGVK.GroupKind() {
			names = append(names, obj.GetName())
			kinds = append(kinds, servedKinds(obj)...)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if err := WaitFor(ctx, "CRDs established", crdEstablishTimeout, CRDsEstablished(c, names...)); err != nil {
		return names, err
	}
	// Established comes before discovery serves the new resources: a client created right
	// after (a controller's RESTMapper) would fail with "no matches for kind".
	err = WaitFor(ctx, "CRDs discoverable", crdEstablishTimeout, kindsDiscoverable(c, kinds))
	return names, err
}

// servedKinds are the group/version/kinds a CRD manifest serves.
func servedKinds(crd *unstructured.Unstructured) []schema.GroupVersionKind {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []schema.GroupVersionKind
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); served {
			name, _ := m["name"].(string)
			out = append(out, schema.GroupVersionKind{Group: group, Version: name, Kind: kind})
		}
	}
	return out
}

// kindsDiscoverable holds once the API server's discovery maps every kind to a resource.
func kindsDiscoverable(c client.Client, kinds []schema.GroupVersionKind) Condition {
	return func(context.Context) (bool, string, error) {
		var pending []string
		for _, k := range kinds {
			if _, err := c.RESTMapper().RESTMapping(k.GroupKind(), k.Version); err != nil {
				pending = append(pending, k.String())
			}
		}
		return len(pending) == 0, "not discoverable: " + strings.Join(pending, ", "), nil
	}
}

// CRDsEstablished is a Condition that holds once every named CRD is Established.
func CRDsEstablished(c client.Client, names ...string) Condition {
	return func(ctx context.Context) (bool, string, error) {
		var pending []string
		for _, name := range names {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(crdGVK)
			if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				if apierrors.IsNotFound(err) {
					pending = append(pending, name+" (not found)")
					continue
				}
				return false, "getting CRD " + name + ": " + err.Error(), nil
			}
			if !crdEstablished(crd) {
				pending = append(pending, name)
			}
		}
		slices.Sort(pending)
		return len(pending) == 0, "not established: " + strings.Join(pending, ", "), nil
	}
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
