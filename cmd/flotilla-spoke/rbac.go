package main

// The agent's permissions in its member cluster, and nothing more. `make manifests` turns
// these markers into charts/flotilla-spoke/rbac/role.yaml, which the chart's ClusterRole is
// rendered from. Each group of rules says which code needs it.

// Rollout controller: its own kind (watched), status written once per reconcile, and the
// finalizers subresource that lets it set blockOwnerDeletion on what it owns.
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=rollouts/status,verbs=patch
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=rollouts/finalizers,verbs=update

// AnalysisRuns: created, terminated and (past the Rollout's history limit) deleted by Rollouts
// and Experiments, measured (status) and deleted past their retention by the AnalysisRun
// controller, which owns the job provider's Jobs.
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=analysisruns,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=analysisruns/status,verbs=patch
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=analysisruns/finalizers,verbs=update

// Experiments: created, terminated and (past the Rollout's history limit) deleted by
// Rollouts, run by the Experiment controller, which owns ReplicaSets, Services and AnalysisRuns.
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=experiments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=experiments/status,verbs=patch
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=experiments/finalizers,verbs=update

// Analysis templates, read (cached) when a Rollout or Experiment composes an AnalysisRun.
// +kubebuilder:rbac:groups=rollouts.flotilla.dev,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch

// ReplicaSets the Rollout and Experiment controllers create, scale, annotate and delete; the
// cache holds only those with a pod-template-hash label.
// +kubebuilder:rbac:groups=apps,resources=replicasets,verbs=get;list;watch;create;patch;delete

// spec.workloadRef: the Deployment a Rollout takes its pod template from is watched (cached)
// and scaled down as workloadRef.scaleDown says; a PodTemplate is read live.
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=podtemplates,verbs=get

// Pods, listed live: spec.restartAt evicts them one at a time, and the canary and stable
// role metadata is patched onto the running pods of a ReplicaSet.
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create

// Services: the Rollout controller reads (cached) and re-points the stable, canary, active
// and preview Services; the Experiment controller creates and deletes its own.
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete

// Secrets, read live and never listed: secretKeyRef arguments of AnalysisRuns and the
// metric providers' credentials.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// The job metric provider: Jobs created, read live and deleted.
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;create;delete

// Events the controllers record on Rollouts, AnalysisRuns and Experiments (events.k8s.io:
// created, and patched when an event repeats).
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Traffic routers (spoke/trafficrouting/*). Ingresses are typed, so read from the cache;
// every other router object is read live.
// nginx: the canary Ingress is server-side applied and deleted; alb: the Ingress is patched.
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// istio: VirtualServices and DestinationRules are patched.
// +kubebuilder:rbac:groups=networking.istio.io,resources=virtualservices;destinationrules,verbs=get;patch
// gatewayAPI: routes are patched (with a dry run first).
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=httproutes;grpcroutes;tcproutes,verbs=get;patch
// smi: the TrafficSplit is created and kept in line.
// +kubebuilder:rbac:groups=split.smi-spec.io,resources=trafficsplits,verbs=get;create;patch;delete
// traefik (v3 and v2 groups): the weighted TraefikService is patched, the mirroring one created and deleted.
// +kubebuilder:rbac:groups=traefik.io;traefik.containo.us,resources=traefikservices,verbs=get;create;patch;delete
// apisix: the ApisixRoute is patched, the set-header one created and deleted.
// +kubebuilder:rbac:groups=apisix.apache.org,resources=apisixroutes,verbs=get;create;patch;delete
// ambassador: the canary Mapping is created, patched and deleted.
// +kubebuilder:rbac:groups=getambassador.io,resources=mappings,verbs=get;create;patch;delete
