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

package raft

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/hub/journal"
)

// stopAll shuts every node down.
func (c *testCluster) stopAll() {
	for id := range c.nodes {
		c.kill(id)
	}
}

// awaitLeading waits, without polling, until one of nodes leads past its barrier.
func awaitLeading(b *testing.B, nodes []*Node, bound time.Duration) *Node {
	b.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline.C)}}
		for _, n := range nodes {
			changed := n.LeadershipChanged()
			if _, _, ok := n.Leading(); ok {
				return n
			}
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)})
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			b.Fatalf("no node led within %s", bound)
		}
	}
}

// BenchmarkFailover measures the time from losing the leader to a new leader that passed
// its barrier (ready to schedule), on a 3-node cluster on loopback with the default
// timeouts. Each iteration builds a fresh cluster outside the timer.
//
//	kill:      the leader's node is shut down abruptly (no handover), as on SIGKILL;
//	partition: the leader's transport is closed; it steps down on its own;
//	transfer:  graceful handover (TransferLeadership), what a hub does on SIGTERM.
func BenchmarkFailover(b *testing.B) {
	for _, mode := range []string{"kill", "partition", "transfer"} {
		b.Run(mode, func(b *testing.B) {
			var took []time.Duration
			b.StopTimer()
			for range b.N {
				c := newTestCluster(b)
				c.startStatic("hub-0", "hub-1", "hub-2")
				old := c.waitLeader(electionBound)
				proposeN(b, old, 0, 1)
				var survivors []*Node
				for _, n := range c.live() {
					if n != old {
						survivors = append(survivors, n)
					}
				}

				b.StartTimer()
				start := time.Now()
				switch mode {
				case "kill":
					_ = old.Shutdown()
				case "partition":
					_ = old.stream.Close()
				case "transfer":
					ctx, cancel := context.WithTimeout(context.Background(), failoverBound)
					if err := old.TransferLeadership(ctx); err != nil {
						b.Fatalf("TransferLeadership: %v", err)
					}
					cancel()
				}
				awaitLeading(b, survivors, failoverBound)
				took = append(took, time.Since(start))
				b.StopTimer()
				c.stopAll()
			}
			slices.Sort(took)
			var sum time.Duration
			for _, d := range took {
				sum += d
			}
			b.ReportMetric(float64(sum.Milliseconds())/float64(len(took)), "ms/failover")
			b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
			b.ReportMetric(float64(took[0].Milliseconds()), "min-ms")
			b.Logf("%s, %d runs: %v", mode, len(took), took)
		})
	}
}

// BenchmarkPropose measures decisions committed per second on a 3-node cluster on
// loopback: one proposer at a time, and 32 concurrent proposers (raft batches them).
func BenchmarkPropose(b *testing.B) {
	c := newTestCluster(b)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	var seq atomic.Int64
	propose := func(b *testing.B) {
		d := decision(journal.ClusterDispatched, fmt.Sprintf("bench-%d", seq.Add(1)))
		ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
		defer cancel()
		if _, err := leader.Propose(ctx, d); err != nil {
			b.Errorf("Propose: %v", err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		start := time.Now()
		for range b.N {
			propose(b)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
	})
	b.Run("parallel-32", func(b *testing.B) {
		b.SetParallelism(32)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				propose(b)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
	})
}
