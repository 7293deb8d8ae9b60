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

package fleetrollout_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/analysis/providers"
	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/leader"
	"github.com/flotilla-io/flotilla/hub/members"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/hub/raft/rafttest"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/spoke/rollout"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/routers"
	"github.com/flotilla-io/flotilla/test/harness"
)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// startRegionFleet starts a hub and one member per region (full control planes, one kwok
// node each); registers each member with the hub, with the spoke chart's fencing policy in its
// API server and the spoke agent running against it; and starts the hub controllers leading a
// one-node raft group. begin is when the test began, for the log.
// The returned restartHub stops the hub controllers, calls whileStopped, and starts new ones,
// with nothing kept in memory: they resume from the hub's objects and the journal, as a new
// leader does.
func startRegionFleet(t *testing.T, begin time.Time) (hub *harness.Cluster, byName map[string]*harness.Cluster, node *raft.Node,
	restartHub func(whileStopped func())) {
	t.Helper()
	s := newScheme(t)
	specs := []harness.ClusterSpec{{Name: "hub", CRDDirs: []string{harness.HubCRDDir}}}
	for _, r := range regions {
		specs = append(specs, harness.ClusterSpec{Name: r, Nodes: 1, CRDDirs: []string{harness.SpokeCRDDir}})
	}
	fleet := harness.NewFleet(t, harness.FleetOptions{Scheme: s, Clusters: specs})
	t.Logf("fleet of %d clusters up in %s", len(specs), time.Since(begin).Round(100*time.Millisecond))
	hub = fleet.Cluster("hub")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createNamespace(ctx, t, hub.Client, systemNamespace)
	createNamespace(ctx, t, hub.Client, appNamespace)
	byName = map[string]*harness.Cluster{}
	for _, r := range regions {
		m := fleet.Cluster(r)
		byName[r] = m
		createNamespace(ctx, t, m.Client, appNamespace)
		installFencing(ctx, t, m.Client)
		register(ctx, t, hub.Client, m, r)
		startSpoke(t, s, m)
	}
	node = rafttest.Start(t)
	stop := startHub(t, s, hub, node)
	restartHub = func(whileStopped func()) {
		stop()
		whileStopped()
		stop = startHub(t, s, hub, node)
	}
	return hub, byName, node, restartHub
}

// operatedFleet is the fleet of startRegionFleet with the checkout FleetRollout created on its
// hub, for tests that drive it with the kubectl plugin as a person would.
type operatedFleet struct {
	hub     *harness.Cluster
	byName  map[string]*harness.Cluster
	node    *raft.Node
	fro     *fleetv1alpha1.FleetRollout
	key     client.ObjectKey
	kubectl func(args ...string) string
}

// history is the journal of the checkout FleetRollout.
func (f *operatedFleet) history() []journal.Entry {
	return f.node.Journal().History(appNamespace, f.fro.Name)
}

// startOperatedFleet starts the fleet of startRegionFleet and creates on its hub the shared
// checkout FleetRollout (harness.CheckoutFleetRollout) with waves in place of its own and no
// fleet-wide gates. The returned context ends after timeout, counted from when the fleet is up.
func startOperatedFleet(t *testing.T, timeout time.Duration, waves ...fleetv1alpha1.Wave) (context.Context, *operatedFleet) {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	hub, byName, node, _ := startRegionFleet(t, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	fro := &fleetv1alpha1.FleetRollout{}
	harness.ReadYAMLFile(t, harness.CheckoutFleetRollout, fro)
	fro.Spec.Gates = nil
	fro.Spec.Waves = waves
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	return ctx, &operatedFleet{hub: hub, byName: byName, node: node, fro: fro, key: client.ObjectKeyFromObject(fro),
		kubectl: flotillaCLI(ctx, t, hub)}
}

// startManager starts mgr until the test ends, or until the returned stop is called (which
// waits for the manager to stop).
func startManager(t *testing.T, mgr ctrl.Manager) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// startSpoke runs the spoke's Rollout controller in-process against one member.
func startSpoke(t *testing.T, s *runtime.Scheme, c *harness.Cluster) {
	t.Helper()
	// One spoke per member in one process: the controllers share a name.
	mgr, err := ctrl.NewManager(c.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("flotilla-spoke"), Routers: routers.New}
	if err := r.SetupWithManager(context.Background(), mgr); err != nil {
		t.Fatal(err)
	}
	startManager(t, mgr)
}

// startHub runs the MemberCluster and FleetRollout controllers in-process against the hub,
// until the test ends or stop is called.
func startHub(t *testing.T, s *runtime.Scheme, hub *harness.Cluster, node *raft.Node) (stop func()) {
	t.Helper()
	// A restarted hub (startRegionFleet's restartHub) registers its controllers' names again.
	mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:      cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Namespaces: map[string]cache.Config{systemNamespace: {}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	gate := &leader.Gate{Node: node}
	if err := mgr.Add(gate); err != nil {
		t.Fatal(err)
	}
	reg := &members.Registry{Secrets: mgr.GetAPIReader(), Scheme: s, Namespace: systemNamespace,
		RESTOptions: []func(*rest.Config) error{memberRequests.wrap, memberWatches.Wrap}}
	if err := reg.Setup(context.Background(), mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&members.Reconciler{Client: mgr.GetClient(), Registry: reg, Gate: gate,
		ProbeInterval: 5 * time.Second}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	r := &fleetrollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Raft: node, Gate: gate,
		Members: reg, Recorder: mgr.GetEventRecorder("flotilla-hub"), Providers: providers.New(providers.Deps{})}
	if err := r.SetupWithManager(context.Background(), mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&fleetrollout.ApprovalReconciler{Client: mgr.GetClient(), Raft: node, Gate: gate}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	return startManager(t, mgr)
}

// requestCounter counts the hub's requests to its members by verb and resource ("get
// rollouts", "watch rollouts", "patch configmaps"), at the HTTP level.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// memberRequests counts the requests of every hub startHub starts.
var memberRequests = &requestCounter{}

// memberWatches holds back the member watches of every hub startHub starts while a test holds
// it (TestHubReadsItsOwnWrites): the hub's member caches lag.
var memberWatches = &harness.WatchGate{}

func (c *requestCounter) wrap(cfg *rest.Config) error {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			c.count(req)
			return rt.RoundTrip(req)
		})
	})
	return nil
}

func (c *requestCounter) count(req *http.Request) {
	// /api/v1/[namespaces/<ns>/]<resource>[/<name>...] or /apis/<group>/<version>/...
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	base := 2
	if len(parts) > 0 && parts[0] == "apis" {
		base = 3
	}
	rest := parts[min(base, len(parts)):]
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) > 2 {
		rest = rest[2:]
	}
	verb, resource := strings.ToLower(req.Method), "discovery"
	if len(rest) > 0 {
		resource = rest[0]
	}
	switch {
	case verb != "get" || resource == "discovery":
	case req.URL.Query().Get("watch") == "true":
		verb = "watch"
	case len(rest) == 1:
		verb = "list"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[verb+" "+resource]++
}

// take returns the counts since the last take and starts again from zero.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = nil
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// register makes a member known to the hub as hack/fleet does: a kubeconfig Secret in
// flotilla-system with multicluster-runtime's label, and a MemberCluster with a region label.
func register(ctx context.Context, t *testing.T, hub client.Client, m *harness.Cluster, region string) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: systemNamespace, Labels: map[string]string{kubeconfigLabel: "true"}},
		Data:       map[string][]byte{"kubeconfig": m.Kubeconfig},
	}
	if err := hub.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	mc := &fleetv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Labels: map[string]string{"region": region, "env": "prod"}},
		Spec: fleetv1alpha1.MemberClusterSpec{KubeconfigSecretRef: fleetv1alpha1.SecretKeyRef{
			Namespace: systemNamespace, Name: m.Name, Key: "kubeconfig"}},
	}
	if err := hub.Create(ctx, mc); err != nil {
		t.Fatal(err)
	}
}

func createNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// sighting is what the test's own poller saw of one member Rollout at one revision.
type sighting struct {
	firstSeen, firstHealthy time.Time
}

// watchMembers polls every member's Rollout until ctx ends and records, by cluster and fleet
// revision ("us-east@1"), when it was first seen and first seen Healthy: an observation
// independent of the hub's own records.
func watchMembers(ctx context.Context, clusters map[string]*harness.Cluster) (snapshot func() map[string]sighting, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	seen := map[string]sighting{}
	var wg sync.WaitGroup
	for name, c := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ro := &rolloutsv1alpha1.Rollout{}
				if err := c.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err == nil {
					now := time.Now()
					k := name + "@" + ro.Annotations[federation.RevisionAnnotation]
					mu.Lock()
					s := seen[k]
					if s.firstSeen.IsZero() {
						s.firstSeen = now
					}
					if s.firstHealthy.IsZero() && ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy &&
						ro.Status.ObservedGeneration == ro.Generation && ro.Status.StableRS == ro.Status.CurrentPodHash {
						s.firstHealthy = now
					}
					seen[k] = s
					mu.Unlock()
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	snapshot = func() map[string]sighting {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]sighting, len(seen))
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
	return snapshot, func() { cancel(); wg.Wait() }
}

// installFencing applies the spoke chart's term-fencing ValidatingAdmissionPolicy to a member,
// so that the hub's writes go through the same admission as in a real installation.
func installFencing(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	path, err := harness.RepoPath("charts/flotilla-spoke/templates/fencing-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("installing the fencing policy: %v", err)
		}
	}
}

// waitMemberPaused waits until a member's Rollout is Paused at the fleet revision rev.
func waitMemberPaused(ctx context.Context, t *testing.T, m *harness.Cluster, rev string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: appNamespace, Name: "checkout"}, ro); err == nil &&
			ro.Annotations[federation.RevisionAnnotation] == rev &&
			ro.Status.Phase == rolloutsv1alpha1.RolloutPhasePaused && ro.Status.ObservedGeneration == ro.Generation {
			return ro
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s never paused at revision %s: phase %s, annotations %v", m.Name, rev, ro.Status.Phase, ro.Annotations)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func statusPatch(ctx context.Context, t *testing.T, c client.Client, obj client.Object, p string) {
	t.Helper()
	if err := c.Status().Patch(ctx, obj, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

func jsonPatch(ctx context.Context, t *testing.T, c client.Client, obj client.Object, p string) {
	t.Helper()
	if err := c.Patch(ctx, obj, client.RawPatch("application/json-patch+json", []byte(p))); err != nil {
		t.Fatal(err)
	}
}

func gateOf(e journal.Entry) string {
	if e.Gate == nil {
		return ""
	}
	return e.Gate.Name + "=" + string(e.Gate.Verdict)
}

func leaderTerm(n *raft.Node) (uint64, bool) {
	_, term, ok := n.Leading()
	return term, ok
}

// flotillaCLI runs `kubectl flotilla -n shop ARGS...` against the hub, as a person would, and
// fails the test if the command fails.
func flotillaCLI(ctx context.Context, t *testing.T, hub *harness.Cluster) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, _, err := plugin.Run(ctx, hub.KubeconfigPath, append([]string{"-n", appNamespace}, args...)...)
		if err != nil {
			t.Fatalf("kubectl flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}

// waitFleetRollout polls the FleetRollout until cond holds, and fails with what it last saw.
func waitFleetRollout(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, what string,
	cond func(*fleetv1alpha1.FleetRollout) bool) *fleetv1alpha1.FleetRollout {
	t.Helper()
	var last string
	for {
		f := &fleetv1alpha1.FleetRollout{}
		if err := c.Get(ctx, key, f); err == nil {
			if cond(f) {
				return f
			}
			b, _ := yaml.Marshal(f.Status)
			last = string(b)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("FleetRollout %s not %s in time; last seen status:\n%s", key, what, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// patchMemberCluster merge-patches a MemberCluster on the hub (its labels, maintenance...).
func patchMemberCluster(ctx context.Context, t *testing.T, hub client.Client, name, patch string) {
	t.Helper()
	mc := &fleetv1alpha1.MemberCluster{}
	mc.Name = name
	if err := hub.Patch(ctx, mc, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// waitMemberUnreachable waits until the hub's heartbeat marks the MemberCluster not Reachable.
func waitMemberUnreachable(ctx context.Context, t *testing.T, hub client.Client, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mc := &fleetv1alpha1.MemberCluster{}
		if err := hub.Get(ctx, client.ObjectKey{Name: name}, mc); err == nil && meta.IsStatusConditionFalse(mc.Status.Conditions, fleetv1alpha1.ConditionReachable) {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("MemberCluster %s never became unreachable", name)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
