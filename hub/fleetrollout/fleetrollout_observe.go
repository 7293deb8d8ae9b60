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
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// run is one reconcile of one FleetRollout: what it read, decided and will write.
type run struct {
	r    *Reconciler
	fro  *fleetv1alpha1.FleetRollout
	next *fleetv1alpha1.FleetRollout // the FleetRollout with the status to write
	term uint64
	now  time.Time

	rev      revision
	plan     *plan.Plan
	state    journal.RolloutState
	members  map[string]*fleetv1alpha1.MemberCluster
	views    map[string]clusterView // dispatched clusters only
	rendered map[string]*fleetv1alpha1.RolloutTemplate

	// writeFailed is the first member write that failed: the reconcile is retried (with
	// backoff) after its status write.
	writeFailed error
	// requeue is the earliest bake end or deadline, zero if none.
	requeue time.Duration
	// outcome summarises the run for the conditions.
	outcome outcome
	// rolledBack is the rollback under way or done, nil if none.
	rolledBack *rollbackState
	// caughtUp are the clusters that joined after their wave ran, on their way to the stable
	// revision (fleetrollout_midrun.go).
	caughtUp map[string]caughtUp
	// retriedGates are the gates ("wave/gate") a retry evaluates afresh in this reconcile.
	retriedGates map[string]bool
	// measured is set when a gate took measurements: their state goes to status, which must
	// then be written over the status they were planned from, never over a newer one.
	measured bool
}

// outcome is where the run stands, for the conditions and the phase.
type outcome struct {
	invalid string // the problems' message when the spec cannot be carried out
	// invalidReason is the Invalid condition's reason; empty means InvalidSpec.
	invalidReason string
	succeeded     bool
	failed        bool
	started       bool
	aborted       bool              // spec.abortRevision names the revision, or the journal recorded its abort
	decision      plan.WaveDecision // of the current (or failed) wave
	wave          string
}

func newRun(r *Reconciler, fro *fleetv1alpha1.FleetRollout, term uint64) *run {
	return &run{r: r, fro: fro, next: fro.DeepCopy(), term: term, now: r.now(),
		views: map[string]clusterView{}, rendered: map[string]*fleetv1alpha1.RolloutTemplate{}}
}

// reconcile runs the steps in order and fills run.next.Status; it returns the requeue delay.
func (u *run) reconcile(ctx context.Context) (time.Duration, error) {
	var err error
	if u.rev, err = u.r.resolveRevision(ctx, u.fro); err != nil {
		return 0, err
	}
	if err := u.loadMembers(ctx); err != nil {
		return 0, err
	}
	u.loadState()
	var problems plan.Problems
	u.plan, problems = plan.Compute(plan.Input{Spec: &u.fro.Spec, Clusters: plan.ClustersFrom(u.memberList()),
		Started: plan.StartedFrom(&u.state, u.rev.Number)})
	if problems.HasErrors() {
		u.outcome.invalid = problems.Message()
		u.writeStatus()
		return 0, nil
	}
	if err := u.journalPause(ctx); err != nil {
		return 0, err
	}
	if err := u.progress(ctx); err != nil {
		var invalid *invalidSpecError
		if !errors.As(err, &invalid) {
			return 0, err
		}
		u.outcome.invalid, u.outcome.invalidReason = invalid.Error(), invalid.reason
	}
	u.writeStatus()
	return u.requeue, nil
}

// progress reads the members back and moves the waves on or, when the revision is aborted,
// returns its clusters to the stable revision (and reads back only those).
func (u *run) progress(ctx context.Context) error {
	if err := u.retry(ctx); err != nil {
		return err
	}
	if u.aborted() {
		return u.abort(ctx)
	}
	changes := plan.Membership(u.plan, &u.state)
	if err := u.departures(ctx, changes.Departed); err != nil {
		return err
	}
	if err := u.observe(ctx); err != nil {
		return err
	}
	if err := u.runWaves(ctx); err != nil {
		return err
	}
	return u.catchUp(ctx, changes.CatchUp)
}

func (u *run) loadMembers(ctx context.Context) error {
	list := &fleetv1alpha1.MemberClusterList{}
	if err := u.r.Client.List(ctx, list); err != nil {
		return err
	}
	u.members = make(map[string]*fleetv1alpha1.MemberCluster, len(list.Items))
	for i := range list.Items {
		u.members[list.Items[i].Name] = &list.Items[i]
	}
	return nil
}

func (u *run) memberList() []fleetv1alpha1.MemberCluster {
	out := make([]fleetv1alpha1.MemberCluster, 0, len(u.members))
	for _, m := range u.members {
		out = append(out, *m)
	}
	return out
}

// decision is a journal decision about this FleetRollout's current revision.
func (u *run) decision(t journal.Type, wave, cluster string) journal.Decision {
	return journal.Decision{Type: t, Namespace: u.fro.Namespace, Name: u.fro.Name, Revision: u.rev.Number,
		Wave: wave, Cluster: cluster}
}

// propose journals d under its natural ID in the run's attempt (unless it has an ID) and folds
// it into the run's journal state.
func (u *run) propose(ctx context.Context, d journal.Decision) error {
	if d.ID == "" {
		d.ID = decisionID(d, u.state.Attempt)
	}
	rec, err := u.r.Raft.Propose(ctx, d)
	if err != nil {
		return err
	}
	if !rec.Duplicate {
		logf.FromContext(ctx).Info("journaled", "decision", d.Type, "wave", d.Wave, "cluster", d.Cluster, "index", rec.Index)
		u.r.recordDecision(u.fro, d)
	}
	u.loadState()
	return nil
}

// loadState reads the journal's run of the current revision; a run of an older revision (the
// spec changed since) is history and the current one starts empty.
func (u *run) loadState() {
	st, ok := u.r.Raft.Journal().State(u.fro.Namespace, u.fro.Name)
	if !ok || st.Revision != u.rev.Number {
		st = journal.RolloutState{Namespace: u.fro.Namespace, Name: u.fro.Name, Revision: u.rev.Number}
	}
	u.state = st
}

// journaledAt is when the decision with d's natural ID was journaled, in the latest attempt of
// the run that took it.
func (u *run) journaledAt(d journal.Decision) (time.Time, bool) {
	for a := u.state.Attempt; a >= 0; a-- {
		if e, ok := u.r.Raft.Journal().Lookup(decisionID(d, a)); ok {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// render is the Rollout template of one placed cluster.
func (u *run) render(cluster string) (*fleetv1alpha1.RolloutTemplate, error) {
	if t, ok := u.rendered[cluster]; ok {
		return t, nil
	}
	t, err := u.plan.Render(&u.fro.Spec, cluster)
	if err != nil {
		return nil, err
	}
	u.rendered[cluster] = t
	return t, nil
}

// failedWrite records the first member write that failed.
func (u *run) failedWrite(cluster string, err error) {
	if u.writeFailed == nil {
		u.writeFailed = fmt.Errorf("writing to member %s: %w", cluster, err)
	}
}

// observe reads back the Rollout of every cluster the run dispatched, re-places the revision
// where it is missing, and journals promotions and failures.
func (u *run) observe(ctx context.Context) error {
	returning := map[string]bool{}
	if rb := u.state.Rollback; rb != nil {
		for _, c := range rb.Clusters {
			returning[c] = true // the rollback reads and writes these
		}
	}
	for i := range u.state.Waves {
		ws := &u.state.Waves[i]
		for _, c := range ws.MemberNames() {
			if returning[c] {
				continue
			}
			if err := u.observeCluster(ctx, ws.Name, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (u *run) observeCluster(ctx context.Context, wave, cluster string) error {
	obs := u.read(ctx, cluster, u.fro)
	v := viewOf(obs, u.rev.Number)
	switch {
	case obs.Reachable && (obs.Rollout == nil || memberRevision(obs.Rollout) != u.rev.Number):
		v = u.apply(ctx, cluster) // journaled as dispatched, but the write did not land
	case obs.Rollout != nil && u.pauseChanged(obs.Rollout, cluster):
		v = u.apply(ctx, cluster) // the FleetRollout was paused or resumed: so is the member Rollout
	case obs.Rollout != nil:
		if t, ok, _ := federation.TermOf(obs.Rollout); ok {
			v.Term = t
		}
	}
	progress, _ := u.state.Cluster(cluster)
	switch {
	case progress.Progress == journal.ProgressFailed:
		v.Sched = plan.Failed
		if v.Phase != fleetv1alpha1.ClusterDegraded {
			v.Phase = fleetv1alpha1.ClusterFailed
		}
	case v.Sched == plan.Healthy && progress.Progress != journal.ProgressPromoted:
		if err := u.propose(ctx, u.decision(journal.ClusterPromoted, wave, cluster)); err != nil {
			return err
		}
	case v.Sched == plan.Failed && progress.Progress != journal.ProgressFailed:
		d := u.decision(journal.ClusterFailed, wave, cluster)
		d.Reason = "the member Rollout is Degraded: " + v.Message
		if err := u.propose(ctx, d); err != nil {
			return err
		}
	}
	u.views[cluster] = v
	return nil
}

// read is observeMember for one cluster of the run: a read that relies on a write of the hub
// the member's cache does not show yet (or waits for one) requeues the run when that
// expectation ends, so that a lost watch event never wedges it.
func (u *run) read(ctx context.Context, cluster string, fro *fleetv1alpha1.FleetRollout) observation {
	obs := observeMember(ctx, u.r.Members, u.members[cluster], fro)
	if !obs.Until.IsZero() {
		u.requeueIn(max(obs.Until.Sub(u.now), time.Millisecond))
	}
	return obs
}

// clusterStates are the scheduler states of a wave's clusters.
func (u *run) clusterStates(w *plan.Wave) map[string]plan.ClusterState {
	out := map[string]plan.ClusterState{}
	for _, c := range w.Clusters {
		v, ok := u.views[c]
		if !ok {
			continue
		}
		s := plan.ClusterState{Phase: v.Sched}
		if at, ok := u.journaledAt(u.decision(journal.ClusterDispatched, w.Name, c)); ok {
			s.DispatchedAt = at
		}
		if at, ok := u.journaledAt(u.decision(journal.ClusterPromoted, w.Name, c)); ok {
			s.Promoted = true
			if v.Sched == plan.Healthy {
				s.Since = at
			}
		}
		if v.Sched == plan.Failed {
			if at, ok := u.journaledAt(u.decision(journal.ClusterFailed, w.Name, c)); ok {
				s.Since = at
			}
		}
		if s.Since.IsZero() {
			s.Since = u.prevClusterSince(c, v.Phase)
		}
		out[c] = s
	}
	return out
}

// prevClusterSince is when the cluster entered phase, per the last status (now if it just did).
func (u *run) prevClusterSince(name string, phase fleetv1alpha1.ClusterPhase) time.Time {
	for i := range u.fro.Status.Clusters {
		c := &u.fro.Status.Clusters[i]
		if c.Name == name && c.Phase == phase && c.LastTransitionTime != nil {
			return c.LastTransitionTime.Time
		}
	}
	return u.now
}

// reachabilityChanged passes MemberCluster updates whose Reachable or Ready condition changed.
type reachabilityChanged struct{ predicate.Funcs }

func (reachabilityChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*fleetv1alpha1.MemberCluster)
	n, ok2 := e.ObjectNew.(*fleetv1alpha1.MemberCluster)
	if !ok1 || !ok2 {
		return false
	}
	for _, t := range []string{fleetv1alpha1.ConditionReachable, fleetv1alpha1.ConditionReady} {
		if meta.IsStatusConditionTrue(o.Status.Conditions, t) != meta.IsStatusConditionTrue(n.Status.Conditions, t) {
			return true
		}
	}
	return false
}
