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
	"path/filepath"

	"github.com/flotilla-io/flotilla/test/harness"
)

// This file is the one place that says what the local fleet is made of: which clusters,
// and which processes run for each of them besides its control plane.

// role is what a cluster is for.
type role string

const (
	roleHub    role = "hub"
	roleMember role = "member"
)

// Labels the fleet puts on member clusters and their nodes.
const (
	regionNodeLabel = "topology.kubernetes.io/region"
	envLabel        = "env"
	regionLabel     = "region"
)

// clusterDef is one cluster of the local fleet.
type clusterDef struct {
	name   string
	role   role
	region string // members only
	nodes  int
}

// topology is the local fleet: a hub and three members in three regions.
var topology = []clusterDef{
	{name: "hub", role: roleHub, nodes: 1},
	{name: "us-east", role: roleMember, region: "us-east", nodes: 3},
	{name: "eu-west", role: roleMember, region: "eu-west", nodes: 3},
	{name: "ap-south", role: roleMember, region: "ap-south", nodes: 3},
}

// spec is the harness's description of the cluster: members carry the spoke CRDs and
// region-labelled nodes, the hub the hub CRDs.
func (d clusterDef) spec() harness.ClusterSpec {
	spec := harness.ClusterSpec{Name: d.name, Nodes: d.nodes}
	switch d.role {
	case roleHub:
		spec.CRDDirs = []string{harness.HubCRDDir}
	case roleMember:
		spec.CRDDirs = []string{harness.SpokeCRDDir}
		spec.NodeLabels = map[string]string{regionNodeLabel: d.region}
	}
	return spec
}

// processEnv is what a cluster's extra processes may need to know.
type processEnv struct {
	// repoRoot is the repository, for binaries under bin/.
	repoRoot string
	// cluster is the cluster the process belongs to (its KubeconfigPath, APIServerURL).
	cluster *harness.Cluster
	// hub is the hub cluster.
	hub *harness.Cluster
	// stateDir is the fleet's folder, for per-process data.
	stateDir stateDir
	// hubPeers is the raft address of each hub replica, by raft ID (see prepareHub).
	hubPeers map[string]string
	// hubAPIs is the hub API address of each hub replica, by raft ID (see prepareHubAPI).
	hubAPIs map[string]string
}

// spokeBinary is where `up` builds the spoke agent, relative to the repository.
const spokeBinary = "bin/flotilla-spoke"

// processes lists what runs for the cluster once every cluster is up and the members are
// registered in the hub. The supervisor starts them in this order (their logs go to
// .fleet/logs/<cluster>/<name>.log, their pids to .fleet/pids) and stops them before the
// control planes. Every member runs its spoke agent, built by `up` into bin/flotilla-spoke,
// with the member's admin kubeconfig and no metrics or probe listeners (so that the agents
// of several members never compete for a port). The hub cluster runs the hub's replicas,
// built by `up` into bin/flotilla-hub: hub-0, hub-1 and hub-2, one raft group on loopback
// ports with the certificates of hub-pki/, raft data in hub-N/, the hub API on a loopback
// port each (listed in .fleet/hub), no metrics or probe listeners either.
func (d clusterDef) processes(env processEnv) []harness.ProcessSpec {
	switch d.role {
	case roleHub:
		var out []harness.ProcessSpec
		for _, id := range hubReplicaIDs() {
			out = append(out, harness.ProcessSpec{
				Name: "flotilla-" + id,
				Path: filepath.Join(env.repoRoot, hubBinary),
				Args: hubArgs(env, id),
			})
		}
		return out
	case roleMember:
		return []harness.ProcessSpec{{
			Name: "flotilla-spoke",
			Path: filepath.Join(env.repoRoot, spokeBinary),
			Args: []string{
				"--kubeconfig=" + env.cluster.KubeconfigPath,
				"--cluster-name=" + d.name,
				"--metrics-bind-address=0",
				"--health-probe-bind-address=0",
				"--log-format=text",
			},
		}}
	}
	return nil
}
