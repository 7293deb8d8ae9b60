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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// CRDDir gathers CustomResourceDefinitions from manifest files (such as those ModuleFiles
// returns) into a fresh folder for EnvOptions.CRDDirs, one file per CRD, and returns the
// folder. Only the CRDs whose metadata.name is in names are kept, or all of them when names
// is empty; a name that none of the files defines fails the test.
//
// Some routers still ship apiextensions.k8s.io/v1beta1 CRDs, which API servers stopped
// serving in Kubernetes 1.22. Those are converted to v1 with the apiextensions group's own
// conversion (what the API server did when it served both), and then changed in the two
// ways v1 demands and nothing more: spec.preserveUnknownFields is false, and a schema root
// without a type gets type: object (v1 wants structural schemas). Everything else of the
// schema stays as written, so fields it does not declare are pruned as they would be in a
// cluster that installed the CRD as v1.
func CRDDir(t testing.TB, files []string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteCRDs(dir, files, names...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WriteCRDs writes the CRDs of files that CRDDir would keep into dir, as v1.
func WriteCRDs(dir string, files []string, names ...string) error {
	found := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		objs, err := decodeManifests(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, u := range objs {
			if u.GetKind() != "CustomResourceDefinition" || (len(names) > 0 && !slices.Contains(names, u.GetName())) {
				continue
			}
			crd, err := crdV1(u)
			if err != nil {
				return fmt.Errorf("%s: CRD %s: %w", f, u.GetName(), err)
			}
			out, err := yaml.Marshal(crd)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, crd.Name+".yaml"), out, 0o600); err != nil {
				return err
			}
			found[crd.Name] = true
		}
	}
	for _, n := range names {
		if !found[n] {
			return fmt.Errorf("no CustomResourceDefinition %s in %v", n, files)
		}
	}
	return nil
}

// crdV1 returns u as an apiextensions.k8s.io/v1 CRD, converting it from v1beta1 if needed.
func crdV1(u *unstructured.Unstructured) (*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	out := &apiextensionsv1.CustomResourceDefinition{}
	switch u.GetAPIVersion() {
	case apiextensionsv1.SchemeGroupVersion.String():
		if err := json.Unmarshal(data, out); err != nil {
			return nil, err
		}
		return out, nil
	case apiextensionsv1beta1.SchemeGroupVersion.String():
	default:
		return nil, fmt.Errorf("unsupported apiVersion %s", u.GetAPIVersion())
	}
	beta := &apiextensionsv1beta1.CustomResourceDefinition{}
	if err := json.Unmarshal(data, beta); err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	apiextensionsinstall.Install(scheme)
	scheme.Default(beta)
	internal := &apiextensions.CustomResourceDefinition{}
	if err := scheme.Convert(beta, internal, nil); err != nil {
		return nil, err
	}
	if err := scheme.Convert(internal, out, nil); err != nil {
		return nil, err
	}
	out.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	out.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	out.Spec.PreserveUnknownFields = false
	for i := range out.Spec.Versions {
		if s := out.Spec.Versions[i].Schema; s != nil && s.OpenAPIV3Schema != nil && s.OpenAPIV3Schema.Type == "" {
			s.OpenAPIV3Schema.Type = "object"
		}
	}
	return out, nil
}
