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

// Package plan is the pure part of the hub's wave scheduler. It takes a FleetRollout, the
// MemberClusters and what the hub knows of each cluster, and computes, with no client and no
// clock of its own:
//
//   - the placement and the ordered waves with their clusters (Compute), with every problem of
//     the spec that would keep it from being carried out reported as a typed Problem that the
//     controller turns into the FleetRollout's Invalid condition;
//   - what to do next in one wave (Decide): which clusters may start now under maxConcurrency,
//     whether the wave failed under maxFailures or a progress deadline, when it finished, when
//     its bake time ends, and which FleetApproval or gate it waits for, with the exact time to
//     look again;
//   - the Rollout of one cluster: the template with the overrides that apply to it
//     (ApplyOverrides), refusing any patch outside RolloutPatch's allow-list;
//   - the content hash of a revision (RevisionHash), so that the controller can tell a new
//     revision from an old one and number it.
//   - what changes in a run under way (midrun.go): which dispatched clusters departed and which
//     clusters must catch up with the stable revision (Membership), and what a person's retry
//     re-runs (RetryOf).
//
// Time is an input (now) and every decision says when to requeue; nothing here sleeps,
// watches or writes.
package plan
