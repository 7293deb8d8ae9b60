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

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// BenchmarkNamespaceFleet measures one FleetRollout over 200 namespace-clusters (four waves
// of 50, bake 1s each) of one full control plane with five kwok nodes: the hub with the
// namespace provider, one spoke agent serving all 200. Each iteration changes the image and
// waits until the FleetRollout has succeeded at the new revision (every member Rollout Healthy
// after its canary, pods Ready); it then checks every member. It reports the time per revision
// (ns/op) and the API requests per cluster during it: the hub's to the members' API server and
// the agent's. FLOTILLA_BENCH_CLUSTERS changes the count (for a quick run).
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
	c := s.cluster.Client
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
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
		if err := c.Patch(ctx, fro, client.RawPatch("application/json-patch+json", []byte(patch))); err != nil {
			b.Fatal(err)
		}
		succeeded(rev)
		hubReqs += s.hubToMembers.n.Load() - h0
		spokeReqs += s.spoke.n.Load() - s0
		b.StopTimer()
		checkMembers(ctx, b, s, rev)
		b.StartTimer()
	}
	b.StopTimer()
	per := float64(b.N * n)
	b.ReportMetric(float64(hubReqs)/per, "hub-req/cluster")
	b.ReportMetric(float64(spokeReqs)/per, "spoke-req/cluster")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/revision")
}
