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

// Package journal is the hub's replicated decision journal: the raft FSM that records every
// decision the leader takes about a FleetRollout (wave started, cluster dispatched, gate
// evaluated, approval given, pause, abort, rollback) as typed, versioned JSON entries.
//
// The journal is both the audit trail (History) and the state a new leader resumes from
// (State). Applying a decision is idempotent by its ID, so a leader that re-proposes a
// decision whose log entry already committed records it once. A decision stamped with a
// term other than the term of the log entry that carries it was taken under an earlier
// leadership and is refused, on every replica alike.
package journal

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// Version is the entry format this package writes and the newest it reads.
const Version = 1

// Type names what a decision decided.
type Type string

const (
	// WaveStarted means the leader started a wave; Clusters fixes the wave's members.
	WaveStarted Type = "WaveStarted"
	// ClusterDispatched means the leader wrote the revision to a member cluster.
	ClusterDispatched Type = "ClusterDispatched"
	// ClusterPromoted means a member's Rollout reached the revision fully and healthy.
	ClusterPromoted Type = "ClusterPromoted"
	// ClusterFailed means a member counts as failed for the wave; Reason says why.
	ClusterFailed Type = "ClusterFailed"
	// GateEvaluated means a gate gave a verdict after a wave; Gate holds the measured values.
	GateEvaluated Type = "GateEvaluated"
	// ApprovalGiven means the hub accepted a FleetApproval; Approval says who gave it.
	ApprovalGiven Type = "ApprovalGiven"
	// WaveCompleted means a wave ended; Outcome is Succeeded or Failed.
	WaveCompleted Type = "WaveCompleted"
	// Paused means the FleetRollout was paused (by a person or an inconclusive gate).
	Paused Type = "Paused"
	// Resumed means the FleetRollout was resumed.
	Resumed Type = "Resumed"
	// Aborted means the run of the revision was aborted.
	Aborted Type = "Aborted"
	// RollbackStarted means clusters are being returned to Rollback.ToRevision.
	RollbackStarted Type = "RollbackStarted"
	// RollbackCompleted means the rollback finished.
	RollbackCompleted Type = "RollbackCompleted"
	// Retried means a person asked for a retry (the annotation
	// fleet.flotilla.dev/retry-requested-at, Reason carrying its token) and the leader re-runs
	// the failed wave: Clusters, its failed clusters, take the revision again, its verdicts
	// other than Passed are forgotten, and the run's attempt number goes up by one.
	Retried Type = "Retried"
	// ClusterDeparted means a dispatched cluster left the placement (or its MemberCluster was
	// deleted) in the middle of the run: it no longer counts, and its objects stay in place.
	ClusterDeparted Type = "ClusterDeparted"
	// ClusterCaughtUp means a cluster that joined (or left maintenance) after its wave ran was
	// given the stable revision, Rollback.ToRevision, instead of the one going out.
	ClusterCaughtUp Type = "ClusterCaughtUp"
	// Deleted means the FleetRollout was deleted and the hub is done with what it placed:
	// Deletion.Policy Delete removed the Rollout and companions from Clusters (and left them
	// on Deletion.LeftOn, clusters whose MemberCluster was gone); Orphan left them running on
	// Clusters. It ends the FleetRollout's journal: its state is forgotten and the IDs of its
	// decisions are free again, so that a FleetRollout created again with the same name starts
	// afresh (History keeps both).
	Deleted Type = "Deleted"
)

// Types lists every decision type, in the order a run usually meets them.
var Types = []Type{
	WaveStarted, ClusterDispatched, ClusterPromoted, ClusterFailed, GateEvaluated, ApprovalGiven,
	WaveCompleted, Paused, Resumed, Aborted, RollbackStarted, RollbackCompleted, Retried, ClusterDeparted,
	ClusterCaughtUp, Deleted,
}

// RollbackScope says which clusters a rollback returns.
type RollbackScope string

const (
	// RollbackWave returns the clusters of one wave (Decision.Wave).
	RollbackWave RollbackScope = "Wave"
	// RollbackAll returns every cluster that took the revision.
	RollbackAll RollbackScope = "All"
)

// Decision is one journal entry as the leader proposes it. The fields that identify the
// FleetRollout, the revision and the leader's term are common to every type; the others
// apply to some types only (see Validate).
type Decision struct {
	// Version is the entry format; zero means Version when proposed.
	Version int `json:"version"`
	// Type is what was decided.
	Type Type `json:"type"`
	// ID identifies the decision. Applying a second decision with the same ID is a no-op, so
	// it must be derived from what is decided, not from when: see NaturalID.
	ID string `json:"id"`
	// Term is the raft term of the leader that took the decision.
	Term uint64 `json:"term"`
	// At is when the leader took the decision, by the leader's clock.
	At time.Time `json:"at"`

	// Namespace and Name identify the FleetRollout.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the fleet revision the decision is about.
	Revision int64 `json:"revision"`
	// Wave is the wave's name, for decisions about a wave or one of its clusters.
	Wave string `json:"wave,omitempty"`
	// Cluster is the member cluster's name, for decisions about one cluster.
	Cluster string `json:"cluster,omitempty"`
	// Clusters are the wave's clusters (WaveStarted) or the clusters a rollback returns.
	Clusters []string `json:"clusters,omitempty"`

	// Actor is who asked for the decision: a user name, or empty for the hub itself.
	Actor string `json:"actor,omitempty"`
	// Reason explains the decision in one sentence.
	Reason string `json:"reason,omitempty"`
	// Outcome is how a wave ended (WaveCompleted): Succeeded or Failed.
	Outcome fleetv1alpha1.WavePhase `json:"outcome,omitempty"`

	// Gate is the gate's verdict and values (GateEvaluated).
	Gate *Gate `json:"gate,omitempty"`
	// Approval is the accepted approval (ApprovalGiven).
	Approval *Approval `json:"approval,omitempty"`
	// Rollback is what a rollback returns, and to which revision (RollbackStarted/Completed).
	Rollback *Rollback `json:"rollback,omitempty"`
	// Deletion is how the FleetRollout's deletion was carried out (Deleted).
	Deletion *Deletion `json:"deletion,omitempty"`
}

// Gate is a gate's verdict with the values it was computed from.
type Gate struct {
	Name         string                          `json:"name"`
	Fleet        bool                            `json:"fleet,omitempty"`
	Verdict      fleetv1alpha1.GateVerdict       `json:"verdict"`
	Message      string                          `json:"message,omitempty"`
	Measurements []fleetv1alpha1.GateMeasurement `json:"measurements,omitempty"`
}

// Approval is an accepted FleetApproval.
type Approval struct {
	Stage        fleetv1alpha1.ApprovalStage `json:"stage"`
	ApprovedBy   string                      `json:"approvedBy"`
	ApprovalName string                      `json:"approvalName,omitempty"`
	Comment      string                      `json:"comment,omitempty"`
}

// Rollback says what a rollback returns and where to.
type Rollback struct {
	Scope RollbackScope `json:"scope"`
	// ToRevision is the revision the clusters return to (the stable one); 0 removes the release.
	ToRevision int64 `json:"toRevision"`
}

// DeletionPolicy is what a deletion did to the placed objects: Delete or Orphan.
type DeletionPolicy = fleetv1alpha1.DeletionPolicy

// Deletion is how a FleetRollout's deletion was carried out.
type Deletion struct {
	// Policy is Delete or Orphan.
	Policy DeletionPolicy `json:"policy"`
	// UID is the deleted FleetRollout's metadata.uid: it tells this deletion from that of a
	// FleetRollout of the same name created again later.
	UID string `json:"uid"`
	// LeftOn are clusters (Delete) whose objects stay because their MemberCluster was deleted
	// before the hub could reach them, sorted.
	LeftOn []string `json:"leftOn,omitempty"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid decision")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks that the decision has the fields its type needs. It does not check Term
// and At, which the proposing node fills in.
func (d *Decision) Validate() error {
	if d.Version < 1 || d.Version > Version {
		return invalid("version %d is not supported (this hub reads 1..%d)", d.Version, Version)
	}
	if d.ID == "" {
		return invalid("%s: id is empty", d.Type)
	}
	if d.Namespace == "" || d.Name == "" {
		return invalid("%s %s: namespace and name are required", d.Type, d.ID)
	}
	if d.Revision < 1 && d.Type != Deleted { // a FleetRollout may be deleted before its first revision
		return invalid("%s %s: revision must be at least 1, got %d", d.Type, d.ID, d.Revision)
	}
	need := func(ok bool, what string) error {
		if !ok {
			return invalid("%s %s: %s", d.Type, d.ID, what)
		}
		return nil
	}
	switch d.Type {
	case WaveStarted:
		return need(d.Wave != "", "wave is required")
	case ClusterDispatched, ClusterPromoted:
		return need(d.Wave != "" && d.Cluster != "", "wave and cluster are required")
	case ClusterFailed, ClusterDeparted:
		return need(d.Wave != "" && d.Cluster != "" && d.Reason != "", "wave, cluster and reason are required")
	case Retried:
		return need(d.Wave != "" && d.Reason != "", "wave and reason (the retry token) are required")
	case ClusterCaughtUp:
		return need(d.Wave != "" && d.Cluster != "" && d.Rollback != nil && d.Rollback.ToRevision > 0,
			"wave, cluster and rollback.toRevision are required")
	case GateEvaluated:
		return need(d.Wave != "" && d.Gate != nil && d.Gate.Name != "" && d.Gate.Verdict != "",
			"wave, gate.name and gate.verdict are required")
	case ApprovalGiven:
		return need(d.Wave != "" && d.Approval != nil && d.Approval.Stage != "" && d.Approval.ApprovedBy != "",
			"wave, approval.stage and approval.approvedBy are required")
	case WaveCompleted:
		return need(d.Wave != "" && (d.Outcome == fleetv1alpha1.WaveSucceeded || d.Outcome == fleetv1alpha1.WaveFailed),
			"wave is required and outcome must be Succeeded or Failed")
	case Paused, Resumed, Aborted:
		return nil
	case Deleted:
		return need(d.Deletion != nil && d.Deletion.UID != "" &&
			(d.Deletion.Policy == fleetv1alpha1.DeletionDelete || d.Deletion.Policy == fleetv1alpha1.DeletionOrphan),
			"deletion.uid is required and deletion.policy must be Delete or Orphan")
	case RollbackStarted, RollbackCompleted:
		if d.Rollback == nil || (d.Rollback.Scope != RollbackWave && d.Rollback.Scope != RollbackAll) {
			return invalid("%s %s: rollback.scope must be Wave or All", d.Type, d.ID)
		}
		if d.Rollback.ToRevision < 0 {
			return invalid("%s %s: rollback.toRevision must not be negative", d.Type, d.ID)
		}
		return need(d.Rollback.Scope != RollbackWave || d.Wave != "", "wave is required for a Wave rollback")
	default:
		return invalid("unknown type %q", d.Type)
	}
}

// NaturalID is the ID of a decision that is taken at most once for its FleetRollout,
// revision, type, wave, cluster and gate or approval stage: a re-proposal by a new leader
// then carries the same ID and is recorded once. Decisions that may repeat (Paused,
// Resumed, a gate re-evaluated after an inconclusive verdict) need a distinguishing
// suffix, such as the generation or the request annotation that caused them.
func (d *Decision) NaturalID() string {
	id := fmt.Sprintf("%s/%s/r%d/%s", d.Namespace, d.Name, d.Revision, d.Type)
	if d.Wave != "" {
		id += "/" + d.Wave
	}
	if d.Cluster != "" {
		id += "/" + d.Cluster
	}
	if d.Gate != nil {
		id += "/gate=" + d.Gate.Name
	}
	if d.Approval != nil {
		id += "/stage=" + string(d.Approval.Stage)
	}
	if d.Rollback != nil {
		id += "/scope=" + string(d.Rollback.Scope)
	}
	if d.Type == ClusterCaughtUp && d.Rollback != nil {
		id += "/to=" + strconv.FormatInt(d.Rollback.ToRevision, 10)
	}
	if d.Deletion != nil {
		id += "/uid=" + d.Deletion.UID
	}
	return id
}

// DeepCopy returns a copy that shares no memory with d.
func (d *Decision) DeepCopy() Decision {
	out := *d
	out.Clusters = append([]string(nil), d.Clusters...)
	if d.Gate != nil {
		g := *d.Gate
		g.Measurements = append([]fleetv1alpha1.GateMeasurement(nil), d.Gate.Measurements...)
		out.Gate = &g
	}
	if d.Approval != nil {
		a := *d.Approval
		out.Approval = &a
	}
	if d.Rollback != nil {
		r := *d.Rollback
		out.Rollback = &r
	}
	if d.Deletion != nil {
		x := *d.Deletion
		x.LeftOn = append([]string(nil), d.Deletion.LeftOn...)
		out.Deletion = &x
	}
	return out
}

// Entry is a decision as the journal recorded it, with the raft log position that carried it.
type Entry struct {
	// Index is the raft log index of the entry.
	Index uint64 `json:"index"`
	Decision
}
