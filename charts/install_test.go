package charts_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/raft/rafttest"
	"github.com/flotilla-io/flotilla/hub/replica"
	"github.com/flotilla-io/flotilla/spoke/agent"
	"github.com/flotilla-io/flotilla/test/harness"
)

// TestChartsInstallAndRun installs both charts with `helm install` into one real API server
// (authorization mode RBAC), which is at once the hub cluster and its only member; then every
// rendered object, with default and with non-default values, must be accepted by server-side
// apply with strict field validation. Then it runs the real controllers as the charts' own
// identities (impersonating their ServiceAccounts, so only the charts' RBAC applies) and walks
// the user path of docs/install.md:
//   - the spoke agent takes a canary Rollout through its steps (with a job analysis whose
//     argument comes from a Secret) to Healthy;
//   - the hub, leading a one-replica raft group, reaches the member through a kubeconfig
//     Secret holding the token of the spoke chart's hubAccess ServiceAccount, places a
//     FleetRollout's Rollout and companion there, and sees it through to Succeeded.
//
// The API server refuses no request of the agent or the hub. With no kubelet or
// kube-controller-manager, the test stands in for them: it marks ReplicaSets ready and Jobs
// succeeded through their status subresources.
func TestChartsInstallAndRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	s := harness.NewScheme(rolloutsv1alpha1.AddToScheme, fleetv1alpha1.AddToScheme)
	serviceMonitors := harness.CRDDir(t, harness.ModuleFiles(t, "github.com/prometheus-operator/prometheus-operator", "v0.85.0",
		"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"))
	env := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{serviceMonitors}})
	for _, ns := range []string{systemNamespace, "fleet-members"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	if !t.Run("helm install, and every object applies with defaults and with values", func(t *testing.T) {
		kubeconfig := writeKubeconfig(t, env.Config)
		// The hub chart first, alone: it must install every Flotilla kind the hub reads. Then
		// the spoke chart, whose ClusterAnalysisTemplate CRD helm finds already there.
		for _, chart := range []string{hubChart, spokeChart} {
			helm(t, "install", chart, chartPath(t, chart), "--namespace", systemNamespace, "--kubeconfig", kubeconfig)
			if out := helm(t, "status", chart, "--namespace", systemNamespace, "--kubeconfig", kubeconfig); !strings.Contains(out, "STATUS: deployed") {
				t.Fatalf("helm status %s:\n%s", chart, out)
			}
			if chart == hubChart {
				checkHubKindsServed(ctx, t, env.Config)
			}
		}
		// The same objects again by server-side apply, so that strict field validation judges
		// every field (helm creates them without it).
		install(ctx, t, env.Client, render(t, spokeChart, spokeChart, systemNamespace))
		install(ctx, t, env.Client, render(t, hubChart, hubChart, systemNamespace))
		install(ctx, t, env.Client, render(t, spokeChart, "member", systemNamespace, testdata(t, "flotilla-spoke-values.yaml")))
		install(ctx, t, env.Client, render(t, hubChart, "fleet", systemNamespace, testdata(t, "flotilla-hub-values.yaml")))
	}) {
		return
	}
	go standIn(ctx, env.Client)
	// The agent runs for the rest of the test: the hub's Rollout needs it too.
	spokeRefused := startSpoke(ctx, t, env, s)

	if !t.Run("the agent takes a canary to Healthy with the chart's RBAC", func(t *testing.T) {
		runSpoke(ctx, t, env)
		checkNothingRefused(t, "the spoke agent", spokeRefused)
	}) {
		return
	}
	t.Run("the hub places a FleetRollout on the member with the charts' RBAC", func(t *testing.T) {
		runHub(ctx, t, env, s)
		checkNothingRefused(t, "the spoke agent", spokeRefused)
	})
}

// checkHubKindsServed checks that the API server serves every Flotilla resource the hub's
// generated ClusterRole names (the kinds its code reads and writes, from the markers in
// cmd/flotilla-hub/rbac.go), such as ClusterAnalysisTemplates for gates with clusterScope.
func checkHubKindsServed(ctx context.Context, t *testing.T, cfg *rest.Config) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // group/version: resources
	for _, r := range generatedRules(t, "flotilla-hub/rbac/role.yaml", "ClusterRole") {
		for _, g := range r.APIGroups {
			if !strings.HasSuffix(g, ".flotilla.dev") {
				continue
			}
			for _, res := range r.Resources {
				res, _, _ = strings.Cut(res, "/") // fleetrollouts/status: served with fleetrollouts
				want[g+"/v1alpha1"] = append(want[g+"/v1alpha1"], res)
			}
		}
	}
	if len(want[rolloutsv1alpha1.GroupVersion.String()]) == 0 {
		t.Fatalf("the hub's ClusterRole names nothing of %s; the check would prove nothing", rolloutsv1alpha1.GroupVersion)
	}
	err = harness.WaitFor(ctx, "every kind the hub reads served", waitTimeout, func(context.Context) (bool, string, error) {
		var missing []string
		for gv, resources := range want {
			list, err := dc.ServerResourcesForGroupVersion(gv)
			for _, res := range resources {
				if err != nil || !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == res }) {
					missing = append(missing, res+"."+gv)
				}
			}
		}
		return len(missing) == 0, "not served with only the hub chart installed: " + strings.Join(missing, ", "), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeKubeconfig writes a kubeconfig of cfg (the env's admin) for helm.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	data, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"env": {Server: cfg.Host, CertificateAuthorityData: cfg.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}},
		Contexts:       map[string]*clientcmdapi.Context{"env": {Cluster: "env", AuthInfo: "admin"}},
		CurrentContext: "env",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newManager(t *testing.T, cfg *rest.Config, s *runtime.Scheme, opts ctrl.Options) ctrl.Manager {
	t.Helper()
	opts.Scheme = s
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.HealthProbeBindAddress = "0"
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

// checkNothingRefused fails the test if the API server refused any request of who.
func checkNothingRefused(t *testing.T, who string, f *forbidden) {
	t.Helper()
	if got := f.requests(); len(got) > 0 {
		slices.Sort(got)
		t.Errorf("the API server refused %d requests of %s (403 Forbidden), so its RBAC is not enough:\n%s",
			len(got), who, strings.Join(slices.Compact(got), "\n"))
	}
}

const smokeTemplate = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  args:
  - name: token
    valueFrom: {secretKeyRef: {name: smoke-token, key: token}}
  metrics:
  - name: smoke
    provider:
      job:
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: example.com/smoke:v1
                args: ["--token={{args.token}}"]
`

const canaryRollout = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  replicas: 2
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers:
      - {name: checkout, image: "example.com/checkout:v1"}
  strategy:
    canary:
      canaryService: checkout-canary
      stableService: checkout
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: smoke}]}
      - pause: {duration: 1}
`

// startSpoke runs the agent's controllers, wired as flotilla-spoke wires them, as the spoke
// chart's ServiceAccount.
func startSpoke(ctx context.Context, t *testing.T, env *harness.Env, s *runtime.Scheme) *forbidden {
	cfg, refused := impersonate(env.Config, systemNamespace, "flotilla-spoke")
	mgr := newManager(t, cfg, s, ctrl.Options{Cache: agent.CacheOptions("")})
	if err := agent.Setup(ctx, mgr, agent.Options{RolloutWorkers: 2, AnalysisWorkers: 2, ExperimentWorkers: 1,
		CredentialsNamespace: systemNamespace}); err != nil {
		t.Fatal(err)
	}
	harness.StartManager(t, mgr)
	return refused
}

func runSpoke(ctx context.Context, t *testing.T, env *harness.Env) {
	ns := env.Namespace(t)
	c := env.Client
	for _, name := range []string{"checkout", "checkout-canary"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "checkout"}, Ports: []corev1.ServicePort{{Port: 80}}}}
		if err := c.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke-token"},
		StringData: map[string]string{"token": "s3cr3t-from-the-secret"}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	harness.CreateYAML(t, c, ns, smokeTemplate)
	harness.CreateYAML(t, c, ns, canaryRollout)
	key := client.ObjectKey{Namespace: ns, Name: "checkout"}
	v1 := waitHealthy(ctx, t, c, key, "example.com/checkout:v1")

	ro := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, key, ro); err != nil {
		t.Fatal(err)
	}
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"checkout","image":"example.com/checkout:v2"}]}}}}`
	if err := c.Patch(ctx, ro, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
	v2 := waitHealthy(ctx, t, c, key, "example.com/checkout:v2")
	if v2.Status.StableRS == v1.Status.StableRS {
		t.Fatalf("the stable ReplicaSet is still %s after the update", v1.Status.StableRS)
	}

	// The canary went through its analysis: a Successful run, measured by a Job that got the
	// Secret's value as its argument.
	runs := &rolloutsv1alpha1.AnalysisRunList{}
	if err := c.List(ctx, runs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) != 1 || runs.Items[0].Status.Phase != rolloutsv1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("want one Successful AnalysisRun, got %s", describeRuns(runs))
	}
	jobs := &batchv1.JobList{}
	if err := c.List(ctx, jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || !slices.Contains(jobs.Items[0].Spec.Template.Spec.Containers[0].Args, "--token=s3cr3t-from-the-secret") {
		t.Fatalf("want one Job with the Secret's token as its argument, got %d Jobs", len(jobs.Items))
	}
	// Both Services follow the stable ReplicaSet once the canary is done.
	for _, name := range []string{"checkout", "checkout-canary"} {
		svc := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			t.Fatal(err)
		}
		if got := svc.Spec.Selector["rollouts-pod-template-hash"]; got != v2.Status.StableRS {
			t.Errorf("Service %s selects pod-template-hash %q, want the stable %s", name, got, v2.Status.StableRS)
		}
	}
}

func describeRuns(runs *rolloutsv1alpha1.AnalysisRunList) string {
	var out []string
	for _, r := range runs.Items {
		out = append(out, fmt.Sprintf("%s: %s %s", r.Name, r.Status.Phase, r.Status.Message))
	}
	return fmt.Sprintf("%d runs %v", len(runs.Items), out)
}

// waitHealthy waits until the Rollout runs image, Healthy on a stable ReplicaSet of it.
func waitHealthy(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, image string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	err := harness.WaitFor(ctx, key.Name+" Healthy on "+image, waitTimeout, func(ctx context.Context) (bool, string, error) {
		if err := c.Get(ctx, key, ro); err != nil {
			return false, err.Error(), nil //nolint:nilerr // look again
		}
		seen := fmt.Sprintf("phase %s (%s), step %v, stable %s, current %s, conditions %v", ro.Status.Phase, ro.Status.Message,
			ro.Status.CurrentStepIndex, ro.Status.StableRS, ro.Status.CurrentPodHash, ro.Status.Conditions)
		return ro.Spec.Template.Spec.Containers[0].Image == image && ro.Status.ObservedGeneration == ro.Generation &&
			ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy && ro.Status.StableRS != "" &&
			ro.Status.StableRS == ro.Status.CurrentPodHash, seen, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ro
}

// standIn does what the kubelets and kube-controller-manager would: every ReplicaSet is ready
// with its desired replicas, and every Job succeeds. It runs until ctx ends.
func standIn(ctx context.Context, c client.Client) {
	for ctx.Err() == nil {
		rsList := &appsv1.ReplicaSetList{}
		if err := c.List(ctx, rsList); err == nil {
			for i := range rsList.Items {
				markReady(ctx, c, &rsList.Items[i])
			}
		}
		jobs := &batchv1.JobList{}
		if err := c.List(ctx, jobs); err == nil {
			for i := range jobs.Items {
				markSucceeded(ctx, c, &jobs.Items[i])
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func markReady(ctx context.Context, c client.Client, rs *appsv1.ReplicaSet) {
	n := int32(0)
	if rs.Spec.Replicas != nil {
		n = *rs.Spec.Replicas
	}
	st := rs.Status
	if st.Replicas == n && st.ReadyReplicas == n && st.AvailableReplicas == n && st.ObservedGeneration == rs.Generation {
		return
	}
	next := rs.DeepCopy()
	next.Status = appsv1.ReplicaSetStatus{Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		ObservedGeneration: rs.Generation}
	_ = c.Status().Patch(ctx, next, client.MergeFrom(rs))
}

func markSucceeded(ctx context.Context, c client.Client, job *batchv1.Job) {
	if job.Status.CompletionTime != nil {
		return
	}
	now := metav1.Now()
	start := metav1.NewTime(now.Add(-time.Second))
	next := job.DeepCopy()
	next.Status = batchv1.JobStatus{StartTime: &start, CompletionTime: &now, Succeeded: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}}
	_ = c.Status().Patch(ctx, next, client.MergeFrom(job))
}

// runHub registers the member (this same API server) the way docs/install.md says, with the
// token of the spoke chart's hubAccess ServiceAccount, and runs the hub as its chart's
// ServiceAccount, next to the agent that runSpoke left running.
func runHub(ctx context.Context, t *testing.T, env *harness.Env, s *runtime.Scheme) {
	c := env.Client
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(systemNamespace).CreateToken(ctx, "flotilla-spoke-hub-access",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token of the hubAccess ServiceAccount: %v", err)
	}
	kubeconfig, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"member": {Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"hub": {Token: tok.Status.Token}},
		Contexts:       map[string]*clientcmdapi.Context{"member": {Cluster: "member", AuthInfo: "hub"}},
		CurrentContext: "member",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Labelled for multicluster-runtime's kubeconfig provider, as docs/install.md says.
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "local",
		Labels: map[string]string{"sigs.k8s.io/multicluster-runtime-kubeconfig": "true"}},
		Data: map[string][]byte{"kubeconfig": kubeconfig}}); err != nil {
		t.Fatal(err)
	}
	mc := &fleetv1alpha1.MemberCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "local", Labels: map[string]string{"env": "prod"}},
		Spec: fleetv1alpha1.MemberClusterSpec{KubeconfigSecretRef: fleetv1alpha1.SecretKeyRef{
			Namespace: systemNamespace, Name: "local", Key: "kubeconfig"}},
	}
	if err := c.Create(ctx, mc); err != nil {
		t.Fatal(err)
	}

	node := rafttest.Start(t)
	cfg, refused := impersonate(env.Config, systemNamespace, "flotilla-hub")
	mgr := newManager(t, cfg, s, ctrl.Options{Cache: replica.CacheOptions(systemNamespace)})
	if err := replica.Setup(ctx, mgr, node, replica.Options{MemberNamespace: systemNamespace,
		ProbeInterval: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	harness.StartManager(t, mgr)

	ns := env.Namespace(t)
	// The shared checkout FleetRollout, in one wave with its all-healthy gate: this API server
	// is the only member.
	fro := &fleetv1alpha1.FleetRollout{}
	harness.ReadYAMLFile(t, harness.CheckoutFleetRollout, fro)
	fro.Namespace = ns
	fro.Spec.Waves = []fleetv1alpha1.Wave{{Name: "everywhere", Gates: fro.Spec.Waves[0].Gates}}
	fro.Spec.Gates = nil
	if err := c.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	err = harness.WaitFor(ctx, "FleetRollout Succeeded at revision 1", waitTimeout, func(ctx context.Context) (bool, string, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(fro), fro); err != nil {
			return false, err.Error(), nil //nolint:nilerr // look again
		}
		return fro.Status.Phase == fleetv1alpha1.FleetRolloutSucceeded && fro.Status.CurrentRevision == 1 &&
				fro.Status.ObservedGeneration == fro.Generation,
			fmt.Sprintf("phase %s (%s), revision %d, clusters %s", fro.Status.Phase, fro.Status.Message, fro.Status.CurrentRevision,
				describeClusters(fro.Status.Clusters)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The member got the Rollout and the companion from the hub's field manager, and the
	// agent ran the Rollout to Healthy.
	ro := waitHealthy(ctx, t, c, client.ObjectKey{Namespace: ns, Name: "checkout"}, "example.com/checkout:v1")
	if ro.Annotations[federation.RevisionAnnotation] != "1" || !managedBy(ro.ManagedFields, federation.FieldManager) {
		t.Errorf("member Rollout: annotations %v, not applied by %s", ro.Annotations, federation.FieldManager)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "checkout-config"}, cm); err != nil || cm.Data["color"] != "blue" ||
		!managedBy(cm.ManagedFields, federation.FieldManager) {
		t.Errorf("companion ConfigMap: %v, data %v", err, cm.Data)
	}
	// The hub wrote the member's health.
	if err := c.Get(ctx, client.ObjectKeyFromObject(mc), mc); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(mc.Status.Conditions, "Ready") {
		t.Errorf("MemberCluster local is not Ready: %v", mc.Status.Conditions)
	}
	checkNothingRefused(t, "the hub", refused)
}

func managedBy(fields []metav1.ManagedFieldsEntry, manager string) bool {
	return slices.ContainsFunc(fields, func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == manager && f.Operation == metav1.ManagedFieldsOperationApply
	})
}

func describeClusters(clusters []fleetv1alpha1.ClusterStatus) string {
	var out []string
	for _, c := range clusters {
		out = append(out, fmt.Sprintf("%s: %s at revision %d (%s)", c.Name, c.Phase, c.Revision, c.Message))
	}
	return strings.Join(out, "; ")
}
