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
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/test/harness"
	"github.com/flotilla-io/flotilla/test/prometheus"
)

// examplePrometheus is the Prometheus address in the examples, replaced by the test's.
const examplePrometheus = "http://prometheus.monitoring:9090"

// readExample decodes a file of examples/fleet into obj, strictly, with the test's
// Prometheus in place of the examples' and in the test's namespace.
func readExample(t *testing.T, name, prometheusURL string, obj client.Object) {
	t.Helper()
	path, err := harness.RepoPath("examples/fleet/" + name)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(strings.ReplaceAll(string(raw), examplePrometheus, prometheusURL)), obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	obj.SetNamespace(appNamespace)
}

// TestGatesOnRealPrometheus is issue 6's acceptance on full local control planes (a hub and
// three members with kwok nodes, the spoke agent in each, the hub leading a one-node raft
// group) and a real Prometheus (Debian's binary) scraping one small exporter per member on
// loopback. The exporters stand in for the members' applications: each serves
// http_requests_total{cluster=<name>} with the error rate the test sets. The FleetRollout
// and its FleetAnalysisTemplate are examples/fleet/checkout-gated.yaml and
// wave-error-rate.yaml: a fleet-level threshold gate (the worst error rate of the wave's
// clusters under 5%, measured twice 3s apart) and an outlier gate on wave 2 (each cluster's
// error rate against the median of the fleet, measured three times 2s apart). The hub
// measures the gates itself, from the FleetRollout's status, with no goroutine between
// reconciles.
//
//   - revision 1: error rates 1.0%, 1.2% and 1.1%; every gate passes and the revision
//     succeeds. Between the two measurements of the first gate the hub controllers are
//     stopped and new ones started, which know only the hub's objects and the journal, as a
//     new leader: they take the second measurement and keep the first;
//   - revision 2: an error rate of 20% is injected in the cluster of wave 2. The threshold gate
//     passes after wave 1 (it only sees wave 1's cluster) and fails after wave 2; RollbackAll
//     returns the clusters of waves 1 and 2 to revision 1; wave 3's cluster is never touched.
//     The test prints the time from the injection and from the gate's verdict until the whole
//     fleet is back;
//   - revision 3: the error rates are 0.4%, 2.5% and 0.6%: the cluster of wave 2 has five
//     times its peers' rate, under the 5% threshold everywhere. The outlier gate fails that
//     cluster, naming it, while the threshold gate passes it.
func TestGatesOnRealPrometheus(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	begin := time.Now()
	exporters := map[string]*prometheus.Exporter{}
	var targets []string
	firstRates := map[string]float64{regions[0]: 0.010, regions[1]: 0.012, regions[2]: 0.011}
	for _, r := range regions {
		e := prometheus.NewClusterExporter(t, r)
		e.SetErrorRate(firstRates[r])
		exporters[r] = e
		targets = append(targets, e.Target())
	}
	prom := prometheus.Start(t, targets...)
	t.Logf("prometheus %s scraping %d exporters, up in %s", prom.URL(), len(targets), time.Since(begin).Round(100*time.Millisecond))

	hub, byName, node, restartHub := startRegionFleet(t, begin)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	tmpl := &fleetv1alpha1.FleetAnalysisTemplate{}
	readExample(t, "wave-error-rate.yaml", prom.URL(), tmpl)
	if err := hub.Client.Create(ctx, tmpl); err != nil {
		t.Fatal(err)
	}
	fro := &fleetv1alpha1.FleetRollout{}
	readExample(t, "checkout-gated.yaml", prom.URL(), fro)
	if err := hub.Client.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(fro)

	if !t.Run("revision 1 passes every gate, across a hub restart", func(t *testing.T) {
		start := time.Now()
		first := restartMidGate(ctx, t, hub.Client, key, restartHub)
		got := waitFleetRollout(ctx, t, hub.Client, key, "Succeeded at revision 1", func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.CurrentRevision == 1 && f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded
		})
		t.Logf("revision 1: three waves and three gate runs in %s", time.Since(start).Round(100*time.Millisecond))
		for i, w := range got.Status.Waves {
			g := gateStatus(t, got, w.Name, "error-rate")
			if g.Verdict != fleetv1alpha1.GatePassed || !g.Fleet {
				t.Errorf("wave %s: gate %+v, want a fleet gate Passed", w.Name, g)
			}
			checkMeasured(t, g, "worst-error-rate", 2, firstRates[regions[i]])
			checkJournaledGate(t, node, key, w.Name, "error-rate", fleetv1alpha1.GatePassed, "worst-error-rate", firstRates[regions[i]])
			t.Logf("wave %d %s: %s: %s", i+1, w.Name, g.Verdict, g.Message)
		}
		if m := gateStatus(t, got, "canary", "error-rate").Analysis.MetricResults[0].Measurements; len(m) != 2 ||
			!m[0].StartedAt.Equal(first.StartedAt) || m[0].Value != first.Value {
			t.Errorf("canary gate measurements %+v: want the one taken before the restart (%+v), then one more", m, first)
		}
		outlier := gateStatus(t, got, "europe", "outlier")
		if outlier.Verdict != fleetv1alpha1.GatePassed {
			t.Errorf("outlier gate %+v: want Passed", outlier)
		}
		checkJournaledGate(t, node, key, "europe", "outlier", fleetv1alpha1.GatePassed, "eu-west", 0.012)
		t.Logf("wave 2 europe: outlier %s: %s", outlier.Verdict, outlier.Message)
	}) {
		return
	}

	if !t.Run("an error rate injected in wave 2 fails the gate and RollbackAll returns waves 1 and 2", func(t *testing.T) {
		injected := time.Now()
		exporters[regions[1]].SetErrorRate(0.2)
		waitRateWindow()
		jsonPatch(ctx, t, hub.Client, fro, `[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"}]`)
		got := waitFleetRollout(ctx, t, hub.Client, key, "RolledBack at revision 2", func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.CurrentRevision == 2 && f.Status.Phase == fleetv1alpha1.FleetRolloutRolledBack
		})
		back := time.Now()
		failedAt := checkJournaledGate(t, node, key, "europe", "error-rate", fleetv1alpha1.GateFailed, "worst-error-rate", 0.2)
		t.Logf("injection -> whole fleet back on revision 1: %s; gate verdict -> fleet back: %s; %s",
			back.Sub(injected).Round(100*time.Millisecond), back.Sub(failedAt).Round(100*time.Millisecond), got.Status.Message)
		checkJournaledGate(t, node, key, "canary", "error-rate", fleetv1alpha1.GatePassed, "worst-error-rate", 0.010)

		g := gateStatus(t, got, "europe", "error-rate")
		if g.Verdict != fleetv1alpha1.GateFailed || !strings.Contains(g.Message, "worst-error-rate") {
			t.Errorf("europe gate %+v: want Failed, naming the metric", g)
		}
		checkMeasured(t, g, "worst-error-rate", 1, 0.2)
		for _, r := range regions {
			ro := memberRollout(ctx, t, byName[r], key)
			if rev, img := ro.Annotations[federation.RevisionAnnotation], ro.Spec.Template.Spec.Containers[0].Image; rev != "1" || img != "example.com/checkout:v1" {
				t.Errorf("%s: member Rollout at revision %s image %s, want 1 and v1", r, rev, img)
			}
			if ro.Status.Phase != rolloutsv1alpha1.RolloutPhaseHealthy {
				t.Errorf("%s: member Rollout %s, want Healthy", r, ro.Status.Phase)
			}
		}
		st, _ := node.Journal().State(key.Namespace, key.Name)
		if rb := st.Rollback; rb == nil || !rb.Completed || rb.Scope != journal.RollbackAll || rb.ToRevision != 1 ||
			strings.Join(rb.Clusters, ",") != "eu-west,us-east" {
			t.Errorf("journal rollback %+v: want All to revision 1 of eu-west, us-east, completed", rb)
		}
		if ws := st.Wave("rest"); ws != nil && ws.Started {
			t.Errorf("the third wave started in revision 2: %+v", ws)
		}
	}) {
		return
	}

	t.Run("a cluster at five times its peers' error rate fails the outlier gate and passes the threshold", func(t *testing.T) {
		for r, rate := range map[string]float64{regions[0]: 0.004, regions[1]: 0.025, regions[2]: 0.006} {
			exporters[r].SetErrorRate(rate)
		}
		waitRateWindow()
		start := time.Now()
		jsonPatch(ctx, t, hub.Client, fro, `[`+
			`{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v3"},`+
			`{"op":"replace","path":"/spec/failurePolicy","value":{"action":"Pause"}}]`)
		got := waitFleetRollout(ctx, t, hub.Client, key, "Failed at revision 3", func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.CurrentRevision == 3 && f.Status.Phase == fleetv1alpha1.FleetRolloutFailed
		})
		t.Logf("revision 3 stopped at wave 2 in %s: %s", time.Since(start).Round(100*time.Millisecond), got.Status.Message)

		threshold := gateStatus(t, got, "europe", "error-rate")
		if threshold.Verdict != fleetv1alpha1.GatePassed {
			t.Errorf("threshold gate %+v: want Passed (2.5%% is under 5%%)", threshold)
		}
		checkMeasured(t, threshold, "worst-error-rate", 2, 0.025)
		outlier := gateStatus(t, got, "europe", "outlier")
		if outlier.Verdict != fleetv1alpha1.GateFailed || !strings.Contains(outlier.Message, "1 outlier: eu-west = ") {
			t.Errorf("outlier gate %+v: want Failed naming eu-west, and only it", outlier)
		}
		t.Logf("threshold: %s; outlier: %s", threshold.Message, outlier.Message)
		values := map[string]string{}
		for _, m := range outlier.Measurements {
			values[m.Name] = m.Value
		}
		if !near(values["median"], 0.006) || !near(values["mad"], 0.002) || !near(values["eu-west"], 0.025) {
			t.Errorf("outlier measurements %v: want median 0.006, mad 0.002 and eu-west 0.025", values)
		}
		if a := outlier.Analysis; a == nil || len(a.MetricResults) != 3 {
			t.Errorf("outlier gate analysis %+v: want one metric per placed cluster", a)
		} else {
			for _, r := range a.MetricResults {
				if r.Count != 3 {
					t.Errorf("outlier metric %s: %d measurements, want 3", r.Name, r.Count)
				}
			}
		}
		checkJournaledGate(t, node, key, "europe", "outlier", fleetv1alpha1.GateFailed, "eu-west", 0.025)
		checkJournaledGate(t, node, key, "europe", "error-rate", fleetv1alpha1.GatePassed, "worst-error-rate", 0.025)
		if got.Status.StableRevision != 1 {
			t.Errorf("stableRevision %d, want 1", got.Status.StableRevision)
		}
		if ro := memberRollout(ctx, t, byName[regions[2]], key); ro.Annotations[federation.RevisionAnnotation] != "1" {
			t.Errorf("%s got revision %s after wave 2 failed, want 1", regions[2], ro.Annotations[federation.RevisionAnnotation])
		}
	})
}

// restartMidGate waits until the first wave's threshold gate has taken its first measurement,
// restarts the hub controllers before the second is due, checks that the old ones did not take
// it, and returns the first measurement.
func restartMidGate(ctx context.Context, t *testing.T, hub client.Client, key client.ObjectKey, restartHub func(whileStopped func())) rolloutsv1alpha1.Measurement {
	t.Helper()
	measuredOnce := func(f *fleetv1alpha1.FleetRollout) []rolloutsv1alpha1.Measurement {
		for _, w := range f.Status.Waves {
			for _, g := range w.Gates {
				if w.Name == "canary" && g.Name == "error-rate" && g.Analysis != nil && len(g.Analysis.MetricResults) == 1 {
					return g.Analysis.MetricResults[0].Measurements
				}
			}
		}
		return nil
	}
	got := waitFleetRollout(ctx, t, hub, key, "measuring the first wave's gate", func(f *fleetv1alpha1.FleetRollout) bool {
		return len(measuredOnce(f)) == 1
	})
	first := measuredOnce(got)[0]
	// Status times have whole seconds: let the clock pass the first measurement's second, so
	// that a run started afresh could not be taken for the resumed one.
	time.Sleep(time.Until(first.StartedAt.Add(time.Second)))
	restartHub(func() {
		now := &fleetv1alpha1.FleetRollout{}
		if err := hub.Get(ctx, key, now); err != nil {
			t.Fatal(err)
		}
		if m := measuredOnce(now); len(m) != 1 {
			t.Fatalf("the stopped controllers took %d measurements: the restart came too late to show a resume", len(m))
		}
	})
	t.Logf("hub controllers restarted %s after the first measurement (%s)", time.Since(first.StartedAt.Time).Round(100*time.Millisecond), first.Value)
	return first
}

// waitRateWindow lets the queries' 5s rate window fill with scrapes taken after the error
// rates were set, so that every measurement sees the new rates exactly.
func waitRateWindow() { time.Sleep(5*time.Second + 2*prometheus.ScrapeInterval) }

// memberRollout is the member's Rollout of the FleetRollout key.
func memberRollout(ctx context.Context, t *testing.T, m *harness.Cluster, key client.ObjectKey) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	if err := m.Client.Get(ctx, key, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

// gateStatus is a gate's status after a wave; it fails the test when there is none.
func gateStatus(t *testing.T, f *fleetv1alpha1.FleetRollout, wave, gate string) fleetv1alpha1.GateStatus {
	t.Helper()
	for _, w := range f.Status.Waves {
		for _, g := range w.Gates {
			if w.Name == wave && g.Name == gate {
				return g
			}
		}
	}
	t.Fatalf("no gate %s in wave %s: %+v", gate, wave, f.Status.Waves)
	return fleetv1alpha1.GateStatus{}
}

// checkMeasured checks that the gate's analysis took n measurements of metric and that each
// measured want (Prometheus returns a one-sample vector such as [0.2]).
func checkMeasured(t *testing.T, g fleetv1alpha1.GateStatus, metric string, n int32, want float64) {
	t.Helper()
	if g.Analysis == nil || len(g.Analysis.MetricResults) != 1 || g.Analysis.MetricResults[0].Name != metric {
		t.Errorf("gate %s: analysis %+v, want the metric %s", g.Name, g.Analysis, metric)
		return
	}
	r := g.Analysis.MetricResults[0]
	if r.Count != n {
		t.Errorf("gate %s: %d measurements, want %d", g.Name, r.Count, n)
	}
	for _, m := range r.Measurements {
		if !near(m.Value, want) {
			t.Errorf("gate %s: measured %q (%s: %s), want %v", g.Name, m.Value, m.Phase, m.Message, want)
		}
	}
}

// near reads "0.2" or "[0.2]" and says whether it is want, give or take float noise.
func near(s string, want float64) bool {
	x, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(s), "[]"), 64)
	return err == nil && math.Abs(x-want) < 1e-9
}

// checkJournaledGate checks the journal's GateEvaluated entry for the gate after wave in the
// current revision: its verdict, and that the measurement name holds want (every value, for an
// analysis metric measured several times). It returns when the verdict was recorded.
func checkJournaledGate(t *testing.T, node *raft.Node, key client.ObjectKey, wave, gate string, verdict fleetv1alpha1.GateVerdict,
	name string, want float64) time.Time {
	t.Helper()
	st, _ := node.Journal().State(key.Namespace, key.Name)
	var found *journal.Entry
	for _, e := range node.Journal().History(key.Namespace, key.Name) {
		if e.Type == journal.GateEvaluated && e.Revision == st.Revision && e.Wave == wave && e.Gate.Name == gate {
			found = &e
		}
	}
	if found == nil {
		t.Errorf("journal: no GateEvaluated for gate %s after wave %s in revision %d", gate, wave, st.Revision)
		return time.Time{}
	}
	ok := false
	for _, m := range found.Gate.Measurements {
		if m.Name != name {
			continue
		}
		ok = m.Value != ""
		for _, v := range strings.Split(m.Value, ", ") {
			ok = ok && near(v, want)
		}
	}
	if found.Gate.Verdict != verdict || !ok {
		t.Errorf("journal: gate %s after wave %s: %s %+v, want %s with %s = %v", gate, wave, found.Gate.Verdict,
			found.Gate.Measurements, verdict, name, want)
	}
	return found.At
}
