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
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	leaderDesc = prometheus.NewDesc("flotilla_hub_raft_leader",
		"1 if this hub replica is the raft leader, else 0.", nil, nil)
	termDesc = prometheus.NewDesc("flotilla_hub_raft_term",
		"The current raft term of this hub replica.", nil, nil)
	commitIndexDesc = prometheus.NewDesc("flotilla_hub_raft_commit_index",
		"The index of the last raft log entry this hub replica knows committed.", nil, nil)
	appliedIndexDesc = prometheus.NewDesc("flotilla_hub_raft_applied_index",
		"The index of the last raft log entry applied to this hub replica's decision journal.", nil, nil)
	journalDesc = prometheus.NewDesc("flotilla_hub_journal_decisions",
		"The number of decisions recorded in this hub replica's journal.", nil, nil)
	handshakeDesc = prometheus.NewDesc("flotilla_hub_raft_tls_handshake_failures_total",
		"TLS handshakes with would-be raft peers that failed (refused certificates included).", nil, nil)
)

// collector reads the node's raft state on every scrape.
type collector struct{ n *Node }

// Collector returns a Prometheus collector of the node's raft metrics.
func (n *Node) Collector() prometheus.Collector { return collector{n: n} }

// RegisterMetrics registers the node's raft metrics on controller-runtime's registry, the
// one the hub's metrics endpoint serves. A process registers one node.
func RegisterMetrics(n *Node) error { return ctrlmetrics.Registry.Register(n.Collector()) }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{leaderDesc, termDesc, commitIndexDesc, appliedIndexDesc, journalDesc, handshakeDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	leader := 0.0
	if c.n.IsLeader() {
		leader = 1
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(leaderDesc, leader)
	gauge(termDesc, float64(c.n.Term()))
	gauge(commitIndexDesc, float64(c.n.CommitIndex()))
	gauge(appliedIndexDesc, float64(c.n.AppliedIndex()))
	gauge(journalDesc, float64(c.n.fsm.Len()))
	ch <- prometheus.MustNewConstMetric(handshakeDesc, prometheus.CounterValue, float64(c.n.HandshakeFailures()))
}
