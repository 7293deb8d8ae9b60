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

package plan

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// mc builds a cluster from its name and "key=value" labels.
func mc(name string, kv ...string) Cluster {
	c := Cluster{Name: name, Labels: map[string]string{}, Reachable: true}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		c.Labels[k] = v
	}
	return c
}

func inMaintenance(c Cluster) Cluster {
	c.Maintenance = true
	return c
}

// sel is a selector with matchLabels from "key=value" pairs.
func sel(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		s.MatchLabels[k] = v
	}
	return s
}

func names(ns ...string) []fleetv1alpha1.ClusterName {
	out := make([]fleetv1alpha1.ClusterName, len(ns))
	for i, n := range ns {
		out[i] = fleetv1alpha1.ClusterName(n)
	}
	return out
}

func ios(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

// canaryTemplate is a canary Rollout with an init container, two containers and a
// background analysis.
const canaryTemplate = `
metadata:
  labels: {app.kubernetes.io/name: shop}
spec:
  replicas: 4
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop}
    spec:
      nodeSelector: {kubernetes.io/os: linux}
      initContainers:
        - name: migrate
          image: registry.example.com/shop-migrate:1.0
      containers:
        - name: shop
          image: registry.example.com/shop:1.0
          env:
            - {name: LOG_LEVEL, value: info}
            - {name: REGION, value: unset}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
        - name: proxy
          image: registry.example.com/proxy:2.0
  strategy:
    canary:
      stableService: shop-stable
      canaryService: shop-canary
      maxSurge: 1
      steps:
        - setWeight: 20
        - pause: {duration: 1m}
      analysis:
        templates:
          - templateName: success-rate
`

const blueGreenTemplate = `
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
        - name: shop
          image: registry.example.com/shop:1.0
  strategy:
    blueGreen:
      activeService: shop-active
      previewService: shop-preview
`

const workloadRefTemplate = `
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  strategy:
    canary:
      steps: [{setWeight: 50}]
`

func template(t testing.TB, doc string) fleetv1alpha1.RolloutTemplate {
	t.Helper()
	var out fleetv1alpha1.RolloutTemplate
	if err := yaml.UnmarshalStrict([]byte(doc), &out); err != nil {
		t.Fatalf("template: %v", err)
	}
	return out
}

// problemCodes lists the problems as "Severity/Code" for compact comparisons.
func problemCodes(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p.Severity)+"/"+string(p.Code))
	}
	return out
}

func raw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

// selIn is a selector "key in (values)".
func selIn(key string, values ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: key, Operator: metav1.LabelSelectorOpIn, Values: values}}}
}
