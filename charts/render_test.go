package charts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// TestChartsLint runs `helm lint --strict` on both charts, with their defaults and with the
// non-default values of testdata/.
func TestChartsLint(t *testing.T) {
	for _, chart := range []string{spokeChart, hubChart} {
		helm(t, "lint", "--strict", "--kube-version", kubeVersion(), chartPath(t, chart))
		helm(t, "lint", "--strict", "--kube-version", kubeVersion(), chartPath(t, chart), "--values", testdata(t, chart+"-values.yaml"))
	}
}

// TestSpokeChartRendersWithDefaults checks what `helm install flotilla-spoke` puts in a
// member cluster with no values set.
func TestSpokeChartRendersWithDefaults(t *testing.T) {
	objs := renderDefaults(t, spokeChart, 5)
	objs.one(t, "ValidatingAdmissionPolicy")

	d := typed[appsv1.Deployment](t, objs.one(t, "Deployment"))
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || *d.Spec.Replicas != 1 {
		t.Errorf("the agent runs without leader election, so one replica replaced with Recreate; got %d, %s", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	cfg := settings(t, objs, pod, "/etc/flotilla")
	checkPod(t, pod, "ghcr.io/flotilla-io/flotilla-spoke:0.1.0", cfg, 8080, 8081)
	if pod.ServiceAccountName != "flotilla-spoke" {
		t.Errorf("serviceAccountName %q, want flotilla-spoke", pod.ServiceAccountName)
	}
	if cfg["credentials-namespace"] != systemNamespace {
		t.Errorf("credentials-namespace %v, want the release namespace", cfg["credentials-namespace"])
	}
	checkBinding(t, objs, "flotilla-spoke", "flotilla-spoke")
	checkGeneratedRules(t, objs, "flotilla-spoke", "flotilla-spoke/rbac/role.yaml", "ClusterRole")

	// The hub's identity in the member, with a token Secret to build its kubeconfig from.
	hubAccess := clusterRole(t, objs, "flotilla-spoke-hub-access")
	if !allows(hubAccess.Rules, "rollouts.flotilla.dev", "rollouts", "patch") || !allows(hubAccess.Rules, "", "configmaps", "patch") {
		t.Errorf("the hub-access ClusterRole cannot apply Rollouts and ConfigMap companions: %v", hubAccess.Rules)
	}
	if !allows(hubAccess.Rules, "rollouts.flotilla.dev", "rollouts", "delete") || !allows(hubAccess.Rules, "", "configmaps", "delete") {
		t.Errorf("the hub-access ClusterRole cannot remove Rollouts and ConfigMap companions of a deleted FleetRollout: %v", hubAccess.Rules)
	}
	if !allows(hubAccess.Rules, "rollouts.flotilla.dev", "rollouts/status", "patch") {
		t.Errorf("the hub-access ClusterRole cannot clear status.abort for a fleet retry: %v", hubAccess.Rules)
	}
	if allows(hubAccess.Rules, "", "secrets", "get") {
		t.Errorf("the hub-access ClusterRole may read Secrets: %v", hubAccess.Rules)
	}
	checkBinding(t, objs, "flotilla-spoke-hub-access", "flotilla-spoke-hub-access")
	token := typed[corev1.Secret](t, find(t, objs, "Secret", "flotilla-spoke-hub-access-token"))
	if token.Type != corev1.SecretTypeServiceAccountToken || token.Annotations[corev1.ServiceAccountNameKey] != "flotilla-spoke-hub-access" {
		t.Errorf("hub-access token Secret: type %s, annotations %v", token.Type, token.Annotations)
	}
}

// TestSpokeChartRendersWithValues checks that every value of testdata/flotilla-spoke-values.yaml
// reaches the objects.
func TestSpokeChartRendersWithValues(t *testing.T) {
	objs := render(t, spokeChart, "member", systemNamespace, testdata(t, "flotilla-spoke-values.yaml"))
	d := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "agent"))
	pod := d.Spec.Template.Spec
	cfg := settings(t, objs, pod, "/etc/flotilla")
	checkPod(t, pod, "registry.example.com/flotilla/spoke:v9.9.9", cfg, 9090, 9091)
	for k, want := range map[string]any{"cluster-name": "eu-west-1", "watch-namespace": "shop", "log-level": "debug",
		"rollout-workers": float64(16), "credentials-namespace": "metric-credentials", "prometheus-address": "http://prometheus.monitoring.svc:9090"} {
		if cfg[k] != want {
			t.Errorf("config %s: %v, want %v", k, cfg[k], want)
		}
	}
	if pod.ServiceAccountName != "rollout-agent" || find(t, objs, "ServiceAccount", "rollout-agent").GetAnnotations()["team"] != "platform" {
		t.Errorf("serviceAccount.name and annotations not applied")
	}
	checkBinding(t, objs, "agent", "rollout-agent")
	c := pod.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways || len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "registry-creds" {
		t.Errorf("image pull settings: %s, %v", c.ImagePullPolicy, pod.ImagePullSecrets)
	}
	if c.Resources.Requests.Cpu().String() != "50m" || c.Resources.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources: %v", c.Resources)
	}
	if pod.PriorityClassName != "system-cluster-critical" || pod.NodeSelector["kubernetes.io/os"] != "linux" ||
		len(pod.Tolerations) != 1 || d.Spec.Template.Labels["tier"] != "control" ||
		d.Spec.Template.Annotations["example.com/scrape"] != "false" {
		t.Errorf("scheduling and pod metadata values not applied: %+v", d.Spec.Template)
	}
	sm := objs.one(t, "ServiceMonitor")
	ep, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if sm.GetLabels()["release"] != "prometheus" || len(ep) != 1 || ep[0].(map[string]any)["port"] != "metrics" ||
		ep[0].(map[string]any)["interval"] != "15s" {
		t.Errorf("ServiceMonitor: labels %v, endpoints %v", sm.GetLabels(), ep)
	}
	checkMetricsService(t, objs, "agent-metrics", 9090, d.Spec.Selector.MatchLabels)
	for _, u := range objs {
		if strings.Contains(u.GetName(), "hub-access") {
			t.Errorf("%s %s rendered although hubAccess.enabled is false", u.GetKind(), u.GetName())
		}
	}
}

// TestHubChartRendersWithDefaults checks what `helm install flotilla-hub` puts in the hub
// cluster with no values set: three replicas in one raft group with stable peer addresses.
func TestHubChartRendersWithDefaults(t *testing.T) {
	objs := renderDefaults(t, hubChart, 5)
	// The hub reads ClusterAnalysisTemplates (gates with clusterScope: true), so its chart
	// installs that CRD too, the very one the spoke chart installs: helm installs a chart's CRD
	// only where it is missing, so in a hub cluster that is also a member whichever chart comes
	// first defines it.
	const cat = "clusteranalysistemplates.rollouts.flotilla.dev"
	spokeCAT := find(t, render(t, spokeChart, spokeChart, systemNamespace), "CustomResourceDefinition", cat)
	if hubCAT := find(t, objs, "CustomResourceDefinition", cat); !equality.Semantic.DeepEqual(hubCAT.Object, spokeCAT.Object) {
		t.Errorf("the hub chart's %s CRD differs from the spoke chart's: run make manifests", cat)
	}
	sts := typed[appsv1.StatefulSet](t, objs.one(t, "StatefulSet"))
	pod := sts.Spec.Template.Spec
	cfg := settings(t, objs, pod, "/etc/flotilla/config")
	checkPod(t, pod, "ghcr.io/flotilla-io/flotilla-hub:0.1.0", cfg, 8080, 8081)
	if *sts.Spec.Replicas != 3 || sts.Spec.ServiceName != "flotilla-hub-raft" || len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("StatefulSet: %d replicas, serviceName %q, %d claim templates", *sts.Spec.Replicas, sts.Spec.ServiceName, len(sts.Spec.VolumeClaimTemplates))
	}
	checkRaft(t, objs, sts, cfg, "flotilla-hub", 3, 3, 7420, "flotilla-hub-raft-tls")
	if cfg["member-namespace"] != systemNamespace {
		t.Errorf("member-namespace %v, want the release namespace", cfg["member-namespace"])
	}
	checkBinding(t, objs, "flotilla-hub", "flotilla-hub")
	checkGeneratedRules(t, objs, "flotilla-hub", "flotilla-hub/rbac/role.yaml", "ClusterRole")
	checkGeneratedRules(t, objs, "flotilla-hub-member-secrets", "flotilla-hub/rbac/role.yaml", "Role")
	role := find(t, objs, "Role", "flotilla-hub-member-secrets")
	if role.GetNamespace() != systemNamespace {
		t.Errorf("the member Secrets Role is in %q, want the member namespace %s", role.GetNamespace(), systemNamespace)
	}
	// Secrets are cached (listed and watched) in the member namespace only; elsewhere the
	// hub may only get one by name (a gate's secretKeyRef argument).
	cr := clusterRole(t, objs, "flotilla-hub")
	if allows(cr.Rules, "", "secrets", "list") || allows(cr.Rules, "", "secrets", "watch") {
		t.Errorf("the hub's ClusterRole may list or watch Secrets in every namespace: %v", cr.Rules)
	}
	if n := len(objs.all("PodDisruptionBudget")); n != 1 {
		t.Errorf("want a PodDisruptionBudget for 3 replicas, rendered %d", n)
	}
	checkMetricsService(t, objs, "flotilla-hub-metrics", 8080, sts.Spec.Selector.MatchLabels)
}

// TestHubChartRendersWithValues checks that every value of testdata/flotilla-hub-values.yaml
// reaches the objects.
func TestHubChartRendersWithValues(t *testing.T) {
	objs := render(t, hubChart, "fleet", systemNamespace, testdata(t, "flotilla-hub-values.yaml"))
	sts := typed[appsv1.StatefulSet](t, objs.one(t, "StatefulSet"))
	pod := sts.Spec.Template.Spec
	cfg := settings(t, objs, pod, "/etc/flotilla/config")
	checkPod(t, pod, "registry.example.com/flotilla/hub:v9.9.9", cfg, 9090, 9091)
	checkRaft(t, objs, sts, cfg, "fleet-hub", 5, 3, 7500, "hub-peer-certs")
	if len(sts.Spec.VolumeClaimTemplates) != 0 || volume(t, pod, "data").EmptyDir == nil {
		t.Errorf("persistence disabled: want an emptyDir for the raft data and no claim templates")
	}
	for k, want := range map[string]any{"log-format": "text", "member-namespace": "fleet-members",
		"member-probe-interval": "1m"} {
		if cfg[k] != want {
			t.Errorf("config %s: %v, want %v", k, cfg[k], want)
		}
	}
	if role := find(t, objs, "Role", "fleet-hub-member-secrets"); role.GetNamespace() != "fleet-members" {
		t.Errorf("the member Secrets Role is in %q, want fleet-members", role.GetNamespace())
	}
	if rb := find(t, objs, "RoleBinding", "fleet-hub-member-secrets"); rb.GetNamespace() != "fleet-members" {
		t.Errorf("the member Secrets RoleBinding is in %q, want fleet-members", rb.GetNamespace())
	}
	if pod.Affinity == nil || pod.Affinity.NodeAffinity == nil || pod.Affinity.PodAntiAffinity != nil {
		t.Errorf("affinity value not used as given: %+v", pod.Affinity)
	}
	objs.one(t, "ServiceMonitor")
	checkMetricsService(t, objs, "fleet-hub-metrics", 9090, sts.Spec.Selector.MatchLabels)
}

// TestHubChartScalesThroughRaftJoin checks that growing the hub changes only the
// StatefulSet's replicas: every pod keeps the same settings (so no running replica restarts
// and the bootstrap peer list never changes), and the new pods join through raft-join. A
// size below the bootstrap list is refused with a message that says what to do.
func TestHubChartScalesThroughRaftJoin(t *testing.T) {
	values := func(body string) string {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	three := render(t, hubChart, hubChart, systemNamespace)
	seven := render(t, hubChart, hubChart, systemNamespace, values("replicas: 7\n"))
	sts := typed[appsv1.StatefulSet](t, seven.one(t, "StatefulSet"))
	cfg := settings(t, seven, sts.Spec.Template.Spec, "/etc/flotilla/config")
	checkRaft(t, seven, sts, cfg, "flotilla-hub", 7, 3, 7420, "flotilla-hub-raft-tls")
	before := typed[corev1.ConfigMap](t, three.one(t, "ConfigMap")).Data["config.yaml"]
	if after := typed[corev1.ConfigMap](t, seven.one(t, "ConfigMap")).Data["config.yaml"]; after != before {
		t.Errorf("scaling from 3 to 7 changed the settings:\n%s\nbecame\n%s", before, after)
	}
	checksum := func(objs rendered) string {
		return typed[appsv1.StatefulSet](t, objs.one(t, "StatefulSet")).Spec.Template.Annotations["checksum/config"]
	}
	if checksum(three) != checksum(seven) {
		t.Errorf("scaling from 3 to 7 changed the pod template's config checksum: every replica would restart")
	}
	single := render(t, hubChart, hubChart, systemNamespace, values("replicas: 1\nraft:\n  bootstrapReplicas: 1\n"))
	sts = typed[appsv1.StatefulSet](t, single.one(t, "StatefulSet"))
	checkRaft(t, single, sts, settings(t, single, sts.Spec.Template.Spec, "/etc/flotilla/config"), "flotilla-hub", 1, 1, 7420,
		"flotilla-hub-raft-tls")

	out, err := helmRun(t, "template", hubChart, chartPath(t, hubChart), "--namespace", systemNamespace,
		"--values", values("replicas: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "replicas (2) is less than raft.bootstrapReplicas (3)") {
		t.Fatalf("replicas below the bootstrap list: want a refusal, got %v\n%s", err, out)
	}
}

// TestChartConfigIsAcceptedByTheBinaries builds flotilla-spoke and flotilla-hub and starts
// each with the settings file its chart renders (and, for the hub, the environment its pod
// sets): the settings must load, so each stops only at the first thing a test machine lacks,
// the cluster or the mounted peer certificates.
func TestChartConfigIsAcceptedByTheBinaries(t *testing.T) {
	root := repoPath(t, ".")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/flotilla-spoke", "./cmd/flotilla-hub")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// pod is the hub pod whose environment the binary gets: one of the bootstrap peer list,
	// or one above it, which joins.
	cases := []struct {
		chart, values, pod, wantErr string
	}{
		{spokeChart, "", "", "loading kubeconfig"},
		{spokeChart, "flotilla-spoke-values.yaml", "", "loading kubeconfig"},
		{hubChart, "", "release-flotilla-hub-0", "reading hub CA"},
		{hubChart, "flotilla-hub-values.yaml", "fleet-hub-0", "reading hub CA"},
		{hubChart, "flotilla-hub-values.yaml", "fleet-hub-4", "reading hub CA"},
	}
	for _, tc := range cases {
		t.Run(tc.chart+"/"+tc.values+"/"+tc.pod, func(t *testing.T) {
			var files []string
			if tc.values != "" {
				files = append(files, testdata(t, tc.values))
			}
			objs := render(t, tc.chart, "release", systemNamespace, files...)
			file := filepath.Join(t.TempDir(), "config.yaml")
			cm := typed[corev1.ConfigMap](t, objs.one(t, "ConfigMap"))
			if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(bin, tc.chart), "--config", file, "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
			cmd.Env = append(os.Environ(), "KUBECONFIG=")
			for _, sts := range objs.all("StatefulSet") {
				for _, e := range typed[appsv1.StatefulSet](t, sts).Spec.Template.Spec.Containers[0].Env {
					v := e.Value
					if e.ValueFrom != nil {
						v = tc.pod // metadata.name
					}
					cmd.Env = append(cmd.Env, e.Name+"="+strings.ReplaceAll(v, "$(FLOTILLA_RAFT_ID)", tc.pod))
				}
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("%s started with no cluster: %s", tc.chart, out)
			}
			if strings.Contains(string(out), "config:") || !strings.Contains(string(out), tc.wantErr) {
				t.Fatalf("%s refused the chart's settings, or stopped elsewhere than at %q:\n%s", tc.chart, tc.wantErr, out)
			}
		})
	}
}

// renderDefaults renders chart with its default values, as release chart in the system
// namespace, and checks what holds for both charts: every CRD it installs is there, and no
// ServiceMonitor unless asked for.
func renderDefaults(t testing.TB, chart string, crds int) rendered {
	t.Helper()
	objs := render(t, chart, chart, systemNamespace)
	if got := objs.all("ServiceMonitor"); len(got) != 0 {
		t.Errorf("a ServiceMonitor is rendered although metrics.serviceMonitor.enabled is false")
	}
	if n := len(objs.all("CustomResourceDefinition")); n != crds {
		t.Errorf("want the chart's %d CRDs, rendered %d", crds, n)
	}
	return objs
}

// typed converts a rendered object to its Go type, refusing unknown fields.
func typed[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

func find(t testing.TB, objs rendered, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs.all(kind) {
		if u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func volume(t testing.TB, pod corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("pod has no volume %s", name)
	return corev1.Volume{}
}

// settings returns the settings file the pod reads: the --config argument must name the file
// of the ConfigMap mounted at dir.
func settings(t testing.TB, objs rendered, pod corev1.PodSpec, dir string) map[string]any {
	t.Helper()
	c := pod.Containers[0]
	if !slices.Contains(c.Args, "--config="+dir+"/config.yaml") {
		t.Fatalf("args %v do not name %s/config.yaml", c.Args, dir)
	}
	cm := typed[corev1.ConfigMap](t, objs.one(t, "ConfigMap"))
	if v := volume(t, pod, "config"); v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Fatalf("volume config is not the ConfigMap %s", cm.Name)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.Name == "config" && m.MountPath == dir)
	}
	if !mounted {
		t.Fatalf("the ConfigMap is not mounted at %s", dir)
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
		t.Fatalf("config.yaml is not YAML: %v", err)
	}
	return cfg
}

// checkPod checks the container every chart runs: image, security, probes on the health
// endpoints the binary serves, and ports that match its settings.
func checkPod(t testing.TB, pod corev1.PodSpec, image string, cfg map[string]any, metricsPort, healthPort int32) {
	t.Helper()
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != image {
		t.Errorf("image %q, want %q", c.Image, image)
	}
	ps := pod.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.SeccompProfile == nil {
		t.Errorf("pod securityContext must run as non-root with a seccomp profile: %+v", ps)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext must have a read-only root, no privilege escalation and no capabilities: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources must request CPU and limit memory: %+v", c.Resources)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != metricsPort || ports["health"] != healthPort {
		t.Errorf("container ports %v, want metrics %d and health %d", ports, metricsPort, healthPort)
	}
	if cfg["metrics-bind-address"] != ":"+itoa(metricsPort) || cfg["health-probe-bind-address"] != ":"+itoa(healthPort) {
		t.Errorf("the binary would listen on %v and %v, not on the container ports", cfg["metrics-bind-address"], cfg["health-probe-bind-address"])
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port.StrVal != "health" {
			t.Errorf("want a probe on %s at port health, got %+v", name, p)
		}
	}
}

// checkRaft checks the raft layout of a hub StatefulSet: one static peer per bootstrap
// replica at its stable name behind the headless Service, the same addresses to join through
// for the replicas above them, the replica's id and advertised address from its pod name,
// and the TLS Secret mounted where the settings point.
func checkRaft(t testing.TB, objs rendered, sts *appsv1.StatefulSet, cfg map[string]any, fullname string, replicas, bootstrap int, port int32, secret string) {
	t.Helper()
	if int(*sts.Spec.Replicas) != replicas {
		t.Errorf("replicas %d, want %d", *sts.Spec.Replicas, replicas)
	}
	svc := typed[corev1.Service](t, find(t, objs, "Service", fullname+"-raft"))
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || svc.Spec.Ports[0].Port != port ||
		sts.Spec.ServiceName != svc.Name {
		t.Errorf("raft Service must be headless, publish unready peers and serve port %d: %+v", port, svc.Spec)
	}
	peers, _ := cfg["raft-peers"].([]any)
	join, _ := cfg["raft-join"].([]any)
	if len(peers) != bootstrap || len(join) != bootstrap {
		t.Fatalf("raft-peers %v and raft-join %v, want %d of each", cfg["raft-peers"], cfg["raft-join"], bootstrap)
	}
	for i, p := range peers {
		id := fullname + "-" + itoa(int32(i))
		addr := id + "." + svc.Name + "." + systemNamespace + ".svc:" + itoa(port)
		if p != id+"="+addr {
			t.Errorf("raft-peers[%d] %v, want %s", i, p, id+"="+addr)
		}
		if join[i] != addr {
			t.Errorf("raft-join[%d] %v, want %s", i, join[i], addr)
		}
	}
	if cfg["raft-bind-address"] != "0.0.0.0:"+itoa(port) {
		t.Errorf("raft-bind-address %v", cfg["raft-bind-address"])
	}
	env := map[string]corev1.EnvVar{}
	c := sts.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["FLOTILLA_RAFT_ID"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("raft-id must be the pod name: %+v", e)
	}
	if e := env["FLOTILLA_RAFT_ADVERTISE_ADDRESS"]; e.Value != "$(FLOTILLA_RAFT_ID)."+svc.Name+"."+systemNamespace+".svc:"+itoa(port) {
		t.Errorf("raft-advertise-address %q", e.Value)
	}
	if v := volume(t, sts.Spec.Template.Spec, "raft-tls"); v.Secret == nil || v.Secret.SecretName != secret {
		t.Errorf("raft-tls volume is not the Secret %s", secret)
	}
	for _, k := range []string{"raft-tls-ca", "raft-tls-cert", "raft-tls-key"} {
		if p, _ := cfg[k].(string); !strings.HasPrefix(p, "/etc/flotilla/raft-tls/") {
			t.Errorf("%s %q is not in the mounted Secret", k, p)
		}
	}
}

func checkMetricsService(t testing.TB, objs rendered, name string, port int32, selector map[string]string) {
	t.Helper()
	svc := typed[corev1.Service](t, find(t, objs, "Service", name))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port || svc.Spec.Ports[0].Name != "metrics" {
		t.Errorf("metrics Service ports %v, want metrics on %d", svc.Spec.Ports, port)
	}
	for k, v := range svc.Spec.Selector {
		if selector[k] != v {
			t.Errorf("metrics Service selects %v, not the pods (%v)", svc.Spec.Selector, selector)
		}
	}
}

func clusterRole(t testing.TB, objs rendered, name string) *rbacv1.ClusterRole {
	t.Helper()
	return typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", name))
}

// checkBinding checks that the ClusterRoleBinding name binds the ClusterRole name to the
// ServiceAccount sa of the release namespace.
func checkBinding(t testing.TB, objs rendered, name, sa string) {
	t.Helper()
	b := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", name))
	if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != name || len(b.Subjects) != 1 ||
		b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != sa || b.Subjects[0].Namespace != systemNamespace {
		t.Errorf("ClusterRoleBinding %s: roleRef %v, subjects %v", name, b.RoleRef, b.Subjects)
	}
}

// checkGeneratedRules checks that the role name of kind carries exactly the rules
// controller-gen generated into file (relative to charts/).
func checkGeneratedRules(t testing.TB, objs rendered, name, file, kind string) {
	t.Helper()
	want := generatedRules(t, file, kind)
	var got []rbacv1.PolicyRule
	switch kind {
	case "Role":
		got = typed[rbacv1.Role](t, find(t, objs, kind, name)).Rules
	default:
		got = clusterRole(t, objs, name).Rules
	}
	if len(want) == 0 || !equalRules(got, want) {
		t.Errorf("%s %s rules differ from %s:\n got %v\nwant %v", kind, name, file, got, want)
	}
}

// generatedRules are the rules of the Role or ClusterRole (kind) in a file that make manifests
// generates under charts/.
func generatedRules(t testing.TB, file, kind string) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(repoPath(t, "charts/"+file))
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var r rbacv1.ClusterRole // a Role has the same fields
		if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == kind {
			rules = r.Rules
		}
	}
	return rules
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	return slices.EqualFunc(a, b, func(x, y rbacv1.PolicyRule) bool {
		return slices.Equal(x.APIGroups, y.APIGroups) && slices.Equal(x.Resources, y.Resources) && slices.Equal(x.Verbs, y.Verbs) &&
			slices.Equal(x.ResourceNames, y.ResourceNames) && slices.Equal(x.NonResourceURLs, y.NonResourceURLs)
	})
}

// allows reports whether rules grant verb on group/resource.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) &&
			(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
			return true
		}
	}
	return false
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
