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
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	kubeconfigprovider "sigs.k8s.io/multicluster-runtime/providers/kubeconfig"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/test/harness"
)

// runAsFleetEnv makes the test binary behave as the fleet program, so that `up` (which
// starts os.Executable() as the supervisor) works from a test.
const runAsFleetEnv = "FLOTILLA_FLEET_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsFleetEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestUpStatusDown(t *testing.T) {
	d, out := startFleet(t)

	for _, def := range topology {
		checkNodes(t, d, def)
	}
	checkRegistration(t, d)
	checkAgents(t, d)
	leader := checkHub(t, d)
	before := len(out.String())
	if code := out.run(t, "status", d); code != 0 {
		t.Errorf("status exited %d", code)
	}
	shown := out.String()[before:]
	if n := strings.Count(shown, "  running (pid "); n != 3+hubReplicas {
		t.Errorf("status shows %d running agents and hub replicas, want one per member and %d hub replicas:\n%s", n, hubReplicas, shown)
	}
	if want := fmt.Sprintf("%d/%d hub replicas running, leader %s", hubReplicas, hubReplicas, leader); !strings.Contains(shown, want) {
		t.Errorf("status does not show %q:\n%s", want, shown)
	}
	if code := out.run(t, "up", d); code != 0 || !strings.Contains(out.String(), "already up") {
		t.Errorf("a second up exited %d; want 0 and 'already up'", code)
	}

	recs, supervisor := records(t, d)
	begin := time.Now()
	if code := out.run(t, "down", d); code != 0 {
		t.Fatalf("down exited %d", code)
	}
	t.Logf("down took %s", time.Since(begin).Round(10*time.Millisecond))
	assertGone(t, recs, supervisor)
	if d.exists() {
		t.Errorf("down left %s behind", d)
	}
	if code := out.run(t, "down", d); code != 0 {
		t.Errorf("down with nothing up exited %d", code)
	}
	if code := out.run(t, "status", d); code == 0 {
		t.Errorf("status with nothing up exited 0")
	}
}

// TestSupervisorKilled checks that the fleet dies with its supervisor even when the
// supervisor gets no chance to clean up, and that down then tidies up.
func TestSupervisorKilled(t *testing.T) {
	d, out := startFleet(t)
	recs, supervisor := records(t, d)
	if err := syscall.Kill(supervisor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	assertGone(t, recs, supervisor)
	if code := out.run(t, "down", d); code != 0 || d.exists() {
		t.Errorf("down after a killed supervisor exited %d, folder left: %v", code, d.exists())
	}
}

// startFleet runs `up` in a fresh folder and makes sure `down` runs at the end, keeping
// the logs if the test failed.
func startFleet(t *testing.T) (stateDir, *output) {
	t.Helper()
	t.Setenv(runAsFleetEnv, "1")
	tmp := harness.TempDir(t, "flotilla-fleet-tool-")
	d := stateDir(filepath.Join(tmp, "fleet"))
	out := &output{}
	t.Cleanup(func() {
		if t.Failed() {
			_ = os.Rename(d.logDir(), filepath.Join(tmp, "logs"))
		}
		if code := run([]string{"down", "--dir=" + string(d)}, out, out); code != 0 {
			t.Errorf("down in cleanup exited %d", code)
		}
		t.Logf("fleet output:\n%s", out)
	})
	begin := time.Now()
	if code := out.run(t, "up", d); code != 0 {
		t.Fatalf("up exited %d", code)
	}
	t.Logf("up took %s", time.Since(begin).Round(10*time.Millisecond))
	return d, out
}

// checkNodes checks that the cluster has its Ready nodes, with the region label on members.
func checkNodes(t *testing.T, d stateDir, def clusterDef) {
	t.Helper()
	c := clusterClient(t, d, def.name)
	var nodes corev1.NodeList
	if err := c.List(t.Context(), &nodes); err != nil {
		t.Fatalf("%s: listing nodes: %v", def.name, err)
	}
	if len(nodes.Items) != def.nodes {
		t.Errorf("%s: %d nodes, want %d", def.name, len(nodes.Items), def.nodes)
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if ok, why := harness.NodeSchedulable(n); !ok {
			t.Errorf("%s: node %s not ready: %s", def.name, n.Name, why)
		}
		if def.role == roleMember && n.Labels[regionNodeLabel] != def.region {
			t.Errorf("%s: node %s has %s=%q, want %q", def.name, n.Name, regionNodeLabel, n.Labels[regionNodeLabel], def.region)
		}
	}
}

// checkRegistration checks the hub's kubeconfig Secret and MemberCluster of every member,
// and that the Secret's kubeconfig reaches the member.
func checkRegistration(t *testing.T, d stateDir) {
	t.Helper()
	hub := clusterClient(t, d, "hub")
	ctx := t.Context()
	for _, def := range topology {
		if def.role != roleMember {
			continue
		}
		var secret corev1.Secret
		if err := hub.Get(ctx, client.ObjectKey{Namespace: systemNamespace, Name: def.name}, &secret); err != nil {
			t.Errorf("hub: kubeconfig Secret of %s: %v", def.name, err)
			continue
		}
		if secret.Labels[kubeconfigprovider.DefaultKubeconfigSecretLabel] != "true" {
			t.Errorf("hub: Secret %s lacks label %s=true", def.name, kubeconfigprovider.DefaultKubeconfigSecretLabel)
		}
		cfg, err := harness.RESTConfigFromKubeconfig(secret.Data[kubeconfigprovider.DefaultKubeconfigSecretKey])
		if err == nil {
			var member client.Client
			if member, err = client.New(cfg, client.Options{}); err == nil {
				err = member.Get(ctx, client.ObjectKey{Name: "default"}, &corev1.Namespace{})
			}
		}
		if err != nil {
			t.Errorf("hub: the kubeconfig in Secret %s does not reach the member: %v", def.name, err)
		}

		mc := &unstructured.Unstructured{}
		mc.SetAPIVersion("fleet.flotilla.dev/v1alpha1")
		mc.SetKind("MemberCluster")
		if err := hub.Get(ctx, client.ObjectKey{Name: def.name}, mc); err != nil {
			t.Errorf("hub: MemberCluster %s: %v", def.name, err)
			continue
		}
		ref, _, _ := unstructured.NestedStringMap(mc.Object, "spec", "kubeconfigSecretRef")
		want := map[string]string{"namespace": systemNamespace, "name": def.name, "key": "kubeconfig"}
		if fmt.Sprint(ref) != fmt.Sprint(want) {
			t.Errorf("hub: MemberCluster %s: kubeconfigSecretRef %v, want %v", def.name, ref, want)
		}
		if l := mc.GetLabels(); l[regionLabel] != def.region || l[envLabel] != "prod" {
			t.Errorf("hub: MemberCluster %s labels %v, want region=%s env=prod", def.name, l, def.region)
		}
	}
}

func clusterClient(t *testing.T, d stateDir, name string) client.Client {
	t.Helper()
	data, err := os.ReadFile(d.kubeconfig(name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cfg, err := harness.RESTConfigFromKubeconfig(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// agentRollout is a small canary with no steps: a spoke agent makes it Healthy once its
// pods are available.
const agentRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: agent-check
  namespace: default
spec:
  replicas: 2
  strategy:
    canary: {}
  selector:
    matchLabels:
      app: agent-check
  template:
    metadata:
      labels:
        app: agent-check
    spec:
      containers:
      - name: app
        image: argoproj/rollouts-demo:blue
`

// checkAgents applies a Rollout to every member and waits until each is Healthy with its
// pods available: only the member's own flotilla-spoke process can have done that. The log
// of each agent must be where the fleet puts logs.
func checkAgents(t *testing.T, d stateDir) {
	t.Helper()
	var members []clusterDef
	for _, def := range topology {
		if def.role == roleMember {
			members = append(members, def)
		}
	}
	clients := map[string]client.Client{}
	for _, def := range members {
		c := clusterClient(t, d, def.name)
		ro := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(agentRollout), &ro.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(t.Context(), ro); err != nil {
			t.Fatalf("%s: creating a Rollout: %v", def.name, err)
		}
		clients[def.name] = c
	}
	for _, def := range members {
		c := clients[def.name]
		err := harness.WaitFor(t.Context(), def.name+": the Rollout Healthy through its agent", 90*time.Second,
			func(ctx context.Context) (bool, string, error) {
				ro := &unstructured.Unstructured{}
				ro.SetAPIVersion("rollouts.flotilla.dev/v1alpha1")
				ro.SetKind("Rollout")
				if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "agent-check"}, ro); err != nil {
					return false, "", err
				}
				phase, _, _ := unstructured.NestedString(ro.Object, "status", "phase")
				avail, _, _ := unstructured.NestedInt64(ro.Object, "status", "availableReplicas")
				msg, _, _ := unstructured.NestedString(ro.Object, "status", "message")
				return phase == "Healthy" && avail == 2, fmt.Sprintf("phase %q available %d message %q", phase, avail, msg), nil
			})
		if err != nil {
			t.Errorf("%v\nagent log tail:\n%s", err, tailLog(filepath.Join(d.logDir(), def.name, "flotilla-spoke.log")))
		}
	}
}

// checkHub checks that the three hub replicas run (recorded, live, with their own raft ID)
// and that exactly one of them leads: its log says it passed its leader barrier. It returns
// the leader's ID.
func checkHub(t *testing.T, d stateDir) string {
	t.Helper()
	recs, err := d.readRecords()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range hubReplicaIDs() {
		if processPid(recs, hubBinary, "--raft-id="+id) == 0 {
			t.Errorf("hub replica %s is not running; its log:\n%s", id, tailLog(d.hubLog(id)))
		}
	}
	var leader string
	err = harness.WaitFor(t.Context(), "one hub replica leads", 60*time.Second,
		func(context.Context) (bool, string, error) {
			leader = hubLeader(d)
			return leader != "" && !strings.Contains(leader, ","), "leading: " + leader, nil
		})
	if err != nil {
		for _, id := range hubReplicaIDs() {
			t.Logf("%s log tail:\n%s", id, tailLog(d.hubLog(id)))
		}
		t.Fatal(err)
	}
	t.Logf("hub leader: %s", leader)
	checkHubAPI(t, d, leader)
	return leader
}

// checkHubAPI reads every replica's hub API at the addresses .fleet/hub lists (what
// FLOTILLA_HUB takes): each answers and names the leader the logs show.
func checkHubAPI(t *testing.T, d stateDir, leader string) {
	t.Helper()
	data, err := os.ReadFile(d.hubFile())
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := hubapi.ParseAddresses(strings.TrimSpace(string(data)))
	if err != nil || len(addrs) != hubReplicas {
		t.Fatalf("%s: %v, %v; want %d addresses", d.hubFile(), addrs, err, hubReplicas)
	}
	c := &hubapi.Client{Addrs: addrs}
	for _, a := range addrs {
		var st hubapi.Status
		err := harness.WaitFor(t.Context(), "the hub API of "+a+" names the leader", 30*time.Second,
			func(ctx context.Context) (bool, string, error) {
				var serr error
				if st, serr = c.Status(ctx, a); serr != nil {
					return false, serr.Error(), nil //nolint:nilerr // a replica not answering yet is waited for
				}
				return st.Leader.ID == leader, fmt.Sprintf("%s says the leader is %q", st.ID, st.Leader.ID), nil
			})
		if err != nil {
			t.Error(err)
		} else if len(st.Peers) != hubReplicas {
			t.Errorf("%s: peers %+v, want %d", st.ID, st.Peers, hubReplicas)
		}
	}
}

func tailLog(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// records reads the recorded pids: the supervisor, etcd, 4 per cluster, one spoke agent
// per member and the hub replicas must be there.
func records(t *testing.T, d stateDir) ([]record, int) {
	t.Helper()
	recs, err := d.readRecords()
	if err != nil {
		t.Fatal(err)
	}
	supervisor, err := d.readSupervisorPid()
	if err != nil || supervisor == 0 {
		t.Fatalf("supervisor.pid: %d, %v", supervisor, err)
	}
	want := 1 + 4*len(topology)
	for _, def := range topology {
		want += len(def.processes(processEnv{cluster: &harness.Cluster{}}))
	}
	if len(recs) != want {
		t.Errorf("%d processes recorded, want %d", len(recs), want)
	}
	for _, r := range recs {
		if !r.live() {
			t.Errorf("recorded process %d (%s) is not running", r.pid, r.binary)
		}
	}
	return recs, supervisor
}

// assertGone waits until no recorded pid and not the supervisor has a /proc entry: each has
// exited and been reaped (by the supervisor, or by init once the supervisor is gone).
func assertGone(t *testing.T, recs []record, supervisor int) {
	t.Helper()
	pids := []int{supervisor}
	for _, r := range recs {
		pids = append(pids, r.pid)
	}
	err := harness.WaitFor(context.Background(), "every fleet process gone", 30*time.Second,
		func(context.Context) (bool, string, error) {
			var left []string
			for _, pid := range pids {
				if harness.PidExists(pid) {
					left = append(left, fmt.Sprintf("%d (%s)", pid, procStateName(pid)))
				}
			}
			return len(left) == 0, "still there: " + strings.Join(left, ", "), nil
		})
	if err != nil {
		t.Error(err)
	}
}

func procStateName(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	return strings.TrimSpace(string(data[:min(len(data), 40)]))
}

// output collects what the commands print; up's report reader writes from a goroutine.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// run runs one command of the program against d and returns its exit code.
func (o *output) run(t *testing.T, cmd string, d stateDir) int {
	t.Helper()
	fmt.Fprintf(o, "$ fleet %s\n", cmd)
	return run([]string{cmd, "--dir=" + string(d)}, o, o)
}
