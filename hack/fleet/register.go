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

package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kubeconfigprovider "sigs.k8s.io/multicluster-runtime/providers/kubeconfig"

	"github.com/flotilla-io/flotilla/test/harness"
)

const (
	// systemNamespace holds the member kubeconfig Secrets in the hub.
	systemNamespace = "flotilla-system"
	// fieldOwner is the server-side apply field manager of what the fleet tool writes.
	fieldOwner = "flotilla-fleet"
)

// registerMember makes a member known to the hub the way a real installation does:
//   - a Secret in flotilla-system named after the member, holding its kubeconfig under the
//     key and with the label that multicluster-runtime's kubeconfig provider watches (the
//     provider names the cluster after the Secret);
//   - a MemberCluster (fleet.flotilla.dev/v1alpha1, cluster-scoped) that points to that
//     Secret, labelled with the member's region and env=prod for placement.
//
// Both are server-side applied, so running it again changes nothing.
func registerMember(ctx context.Context, hub client.Client, def clusterDef, kubeconfig []byte) error {
	ns := corev1ac.Namespace(systemNamespace)
	if err := hub.Apply(ctx, ns, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying namespace %s: %w", systemNamespace, err)
	}
	secret := corev1ac.Secret(def.name, systemNamespace).
		WithLabels(map[string]string{kubeconfigprovider.DefaultKubeconfigSecretLabel: "true"}).
		WithData(map[string][]byte{kubeconfigprovider.DefaultKubeconfigSecretKey: kubeconfig})
	if err := hub.Apply(ctx, secret, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying kubeconfig Secret of %s: %w", def.name, err)
	}
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "fleet.flotilla.dev/v1alpha1",
		"kind":       "MemberCluster",
		"metadata": map[string]any{
			"name":   def.name,
			"labels": map[string]any{regionLabel: def.region, envLabel: "prod"},
		},
		"spec": map[string]any{
			"kubeconfigSecretRef": map[string]any{
				"namespace": systemNamespace,
				"name":      def.name,
				"key":       kubeconfigprovider.DefaultKubeconfigSecretKey,
			},
		},
	}}
	if err := hub.Apply(ctx, client.ApplyConfigurationFromUnstructured(mc),
		client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying MemberCluster %s (are the hub CRDs in %s generated?): %w",
			def.name, harness.HubCRDDir, err)
	}
	return nil
}
