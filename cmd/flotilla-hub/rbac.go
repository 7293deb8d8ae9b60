package main

// A hub replica's permissions in the hub cluster, and nothing more. `make manifests` turns
// these markers into charts/flotilla-hub/rbac/role.yaml, which the chart renders into its
// ClusterRole and, for the Secrets of the member namespace, a Role there. What
// the hub may do in a member cluster is the member's business: the spoke chart's hubAccess
// ServiceAccount (see docs/install.md).

// FleetRollout controller: its own kind (watched, patched only to add and remove its finalizer),
// status written once per reconcile, and the finalizers subresource that lets it own its
// ControllerRevisions.
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=fleetrollouts,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=fleetrollouts/status,verbs=patch
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=fleetrollouts/finalizers,verbs=update

// FleetApprovals, watched to let a waiting wave go on and answered in their status by the
// FleetApproval controller; FleetAnalysisTemplates, watched for the analysis and outlier gates
// that use them.
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=fleetapprovals;fleetanalysistemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=fleetapprovals/status,verbs=patch

// Gates may name ClusterAnalysisTemplates (clusterScope), read live from the hub.
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=clusteranalysistemplates,verbs=get

// MemberCluster controller: members watched, their health written to status.
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=memberclusters,verbs=get;list;watch
// +kubebuilder:rbac:groups=fleet.flotilla.dev,resources=memberclusters/status,verbs=patch

// Revisions of each FleetRollout: created, read live (list and get, to number them and to
// roll back) and pruned.
// +kubebuilder:rbac:groups=apps,resources=controllerrevisions,verbs=get;list;create;delete

// Secrets by name, read live, never listed: the secretKeyRef arguments of a gate's templates,
// in the FleetRollout's namespace.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Events the FleetRollout controller records, one per journaled decision (events.k8s.io:
// created, and patched when an event repeats).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Member kubeconfig Secrets and the metric providers' credentials, in the member namespace
// (the chart binds this Role there): the only Secrets the hub caches.
// +kubebuilder:rbac:groups="",namespace=flotilla-system,resources=secrets,verbs=get;list;watch
