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
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels and annotations on the simulated nodes.
const (
	// KwokNodeAnnotation marks a Node as simulated by kwok.
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// NodeTypeLabel is set to "kwok" on every simulated node.
	NodeTypeLabel = "type"
)

// kwokSpec is the command line of the cluster's kwok, which plays the kubelet of every
// node: it keeps them Ready (with Lease heartbeats, which are cheap) and marks every pod
// bound to them Running and Ready with a simulated IP; with its default stages, a pod that a
// Job owns then completes. HOME points into the cluster's folder so that no
// ~/.kwok/kwok.yaml of the user changes its behaviour; ClusterSpec.KwokStages, when set, is
// passed as kwok's configuration.
func (c *Cluster) kwokSpec() ProcessSpec {
	args := []string{
		"--kubeconfig=" + c.KubeconfigPath,
		"--manage-all-nodes=true",
		"--cidr=10.244.0.1/16",
		"--node-lease-duration-seconds=40",
	}
	if c.spec.KwokStages != "" {
		args = append(args, "--config="+c.kwokStagesPath())
	}
	return ProcessSpec{
		Name:    c.Name + "/" + BinKwok,
		Path:    c.fleet.bins.Path(BinKwok),
		LogFile: c.logFile(BinKwok),
		Env:     []string{"HOME=" + c.dir("kwok-home")},
		Args:    args,
	}
}

// kwokStagesPath is where ClusterSpec.KwokStages is written for kwok to read.
func (c *Cluster) kwokStagesPath() string { return filepath.Join(c.dir("kwok-home"), "stages.yaml") }

// nodeName is the name of the i-th simulated node of the cluster.
func (c *Cluster) nodeName(i int) string { return fmt.Sprintf("%s-node-%d", c.Name, i) }

// createNodes creates the cluster's simulated nodes with room for plenty of pods.
func (c *Cluster) createNodes(ctx context.Context) error {
	for i := range c.spec.Nodes {
		name := c.nodeName(i)
		labels := map[string]string{
			NodeTypeLabel:            "kwok",
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
		}
		maps.Copy(labels, c.spec.NodeLabels)
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Labels:      labels,
				Annotations: map[string]string{KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			},
			Status: corev1.NodeStatus{
				Capacity:    capacity,
				Allocatable: capacity,
				Phase:       corev1.NodeRunning,
				NodeInfo: corev1.NodeSystemInfo{
					Architecture: "amd64", OperatingSystem: "linux", KubeletVersion: "kwok",
				},
			},
		}
		status := node.Status
		if err := c.Client.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: creating node %s: %w", c.Name, name, err)
		}
		if len(node.Status.Allocatable) == 0 { // the API server dropped the status on create
			node.Status = status
			if err := c.Client.Status().Update(ctx, node); err != nil {
				return fmt.Errorf("%s: setting status of node %s: %w", c.Name, name, err)
			}
		}
	}
	return nil
}

// NodesReady is a Condition that holds once at least want nodes exist and every node is
// Ready and free of the node.kubernetes.io taints that keep pods off.
func NodesReady(c client.Client, want int) Condition {
	return func(ctx context.Context) (bool, string, error) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes); err != nil {
			return notYet("listing nodes", err)
		}
		var notReady []string
		for i := range nodes.Items {
			if ok, why := NodeSchedulable(&nodes.Items[i]); !ok {
				notReady = append(notReady, nodes.Items[i].Name+": "+why)
			}
		}
		seen := fmt.Sprintf("%d/%d nodes", len(nodes.Items), want)
		if len(notReady) > 0 {
			slices.Sort(notReady)
			seen += ", not ready: " + strings.Join(notReady, "; ")
		}
		return len(nodes.Items) >= want && len(notReady) == 0, seen, nil
	}
}

// NodeSchedulable reports whether node is Ready and has no node.kubernetes.io taint, and
// if not, why.
func NodeSchedulable(node *corev1.Node) (bool, string) {
	ready := "no Ready condition"
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = "Ready=" + string(cond.Status)
			if cond.Status != corev1.ConditionTrue {
				return false, ready
			}
		}
	}
	if ready != "Ready=True" {
		return false, ready
	}
	for _, taint := range node.Spec.Taints {
		if strings.HasPrefix(taint.Key, "node.kubernetes.io/") {
			return false, "tainted " + taint.Key + ":" + string(taint.Effect)
		}
	}
	return true, ""
}
