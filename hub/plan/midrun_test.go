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

package plan

import (
	"reflect"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// run builds a journal run of revision 2 from waves: name -> started clusters, their progress
// ("c=Promoted"), and an outcome.
type runWave struct {
	name     string
	clusters []string
	members  map[string]journal.ClusterProgress
	outcome  fleetv1alpha1.WavePhase
	gates    map[string]fleetv1alpha1.GateVerdict
}

func journalRun(waves ...runWave) *journal.RolloutState {
	st := &journal.RolloutState{Namespace: "shop", Name: "checkout", Revision: 2}
	for _, w := range waves {
		ws := journal.WaveState{Name: w.name, Started: true, Clusters: w.clusters, Outcome: w.outcome,
			Members: map[string]journal.ClusterState{}, Gates: map[string]journal.Gate{}}
		for c, p := range w.members {
			ws.Members[c] = journal.ClusterState{Progress: p}
		}
		for g, v := range w.gates {
			ws.Gates[g] = journal.Gate{Name: g, Verdict: v}
		}
		st.Waves = append(st.Waves, ws)
	}
	return st
}

func TestMembership(t *testing.T) {
	promoted, failed := journal.ProgressPromoted, journal.ProgressFailed
	s := spec(prod, wave("canary", nil, "us-east-1"), wave("america", sel("continent=america")), wave("rest", nil))
	cases := []struct {
		name     string
		clusters []Cluster
		run      *journal.RolloutState
		departed []WaveCluster
		catchUp  []WaveCluster
	}{
		{
			name: "nothing changed",
			run: journalRun(runWave{name: "canary", clusters: []string{"us-east-1"},
				members: map[string]journal.ClusterProgress{"us-east-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded}),
		},
		{
			name: "clusters that join after every wave that selects them started catch up with the stable revision " +
				"(one that a later wave still to start selects goes with that wave: TestCompute)",
			clusters: append(fleet(), mc("mx-1", "env=prod", "continent=america"), mc("jp-1", "env=prod", "continent=asia")),
			run: journalRun(
				runWave{name: "canary", clusters: []string{"us-east-1"},
					members: map[string]journal.ClusterProgress{"us-east-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded},
				runWave{name: "america", clusters: []string{"br-south-1", "us-west-1"},
					members: map[string]journal.ClusterProgress{"br-south-1": promoted, "us-west-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded},
				runWave{name: "rest", clusters: []string{"ap-south-1", "eu-central-1", "eu-west-1"},
					members: map[string]journal.ClusterProgress{"ap-south-1": journal.ProgressDispatched}}),
			catchUp: []WaveCluster{{"america", "mx-1"}, {"rest", "jp-1"}},
		},
		{
			name: "a cluster of a finished wave that was in maintenance when it ran catches up once out of it; " +
				"one still in maintenance is left alone",
			clusters: []Cluster{mc("us-east-1", "env=prod", "continent=america"), mc("us-west-1", "env=prod", "continent=america"),
				mc("br-south-1", "env=prod", "continent=america"), inMaintenance(mc("mx-1", "env=prod", "continent=america")),
				mc("eu-west-1", "env=prod", "continent=europe")},
			run: journalRun(
				runWave{name: "canary", clusters: []string{"us-east-1"},
					members: map[string]journal.ClusterProgress{"us-east-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded},
				runWave{name: "america", clusters: []string{"br-south-1", "mx-1", "us-west-1"},
					members: map[string]journal.ClusterProgress{"us-west-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded}),
			catchUp: []WaveCluster{{"america", "br-south-1"}},
		},
		{
			name: "a wave still running gives a cluster back from maintenance the revision going out, not the stable one",
			run: journalRun(
				runWave{name: "canary", clusters: []string{"us-east-1"},
					members: map[string]journal.ClusterProgress{"us-east-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded},
				runWave{name: "america", clusters: []string{"br-south-1", "us-west-1"},
					members: map[string]journal.ClusterProgress{"us-west-1": journal.ProgressDispatched}}),
		},
		{
			name: "a dispatched cluster that leaves the placement departs; one never dispatched just drops out",
			clusters: []Cluster{mc("us-east-1", "env=prod", "continent=america"), mc("us-west-1", "env=staging", "continent=america"),
				mc("eu-west-1", "env=prod", "continent=europe")},
			run: journalRun(
				runWave{name: "canary", clusters: []string{"us-east-1"},
					members: map[string]journal.ClusterProgress{"us-east-1": promoted}, outcome: fleetv1alpha1.WaveSucceeded},
				runWave{name: "america", clusters: []string{"br-south-1", "us-west-1"},
					members: map[string]journal.ClusterProgress{"us-west-1": failed}, outcome: fleetv1alpha1.WaveFailed}),
			departed: []WaveCluster{{"america", "us-west-1"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clusters := tc.clusters
			if clusters == nil {
				clusters = fleet()
			}
			p, ps := Compute(Input{Spec: s, Clusters: clusters, Started: StartedFrom(tc.run, 2)})
			if ps.HasErrors() {
				t.Fatalf("plan: %s", ps.Message())
			}
			got := Membership(p, tc.run)
			if !reflect.DeepEqual(got.Departed, tc.departed) || !reflect.DeepEqual(got.CatchUp, tc.catchUp) {
				t.Errorf("departed %v, catch up %v; want %v and %v\nplan: %s", got.Departed, got.CatchUp, tc.departed, tc.catchUp, p)
			}
		})
	}
}

func TestRetryOf(t *testing.T) {
	promoted, failed := journal.ProgressPromoted, journal.ProgressFailed
	canary := runWave{name: "canary", clusters: []string{"a", "b"},
		members: map[string]journal.ClusterProgress{"a": promoted, "b": promoted}, outcome: fleetv1alpha1.WaveSucceeded,
		gates: map[string]fleetv1alpha1.GateVerdict{"healthy": fleetv1alpha1.GatePassed}}
	cases := []struct {
		name   string
		run    *journal.RolloutState
		want   Retry
		reason string
	}{
		{
			name: "a wave failed on its clusters",
			run: journalRun(canary, runWave{name: "prod", clusters: []string{"c", "d", "e"},
				members: map[string]journal.ClusterProgress{"c": failed, "d": promoted, "e": failed}, outcome: fleetv1alpha1.WaveFailed}),
			want: Retry{Wave: "prod", Clusters: []string{"c", "e"}},
		},
		{
			name: "a wave failed on a gate",
			run: journalRun(canary, runWave{name: "prod", clusters: []string{"c"},
				members: map[string]journal.ClusterProgress{"c": promoted}, outcome: fleetv1alpha1.WaveFailed,
				gates: map[string]fleetv1alpha1.GateVerdict{"latency": fleetv1alpha1.GateFailed, "healthy": fleetv1alpha1.GatePassed}}),
			want: Retry{Wave: "prod", Gates: []string{"latency"}},
		},
		{
			name: "a gate was inconclusive: the wave waits, and the retry evaluates it again",
			run: journalRun(canary, runWave{name: "prod", clusters: []string{"c"},
				members: map[string]journal.ClusterProgress{"c": promoted},
				gates:   map[string]fleetv1alpha1.GateVerdict{"latency": fleetv1alpha1.GateInconclusive}}),
			want: Retry{Wave: "prod", Gates: []string{"latency"}},
		},
		{
			name:   "nothing failed",
			run:    journalRun(canary),
			reason: "nothing to retry",
		},
		{
			name: "an aborted revision stays aborted",
			run: func() *journal.RolloutState {
				st := journalRun(runWave{name: "prod", clusters: []string{"c"},
					members: map[string]journal.ClusterProgress{"c": failed}, outcome: fleetv1alpha1.WaveFailed})
				st.Aborted = true
				return st
			}(),
			reason: "does not undo an abort",
		},
		{
			name: "a rolled-back revision is not retried",
			run: func() *journal.RolloutState {
				st := journalRun(runWave{name: "prod", clusters: []string{"c"},
					members: map[string]journal.ClusterProgress{"c": failed}, outcome: fleetv1alpha1.WaveFailed})
				st.Rollback = &journal.RollbackState{Scope: journal.RollbackWave, Wave: "prod", ToRevision: 1}
				return st
			}(),
			reason: "rolled back",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := RetryOf(tc.run)
			if got.Wave != tc.want.Wave || !reflect.DeepEqual(got.Clusters, tc.want.Clusters) || !reflect.DeepEqual(got.Gates, tc.want.Gates) {
				t.Errorf("retry %+v, want wave %q clusters %v gates %v", got, tc.want.Wave, tc.want.Clusters, tc.want.Gates)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", got.Reason, tc.reason)
			}
		})
	}
}
