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
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// A v1beta1 CRD becomes v1 with its top-level schema, columns and versions carried over.
func TestCRDDirConvertsV1beta1(t *testing.T) {
	src := filepath.Join(t.TempDir(), "split.yaml")
	if err := os.WriteFile(src, []byte(`
apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: trafficsplits.split.smi-spec.io}
spec:
  group: split.smi-spec.io
  scope: Namespaced
  names: {kind: TrafficSplit, listKind: TrafficSplitList, plural: trafficsplits, singular: trafficsplit}
  versions:
  - {name: v1alpha4, served: true, storage: true}
  - {name: v1alpha3, served: false, storage: false}
  additionalPrinterColumns:
  - {name: Service, type: string, JSONPath: .spec.service}
  validation:
    openAPIV3Schema:
      properties:
        spec:
          type: object
          properties:
            service: {type: string}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: others.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Other, plural: others}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := CRDDir(t, []string{src}, "trafficsplits.split.smi-spec.io")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("want one CRD file, got %v (%v)", entries, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatal(err)
	}
	if crd.APIVersion != "apiextensions.k8s.io/v1" || crd.Spec.PreserveUnknownFields || len(crd.Spec.Versions) != 2 {
		t.Fatalf("converted CRD: %s", data)
	}
	for _, v := range crd.Spec.Versions {
		s := v.Schema.OpenAPIV3Schema
		if s.Type != "object" || s.Properties["spec"].Properties["service"].Type != "string" ||
			len(v.AdditionalPrinterColumns) != 1 || v.AdditionalPrinterColumns[0].JSONPath != ".spec.service" {
			t.Errorf("version %s: %s", v.Name, data)
		}
	}
	if err := WriteCRDs(t.TempDir(), []string{src}, "missing.example.com"); err == nil {
		t.Error("a name no file defines was not an error")
	}
}
