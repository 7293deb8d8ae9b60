// Package analysis judges metrics: it takes measurements through providers, evaluates the
// success and failure conditions of each metric, and applies the limits of an analysis to
// reach a verdict. The spoke's AnalysisRun controller and the hub's fleet gates both use it,
// so it depends on the API types, the standard library and expr-lang/expr only, never on
// controller-runtime or a vendor SDK. Each provider lives in its own package under
// analysis/providers.
//
// # One round of a run
//
// The library is pure: time is an argument and nothing runs in the background. A controller
// drives a run in rounds:
//
//  1. ComposeRunSpec builds the run's spec from its templates (when the run is created).
//  2. ResolveArgs reads the run's arguments (Secrets through an ArgResolver) and
//     Args.ResolveSpec replaces every {{args.NAME}}. The resolved spec may hold secrets: it
//     stays in memory and goes to providers only.
//  3. DueTasks lists the measurements due now; the controller calls each task's provider,
//     then Judge (or Stopped, for a task to stop) turns the answer into a measurement, with
//     secrets redacted.
//  4. Advance, called on every round even when no task was due, folds those measurements
//     into the status and returns the new status, the phase changes (for events), and
//     RequeueAfter: the exact time until the next measurement is due.
//
// # Secrets
//
// An argument read from a Secret is marked as such in Args. Judge and Stopped pass every text
// a provider produced (error, value, metadata) through Args.Redact before it is recorded, so
// the status that Advance returns holds ***** where the secret was, also in its JSON- and
// URL-escaped forms. Whatever else the controller writes (events, log lines, condition
// messages) goes through Args.Redact or Args.RedactStatus too.
//
// # Conditions
//
// successCondition and failureCondition are expr-lang/expr expressions over `result`, the
// provider's value, with expr's builtins (len, all, any, filter, map, abs, ...) and the
// helpers of Argo Rollouts: asInt(x), asFloat(x), isNaN(x), isInf(x), isNil(x) and
// default(x, fallback). A condition compiles once and is cached by its text. One that does not
// compile, or cannot produce a boolean, is an *InvalidSpecError; one that fails on a given
// result (result[0] on an empty vector) makes that measurement an Error. Nothing panics.
//
// A measurement's phase, with S the successCondition and F the failureCondition
// ("-" = not set, "err" = could not be evaluated, "any" = either), as in Argo Rollouts:
//
//	S       F       phase
//	err     any     Error
//	any     err     Error
//	-       -       Successful (*)
//	true    -       Successful
//	false   -       Failed
//	-       true    Failed
//	-       false   Successful (*)
//	any     true    Failed
//	true    false   Successful
//	false   false   Inconclusive
//
// (*) Where Flotilla is stricter than Argo Rollouts: success is implied in these two rows, no
// condition accepted the result. When the result holds no usable data (nil, an empty vector
// or map, NaN or ±Inf, or a vector holding nil, NaN or ±Inf), an implied success becomes
// Inconclusive. Only a successCondition that holds can accept such a result, for example
// isNaN(result[0]) || result[0] < 0.05, or default(result, 0) < 0.05. A NaN compares false
// with everything, so `result[0] > 0.05` as a lone failureCondition would otherwise pass a
// canary that served no traffic.
//
// Other differences from Argo Rollouts: isNil(x) and default(x, fallback) look at their
// argument (Argo's look at result whatever the argument is; the two agree on isNil(result)
// and default(result, v)); isNaN and isInf accept any numeric type and report an error for
// anything else; asInt refuses NaN, ±Inf and values beyond int64 instead of returning
// garbage.
//
// # Scheduling and verdict
//
// Per metric: the first measurement is due initialDelay after the run starts. A metric
// takes count measurements (only ones without error count); without count it takes one, or,
// with an interval, runs until the run ends. The next measurement is due interval after the
// previous one finished, or ErrorRetryInterval (10s) after an Error. A measurement that a
// provider leaves pending is resumed after a delay that grows with its age.
//
// A metric is Failed when failed > failureLimit (default 0, -1: off), Inconclusive when
// inconclusive > inconclusiveLimit (default 0), Error when consecutiveError >
// consecutiveErrorLimit (default 4); when several are exceeded at once the later one in that
// list wins. Otherwise it is Successful once consecutiveSuccess reaches
// consecutiveSuccessLimit (when more than 0), or once count is reached: then Successful if
// consecutiveSuccessLimit is off, Failed if failureLimit is off, Inconclusive if both apply.
// An Error measurement never counts as a success.
//
// A metric not in dry-run that ends Failed, Error or Inconclusive terminates the run, as does
// spec.terminate: no new measurement starts, measurements in flight are stopped, and every
// metric still running ends Successful (the run was terminated) unless a limit decides
// otherwise. The run completes when every metric has; its phase is the worst phase among
// metrics not in dry-run, in the order Failed, Error, Inconclusive, Successful (Successful
// when all are in dry-run). Dry-run metrics, chosen by dryRun rules (regular expressions
// matched anywhere in the name, or "*" for all), are measured and judged like the others and
// reported in dryRunSummary and in the run's message, but never decide the phase. Before any
// measurement the run is Pending; measurementRetention keeps the latest measurements of each
// metric (10 by default).
package analysis
