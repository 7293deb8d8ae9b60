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
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// testCRDs holds a small CRD, so that these tests do not depend on the project's own.
const testCRDs = "test/harness/testdata/crds"

func TestAPIOnlyEnv(t *testing.T) {
	// Registered first, so it runs last: after the env and its namespace are gone.
	var pids []int
	t.Cleanup(func() {
		for _, pid := range pids {
			if PidExists(pid) {
				t.Errorf("pid %d (state %s) still exists after the env stopped", pid, procState(pid))
			}
		}
	})

	env := NewEnv(t, EnvOptions{CRDDirs: []string{testCRDs}})
	if pids = env.Pids(); len(pids) != 2 {
		t.Errorf("want the pids of etcd and kube-apiserver, got %v", pids)
	}
	ns := env.Namespace(t)

	ctx := t.Context()
	var got corev1.Namespace
	if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, &got); err != nil {
		t.Fatalf("reading back namespace %s: %v", ns, err)
	}
	createWidget(ctx, t, env.Client, ns)
}

func TestFullClusters(t *testing.T) {
	const clusters, nodesPerCluster, replicas = 4, 2, 3
	var specs []ClusterSpec
	for i := range clusters {
		specs = append(specs, ClusterSpec{
			Name:       fmt.Sprintf("member-%d", i),
			Nodes:      nodesPerCluster,
			NodeLabels: map[string]string{"topology.kubernetes.io/region": fmt.Sprintf("region-%d", i)},
			CRDDirs:    []string{testCRDs},
		})
	}
	begin := time.Now()
	fleet := NewFleet(t, FleetOptions{Clusters: specs})
	t.Logf("started etcd and %d clusters (%d nodes each) in %s", clusters, nodesPerCluster, since(begin))
	createWidget(t.Context(), t, fleet.Clusters[3].Client, "default")

	ctx := t.Context()
	begin = time.Now()
	var wg sync.WaitGroup
	for _, c := range fleet.Clusters {
		wg.Go(func() { deployAndWait(ctx, t, c, "web", replicas) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("a %d-replica Deployment became available in all %d clusters in %s", replicas, clusters, since(begin))

	t.Run("restart one API server", func(t *testing.T) {
		c := fleet.Clusters[0]
		port := c.Port
		begin := time.Now()
		if err := c.StopAPIServer(ctx); err != nil {
			t.Fatalf("stopping kube-apiserver: %v", err)
		}
		t.Logf("kube-apiserver of %s stopped in %s", c.Name, since(begin))
		shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := c.Client.Get(shortCtx, client.ObjectKey{Name: "default"}, &corev1.Namespace{}); err == nil {
			t.Fatalf("the API server still answers after StopAPIServer")
		}
		// The other clusters do not notice.
		if err := fleet.Clusters[1].Client.Get(ctx, client.ObjectKey{Name: "default"}, &corev1.Namespace{}); err != nil {
			t.Fatalf("another cluster stopped answering: %v", err)
		}
		begin = time.Now()
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatalf("starting kube-apiserver again: %v", err)
		}
		t.Logf("kube-apiserver of %s back on port %d after %s", c.Name, port, since(begin))
		if c.Port != port {
			t.Errorf("port changed from %d to %d", port, c.Port)
		}
		// The data survived and the controllers reconnected.
		begin = time.Now()
		deployAndWait(ctx, t, c, "after-restart", 2)
		t.Logf("a new Deployment in %s became available in %s", c.Name, since(begin))
	})

	procs := fleet.Processes()
	wantAtLeast := 1 + clusters*4 + 1 // etcd, 4 per cluster, the restarted API server
	if len(procs) < wantAtLeast {
		t.Errorf("fleet reports %d processes, want at least %d", len(procs), wantAtLeast)
	}
	begin = time.Now()
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := fleet.Stop(stopCtx); err != nil {
		t.Fatalf("stopping the fleet: %v", err)
	}
	t.Logf("stopped %d processes in %s", len(procs), since(begin))
	assertAllGone(t, procs)
}

// deployAndWait creates a Deployment in the cluster's default namespace, waits until it is
// available and checks that its pods run on the cluster's kwok nodes.
func deployAndWait(ctx context.Context, t *testing.T, c *Cluster, name string, replicas int32) {
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.invalid/flotilla/demo:1", // kwok never pulls it
				}}},
			},
		},
	}
	if err := c.Client.Create(ctx, d); err != nil {
		t.Errorf("%s: creating deployment: %v", c.Name, err)
		return
	}
	key := client.ObjectKeyFromObject(d)
	if err := WaitFor(ctx, c.Name+" deployment "+name+" available", 90*time.Second,
		DeploymentAvailable(c.Client, key)); err != nil {
		t.Errorf("%s: %v", c.Name, err)
		return
	}
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
		t.Errorf("%s: listing pods: %v", c.Name, err)
		return
	}
	var nodes []string
	for i := range c.spec.Nodes {
		nodes = append(nodes, c.nodeName(i))
	}
	for _, pod := range pods.Items {
		if !slices.Contains(nodes, pod.Spec.NodeName) || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
			t.Errorf("%s: pod %s on node %q, phase %s, IP %q; want Running with an IP on one of %v",
				c.Name, pod.Name, pod.Spec.NodeName, pod.Status.Phase, pod.Status.PodIP, nodes)
		}
	}
}

// assertAllGone checks that every process is reaped: no /proc entry with its pid and
// start time (a zombie would still have one), and none of them still registered.
func assertAllGone(t *testing.T, procs []*Process) {
	t.Helper()
	for _, p := range procs {
		if exited, _ := p.Exited(); !exited {
			t.Errorf("%s not reaped", p)
		}
		if p.Alive() {
			t.Errorf("%s still has a /proc entry (state %s)", p, procState(p.Pid()))
		}
	}
	for _, p := range Running() {
		if slices.Contains(procs, p) {
			t.Errorf("%s still registered as running", p)
		}
	}
	for _, pid := range childPids() {
		exe, _ := ExePath(pid)
		t.Errorf("child pid %d (%s, state %s) of the test binary is still there", pid, exe, procState(pid))
	}
}

// createWidget creates an object of the test CRD, which proves the CRD is served.
func createWidget(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	w := &unstructured.Unstructured{}
	w.SetAPIVersion("test.flotilla.dev/v1")
	w.SetKind("Widget")
	w.SetNamespace(ns)
	w.SetName("w")
	if err := unstructured.SetNestedField(w.Object, int64(3), "spec", "size"); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, w); err != nil {
		t.Fatalf("creating a Widget: %v", err)
	}
}
