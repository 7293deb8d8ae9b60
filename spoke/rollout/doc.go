// Package rollout is the spoke's Rollout controller. Its reconciler only reads, calls the
// pure step engine (package engine), applies the engine's actions in order and patches the
// Rollout's status once:
//
//  1. get the Rollout; check the hub term it is stamped with (fencing, second line);
//  2. observe: the ReplicaSets, AnalysisRuns and Experiments it owns (from the cache), the
//     Services its strategy names, the workloadRef Deployment (watched, from the cache) or
//     PodTemplate, and pods only when a restart is asked for (a live read, so pods are
//     never cached);
//  3. plan := engine.Reconcile(rollout, observed);
//  4. apply plan.Actions in order, stopping at the first error (moving role metadata onto a
//     ReplicaSet's existing pods reads them live too);
//  5. patch status once, from the plan when every action succeeded, or with a condition
//     saying what failed (and a raised collisionCount when a create met a hash collision);
//  6. requeue after plan.RequeueAfter: exactly when the next pause, delay or deadline ends.
package rollout
