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
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

func metav1Time(t time.Time) metav1.Time { return metav1.NewTime(t.UTC().Truncate(time.Second)) }

// writeStatus fills run.next.Status from what the run read and decided: revisions, clusters,
// conditions, and the phase and message derived from them.
func (u *run) writeStatus() {
	st := &u.next.Status
	st.ObservedGeneration = u.fro.Generation
	st.CurrentRevision = u.rev.Number
	st.Term = int64(u.term)
	st.CurrentWave = u.outcome.wave
	if u.plan != nil {
		st.Clusters = u.clusterStatuses()
	}
	if u.outcome.invalid == "" && u.outcome.succeeded {
		st.StableRevision = u.rev.Number
	}
	if rb := u.rolledBack; rb != nil {
		phase := fleetv1alpha1.WaveRollingBack
		if rb.completed {
			phase = fleetv1alpha1.WaveRolledBack
		}
		for i := range st.Waves {
			w := &st.Waves[i]
			if w.StartedAt != nil && (rb.scope == journal.RollbackAll || w.Name == u.outcome.wave) {
				w.Phase = phase
			}
		}
		for i := range st.Clusters {
			if slices.Contains(rb.clusters, st.Clusters[i].Name) {
				st.Clusters[i].Revision = rb.to
			}
		}
	}
	u.setConditions()
}

func (u *run) clusterStatuses() []fleetv1alpha1.ClusterStatus {
	prev := map[string]*fleetv1alpha1.ClusterStatus{}
	for i := range u.fro.Status.Clusters {
		prev[u.fro.Status.Clusters[i].Name] = &u.fro.Status.Clusters[i]
	}
	out := make([]fleetv1alpha1.ClusterStatus, 0, len(u.plan.Clusters))
	for _, cp := range u.plan.Clusters {
		cs := fleetv1alpha1.ClusterStatus{Name: cp.Name, Wave: cp.Wave, Phase: fleetv1alpha1.ClusterPending}
		if v, ok := u.views[cp.Name]; ok {
			cs.Phase, cs.Message, cs.Step, cs.Weight = v.Phase, v.Message, v.Step, v.Weight
			cs.Revision, cs.Term = u.rev.Number, v.Term
		} else if c, ok := u.caughtUp[cp.Name]; ok {
			c.status(&cs)
		} else if cp.Maintenance || cp.Late || cp.Wave == "" {
			cs.Phase = fleetv1alpha1.ClusterSkipped
			cs.Message = "left out of this revision (maintenance, joined late, or in no wave)"
		}
		if p := prev[cp.Name]; p != nil && p.Phase == cs.Phase && p.LastTransitionTime != nil {
			cs.LastTransitionTime = p.LastTransitionTime
		} else {
			t := metav1Time(u.now)
			cs.LastTransitionTime = &t
		}
		out = append(out, cs)
	}
	return out
}

// setConditions sets Ready, Progressing, Stalled, Paused and Invalid, and derives the phase.
func (u *run) setConditions() {
	st := &u.next.Status
	gen := u.fro.Generation
	set := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason,
			Message: msg, ObservedGeneration: gen})
	}
	o := &u.outcome
	d := &o.decision
	switch {
	case o.invalid != "":
		reason := o.invalidReason
		if reason == "" {
			reason = fleetv1alpha1.ReasonInvalidSpec
		}
		set(fleetv1alpha1.ConditionInvalid, true, reason, o.invalid)
		set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonInvalidSpec, o.invalid)
		set(fleetv1alpha1.ConditionProgressing, false, fleetv1alpha1.ReasonInvalidSpec, o.invalid)
		set(fleetv1alpha1.ConditionStalled, true, fleetv1alpha1.ReasonInvalidSpec, o.invalid)
		set(fleetv1alpha1.ConditionPaused, false, fleetv1alpha1.ReasonInvalidSpec, o.invalid)
		st.Phase, st.Message = fleetv1alpha1.FleetRolloutPending, o.invalid
		return
	case o.succeeded:
		msg := "every wave succeeded: revision " + itoa(u.rev.Number) + " is stable"
		set(fleetv1alpha1.ConditionReady, true, fleetv1alpha1.ReasonSucceeded, msg)
		set(fleetv1alpha1.ConditionProgressing, false, fleetv1alpha1.ReasonSucceeded, msg)
		set(fleetv1alpha1.ConditionStalled, false, fleetv1alpha1.ReasonSucceeded, msg)
		set(fleetv1alpha1.ConditionPaused, false, fleetv1alpha1.ReasonSucceeded, msg)
		st.Phase, st.Message = fleetv1alpha1.FleetRolloutSucceeded, msg
	case u.rolledBack != nil:
		u.setRollbackConditions(set)
	case o.failed:
		msg := d.Message + "; " + u.stopCause() + ": the FleetRollout is stopped"
		set(fleetv1alpha1.ConditionReady, false, d.Reason, msg)
		set(fleetv1alpha1.ConditionProgressing, false, d.Reason, msg)
		set(fleetv1alpha1.ConditionStalled, true, d.Reason, msg)
		set(fleetv1alpha1.ConditionPaused, false, d.Reason, msg)
		st.Phase, st.Message = fleetv1alpha1.FleetRolloutFailed, msg
	default:
		set(fleetv1alpha1.ConditionReady, false, d.Reason, d.Message)
		stalled := d.Reason == fleetv1alpha1.ReasonGateInconclusive
		paused := d.Reason == fleetv1alpha1.ReasonPausedByUser || d.Reason == fleetv1alpha1.ReasonWaitingForApproval
		set(fleetv1alpha1.ConditionProgressing, !stalled && !paused, d.Reason, d.Message)
		set(fleetv1alpha1.ConditionStalled, stalled, d.Reason, d.Message)
		set(fleetv1alpha1.ConditionPaused, paused, d.Reason, d.Message)
		st.Message = d.Message
		switch {
		case d.Reason == fleetv1alpha1.ReasonWaitingForApproval:
			st.Phase = fleetv1alpha1.FleetRolloutWaitingForApproval
		case stalled || d.Reason == fleetv1alpha1.ReasonPausedByUser:
			st.Phase = fleetv1alpha1.FleetRolloutPaused
		case !o.started:
			st.Phase = fleetv1alpha1.FleetRolloutPending
		default:
			st.Phase = fleetv1alpha1.FleetRolloutProgressing
		}
	}
	set(fleetv1alpha1.ConditionInvalid, false, "Valid", "the spec can be carried out")
}

// setRollbackConditions: RollingBack while clusters return; then RolledBack (RollbackAll) or
// Failed (RollbackWave), stalled until a person acts.
func (u *run) setRollbackConditions(set func(typ string, ok bool, reason, msg string)) {
	st, rb := &u.next.Status, u.rolledBack
	cause := u.outcome.decision.Message
	if !rb.completed {
		msg := fmt.Sprintf("%s; %s: returning %s to revision %d", cause, u.stopCause(),
			strings.Join(rb.clusters, ", "), rb.to)
		set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonRollingBack, msg)
		set(fleetv1alpha1.ConditionProgressing, true, fleetv1alpha1.ReasonRollingBack, msg)
		set(fleetv1alpha1.ConditionStalled, false, fleetv1alpha1.ReasonRollingBack, msg)
		set(fleetv1alpha1.ConditionPaused, false, fleetv1alpha1.ReasonRollingBack, msg)
		st.Phase, st.Message = fleetv1alpha1.FleetRolloutRollingBack, msg
		return
	}
	msg := fmt.Sprintf("%s; %s: %s back on revision %d", cause, u.stopCause(),
		strings.Join(rb.clusters, ", "), rb.to)
	set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonRolledBack, msg)
	set(fleetv1alpha1.ConditionProgressing, false, fleetv1alpha1.ReasonRolledBack, msg)
	set(fleetv1alpha1.ConditionStalled, true, fleetv1alpha1.ReasonRolledBack, msg)
	set(fleetv1alpha1.ConditionPaused, false, fleetv1alpha1.ReasonRolledBack, msg)
	st.Phase, st.Message = fleetv1alpha1.FleetRolloutFailed, msg
	if rb.scope == journal.RollbackAll {
		st.Phase = fleetv1alpha1.FleetRolloutRolledBack
	}
}

// stopCause says what stopped the revision: an abort or the failure policy.
func (u *run) stopCause() string {
	if u.outcome.aborted {
		return "aborted"
	}
	return "failure policy " + string(u.failureAction())
}

func (u *run) failureAction() fleetv1alpha1.FailureAction {
	if a := u.fro.Spec.FailurePolicy.Action; a != "" {
		return a
	}
	return fleetv1alpha1.FailurePause
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
