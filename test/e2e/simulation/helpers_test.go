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
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/hub/raft/rafttest"
	"github.com/flotilla-io/flotilla/hub/replica"
	"github.com/flotilla-io/flotilla/internal/nsclusters"
	"github.com/flotilla-io/flotilla/spoke/agent"
	"github.com/flotilla-io/flotilla/test/harness"
)

// appNamespace is the hub namespace of the FleetRollout, and the target namespace the hub
// asks for in every member: the namespace-clusters put it into their own namespaces.
const appNamespace = "shop"

// sim is a running simulation.
type sim struct {
	cluster *harness.Cluster
	node    *raft.Node
	members []string
	// hubToMembers counts the hub's requests to the members' API server, spoke the agent's.
	hubToMembers, spoke *counter
}

// startSimulation starts one full control plane (kwok nodes), with the hub's and the spoke's
// CRDs; n labelled namespaces m-000... as member clusters, each with a MemberCluster whose
// label wave is its index modulo waves; the spoke agent in namespace-cluster mode; and the hub
// controllers (replica.Setup, as flotilla-hub runs them) with the namespace provider over the
// same API server, leading a one-node raft group.
func startSimulation(t testing.TB, n, waves, nodes int) *sim {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: []harness.ClusterSpec{
		{Name: "sim", Nodes: nodes, CRDDirs: []string{harness.HubCRDDir, harness.SpokeCRDDir}}}})
	c := fleet.Cluster("sim")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := &sim{cluster: c, hubToMembers: &counter{}, spoke: &counter{}}
	for _, ns := range []string{appNamespace, "flotilla-system"} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("m-%03d", i)
		out.members = append(out.members, name)
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels: map[string]string{nsclusters.MemberLabel: "true"}}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.Create(ctx, &fleetv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "sim", "wave": strconv.Itoa(i % waves)}},
		}); err != nil {
			t.Fatal(err)
		}
	}

	// The spoke: one agent for every namespace-cluster.
	spokeCfg := out.spoke.wrap(c.Config)
	mgr, err := ctrl.NewManager(spokeCfg, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: agent.CacheOptions(""), Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SetupNamespaceClusters(context.Background(), mgr, agent.Options{RolloutWorkers: 8, AnalysisWorkers: 2,
		ExperimentWorkers: 2, CredentialsNamespace: "flotilla-system"}); err != nil {
		t.Fatal(err)
	}
	harness.StartManager(t, mgr)

	// The hub, with the namespace provider over the same API server.
	out.node = rafttest.Start(t)
	hmgr, err := ctrl.NewManager(c.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: replica.CacheOptions("flotilla-system"), Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.Setup(context.Background(), hmgr, out.node, replica.Options{MemberNamespace: "flotilla-system",
		ProbeInterval: 5 * time.Second, NamespaceClusters: out.hubToMembers.wrap(c.Config)}); err != nil {
		t.Fatal(err)
	}
	harness.StartManager(t, hmgr)
	return out
}

// fleetRollout is the FleetRollout of the simulation: waves wave-0, wave-1, ... (by the
// MemberCluster label wave), a short bake each, and a Rollout of one replica whose update is a
// canary: setWeight 50, then the steps of extraSteps (YAML list items, indented ten spaces),
// then full.
func fleetRollout(t testing.TB, waves int, extraSteps string) *fleetv1alpha1.FleetRollout {
	t.Helper()
	src := `
apiVersion: fleet.flotilla.dev/v1alpha1
kind: FleetRollout
metadata: {name: checkout, namespace: shop}
spec:
  placement:
    clusterSelector: {matchLabels: {env: sim}}
  gates:
  - name: fleet-healthy
    aggregate: {requireAllHealthy: true}
  template:
    spec:
      replicas: 1
      strategy:
        canary:
          steps:
          - setWeight: 50
` + extraSteps + `
      selector:
        matchLabels: {app: checkout}
      template:
        metadata:
          labels: {app: checkout}
        spec:
          containers:
          - name: checkout
            image: example.com/checkout:v1
            resources:
              requests: {cpu: 1m, memory: 1Mi}
`
	fro := &fleetv1alpha1.FleetRollout{}
	if err := yaml.UnmarshalStrict([]byte(src), fro); err != nil {
		t.Fatal(err)
	}
	for i := range waves {
		fro.Spec.Waves = append(fro.Spec.Waves, fleetv1alpha1.Wave{Name: fmt.Sprintf("wave-%d", i),
			ClusterSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"wave": strconv.Itoa(i)}},
			BakeTime:        "1s"})
	}
	return fro
}

// waitFleetRollout waits until the FleetRollout satisfies cond, and fails with what it last saw.
func waitFleetRollout(ctx context.Context, t testing.TB, c client.Client, key client.ObjectKey, what string,
	cond func(*fleetv1alpha1.FleetRollout) bool) {
	t.Helper()
	err := harness.WaitFor(ctx, "FleetRollout "+key.String()+" "+what, 10*time.Minute, func(ctx context.Context) (bool, string, error) {
		f := &fleetv1alpha1.FleetRollout{}
		if err := c.Get(ctx, key, f); err != nil {
			return false, err.Error(), nil //nolint:nilerr // a read that fails is looked at again
		}
		b, _ := yaml.Marshal(f.Status)
		return cond(f), string(b), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// counter counts the HTTP requests made with the configs it wrapped.
type counter struct {
	n atomic.Int64
}

func (c *counter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			c.n.Add(1)
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
