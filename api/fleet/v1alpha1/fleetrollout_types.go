package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// FleetRollout ships one Rollout, with its companion manifests, to a fleet of member clusters,
// wave by wave. The hub resolves placement and waves from MemberCluster labels, applies the
// companions and then the Rollout to each cluster of a wave with server-side apply (every write
// stamped with the hub leader's raft term), follows each member Rollout through its own canary
// or blue-green steps, bakes, evaluates the gates, and only then starts the next wave.
//
// Revisions. Every change of template, companions, targetNamespace or overrides makes a new
// revision, numbered 1, 2, 3...: status.currentRevision is the one going out,
// status.stableRevision the last one that completed every wave. Changes of placement, waves,
// gates or policies change how the current revision goes out, not what it is. The content of
// each revision is kept (up to revisionHistoryLimit) in ControllerRevisions owned by the
// FleetRollout.
//
// Operations. The hub never writes the spec: people and `kubectl flotilla fleet` state intent
// there, and the hub records what it decided in status and in its journal.
//   - pause / resume: spec.paused. While true no cluster and no wave starts, and member
//     Rollouts that are mid-way are paused too; false lets everything go on where it stopped.
//   - abort: spec.abortRevision set to the current revision (`kubectl flotilla fleet abort`).
//     The hub stops that revision and returns every cluster that has it to the stable revision
//     (phase RollingBack, then RolledBack), and keeps it there. Because the field names a
//     revision, it can never abort a newer revision that started meanwhile, and it survives a
//     change of hub leader as plain desired state. The abort is final for that revision:
//     removing the field does not send it out again; a new revision (any change of its
//     content) goes out through the waves.
//   - retry: the annotation fleet.flotilla.dev/retry-requested-at set to a new token
//     (`kubectl flotilla fleet retry`) re-runs the failed clusters and the failed or
//     inconclusive gates of the current revision once (not of an aborted or rolled-back
//     revision); status.lastHandledRetryAt echoes the token. A retry is an event, not a
//     state, which is why it is an annotation (the same pattern as Flux's
//     reconcile.fluxcd.io/requestedAt).
//   - rollback to an older revision: `kubectl flotilla fleet rollback NAME --to-revision=N`
//     copies revision N's template, companions and overrides back into the spec. That is a new
//     revision, which goes out through the waves like any other. For an emergency, abort.
//   - approve: a FleetApproval object names the FleetRollout, revision, wave and stage.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=fro,categories=flotilla
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Wave",type=string,JSONPath=`.status.currentWave`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.currentRevision`
// +kubebuilder:printcolumn:name="Stable",type=integer,JSONPath=`.status.stableRevision`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetRollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to ship, where, and how.
	// +required
	Spec FleetRolloutSpec `json:"spec"`

	// status is how it is going, as observed by the hub leader.
	// +optional
	Status FleetRolloutStatus `json:"status,omitempty"`
}

// FleetRolloutSpec is the desired state of a FleetRollout.
//
// +kubebuilder:validation:XValidation:rule="!has(self.gates) || self.waves.all(w, !has(w.gates) || w.gates.all(g, !self.gates.exists(f, f.name == g.name)))",message="gates: a wave's gate may not have the name of a fleet-level gate in spec.gates",fieldPath=".gates"
type FleetRolloutSpec struct {
	// template is the Rollout placed in each member cluster. The member Rollout is named after
	// the FleetRollout and lives in targetNamespace.
	// +required
	Template RolloutTemplate `json:"template"`

	// targetNamespace is the namespace of the member clusters that receives the Rollout and the
	// companions. Defaults to the FleetRollout's own namespace. The namespace must exist in the
	// member; Flotilla does not create namespaces.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// companions are manifests applied with server-side apply, in this order, before the
	// Rollout: the Services, ConfigMaps, AnalysisTemplates and so on the Rollout needs. Each is
	// a complete namespaced object with apiVersion, kind and metadata.name; its namespace is
	// set to targetNamespace. Cluster-scoped and privileged kinds (Namespace, ClusterRole,
	// ClusterRoleBinding, CustomResourceDefinition, webhook and admission-policy configurations,
	// PersistentVolume, StorageClass, PriorityClass, RuntimeClass, ...) are refused, and so are
	// Secrets (the FleetRollout would carry them in clear text; distribute Secrets with a secret
	// manager) and Rollouts (spec.template is the Rollout).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:XEmbeddedResource
	// +kubebuilder:validation:items:XPreserveUnknownFields
	// +kubebuilder:validation:items:XValidation:rule="has(self.apiVersion) && has(self.kind) && has(self.metadata) && has(self.metadata.name) && self.metadata.name != ''",message="companions: each manifest needs apiVersion, kind and metadata.name"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.kind) || self.kind != 'Rollout'",message="companions: a Rollout is not allowed here; spec.template is the Rollout"
	// +kubebuilder:validation:items:XValidation:rule="!has(self.kind) || !(self.kind in ['Namespace', 'Node', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'RuntimeClass', 'IngressClass', 'CSIDriver', 'CertificateSigningRequest', 'ClusterAnalysisTemplate', 'Secret'])",message="companions: cluster-scoped and privileged kinds (Namespace, ClusterRole, ClusterRoleBinding, CustomResourceDefinition, webhooks, admission policies, PersistentVolume, StorageClass, Secret, ...) are not allowed"
	Companions []runtime.RawExtension `json:"companions,omitempty"`

	// placement selects the member clusters that take part.
	// +required
	Placement Placement `json:"placement"`

	// waves are the steps of the release across the fleet, in order. A cluster belongs to the
	// first wave that selects it. A wave with neither clusterSelector nor clusterNames takes
	// every placed cluster left over, so only the last wave may leave both out. Placed clusters
	// that no wave selects do not take part.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(w, has(w.clusterSelector) || has(w.clusterNames) || w.name == self[size(self) - 1].name)",message="waves: only the last wave may leave out both clusterSelector and clusterNames (it takes every placed cluster not in an earlier wave)"
	Waves []Wave `json:"waves"`

	// gates are evaluated after every wave, in addition to that wave's own gates.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Gates []Gate `json:"gates,omitempty"`

	// overrides change the Rollout for some clusters, applied in order (a later override wins).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Overrides []ClusterOverride `json:"overrides,omitempty"`

	// failurePolicy says what the hub does when a gate fails or a wave has more failed clusters
	// than its maxFailures allows.
	// +optional
	// +kubebuilder:default={action: Pause}
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`

	// paused stops the FleetRollout while true: no cluster and no wave starts, and member
	// Rollouts that are mid-way are paused. Set and cleared by `kubectl flotilla fleet
	// pause|resume`.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// abortRevision aborts the revision it names, if that is the current revision: every
	// cluster that has it is returned to the stable revision and held there. It has no effect
	// on any other revision. The abort is final: removing the field does not send the revision
	// out again (a new revision does). Set by `kubectl flotilla fleet abort`.
	// +optional
	// +kubebuilder:validation:Minimum=1
	AbortRevision *int64 `json:"abortRevision,omitempty"`

	// revisionHistoryLimit is how many old revisions are kept for rollback. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// deletionPolicy says what happens to the Rollout and companions the hub placed on member
	// clusters when the FleetRollout is deleted. Delete (the default) removes them from every
	// member cluster that got them, including clusters that have since left the placement; the
	// FleetRollout stays (status condition Deleting names the clusters still holding objects)
	// until every such cluster was reached or its MemberCluster was deleted. Orphan leaves them
	// running as they are, still labelled and annotated as placed by the hub (a FleetRollout
	// created again with the same name takes them over).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// progressDeadlineSeconds is how long one cluster may take to bring its Rollout to the new
	// revision, from the hub's directive to a healthy, fully promoted Rollout, before the hub
	// counts the cluster as failed. Unset: no deadline beyond the member Rollout's own.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// RolloutTemplate is the Rollout placed in every member cluster.
type RolloutTemplate struct {
	// metadata holds labels and annotations for the member Rollout. Keys under the prefix
	// fleet.flotilla.dev/ are the hub's own (revision, raft term) and may not be set here.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`

	// spec is the Rollout spec, the same in every cluster except for overrides.
	// +required
	Spec rolloutsv1alpha1.RolloutSpec `json:"spec"`
}

// TemplateMetadata is the part of an object's metadata a template may set.
type TemplateMetadata struct {
	// labels are added to the member Rollout.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('fleet.flotilla.dev/'))",message="template.metadata: keys with the prefix fleet.flotilla.dev/ are reserved for the hub"
	Labels map[string]string `json:"labels,omitempty"`

	// annotations are added to the member Rollout.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('fleet.flotilla.dev/'))",message="template.metadata: keys with the prefix fleet.flotilla.dev/ are reserved for the hub"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ClusterName is the name of a MemberCluster: a DNS-1123 label, because it also appears as a
// label value on member objects and in metric queries.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="clusterNames: each entry must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"
type ClusterName string

// Placement selects member clusters: those whose MemberCluster labels match clusterSelector
// together with those named in clusterNames. MemberClusters in maintenance are left out of any
// wave that has not started yet.
//
// +kubebuilder:validation:XValidation:rule="has(self.clusterSelector) || has(self.clusterNames)",message="placement: set clusterSelector, clusterNames or both"
type Placement struct {
	// clusterSelector selects MemberClusters by label. An empty selector ({}) selects all.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// clusterNames names MemberClusters.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	ClusterNames []ClusterName `json:"clusterNames,omitempty"`
}

// Wave is one step of the release across the fleet. Its clusters are the placed clusters that
// match clusterSelector or are named in clusterNames and were not taken by an earlier wave.
// A wave runs as: approval before (if asked), then the clusters, at most maxConcurrency at a
// time, then the bake time, then the wave's and the fleet's gates, then approval after (if
// asked). It succeeds when all of these passed; it fails when more than maxFailures of its
// clusters failed or a gate failed.
type Wave struct {
	// name identifies the wave in status, approvals and the journal.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`

	// clusterSelector selects the wave's clusters by MemberCluster label.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// clusterNames names the wave's clusters.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=200
	ClusterNames []ClusterName `json:"clusterNames,omitempty"`

	// maxConcurrency is how many clusters of the wave take the new revision at the same time: a
	// count (>= 1) or a percentage of the wave's clusters ("1%".."100%", rounded up to at
	// least one cluster). Defaults to "100%", the whole wave at once.
	// +optional
	// +kubebuilder:default="100%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="maxConcurrency must be an integer >= 1 or a percentage from 1% to 100%"
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`

	// maxFailures is how many clusters of the wave may fail before the wave fails and the
	// failure policy applies: a count (>= 0) or a percentage of the wave's clusters
	// ("0%".."100%", rounded down). Defaults to 0. Unreachable clusters count as failed.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="maxFailures must be an integer >= 0 or a percentage from 0% to 100%"
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`

	// bakeTime is how long the hub waits after the last cluster of the wave finished, watching
	// for failures, before it evaluates the gates. Unset: no bake time.
	// +optional
	BakeTime rolloutsv1alpha1.DurationString `json:"bakeTime,omitempty"`

	// approval asks a person to approve, with a FleetApproval, before the wave starts and/or
	// after it passed its gates.
	// +optional
	Approval *WaveApproval `json:"approval,omitempty"`

	// gates must all pass before the wave counts as done.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Gates []Gate `json:"gates,omitempty"`
}

// WaveApproval says at which stages a wave waits for a FleetApproval.
type WaveApproval struct {
	// before, when true, holds the wave until a FleetApproval with stage Before exists for the
	// current revision and this wave.
	// +optional
	Before bool `json:"before,omitempty"`

	// after, when true, holds the next wave until a FleetApproval with stage After exists for
	// the current revision and this wave.
	// +optional
	After bool `json:"after,omitempty"`
}

// ClusterOverride changes the Rollout for the clusters that match clusterSelector or are
// named in clusterNames. The changes are applied in this order: replicas, images, env, patches.
//
// +kubebuilder:validation:XValidation:rule="has(self.clusterSelector) || has(self.clusterNames)",message="overrides: set clusterSelector, clusterNames or both"
// +kubebuilder:validation:XValidation:rule="has(self.replicas) || has(self.images) || has(self.env) || has(self.patches)",message="overrides: set at least one of replicas, images, env or patches"
type ClusterOverride struct {
	// clusterSelector selects the clusters by MemberCluster label.
	// +optional
	ClusterSelector *metav1.LabelSelector `json:"clusterSelector,omitempty"`

	// clusterNames names the clusters.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	ClusterNames []ClusterName `json:"clusterNames,omitempty"`

	// replicas replaces spec.replicas of the Rollout.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`

	// images replace the image of the named containers of the pod template.
	// +optional
	// +listType=map
	// +listMapKey=container
	// +kubebuilder:validation:MaxItems=16
	Images []ImageOverride `json:"images,omitempty"`

	// env sets environment variables of the named containers (merged by variable name).
	// +optional
	// +listType=map
	// +listMapKey=container
	// +kubebuilder:validation:MaxItems=16
	Env []EnvOverride `json:"env,omitempty"`

	// patches are JSON merge patches on a few allowed paths of the member Rollout.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Patches []RolloutPatch `json:"patches,omitempty"`
}

// ImageOverride replaces a container's image.
type ImageOverride struct {
	// container is the name of a container (or init container) of the pod template.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container"`

	// image is the new image reference.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
}

// EnvOverride sets environment variables of one container.
type EnvOverride struct {
	// container is the name of a container (or init container) of the pod template.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container"`

	// env are the variables to set; one with the name of an existing variable replaces it.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Env []corev1.EnvVar `json:"env"`
}

// RolloutPatch is a JSON merge patch (RFC 7386) applied at one path of the member Rollout:
// path "spec.template.spec.nodeSelector" with value {"disk": "ssd"} means the merge patch
// {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}}. Objects merge (null
// removes a key); lists and scalars replace.
//
// The patch is a path and a value, rather than one free-form merge-patch document, so that the
// schema can refuse every path outside this allow-list (a free-form document hides its keys from
// validation rules):
//   - metadata.labels, metadata.annotations (keys under fleet.flotilla.dev/ are ignored)
//   - spec.minReadySeconds
//   - spec.template.metadata.labels, spec.template.metadata.annotations
//   - spec.template.spec.nodeSelector, .affinity, .tolerations, .topologySpreadConstraints,
//     .priorityClassName
//   - spec.template.spec.containers[NAME].resources, NAME being a container's name
//   - spec.strategy.canary.steps, .maxSurge, .maxUnavailable, .analysis
//   - spec.strategy.blueGreen.autoPromotionEnabled, .autoPromotionSeconds, .scaleDownDelaySeconds
//
// Everything else (spec.selector, spec.workloadRef, metadata.name and metadata.namespace, the
// traffic routing and the services) must be the same in every cluster; replicas, images and
// environment variables have their own override fields.
type RolloutPatch struct {
	// path is where the value is merged, one of the allowed paths.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self in ['metadata.labels', 'metadata.annotations', 'spec.minReadySeconds', 'spec.template.metadata.labels', 'spec.template.metadata.annotations', 'spec.template.spec.nodeSelector', 'spec.template.spec.affinity', 'spec.template.spec.tolerations', 'spec.template.spec.topologySpreadConstraints', 'spec.template.spec.priorityClassName', 'spec.strategy.canary.steps', 'spec.strategy.canary.maxSurge', 'spec.strategy.canary.maxUnavailable', 'spec.strategy.canary.analysis', 'spec.strategy.blueGreen.autoPromotionEnabled', 'spec.strategy.blueGreen.autoPromotionSeconds', 'spec.strategy.blueGreen.scaleDownDelaySeconds'] || self.matches('^spec[.]template[.]spec[.]containers\\\\[[a-z0-9]([-a-z0-9]*[a-z0-9])?\\\\][.]resources$')",message="path is not allowed in a patch: use metadata.labels|annotations, spec.minReadySeconds, spec.template.metadata.labels|annotations, spec.template.spec.nodeSelector|affinity|tolerations|topologySpreadConstraints|priorityClassName, spec.template.spec.containers[NAME].resources, spec.strategy.canary.steps|maxSurge|maxUnavailable|analysis or spec.strategy.blueGreen.autoPromotionEnabled|autoPromotionSeconds|scaleDownDelaySeconds"
	Path string `json:"path"`

	// value is merged at path: any JSON value.
	// +required
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Value runtime.RawExtension `json:"value"`
}

// FailureAction is what the hub does when a wave fails.
// +kubebuilder:validation:Enum=Pause;RollbackWave;RollbackAll
type FailureAction string

const (
	// FailurePause stops the FleetRollout where it is and waits for a person (retry, abort or
	// a new revision). Clusters keep what they have; a member Rollout whose own analysis failed
	// has already returned its traffic to its stable pods.
	FailurePause FailureAction = "Pause"

	// FailureRollbackWave returns the clusters of the failed wave to the stable revision and
	// then stops; clusters of earlier waves keep the new revision.
	FailureRollbackWave FailureAction = "RollbackWave"

	// FailureRollbackAll returns every cluster that has the new revision to the stable one.
	FailureRollbackAll FailureAction = "RollbackAll"
)

// DeletionPolicy says what deleting a FleetRollout does to the objects it placed.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionDelete removes the Rollout and companions from every member cluster that got them
	// before the FleetRollout goes away.
	DeletionDelete DeletionPolicy = "Delete"

	// DeletionOrphan leaves the Rollout and companions running in the member clusters.
	DeletionOrphan DeletionPolicy = "Orphan"
)

// FailurePolicy says what the hub does when a wave fails.
type FailurePolicy struct {
	// action is Pause (the default), RollbackWave or RollbackAll.
	// +optional
	// +kubebuilder:default=Pause
	Action FailureAction `json:"action,omitempty"`
}

// FleetRolloutList is a list of FleetRollouts.
//
// +kubebuilder:object:root=true
type FleetRolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetRollout `json:"items"`
}

func init() {
	register(&FleetRollout{}, &FleetRolloutList{})
}
