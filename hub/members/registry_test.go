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

package members

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// kubeconfig points at 127.0.0.1:1, where nothing listens.
const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: m
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: m
  user: {token: abc}
contexts:
- name: m
  context: {cluster: m, user: m}
current-context: m
`

func memberCluster(ns, name, key string) *fleetv1alpha1.MemberCluster {
	mc := &fleetv1alpha1.MemberCluster{}
	mc.Name = "m1"
	mc.Spec.KubeconfigSecretRef = fleetv1alpha1.SecretKeyRef{Namespace: ns, Name: name, Key: key}
	return mc
}

// TestRegistry checks that a member client is cached, rebuilt when its Secret changes, and
// refused (as KubeconfigNotFound) for a missing Secret or key or a Secret outside the member
// namespace; and that an unreachable member probes as unreachable within the timeout.
func TestRegistry(t *testing.T) {
	ctx := context.Background()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-system", Name: "m1"},
		Data: map[string][]byte{"kubeconfig": []byte(kubeconfig)}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(secret).Build()
	reg := &Registry{Secrets: c, Scheme: s, Namespace: "flotilla-system", RequestTimeout: time.Second}

	a, err := reg.Get(ctx, memberCluster("flotilla-system", "m1", ""))
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.Host != "https://127.0.0.1:1" || a.Config.Timeout != time.Second {
		t.Errorf("config host %s timeout %s", a.Config.Host, a.Config.Timeout)
	}
	b, err := reg.Get(ctx, memberCluster("flotilla-system", "m1", "kubeconfig"))
	if err != nil || b != a {
		t.Errorf("second Get: %v, same client %v; want the cached client", err, b == a)
	}
	secret.Data["kubeconfig"] = []byte(kubeconfig + "\n")
	if err := c.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if b, err = reg.Get(ctx, memberCluster("flotilla-system", "m1", "")); err != nil || b == a {
		t.Errorf("Get after the Secret changed: %v, same client %v; want a new client", err, b == a)
	}

	for name, mc := range map[string]*fleetv1alpha1.MemberCluster{
		"missing Secret":        memberCluster("flotilla-system", "nope", ""),
		"missing key":           memberCluster("flotilla-system", "m1", "other"),
		"outside the namespace": memberCluster("default", "m1", ""),
	} {
		if _, err := reg.Get(ctx, mc); !errors.Is(err, ErrKubeconfigNotFound) {
			t.Errorf("%s: got %v, want ErrKubeconfigNotFound", name, err)
		}
	}

	start := time.Now()
	h := reg.Probe(ctx, b)
	if h.Reachable || h.Err == nil {
		t.Errorf("probe of a member where nothing listens: %+v", h)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("probe took %s, want it bounded by the request timeout", d)
	}
}
