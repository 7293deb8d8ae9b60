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
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// TestApprovalVerdict: what the hub answers a FleetApproval, from the FleetRollout and its
// journal.
func TestApprovalVerdict(t *testing.T) {
	fro := &fleetv1alpha1.FleetRollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
		Spec: fleetv1alpha1.FleetRolloutSpec{Waves: []fleetv1alpha1.Wave{
			{Name: "canary", Approval: &fleetv1alpha1.WaveApproval{Before: true}},
			{Name: "rest"},
		}},
		Status: fleetv1alpha1.FleetRolloutStatus{CurrentRevision: 3}}
	approval := func(name string, rev int64, wave string, stage fleetv1alpha1.ApprovalStage) *fleetv1alpha1.FleetApproval {
		return &fleetv1alpha1.FleetApproval{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: fleetv1alpha1.FleetApprovalSpec{FleetRollout: "checkout", Revision: rev, Wave: wave, Stage: stage, ApprovedBy: "alice"}}
	}
	given := func(rev int64, name, by string) journal.Entry {
		return journal.Entry{Index: 42, Decision: journal.Decision{Type: journal.ApprovalGiven, Namespace: "shop", Name: "checkout",
			Revision: rev, Wave: "canary", Approval: &journal.Approval{Stage: fleetv1alpha1.ApprovalStageBefore, ApprovedBy: by, ApprovalName: name}}}
	}
	before := fleetv1alpha1.ApprovalStageBefore
	for _, tc := range []struct {
		name     string
		approval *fleetv1alpha1.FleetApproval
		fro      *fleetv1alpha1.FleetRollout
		history  []journal.Entry
		// want is "" for no condition yet, else "True/Reason" or "False/Reason", and a part of the message.
		want, message string
	}{
		{"journaled", approval("ok", 3, "canary", before), fro, []journal.Entry{given(3, "ok", "alice")}, "True/Approved", "index 42"},
		{"journaled for an older revision stays accepted", approval("ok", 2, "canary", before), fro, []journal.Entry{given(2, "ok", "alice")}, "True/Approved", "revision 2"},
		{"not reached yet", approval("ok", 3, "canary", before), fro, nil, "", ""},
		{"a revision not numbered yet", approval("ok", 4, "canary", before), fro, nil, "", ""},
		{"another approval was taken", approval("late", 3, "canary", before), fro, []journal.Entry{given(3, "first", "bob")}, "False/ApprovalNotRequired", "already approved by bob (FleetApproval first)"},
		{"older revision", approval("ok", 2, "canary", before), fro, nil, "False/RevisionMismatch", "spec.revision 2"},
		{"no such wave", approval("ok", 3, "moon", before), fro, nil, "False/WaveNotFound", "no wave \"moon\" (waves: canary, rest)"},
		{"no approval asked", approval("ok", 3, "rest", before), fro, nil, "False/ApprovalNotRequired", "spec.waves[rest].approval"},
		{"not at that stage", approval("ok", 3, "canary", fleetv1alpha1.ApprovalStageAfter), fro, nil, "False/ApprovalNotRequired", "no approval After"},
		{"no FleetRollout", approval("ok", 3, "canary", before), nil, nil, "False/FleetRolloutNotFound", "spec.fleetRollout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fleetrollout.ApprovalVerdict(tc.approval, tc.fro, tc.history)
			got := ""
			if c != nil {
				got = string(c.Status) + "/" + c.Reason
				if c.Type != fleetv1alpha1.ConditionAccepted || !strings.Contains(c.Message, tc.message) {
					t.Errorf("condition %s: %q, want type Accepted and a message with %q", c.Type, c.Message, tc.message)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
