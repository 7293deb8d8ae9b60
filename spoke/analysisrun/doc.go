// Package analysisrun is the spoke's AnalysisRun controller. The analysis library (package
// analysis) decides everything: what is due, how a value is judged, which limits end a
// metric, the run's phase and when to look again. The reconciler reads, calls providers,
// and writes the status once:
//
//  1. get the run (live, if the cache has not caught up with the controller's last write);
//     a run already completed only waits for its ttlStrategy, then is deleted;
//  2. resolve: arguments (Secrets read live through the API reader, fieldRef from the
//     Rollout the run belongs to), {{args.NAME}} in every metric, the spec's validity and a
//     provider for every metric. A spec that cannot run ends the run in phase Error with the
//     InvalidSpec condition, never a crash or a retry loop;
//  3. measure: the tasks due now go to their providers (concurrently, each bounded in time),
//     Judge or Stopped records each, Advance folds them in; when Advance says something is
//     due at once (a terminating run stopping its measurements in flight), one more round
//     runs before anything is written;
//  4. write the status once, every text redacted of the run's secret arguments, with the
//     Running, Completed and InvalidSpec conditions;
//  5. record an event for every phase change of the run and its metrics, update the
//     metrics, release what measurements dropped by measurementRetention hold (their Jobs);
//  6. requeue after exactly Progress.RequeueAfter, or, once the run completed, when its
//     ttlStrategy expires.
//
// No secret argument reaches the status, an event, a log line, a returned error or a metric
// label: texts pass through analysis.Args.Redact before they leave the reconciler, and
// metric labels hold names and phases only.
package analysisrun
