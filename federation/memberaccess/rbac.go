// Package memberaccess holds what the hub may do in a member cluster, as RBAC markers. `make
// manifests` turns them into charts/flotilla-spoke/rbac/hub-access.yaml, from which the
// spoke chart renders the ClusterRole of its hubAccess ServiceAccount, the identity a member
// kubeconfig Secret on the hub should carry. The hub server-side applies each member's
// Rollout (under federation.FieldManager) and watches it (the Rollouts it placed, through
// multicluster-runtime), and for `kubectl flotilla fleet
// retry` clears status.abort on it (the spoke's retry); companions of a FleetRollout are
// applied too, so the chart adds a rule per kind of companion the fleet uses (values
// hubAccess.companionRules).
package memberaccess

// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=rollouts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=rollouts/status,verbs=patch
