package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/intstr"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Gate is a check the hub runs after a wave has finished and baked; the next wave starts only
// when every gate of the wave and every fleet-level gate passed. A gate is exactly one of three
// kinds:
//   - aggregate: arithmetic over the per-cluster verdicts (health of each member Rollout and
//     its AnalysisRuns), counted by the hub;
//   - analysis: metrics the hub itself queries, usually across the clusters of the wave (one
//     Prometheus/Thanos query, for instance);
//   - outlier: one metric measured per cluster, each cluster compared with the median of its
//     peers, to catch the cluster that behaves unlike the others.
//
// A gate's verdict is Passed, Failed, Inconclusive or Error. Failed applies the failure
// policy; Inconclusive and Error stop the FleetRollout (condition Stalled) until a person
// retries or aborts. Verdicts and the values they were computed from are kept in status and in
// the hub journal.
//
// +kubebuilder:validation:XValidation:rule="(has(self.aggregate) ? 1 : 0) + (has(self.analysis) ? 1 : 0) + (has(self.outlier) ? 1 : 0) == 1",message="gate: set exactly one of aggregate, analysis or outlier"
type Gate struct {
	// name identifies the gate in status, in the journal and in `kubectl flotilla`; unique in its
	// list and distinct from the names of the fleet-level gates.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`

	// aggregate combines the per-cluster verdicts.
	// +optional
	Aggregate *AggregateGate `json:"aggregate,omitempty"`

	// analysis runs fleet-level metric analysis on the hub.
	// +optional
	Analysis *AnalysisGate `json:"analysis,omitempty"`

	// outlier compares each cluster with its peers on one metric.
	// +optional
	Outlier *OutlierGate `json:"outlier,omitempty"`
}

// AggregateGate passes when the per-cluster verdicts meet every criterion that is set. The
// verdicts counted are those of the clusters of the wave that just finished when the gate
// belongs to a wave, and of every cluster that has taken the current revision so far when it is
// a fleet-level gate (spec.gates). A cluster whose verdict is Unknown (unreachable) counts as
// failed, never as healthy.
//
// +kubebuilder:validation:XValidation:rule="(has(self.requireAllHealthy) && self.requireAllHealthy) || has(self.minSuccessPercent) || has(self.maxFailures)",message="aggregate: set requireAllHealthy: true, minSuccessPercent or maxFailures"
type AggregateGate struct {
	// requireAllHealthy, when true, requires every counted cluster to be healthy.
	// +optional
	RequireAllHealthy bool `json:"requireAllHealthy,omitempty"`

	// minSuccessPercent is the lowest share of healthy clusters, in percent, that passes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MinSuccessPercent *int32 `json:"minSuccessPercent,omitempty"`

	// maxFailures is the most failed clusters that still pass: a count (>= 0) or a percentage of
	// the counted clusters ("0%".."100%", rounded down).
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxFailures must be an integer >= 0 or a percentage from 0% to 100%"
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`
}

// AnalysisGate runs metric analysis on the hub, with the same providers, measurement settings
// and success/failure conditions as a member-cluster AnalysisRun.
//
// Besides `{{args.NAME}}` for the arguments below, queries of the templates may use these
// values, which the hub fills in when the gate runs:
//   - `{{fleet.name}}`, `{{fleet.namespace}}`: the FleetRollout;
//   - `{{fleet.revision}}`: the current revision number;
//   - `{{fleet.wave}}`: the name of the wave that just finished;
//   - `{{fleet.clusters}}`: the names of that wave's clusters, comma-separated;
//   - `{{fleet.clustersRegex}}`: the same names joined by "|", for a PromQL `=~` matcher;
//   - `{{fleet.clusterCount}}`: how many clusters that is.
type AnalysisGate struct {
	// templates are the analysis templates whose metrics are run together, as one analysis.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Templates []AnalysisTemplateRef `json:"templates"`

	// args are values for the templates' arguments; an argument without a value in the template
	// must get one here.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Args []rolloutsv1alpha1.Argument `json:"args,omitempty"`
}

// AnalysisTemplateRef names a template on the hub.
type AnalysisTemplateRef struct {
	// templateName is the name of a FleetAnalysisTemplate in the FleetRollout's namespace, or of
	// a ClusterAnalysisTemplate (rollouts.flotilla.dev) on the hub when clusterScope is true.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	TemplateName string `json:"templateName"`

	// clusterScope, when true, makes templateName refer to a ClusterAnalysisTemplate.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// OutlierScope is the set of clusters an outlier gate compares each cluster with.
// +kubebuilder:validation:Enum=Wave;Fleet
type OutlierScope string

const (
	// OutlierScopeWave compares each cluster of the wave with the wave's clusters.
	OutlierScopeWave OutlierScope = "Wave"

	// OutlierScopeFleet compares each cluster of the wave with every placed cluster, including
	// those that still run the stable revision: the fleet baseline.
	OutlierScopeFleet OutlierScope = "Fleet"
)

// OutlierGate measures one metric in each cluster and fails when a cluster of the wave lies
// too far from the median of its peers. With m the median of the measured values and MAD the
// median absolute deviation (the median of |x - m|), a cluster whose value x has
// |x - m| > max(maxDeviation * MAD, minDeviation) is an outlier; the gate fails naming the
// outlying clusters and their values. With fewer than minClusters measurements the verdict is
// Inconclusive.
//
// +kubebuilder:validation:XValidation:rule="!has(self.metric.provider.job)",message="outlier.metric: the job provider measures no number; use a query provider such as prometheus",fieldPath=".metric.provider.job"
type OutlierGate struct {
	// metric is measured once per cluster. Its query may use `{{args.cluster}}`, which the hub
	// sets to the MemberCluster's name for each measurement, and the `{{fleet.*}}` values of an
	// analysis gate. Its successCondition and failureCondition are not used; the result must be a
	// single number.
	// +required
	Metric rolloutsv1alpha1.Metric `json:"metric"`

	// scope is Wave (compare with the clusters of the wave; the default) or Fleet (compare with
	// every placed cluster).
	// +optional
	// +kubebuilder:default=Wave
	Scope OutlierScope `json:"scope,omitempty"`

	// maxDeviation is how many median absolute deviations from the median a cluster may lie
	// before it is an outlier, a positive decimal written as a string such as "3" or "2.5".
	// Defaults to "3".
	// +optional
	// +kubebuilder:default="3"
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]+([.][0-9]+)?$') && self.matches('[1-9]')",message="maxDeviation must be a positive decimal number such as 3 or 2.5"
	MaxDeviation string `json:"maxDeviation,omitempty"`

	// minDeviation is the least distance from the median, in the metric's own unit, that can
	// make a cluster an outlier: a non-negative decimal written as a string such as "0.01". It
	// matters when most clusters agree exactly (the MAD is 0), where otherwise any different
	// value is an outlier: with minDeviation "0.01" on an error rate, peers at 0 and a cluster
	// at 0.004 pass. Defaults to "0" (no floor).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]+([.][0-9]+)?$')",message="minDeviation must be a non-negative decimal number such as 0 or 0.01"
	MinDeviation string `json:"minDeviation,omitempty"`

	// minClusters is the fewest measured clusters the comparison needs; below it the verdict is
	// Inconclusive. Defaults to 3.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=3
	// +kubebuilder:validation:Maximum=10000
	MinClusters int32 `json:"minClusters,omitempty"`
}
