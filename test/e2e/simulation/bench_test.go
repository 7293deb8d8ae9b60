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

package simulation

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// BenchmarkNamespaceFleet measures one FleetRollout over 200 namespace-clusters (four waves
// of 50, bake 1s each) of one full control plane with five kwok nodes: the hub with the
// namespace provider, one spoke agent serving all 200. FLOTILLA_BENCH_CLUSTERS changes the
// count (for a quick run).
//
// The sub-benchmark fleetrollout changes the image and waits until the FleetRollout has
// succeeded at the new revision (every member Rollout Healthy after its canary, pods Ready);
// it then checks every member. It reports the time per revision (ns/op) and the API requests
// per cluster during it: the hub's to the members' API server and the agent's.
//
// The sub-benchmark deployments is the floor under one wave, without Flotilla: on the same
// control plane (the hub and the agent idle), one Deployment of one replica in each of a
// wave's namespaces, and an image change rolled out by kube-controller-manager, the scheduler
// and kwok alone, until every Deployment has its one new pod available and the old one gone.
// The Deployments stay (idle) for fleetrollout. Run both with -benchtime 1x.
func BenchmarkNamespaceFleet(b *testing.B) {
	n := 200
	if v := os.Getenv("FLOTILLA_BENCH_CLUSTERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 4 {
			b.Fatalf("FLOTILLA_BENCH_CLUSTERS=%q: want a number of at least 4", v)
		}
	}
	const waves = 4
	s := startSimulation(b, n, waves, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b.Run("deployments", func(b *testing.B) { benchDeployments(ctx, b, s, n/waves) })
	b.Run("fleetrollout", func(b *testing.B) { benchFleetRollout(ctx, b, s, n, waves) })
}

func benchFleetRollout(ctx context.Context, b *testing.B, s *sim, n, waves int) {
	c := s.cluster.Client
	fro := fleetRollout(b, waves, "")
	if err := c.Create(ctx, fro); err != nil {
		b.Fatal(err)
	}
	key := client.ObjectKeyFromObject(fro)
	succeeded := func(rev int64) {
		waitFleetRollout(ctx, b, c, key, fmt.Sprintf("Succeeded at revision %d", rev), func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded && f.Status.ObservedGeneration == f.Generation &&
				f.Status.CurrentRevision == rev
		})
	}
	start := time.Now()
	succeeded(1)
	b.Logf("first release to %d namespace-clusters: %s", n, time.Since(start).Round(100*time.Millisecond))

	var hubReqs, spokeReqs int64
	b.ResetTimer()
	for i := range b.N {
		rev := int64(i + 2)
		patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v%d"}]`, rev)
		h0, s0 := s.hubToMembers.n.Load(), s.spoke.n.Load()
		b.StopTimer()
		tl := followRollouts(ctx, b, s, rev)
		b.StartTimer()
		t0 := time.Now()
		if err := c.Patch(ctx, fro, client.RawPatch("application/json-patch+json", []byte(patch))); err != nil {
			b.Fatal(err)
		}
		succeeded(rev)
		hubReqs += s.hubToMembers.n.Load() - h0
		spokeReqs += s.spoke.n.Load() - s0
		b.StopTimer()
		logWaves(ctx, b, c, key, t0)
		tl.log(b, s, waves)
		checkMembers(ctx, b, s, rev)
		b.StartTimer()
	}
	b.StopTimer()
	per := float64(b.N * n)
	b.ReportMetric(float64(hubReqs)/per, "hub-req/cluster")
	b.ReportMetric(float64(spokeReqs)/per, "spoke-req/cluster")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/revision")
}

// benchDeployments rolls out an image change of one Deployment in each of the first size
// member namespaces, per iteration (see BenchmarkNamespaceFleet).
func benchDeployments(ctx context.Context, b *testing.B, s *sim, size int) {
	c := s.cluster.Client
	deps := make([]*appsv1.Deployment, 0, size)
	for _, ns := range s.members[:size] {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "baseline", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "baseline"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "baseline"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "baseline", Image: "example.com/baseline:v0",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Mi")}}}}},
				},
			},
		}
		if err := c.Create(ctx, d); err != nil {
			b.Fatal(err)
		}
		deps = append(deps, d)
	}
	rolledOut := func(image string) {
		err := harness.WaitFor(ctx, fmt.Sprintf("%d Deployments rolled out to %s", size, image), 10*time.Minute,
			func(ctx context.Context) (bool, string, error) {
				for _, d := range deps {
					got := &appsv1.Deployment{}
					if err := c.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
						return false, err.Error(), nil //nolint:nilerr // a read that fails is looked at again
					}
					st := got.Status
					if got.Spec.Template.Spec.Containers[0].Image != image || st.ObservedGeneration != got.Generation ||
						st.Replicas != 1 || st.UpdatedReplicas != 1 || st.AvailableReplicas != 1 {
						return false, fmt.Sprintf("%s: %+v", got.Namespace, st), nil
					}
				}
				return true, "", nil
			})
		if err != nil {
			b.Fatal(err)
		}
	}
	rolledOut("example.com/baseline:v0")
	b.ResetTimer()
	for i := range b.N {
		image := fmt.Sprintf("example.com/baseline:v%d", i+1)
		patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, image)
		for _, d := range deps {
			if err := c.Patch(ctx, d, client.RawPatch("application/json-patch+json", []byte(patch))); err != nil {
				b.Fatal(err)
			}
		}
		rolledOut(image)
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/wave")
}

// logWaves logs when each wave of the FleetRollout started, finished its clusters (bake
// start) and finished, in seconds since t0 (the status times have a resolution of a second):
// where a revision's wall time goes.
func logWaves(ctx context.Context, b *testing.B, c client.Client, key client.ObjectKey, t0 time.Time) {
	b.Helper()
	f := &fleetv1alpha1.FleetRollout{}
	if err := c.Get(ctx, key, f); err != nil {
		b.Fatal(err)
	}
	since := func(t *metav1.Time) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprintf("%.0fs", t.Sub(t0.Truncate(time.Second)).Seconds())
	}
	for _, w := range f.Status.Waves {
		b.Logf("wave %s (%d clusters): started %s, bake until %s, finished %s", w.Name, len(w.Clusters),
			since(w.StartedAt), since(w.BakeUntil), since(w.FinishedAt))
	}
}
