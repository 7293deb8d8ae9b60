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

package fleetrollout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// rollbackState is where a rollback stands in this run.
type rollbackState struct {
	scope     journal.RollbackScope
	to        int64
	clusters  []string
	completed bool
}

// rollback carries out the failure policies RollbackWave and RollbackAll after wave failed:
// it journals RollbackStarted (the clusters and the stable revision they return to), places the
// stable revision's Rollout and companions again on each of them, the Rollout carrying the
// fast-track directive (the spoke skips the steps, pauses and analyses), and journals RollbackCompleted once every one of them is
// Healthy at the stable revision. Without a stable revision there is nothing to return to and
// the FleetRollout stays stopped, as under Pause.
func (u *run) rollback(ctx context.Context, wave string) error {
	scope := journal.RollbackAll
	switch u.failureAction() {
	case fleetv1alpha1.FailurePause:
		return nil
	case fleetv1alpha1.FailureRollbackWave:
		scope = journal.RollbackWave
	}
	return u.returnClusters(ctx, scope, wave)
}

// returnClusters returns the clusters of the scope (every cluster that took the revision, or
// those of wave) to the stable revision, journaling RollbackStarted and RollbackCompleted; an
// abort uses it with RollbackAll.
func (u *run) returnClusters(ctx context.Context, scope journal.RollbackScope, wave string) error {
	to := u.fro.Status.StableRevision
	if js := u.state.Rollback; js != nil {
		to = js.ToRevision
	}
	if to < 1 || to >= u.rev.Number {
		u.outcome.decision.Message += "; no earlier stable revision to roll back to"
		return nil
	}
	if u.state.Rollback == nil {
		var clusters []string
		for i := range u.state.Waves {
			if ws := &u.state.Waves[i]; scope == journal.RollbackAll || ws.Name == wave {
				clusters = append(clusters, ws.MemberNames()...)
			}
		}
		slices.Sort(clusters)
		d := u.decision(journal.RollbackStarted, "", "")
		if scope == journal.RollbackWave {
			d.Wave = wave
		}
		d.Clusters = clusters
		d.Rollback = &journal.Rollback{Scope: scope, ToRevision: to}
		d.Reason = u.outcome.decision.Message
		if err := u.propose(ctx, d); err != nil {
			return err
		}
	}
	js := u.state.Rollback
	u.rolledBack = &rollbackState{scope: js.Scope, to: js.ToRevision, clusters: js.Clusters, completed: js.Completed}
	stable, err := u.stableRender(ctx, js.ToRevision)
	if err != nil {
		return err
	}
	done := 0
	for _, c := range js.Clusters {
		if u.plan.Cluster(c) == nil {
			done++ // it left the placement: its objects stay as they are
			continue
		}
		v, err := u.placeStable(ctx, c, js.ToRevision, stable, nil)
		if err != nil {
			return err
		}
		if v.Phase == fleetv1alpha1.ClusterRolledBack {
			done++
		}
		u.views[c] = v
	}
	if done == len(js.Clusters) && !js.Completed {
		d := u.decision(journal.RollbackCompleted, js.Wave, "")
		d.Clusters = js.Clusters
		d.Rollback = &journal.Rollback{Scope: js.Scope, ToRevision: js.ToRevision}
		if err := u.propose(ctx, d); err != nil {
			return err
		}
		u.rolledBack.completed = true
	}
	return nil // the member Rollouts' events bring the next reconcile
}

// stableSpec is the spec of an earlier revision, from its ControllerRevision, with the current
// placement and waves; render renders it for one cluster.
type stableSpec struct {
	fro  *fleetv1alpha1.FleetRollout
	plan *plan.Plan
}

func (u *run) stableRender(ctx context.Context, rev int64) (*stableSpec, error) {
	cr := &appsv1.ControllerRevision{}
	key := client.ObjectKey{Namespace: u.fro.Namespace, Name: u.fro.Name + "-" + strconv.FormatInt(rev, 10)}
	if err := u.r.APIReader.Get(ctx, key, cr); err != nil {
		return nil, fmt.Errorf("reading revision %d to roll back to: %w", rev, err)
	}
	var data revisionData
	if err := json.Unmarshal(cr.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev, err)
	}
	fro := u.fro.DeepCopy()
	fro.Spec.Template, fro.Spec.Companions = data.Template, data.Companions
	fro.Spec.TargetNamespace, fro.Spec.Overrides = data.TargetNamespace, data.Overrides
	p, _ := plan.Compute(plan.Input{Spec: &fro.Spec, Clusters: plan.ClustersFrom(u.memberList())})
	return &stableSpec{fro: fro, plan: p}, nil
}

// placeStable places the stable revision on one cluster if it is not there yet, its Rollout
// stamped with the fast-track directive for that revision, and says where the cluster stands
// (RollingBack, RolledBack once Healthy on it). beforeWrite, if set, is
// called before the write (to journal it); its error is returned.
func (u *run) placeStable(ctx context.Context, cluster string, to int64, stable *stableSpec,
	beforeWrite func() error) (clusterView, error) {
	obs := u.read(ctx, cluster, stable.fro)
	v := viewOf(obs, to)
	switch {
	case !obs.Reachable:
		return v, nil
	case obs.Rollout == nil || memberRevision(obs.Rollout) != to:
		if beforeWrite != nil {
			if err := beforeWrite(); err != nil {
				return v, err
			}
		}
		tmpl, err := stable.plan.Render(&stable.fro.Spec, cluster)
		if err == nil {
			// Fast-tracked: the stable revision already ran its steps in this fleet; a cluster
			// returning to it must not wait at them (an indefinite pause would hold it forever).
			err = place(ctx, obs.Client, stable.fro, tmpl, to, u.term, true)
		}
		v = clusterView{Phase: fleetv1alpha1.ClusterRollingBack, Term: int64(u.term),
			Message: fmt.Sprintf("returning to revision %d", to)}
		if err != nil {
			logf.FromContext(ctx).Info("rolling back failed; will retry", "cluster", cluster, "error", err.Error())
			v.Message = fmt.Sprintf("returning to revision %d failed (will retry): %v", to, err)
			u.failedWrite(cluster, err)
		}
		return v, nil
	case v.Sched == plan.Healthy:
		v.Phase, v.Message = fleetv1alpha1.ClusterRolledBack, fmt.Sprintf("back on revision %d", to)
	default:
		v.Phase = fleetv1alpha1.ClusterRollingBack
	}
	return v, nil
}
