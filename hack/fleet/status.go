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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/test/harness"
)

// statusTimeout bounds the queries to each cluster.
const statusTimeout = 5 * time.Second

// status prints each cluster, its API server URL, its nodes' readiness and, for members,
// its spoke agent, for the hub, how many hub replicas run and which one leads (from their
// logs); then each hub replica's process, raft address and log. It fails if the fleet is not
// up, a cluster does not answer, or an agent or a hub replica is not running.
func status(d stateDir, out io.Writer) error {
	if !d.exists() {
		fmt.Fprintf(out, "fleet: not up (%s does not exist); `make fleet-up` starts it\n", d)
		return errors.New("not up")
	}
	pid, err := d.readSupervisorPid()
	if err != nil {
		return err
	}
	if d.supervisorAlive(pid) {
		fmt.Fprintf(out, "supervisor: running (pid %d)\n", pid)
	} else {
		fmt.Fprintf(out, "supervisor: not running (leftovers in %s; `make fleet-down` clears them)\n", d)
	}
	recs, err := d.readRecords()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tROLE\tAPI SERVER\tAGENT\tNODES")
	var failed, stopped []string
	for _, def := range topology {
		server, nodes, err := clusterStatus(d.kubeconfig(def.name))
		if err != nil {
			nodes = "unreachable: " + err.Error()
			failed = append(failed, def.name)
		}
		agent := "-"
		if def.role == roleHub {
			running := 0
			for _, id := range hubReplicaIDs() {
				if processPid(recs, hubBinary, "--raft-id="+id) != 0 {
					running++
				}
			}
			leader := hubLeader(d)
			if leader == "" {
				leader = "none yet"
			}
			agent = fmt.Sprintf("%d/%d hub replicas running, leader %s", running, hubReplicas, leader)
			if running < hubReplicas {
				stopped = append(stopped, def.name)
			}
		}
		if def.role == roleMember {
			if pid := agentPid(recs, def.name); pid != 0 {
				agent = fmt.Sprintf("running (pid %d)", pid)
			} else {
				agent = "not running"
				stopped = append(stopped, def.name)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", def.name, def.role, server, agent, nodes)
	}
	fmt.Fprintln(tw, "\nHUB REPLICA\tPROCESS\tRAFT ADDRESS\tLOG")
	for _, id := range hubReplicaIDs() {
		proc, addr := "not running", "-"
		if pid := processPid(recs, hubBinary, "--raft-id="+id); pid != 0 {
			proc = fmt.Sprintf("running (pid %d)", pid)
			addr = flagValue(pid, "--raft-bind-address=")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, proc, addr, d.hubLog(id))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var errs []error
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("unreachable: %s", strings.Join(failed, ", ")))
	}
	if len(stopped) > 0 {
		errs = append(errs, fmt.Errorf("agent or hub replica not running in: %s (its log is in %s)", strings.Join(stopped, ", "), d.logDir()))
	}
	return errors.Join(errs...)
}

// agentPid is the pid of the live flotilla-spoke process recorded for the cluster (its
// command line names the cluster), 0 if there is none.
func agentPid(recs []record, cluster string) int {
	return processPid(recs, spokeBinary, "--cluster-name="+cluster)
}

// processPid is the pid of the live recorded process of binary whose command line has the
// argument arg, 0 if there is none.
func processPid(recs []record, binary, arg string) int {
	for _, r := range recs {
		if filepath.Base(r.binary) != filepath.Base(binary) || !r.live() {
			continue
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(r.pid) + "/cmdline")
		if err == nil && slices.Contains(strings.Split(string(data), "\x00"), arg) {
			return r.pid
		}
	}
	return 0
}

// flagValue is the value of the process's --name=value argument, "-" if it has none.
func flagValue(pid int, prefix string) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "-"
	}
	for _, a := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(a, prefix); ok {
			return v
		}
	}
	return "-"
}

// clusterStatus returns the API server URL from the kubeconfig and a line about the nodes:
// "3/3 Ready (us-east-node-0 Ready, ...)".
func clusterStatus(kubeconfig string) (server, nodes string, err error) {
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		return "-", "", err
	}
	cfg, err := harness.RESTConfigFromKubeconfig(data)
	if err != nil {
		return "-", "", err
	}
	cfg.Timeout = statusTimeout
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return cfg.Host, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	var list corev1.NodeList
	if err := c.List(ctx, &list); err != nil {
		return cfg.Host, "", err
	}
	ready := 0
	var each []string
	for i := range list.Items {
		n := &list.Items[i]
		state := "Ready"
		if ok, why := harness.NodeSchedulable(n); ok {
			ready++
		} else {
			state = why
		}
		each = append(each, n.Name+" "+state)
	}
	slices.Sort(each)
	return cfg.Host, fmt.Sprintf("%d/%d Ready (%s)", ready, len(list.Items), strings.Join(each, ", ")), nil
}
