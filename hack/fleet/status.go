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
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/test/harness"
)

// statusTimeout bounds the queries to each cluster.
const statusTimeout = 5 * time.Second

// status prints each cluster, its API server URL and its nodes' readiness. It fails if the
// fleet is not up or a cluster does not answer.
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
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tROLE\tAPI SERVER\tNODES")
	var failed []string
	for _, def := range topology {
		server, nodes, err := clusterStatus(d.kubeconfig(def.name))
		if err != nil {
			nodes = "unreachable: " + err.Error()
			failed = append(failed, def.name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", def.name, def.role, server, nodes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("unreachable: %s", strings.Join(failed, ", "))
	}
	return nil
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
