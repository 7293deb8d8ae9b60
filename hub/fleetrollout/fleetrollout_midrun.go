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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/plan"
)

// A run that is already under way changes in three ways besides its waves moving on: a person
// asks for a retry (the annotation fleet.flotilla.dev/retry-requested-at), clusters leave the
// placement, and clusters join it (or leave maintenance) after their wave ran. plan.RetryOf and
// plan.Membership decide; this file journals and carries out.

// retriable are the decisions a retry may take again for the same wave or cluster: their IDs
// carry the run's attempt number (journal.RolloutState.Attempt) once it is above zero.
var retriable = map[journal.Type]bool{journal.ClusterDispatched: true, journal.ClusterPromoted: true,
	journal.ClusterFailed: true, journal.GateEvaluated: true, journal.WaveCompleted: true}

// decisionID is d's ID in the given attempt of the run.
func decisionID(d journal.Decision, attempt int) string {
	id := d.NaturalID()
	if attempt > 0 && retriable[d.Type] {
		id += fmt.Sprintf("/try=%d", attempt)
	}
	return id
}

// retry acts once on each new value of the retry annotation: it journals Retried for the wave
// plan.RetryOf names (which re-opens it: its failed clusters count as dispatched again, its
// verdicts other than Passed are forgotten), dispatches the failed clusters again (journaled,
// so their progress deadline starts over) and clears status.abort on their member Rollouts,
// which is the spoke's own retry: the update starts again from its first step. A request with
// nothing to retry becomes a warning event. Either way status.lastHandledRetryAt takes the
// token. A retry journaled by an earlier reconcile whose status write was lost is carried out
// again, idempotently.
func (u *run) retry(ctx context.Context) error {
	token := u.fro.Annotations[fleetv1alpha1.AnnotationRetryRequestedAt]
	if token == "" || token == u.fro.Status.LastHandledRetryAt {
		return nil
	}
	d := u.decision(journal.Retried, "", "")
	d.ID = d.NaturalID() + "/token=" + token
	if e, ok := u.r.Raft.Journal().Lookup(d.ID); ok {
		d = e.Decision
	} else {
		st := u.state
		st.Aborted = st.Aborted || u.aborted() // spec.abortRevision not journaled yet
		r := plan.RetryOf(&st)
		if r.Wave == "" {
			logf.FromContext(ctx).Info("retry requested, nothing to retry", "token", token, "reason", r.Reason)
			if u.r.Recorder != nil {
				u.r.Recorder.Eventf(u.fro, nil, corev1.EventTypeWarning, "RetryIgnored", "Retry", "retry %s: %s", token, r.Reason)
			}
			u.next.Status.LastHandledRetryAt = token
			return nil
		}
		d.Wave, d.Clusters = r.Wave, r.Clusters
		d.Reason = fmt.Sprintf("retry requested (%s): %s", token, r.Reason)
		if err := u.propose(ctx, d); err != nil {
			return err
		}
	}
	// The wave's gates without a verdict now (the retry forgot those not Passed) are measured
	// afresh, not resumed from the measurements status kept.
	u.retriedGates = map[string]bool{}
	if w, ws := u.plan.Wave(d.Wave), u.state.Wave(d.Wave); w != nil {
		for _, g := range gatesOf(&u.fro.Spec, w) {
			if _, kept := journaledGate(ws, g.gate.Name); !kept {
				u.retriedGates[d.Wave+"/"+g.gate.Name] = true
			}
		}
	}
	for _, c := range d.Clusters {
		if err := u.propose(ctx, u.decision(journal.ClusterDispatched, d.Wave, c)); err != nil {
			return err
		}
		if err := u.clearAbort(ctx, c); err != nil {
			if apierrors.IsConflict(err) {
				// The spoke wrote the Rollout after the read: the reconcile fails, its status
				// write with it, and the next one (after the queue's backoff) carries the
				// journaled retry out again, idempotently, from a fresh read. Never a retry
				// handled with the abort left in place.
				return fmt.Errorf("retry %s: clearing status.abort in %s: %w", token, c, err)
			}
			// Unreachable or refused: the cluster is read again; still Degraded, it fails the
			// wave again, and a person can retry once more.
			logf.FromContext(ctx).Info("clearing status.abort for the retry failed", "cluster", c, "error", err.Error())
		}
	}
	u.next.Status.LastHandledRetryAt = token
	return nil
}

// clearAbort clears status.abort on a member Rollout of the current revision, with an
// optimistic lock so that it never lands on a Rollout the spoke changed since it was read.
func (u *run) clearAbort(ctx context.Context, cluster string) error {
	obs := u.read(ctx, cluster, u.fro)
	switch {
	case !obs.Reachable:
		return obs.Err
	case obs.Rollout == nil || memberRevision(obs.Rollout) != u.rev.Number || !obs.Rollout.Status.Abort:
		return nil // nothing aborted to clear: the cluster goes on as it is
	}
	ro := obs.Rollout
	base := ro.DeepCopy()
	ro.Status.Abort = false
	// The member client keeps the patched Rollout for the reads that follow until its cache
	// shows it: this reconcile and the next never judge the cluster by the aborted one.
	return obs.Client.Status().Patch(ctx, ro, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// departures journals ClusterDeparted for each dispatched cluster that left the placement:
// from then on it is not read, counted or written, and its objects stay where they are.
func (u *run) departures(ctx context.Context, departed []plan.WaveCluster) error {
	for _, wc := range departed {
		d := u.decision(journal.ClusterDeparted, wc.Wave, wc.Cluster)
		d.Reason = "the placement no longer selects the cluster (or its MemberCluster is gone): it no longer counts, " +
			"and its Rollout and companions stay in place"
		if err := u.propose(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// catchUp brings each cluster that joined after its wave ran (or left maintenance after it) to
// the stable revision: the hub reads it, and if it holds another revision, journals
// ClusterCaughtUp and places the stable revision, as a rollback does, fast-tracked: the spoke
// does not run that revision's steps again (an indefinite pause step would hold it forever). Without a stable revision
// (the first release) such clusters stay Skipped until the release completes; then the
// current revision is the stable one and they get it.
func (u *run) catchUp(ctx context.Context, clusters []plan.WaveCluster) error {
	if len(clusters) == 0 {
		return nil
	}
	to := u.fro.Status.StableRevision
	if u.outcome.succeeded {
		to = u.rev.Number
	}
	u.caughtUp = map[string]caughtUp{}
	if to < 1 {
		for _, wc := range clusters {
			u.caughtUp[wc.Cluster] = caughtUp{view: clusterView{Phase: fleetv1alpha1.ClusterSkipped,
				Message: "joined after its wave ran; there is no stable revision to bring it to yet"}}
		}
		return nil
	}
	stable, err := u.stableRender(ctx, to)
	if err != nil {
		return err
	}
	for _, wc := range clusters {
		journalIt := func() error {
			d := u.decision(journal.ClusterCaughtUp, wc.Wave, wc.Cluster)
			d.Rollback = &journal.Rollback{Scope: journal.RollbackAll, ToRevision: to}
			d.Reason = fmt.Sprintf("joined after wave %s ran (or left maintenance since): given the stable revision %d, "+
				"not revision %d that is going out", wc.Wave, to, u.rev.Number)
			return u.propose(ctx, d)
		}
		v, err := u.placeStable(ctx, wc.Cluster, to, stable, journalIt)
		if err != nil {
			return err
		}
		// Its Rollout's watch events bring the next reconcile as it gets there.
		u.caughtUp[wc.Cluster] = caughtUp{view: v, to: to}
	}
	return nil
}

// caughtUp is where a late cluster stands on its way to the stable revision.
type caughtUp struct {
	view clusterView
	to   int64
}

// status is the late cluster's entry in status.clusters: Skipped (it takes no part in the run),
// at the stable revision.
func (c caughtUp) status(cs *fleetv1alpha1.ClusterStatus) {
	cs.Phase, cs.Revision, cs.Term = fleetv1alpha1.ClusterSkipped, c.to, c.view.Term
	switch c.view.Phase {
	case fleetv1alpha1.ClusterRolledBack:
		cs.Message = fmt.Sprintf("joined after its wave ran: on the stable revision %d", c.to)
	case fleetv1alpha1.ClusterRollingBack:
		cs.Message = fmt.Sprintf("joined after its wave ran: taking the stable revision %d", c.to)
	default:
		cs.Message = "joined after its wave ran: " + c.view.Message
	}
}

// memberPaused is spec.paused as the hub places it on a cluster's Rollout: the template's own,
// or true while the FleetRollout is paused and the cluster is mid-update (dispatched, neither
// promoted nor failed), so that the spoke holds where it is.
func (u *run) memberPaused(tmpl *fleetv1alpha1.RolloutTemplate, cluster string) bool {
	if tmpl.Spec.Paused {
		return true
	}
	if !u.fro.Spec.Paused {
		return false
	}
	p, _ := u.state.Cluster(cluster)
	return p.Progress != journal.ProgressPromoted && p.Progress != journal.ProgressFailed
}

// pauseChanged reports whether the cluster's Rollout must be placed again because the
// FleetRollout was paused or resumed.
func (u *run) pauseChanged(ro *rolloutsv1alpha1.Rollout, cluster string) bool {
	tmpl, err := u.render(cluster)
	return err == nil && pauseOutOfStep(ro, u.memberPaused(tmpl, cluster))
}

// pauseOutOfStep reports whether the member Rollout's spec.paused is not what the hub wants:
// the hub wants it paused and it is not, or the hub no longer wants it paused and still owns
// the field (a person who paused the member Rollout in the member is left alone).
func pauseOutOfStep(ro *rolloutsv1alpha1.Rollout, want bool) bool {
	switch {
	case want:
		return !ro.Spec.Paused
	case !ro.Spec.Paused:
		return false
	}
	for _, mf := range ro.ManagedFields {
		if mf.Manager != federation.FieldManager || mf.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) == nil {
			if _, owned := fields.Spec["f:paused"]; owned {
				return true
			}
		}
	}
	return false
}
