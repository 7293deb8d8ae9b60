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
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestNamespaceClustersRunWaves drives one FleetRollout over five namespace-clusters of one
// full control plane (kwok nodes: pods really become Ready), in three waves, with the hub's
// namespace provider and one spoke agent serving all five as multicluster controllers. For
// the first release and for an image change (a canary with an experiment and an analysis in
// each member) it proves that:
//   - the FleetRollout succeeds at the revision, its waves started in order (the journal);
//   - each member namespace holds the placed Rollout, Healthy at the revision, with the
//     leader's term stamped and recorded in its own status (fencing per namespace-cluster),
//     and a ReplicaSet of its own whose pod is Ready with the revision's image;
//   - the update's Experiment and AnalysisRun (a web metric against a local HTTP server
//     standing in for the user's endpoint, from one cluster-scoped ClusterAnalysisTemplate)
//     ran and succeeded in every member namespace, owned by its Rollout: all three of the
//     agent's multicluster controllers served every namespace-cluster;
//   - nothing is placed in the target namespace itself (the namespace-clusters moved it);
//   - every MemberCluster is Ready, and one that names an unlabelled namespace (kube-system)
//     says NamespaceNotFound and is never placed.
func TestNamespaceClustersRunWaves(t *testing.T) {
	const n, waves = 5, 3
	s := startSimulation(t, n, waves, 1)
	c := s.cluster.Client
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// kube-system is no member: not labelled.
	stray := &fleetv1alpha1.MemberCluster{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{"env": "elsewhere"}}}
	if err := c.Create(ctx, stray); err != nil {
		t.Fatal(err)
	}

	// The canary runs an Experiment and an AnalysisRun in every member, so that the agent's
	// three controllers all serve every namespace-cluster. The analysis's web metric asks a
	// local HTTP server (standing in for the user's metrics endpoint) for {"ok": true}; its
	// ClusterAnalysisTemplate is cluster-scoped, so one serves every namespace-cluster.
	var measured atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		measured.Add(1)
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer srv.Close()
	tmpl := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	if err := yaml.UnmarshalStrict([]byte(`
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: ClusterAnalysisTemplate
metadata: {name: health}
spec:
  metrics:
  - name: ok
    provider:
      web:
        url: `+srv.URL+`
        jsonPath: "{$.ok}"
    successCondition: result == true
`), tmpl); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, tmpl); err != nil {
		t.Fatal(err)
	}
	fro := fleetRollout(t, waves, `          - experiment:
              duration: 2s
              templates:
              - name: canary
                specRef: canary
                replicas: 1
          - analysis:
              templates:
              - templateName: health
                clusterScope: true`)
	if err := c.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(fro)
	for rev := int64(1); rev <= 2; rev++ {
		if rev == 2 {
			patch := []byte(`[{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"example.com/checkout:v2"}]`)
			if err := c.Patch(ctx, fro, client.RawPatch("application/json-patch+json", patch)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		waitFleetRollout(ctx, t, c, key, "Succeeded at revision "+strconv.FormatInt(rev, 10), func(f *fleetv1alpha1.FleetRollout) bool {
			return f.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded && f.Status.ObservedGeneration == f.Generation &&
				f.Status.CurrentRevision == rev
		})
		t.Logf("revision %d: %d namespace-clusters, %d waves in %s", rev, n, waves, time.Since(start).Round(100*time.Millisecond))
		checkMembers(ctx, t, s, rev)
		if rev == 2 {
			checkExperimentsAndAnalyses(ctx, t, s)
			if got := measured.Load(); got < n {
				t.Errorf("the analysis endpoint was asked %d times, want at least one per member (%d)", got, n)
			}
		}
		st, _ := s.node.Journal().State(fro.Namespace, fro.Name)
		if got := strings.Join(st.StartedWaves(), ","); got != "wave-0,wave-1,wave-2" {
			t.Errorf("revision %d: journal started waves %s, want wave-0,wave-1,wave-2", rev, got)
		}
	}

	// Nothing placed in the target namespace itself: each namespace-cluster moved it home.
	list := &rolloutsv1alpha1.RolloutList{}
	if err := s.cluster.Client.List(ctx, list, client.InNamespace(appNamespace)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Rollouts in the target namespace %s itself; want none", len(list.Items), appNamespace)
	}

	for _, m := range s.members {
		mc := &fleetv1alpha1.MemberCluster{}
		if err := c.Get(ctx, client.ObjectKey{Name: m}, mc); err != nil {
			t.Fatal(err)
		}
		if !meta.IsStatusConditionTrue(mc.Status.Conditions, fleetv1alpha1.ConditionReady) {
			t.Errorf("MemberCluster %s not Ready: %v", m, mc.Status.Conditions)
		}
	}
	waitMemberCluster(ctx, t, c, "kube-system", func(mc *fleetv1alpha1.MemberCluster) bool {
		cond := meta.FindStatusCondition(mc.Status.Conditions, fleetv1alpha1.ConditionReachable)
		return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == fleetv1alpha1.ReasonNamespaceNotFound &&
			strings.Contains(cond.Message, "metadata.name")
	})
	ro := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "checkout"}, ro); err == nil {
		t.Error("a Rollout was placed in kube-system")
	}
}

// checkMembers checks every member namespace at revision rev.
func checkMembers(ctx context.Context, t testing.TB, s *sim, rev int64) {
	t.Helper()
	term, ok := leaderTerm(s)
	if !ok {
		t.Fatal("the raft node does not lead")
	}
	revs := strconv.FormatInt(rev, 10)
	image := "example.com/checkout:v" + revs
	for _, m := range s.members {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := s.cluster.Client.Get(ctx, client.ObjectKey{Namespace: m, Name: "checkout"}, ro); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if ro.Status.Phase != rolloutsv1alpha1.RolloutPhaseHealthy || ro.Spec.Template.Spec.Containers[0].Image != image {
			t.Errorf("%s: Rollout %s with image %s, want Healthy with %s: %s", m, ro.Status.Phase,
				ro.Spec.Template.Spec.Containers[0].Image, image, ro.Status.Message)
		}
		if ro.Annotations[federation.RevisionAnnotation] != revs || ro.Annotations[federation.TermAnnotation] != strconv.FormatUint(term, 10) {
			t.Errorf("%s: Rollout annotations %v, want revision %d and term %d", m, ro.Annotations, rev, term)
		}
		if ro.Status.Term != int64(term) {
			t.Errorf("%s: Rollout status.term %d, want %d (recorded in this namespace-cluster)", m, ro.Status.Term, term)
		}
		rsList := &appsv1.ReplicaSetList{}
		if err := s.cluster.Client.List(ctx, rsList, client.InNamespace(m)); err != nil {
			t.Fatal(err)
		}
		ready := false
		for _, rs := range rsList.Items {
			// The Experiment's ReplicaSet carries the same template hash; it is not the Rollout's.
			if metav1.IsControlledBy(&rs, ro) && rs.Labels[engine.LabelPodTemplateHash] == ro.Status.StableRS &&
				rs.Spec.Template.Spec.Containers[0].Image == image {
				ready = rs.Status.ReadyReplicas == 1
			}
		}
		if !ready {
			t.Errorf("%s: no ReplicaSet owned by the Rollout with one Ready pod of %s (stable %s)", m, image, ro.Status.StableRS)
		}
	}
}

// checkExperimentsAndAnalyses checks that the update ran its Experiment and its AnalysisRun in
// every member namespace, each owned by the member's Rollout, and both succeeded.
func checkExperimentsAndAnalyses(ctx context.Context, t *testing.T, s *sim) {
	t.Helper()
	for _, m := range s.members {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := s.cluster.Client.Get(ctx, client.ObjectKey{Namespace: m, Name: "checkout"}, ro); err != nil {
			t.Fatal(err)
		}
		exps := &rolloutsv1alpha1.ExperimentList{}
		runs := &rolloutsv1alpha1.AnalysisRunList{}
		if err := s.cluster.Client.List(ctx, exps, client.InNamespace(m)); err != nil {
			t.Fatal(err)
		}
		if err := s.cluster.Client.List(ctx, runs, client.InNamespace(m)); err != nil {
			t.Fatal(err)
		}
		var expOK, runOK bool
		for i := range exps.Items {
			expOK = expOK || metav1.IsControlledBy(&exps.Items[i], ro) && exps.Items[i].Status.Phase == rolloutsv1alpha1.AnalysisPhaseSuccessful
		}
		for i := range runs.Items {
			runOK = runOK || metav1.IsControlledBy(&runs.Items[i], ro) && runs.Items[i].Status.Phase == rolloutsv1alpha1.AnalysisPhaseSuccessful
		}
		if !expOK || !runOK {
			t.Errorf("%s: a Successful Experiment owned by the Rollout: %t (of %d); a Successful AnalysisRun: %t (of %d)",
				m, expOK, len(exps.Items), runOK, len(runs.Items))
		}
	}
}

func leaderTerm(s *sim) (uint64, bool) {
	_, term, ok := s.node.Leading()
	return term, ok
}

// waitMemberCluster waits until a MemberCluster satisfies cond.
func waitMemberCluster(ctx context.Context, t *testing.T, c client.Client, name string, cond func(*fleetv1alpha1.MemberCluster) bool) {
	t.Helper()
	err := harness.WaitFor(ctx, "MemberCluster "+name, time.Minute, func(ctx context.Context) (bool, string, error) {
		mc := &fleetv1alpha1.MemberCluster{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, mc); err != nil {
			return false, err.Error(), nil //nolint:nilerr // a read that fails is looked at again
		}
		return cond(mc), fmt.Sprint(mc.Status.Conditions), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
