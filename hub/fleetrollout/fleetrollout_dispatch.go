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
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
	"github.com/flotilla-io/flotilla/hub/raft"
)

// dispatchParallelism bounds the proposals and the member writes of one dispatch that are in
// flight at once: raft writes concurrent proposals in batches (one fsync each), and members
// answer their writes independently, so a wave of many clusters takes a few round trips
// rather than one per cluster.
const dispatchParallelism = 16

// dispatch journals ClusterDispatched for each cluster, then, once every proposal is
// committed, applies the revision to the members; it returns when every write answered. A
// failed proposal stops the dispatch before any write (the clusters journaled meanwhile are
// placed by observe, like any journaled cluster whose write did not land).
func (u *run) dispatch(ctx context.Context, wave string, clusters []string) error {
	ds := make([]journal.Decision, len(clusters))
	for i, c := range clusters {
		ds[i] = u.decision(journal.ClusterDispatched, wave, c)
		ds[i].ID = decisionID(ds[i], u.state.Attempt)
	}
	recs, errs := make([]raft.Receipt, len(ds)), make([]error, len(ds))
	inParallel(len(ds), func(i int) { recs[i], errs[i] = u.r.Raft.Propose(ctx, ds[i]) })
	for i, d := range ds {
		if errs[i] == nil && !recs[i].Duplicate {
			logf.FromContext(ctx).Info("journaled", "decision", d.Type, "wave", d.Wave, "cluster", d.Cluster, "index", recs[i].Index)
			u.r.recordDecision(u.fro, d)
		}
	}
	u.loadState()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for c, v := range u.applyAll(ctx, clusters) {
		u.views[c] = v
	}
	return nil
}

// apply places the cluster's objects; the view says how that went.
func (u *run) apply(ctx context.Context, cluster string) clusterView {
	return u.applyAll(ctx, []string{cluster})[cluster]
}

// applyAll places the objects of the clusters, dispatchParallelism writes at a time; the views
// say how that went.
func (u *run) applyAll(ctx context.Context, clusters []string) map[string]clusterView {
	views := make(map[string]clusterView, len(clusters))
	type write struct {
		cluster string
		client  client.Client
		tmpl    *fleetv1alpha1.RolloutTemplate
		err     error
	}
	var writes []*write
	for _, cluster := range clusters {
		mc := u.members[cluster]
		if mc == nil {
			views[cluster] = clusterView{Sched: plan.Unknown, Phase: fleetv1alpha1.ClusterUnknown, Message: "no MemberCluster"}
			continue
		}
		m, err := u.r.Members.Get(ctx, mc)
		if err != nil {
			views[cluster] = clusterView{Sched: plan.Unknown, Phase: fleetv1alpha1.ClusterUnknown, Message: err.Error()}
			continue
		}
		w := &write{cluster: cluster, client: m.Client}
		if w.tmpl, w.err = u.render(cluster); w.err == nil {
			if paused := u.memberPaused(w.tmpl, cluster); paused != w.tmpl.Spec.Paused {
				w.tmpl = w.tmpl.DeepCopy()
				w.tmpl.Spec.Paused = paused
			}
		}
		writes = append(writes, w)
	}
	inParallel(len(writes), func(i int) {
		if w := writes[i]; w.err == nil {
			w.err = applyCluster(ctx, w.client, u.fro, w.tmpl, u.rev.Number, u.term)
		}
	})
	for _, w := range writes {
		v := clusterView{Sched: plan.Dispatched, Phase: fleetv1alpha1.ClusterProgressing,
			Message: fmt.Sprintf("revision %d dispatched in term %d", u.rev.Number, u.term), Term: int64(u.term)}
		if w.err != nil {
			logf.FromContext(ctx).Info("placing the revision failed; will retry", "cluster", w.cluster, "error", w.err.Error())
			v.Message = "placing the revision failed (will retry): " + w.err.Error()
			u.failedWrite(w.cluster, w.err)
		}
		views[w.cluster] = v
	}
	return views
}

// inParallel calls fn(0) ... fn(n-1), dispatchParallelism at a time, and returns when all
// returned.
func inParallel(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	sem := make(chan struct{}, dispatchParallelism)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}
