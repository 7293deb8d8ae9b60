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

// Package gates is the arithmetic of the hub's global gates, pure and table-tested: the
// aggregate gate over the per-cluster verdicts of a wave (Aggregate) and the outlier gate over
// one measured value per cluster (Outlier). Each returns a Result: the verdict, a message for
// people, and the values the verdict was computed from, in the shape of status
// (GateStatus.measurements) and of the journal's GateEvaluated decision (journal.Gate).
//
// Two rules hold for every gate: a cluster with no data (no verdict, Unknown, or no
// measurement) never passes, and every verdict carries the numbers that decided it.
package gates
