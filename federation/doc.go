// Package federation is the contract between the hub and the spoke agents, imported by both:
// how the hub marks what it places on a member cluster (field manager, labels, the raft term
// and the fleet revision as annotations) and how a member refuses a directive from a deposed
// hub leader.
//
// Fencing has two lines. The first is in the member's API server itself: a
// ValidatingAdmissionPolicy shipped with the spoke chart (charts/flotilla-spoke/templates/
// fencing-policy.yaml) refuses any update of a hub-placed object whose term annotation is
// lower than the one the object already carries, so a stale write never lands. The second is
// the spoke: it records the highest term it has accepted in the Rollout's status.term and
// refuses a spec stamped with an older term (CheckTerm).
//
// A DELETE carries no object, hence no term, so the admission policy cannot judge it. The hub
// fences its deletions itself (a deleted FleetRollout's objects): it reads the object, stops if
// a newer term is stamped on it, and deletes with preconditions on the UID and resourceVersion
// it read, so that a write by anyone since, a newer leader's included, makes the deletion fail.
package federation
