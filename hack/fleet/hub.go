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
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flotilla-io/flotilla/hub/raft"
)

// The hub runs as three replicas of flotilla-hub on the hub cluster, local processes that
// form one raft group over mutual TLS on 127.0.0.1.

// hubBinary is where `up` builds the hub, relative to the repository.
const hubBinary = "bin/flotilla-hub"

// hubReplicas is the size of the hub's raft group.
const hubReplicas = 3

// hubLeadingLine is what a hub replica logs once it leads (raft leadership and barrier).
const hubLeadingLine = "leading: barrier passed, leader context handed out"

// hubReplicaIDs are the raft IDs of the hub replicas: hub-0, hub-1, hub-2.
func hubReplicaIDs() []string {
	ids := make([]string, hubReplicas)
	for i := range ids {
		ids[i] = fmt.Sprintf("hub-%d", i)
	}
	return ids
}

// hubPKIDir holds the hub CA (ca.crt) and one folder per replica with ca.crt, tls.crt and
// tls.key.
func (d stateDir) hubPKIDir() string { return d.path("hub-pki") }

// hubPeerDir is the TLS folder of one replica.
func (d stateDir) hubPeerDir(id string) string { return d.path("hub-pki", id) }

// hubDataDir is the raft data folder of one replica.
func (d stateDir) hubDataDir(id string) string { return d.path(id) }

// hubLog is the log of one replica (the harness puts a cluster's processes' logs there).
func (d stateDir) hubLog(id string) string { return d.path("logs", "hub", "flotilla-"+id+".log") }

// prepareHub issues a hub CA and one peer certificate per replica into hub-pki/, and picks
// a free loopback port for each replica's raft transport, and makes each replica's raft
// data folder. It returns the raft address of
// each replica by ID.
func prepareHub(d stateDir) (map[string]string, error) {
	ca, err := raft.NewCA("flotilla-local-fleet-hub-ca")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.hubPKIDir(), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d.hubPKIDir(), "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for _, id := range hubReplicaIDs() {
		if err := os.MkdirAll(d.hubDataDir(id), 0o700); err != nil {
			return nil, err
		}
		if err := ca.WritePeerFiles(d.hubPeerDir(id), id); err != nil {
			return nil, fmt.Errorf("hub peer certificate of %s: %w", id, err)
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[id] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return addrs, nil
}

// hubFile holds the hub API address of every replica, comma-separated, the form the plugin
// takes in --hub and FLOTILLA_HUB: `export FLOTILLA_HUB=$(cat .fleet/hub)`.
func (d stateDir) hubFile() string { return d.path("hub") }

// prepareHubAPI picks a free loopback port for each replica's hub API and writes the list to
// hubFile. It returns the API address of each replica by ID.
func prepareHubAPI(d stateDir) (map[string]string, error) {
	addrs := map[string]string{}
	var list []string
	for _, id := range hubReplicaIDs() {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[id] = fmt.Sprintf("127.0.0.1:%d", port)
		list = append(list, addrs[id])
	}
	return addrs, os.WriteFile(d.hubFile(), []byte(strings.Join(list, ",")+"\n"), 0o644)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hubArgs are the flags of one hub replica.
func hubArgs(env processEnv, id string) []string {
	var peers []string
	for _, p := range hubReplicaIDs() {
		peers = append(peers, p+"="+env.hubPeers[p])
	}
	tlsDir := env.stateDir.hubPeerDir(id)
	return []string{
		"--kubeconfig=" + env.cluster.KubeconfigPath,
		"--raft-id=" + id,
		"--raft-bind-address=" + env.hubPeers[id],
		"--hub-api-bind-address=" + env.hubAPIs[id],
		"--raft-peers=" + strings.Join(peers, ","),
		"--raft-data-dir=" + env.stateDir.hubDataDir(id),
		"--raft-tls-ca=" + filepath.Join(tlsDir, "ca.crt"),
		"--raft-tls-cert=" + filepath.Join(tlsDir, "tls.crt"),
		"--raft-tls-key=" + filepath.Join(tlsDir, "tls.key"),
		"--member-namespace=" + systemNamespace,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		"--log-format=text",
	}
}

// hubLeader returns the ID of the replica that leads according to the logs: the last
// leadership event each replica logged is "leading" for at most one of them in a healthy
// group. Empty if none does.
func hubLeader(d stateDir) string {
	var leaders []string
	for _, id := range hubReplicaIDs() {
		data, err := os.ReadFile(d.hubLog(id))
		if err != nil {
			continue
		}
		text := string(data)
		if lead := strings.LastIndex(text, hubLeadingLine); lead >= 0 && lead > strings.LastIndex(text, "leadership lost") {
			leaders = append(leaders, id)
		}
	}
	return strings.Join(leaders, ",")
}

// hubLeaderTimeout bounds the wait for the hub's first leader.
const hubLeaderTimeout = 60 * time.Second

// waitHubLeader waits until one hub replica leads and returns its ID.
func waitHubLeader(ctx context.Context, d stateDir) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, hubLeaderTimeout)
	defer cancel()
	for {
		if l := hubLeader(d); l != "" && !strings.Contains(l, ",") {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no hub replica leads after %s (logs: %s)", hubLeaderTimeout, d.path("logs", "hub"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}
