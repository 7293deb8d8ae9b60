package plugin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The verbs are tested against a real API server with the spoke CRDs and no controller:
// each test checks what the verb wrote to the Rollout, which is the whole contract with the
// engine (see the package doc of spoke/rollout/engine).

const demo = `
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: Rollout
metadata:
  name: demo
spec:
  replicas: 5
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
  selector:
    matchLabels:
      app: demo
  template:
    metadata:
      labels:
        app: demo
    spec:
      containers:
      - name: app
        image: demo:blue
      - name: sidecar
        image: proxy:1
`

type fixture struct {
	c          client.Client
	kubeconfig string
	ns         string
}

// One API server for the tests of this package, started by the first test that needs it
// and stopped after the last one; one namespace per test.
var (
	envOnce sync.Once
	env     *harness.Env
	envErr  error
	envDir  string
)

func TestMain(m *testing.M) {
	harness.HandleSignals(os.Stderr)
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the API server:", err)
			code = 1
		}
	}
	if envDir != "" {
		if code != 0 || os.Getenv(harness.KeepLogsEnv) != "" {
			fmt.Fprintf(os.Stderr, "API server logs kept in %s\n", envDir)
		} else {
			_ = os.RemoveAll(envDir)
		}
	}
	os.Exit(code)
}

func setup(t *testing.T) fixture {
	t.Helper()
	envOnce.Do(func() {
		if envDir, envErr = os.MkdirTemp("", "flotilla-plugin-"); envErr != nil {
			return
		}
		env, envErr = harness.StartEnv(harness.EnvOptions{Dir: envDir, Scheme: plugin.Scheme(), CRDDirs: []string{harness.SpokeCRDDir, harness.HubCRDDir}})
	})
	if envErr != nil {
		t.Fatalf("starting the API server: %v", envErr)
	}
	return fixture{c: env.Client, kubeconfig: writeKubeconfig(t, env.Config), ns: env.Namespace(t)}
}

func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["env"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["env"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["env"] = &clientcmdapi.Context{Cluster: "env", AuthInfo: "env"}
	kc.CurrentContext = "env"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (f fixture) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _, err := plugin.Run(ctx, f.kubeconfig, append([]string{"-n", f.ns}, args...)...)
	return out, err
}

func (f fixture) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := f.run(t, args...)
	if err != nil {
		t.Fatalf("kubectl flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (f fixture) create(t *testing.T) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict([]byte(demo), ro); err != nil {
		t.Fatal(err)
	}
	ro.Namespace = f.ns
	if err := f.c.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

func (f fixture) get(t *testing.T) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "demo"}, ro); err != nil {
		t.Fatal(err)
	}
	return ro
}

func (f fixture) setStatus(t *testing.T, ro *v1alpha1.Rollout, mutate func(*v1alpha1.RolloutStatus)) {
	t.Helper()
	mutate(&ro.Status)
	if err := f.c.Status().Update(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
}

func TestPromoteClearsPauseConditions(t *testing.T) {
	f := setup(t)
	ro := f.create(t)
	f.setStatus(t, ro, func(s *v1alpha1.RolloutStatus) {
		s.ControllerPause = true
		s.PauseConditions = []v1alpha1.PauseCondition{{Reason: v1alpha1.PauseReasonCanaryPauseStep, StartTime: metav1.Now()}}
	})
	f.mustRun(t, "promote", "demo")
	got := f.get(t)
	if len(got.Status.PauseConditions) != 0 || !got.Status.ControllerPause || got.Status.PromoteFull {
		t.Errorf("after promote: pauseConditions %v controllerPause %v promoteFull %v; want none, true (kept), false",
			got.Status.PauseConditions, got.Status.ControllerPause, got.Status.PromoteFull)
	}
	f.mustRun(t, "promote", "demo", "--full")
	if got := f.get(t); !got.Status.PromoteFull {
		t.Error("after promote --full: status.promoteFull is false")
	}
}

func TestPromoteRefusesSpecPaused(t *testing.T) {
	f := setup(t)
	f.create(t)
	f.mustRun(t, "pause", "demo")
	if _, err := f.run(t, "promote", "demo"); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Errorf("promote of a Rollout paused by spec.paused: err %v, want one that says to resume", err)
	}
}

func TestAbortAndRetry(t *testing.T) {
	f := setup(t)
	f.create(t)
	if _, err := f.run(t, "retry", "demo"); err == nil {
		t.Error("retry of a Rollout that is not aborted succeeded")
	}
	f.mustRun(t, "abort", "demo")
	if got := f.get(t); !got.Status.Abort {
		t.Fatal("after abort: status.abort is false")
	}
	f.mustRun(t, "retry", "demo")
	if got := f.get(t); got.Status.Abort {
		t.Fatal("after retry: status.abort is still true")
	}
}

func TestPauseResumeRestart(t *testing.T) {
	f := setup(t)
	f.create(t)
	f.mustRun(t, "pause", "demo")
	if got := f.get(t); !got.Spec.Paused {
		t.Fatal("after pause: spec.paused is false")
	}
	f.mustRun(t, "resume", "demo")
	if got := f.get(t); got.Spec.Paused {
		t.Fatal("after resume: spec.paused is true")
	}
	before := time.Now().Add(-time.Second)
	f.mustRun(t, "restart", "demo")
	got := f.get(t)
	if got.Spec.RestartAt == nil || got.Spec.RestartAt.Time.Before(before.Truncate(time.Second)) {
		t.Fatalf("after restart: spec.restartAt %v, want about now (%s)", got.Spec.RestartAt, before)
	}
}

func TestSetImage(t *testing.T) {
	f := setup(t)
	f.create(t)
	f.mustRun(t, "set", "image", "demo", "app=demo:yellow")
	got := f.get(t)
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "demo:yellow" {
		t.Errorf("app image %q, want demo:yellow", img)
	}
	if img := got.Spec.Template.Spec.Containers[1].Image; img != "proxy:1" {
		t.Errorf("sidecar image %q, want it untouched (proxy:1)", img)
	}
	if _, err := f.run(t, "set", "image", "demo", "nope=x:1"); err == nil || !strings.Contains(err.Error(), "no container named nope") {
		t.Errorf("set image of a missing container: err %v", err)
	}
}

// ownedRS creates a ReplicaSet of the Rollout with the given revision and image.
func (f fixture) ownedRS(t *testing.T, ro *v1alpha1.Rollout, hash, rev, image string) {
	t.Helper()
	tmpl := ro.Spec.Template.DeepCopy()
	tmpl.Labels[engine.LabelPodTemplateHash] = hash
	tmpl.Annotations = map[string]string{"from": rev}
	tmpl.Spec.Containers[0].Image = image
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-" + hash, Namespace: f.ns,
			Labels:      map[string]string{engine.LabelPodTemplateHash: hash},
			Annotations: map[string]string{engine.AnnotationRevision: rev},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Rollout", Name: ro.Name,
				UID: ro.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "demo", engine.LabelPodTemplateHash: hash}},
			Template: *tmpl},
	}
	if err := f.c.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
}

func TestUndo(t *testing.T) {
	f := setup(t)
	ro := f.create(t)
	f.ownedRS(t, ro, "h1", "1", "demo:v1")
	f.ownedRS(t, ro, "h2", "2", "demo:v2")
	f.ownedRS(t, ro, "h3", "3", "demo:v3")
	f.setStatus(t, ro, func(s *v1alpha1.RolloutStatus) { s.CurrentPodHash = "h3" })

	f.mustRun(t, "undo", "demo")
	got := f.get(t)
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "demo:v2" {
		t.Errorf("undo: image %q, want the previous revision's demo:v2", img)
	}
	if _, ok := got.Spec.Template.Labels[engine.LabelPodTemplateHash]; ok {
		t.Error("undo copied the pod-template-hash label into spec.template")
	}
	if got.Spec.Template.Annotations["from"] != "2" {
		t.Errorf("undo: template annotations %v, want revision 2's", got.Spec.Template.Annotations)
	}
	f.mustRun(t, "undo", "demo", "--to-revision", "1")
	if img := f.get(t).Spec.Template.Spec.Containers[0].Image; img != "demo:v1" {
		t.Errorf("undo --to-revision 1: image %q, want demo:v1", img)
	}
	if _, err := f.run(t, "undo", "demo", "--to-revision", "9"); err == nil {
		t.Error("undo to a revision that does not exist succeeded")
	}
}

func TestStatusExitCodes(t *testing.T) {
	f := setup(t)
	ro := f.create(t)
	healthy := func(s *v1alpha1.RolloutStatus) {
		s.Phase, s.Message, s.ObservedGeneration = v1alpha1.RolloutPhaseHealthy, "", ro.Generation
	}
	f.setStatus(t, ro, healthy)
	out, err := f.run(t, "status", "demo")
	if plugin.ExitCode(err) != plugin.ExitHealthy || !strings.Contains(out, "Healthy") {
		t.Errorf("status of a Healthy Rollout: exit %d (%v), output %q", plugin.ExitCode(err), err, out)
	}

	ro = f.get(t)
	f.setStatus(t, ro, func(s *v1alpha1.RolloutStatus) {
		s.Phase, s.Message = v1alpha1.RolloutPhaseDegraded, "RolloutAborted: metric error-rate failed"
	})
	out, err = f.run(t, "status", "demo")
	if plugin.ExitCode(err) != plugin.ExitDegraded || !strings.Contains(out, "Degraded - RolloutAborted: metric error-rate failed") {
		t.Errorf("status of a Degraded Rollout: exit %d (%v), output %q", plugin.ExitCode(err), err, out)
	}

	ro = f.get(t)
	f.setStatus(t, ro, func(s *v1alpha1.RolloutStatus) { s.Phase, s.Message = v1alpha1.RolloutPhasePaused, "CanaryPauseStep" })
	start := time.Now()
	out, err = f.run(t, "status", "demo", "--watch", "--timeout", "1s")
	if plugin.ExitCode(err) != plugin.ExitTimeout || !strings.Contains(out, "Paused - CanaryPauseStep") {
		t.Errorf("status --watch --timeout 1s of a paused Rollout: exit %d (%v) after %s, output %q", plugin.ExitCode(err), err, time.Since(start), out)
	}

	// --watch returns as soon as the Rollout becomes Healthy.
	go func() {
		time.Sleep(500 * time.Millisecond)
		ro := f.get(t)
		healthy(&ro.Status)
		_ = f.c.Status().Update(context.Background(), ro)
	}()
	out, err = f.run(t, "status", "demo", "--watch", "--timeout", "20s")
	if plugin.ExitCode(err) != plugin.ExitHealthy || !strings.Contains(out, "Paused - CanaryPauseStep\nHealthy\n") {
		t.Errorf("status --watch of a Rollout becoming Healthy: exit %d (%v), output %q", plugin.ExitCode(err), err, out)
	}

	// A Healthy status for an older generation is not Healthy yet.
	f.mustRun(t, "set", "image", "demo", "app=demo:new")
	_, err = f.run(t, "status", "demo", "--watch", "--timeout", "1s")
	if plugin.ExitCode(err) != plugin.ExitTimeout {
		t.Errorf("status --watch right after set image: exit %d (%v), want a timeout while the generation is unobserved", plugin.ExitCode(err), err)
	}
}

func TestGetAndList(t *testing.T) {
	f := setup(t)
	ro := f.create(t)
	f.ownedRS(t, ro, "h1", "1", "demo:v1")
	f.setStatus(t, ro, func(s *v1alpha1.RolloutStatus) {
		s.Phase, s.StableRS, s.CurrentPodHash, s.CurrentStepIndex = v1alpha1.RolloutPhaseHealthy, "h1", "h1", ptr.To[int32](2)
	})
	out := f.mustRun(t, "get", "rollout", "demo")
	for _, w := range []string{"Name:            demo", "Status:          ✔ Healthy", "Step:          2/2", "└──# revision:1", "⧉ demo-h1", "stable ready:0/0"} {
		if !strings.Contains(out, w) {
			t.Errorf("get rollout lacks %q:\n%s", w, out)
		}
	}
	out = f.mustRun(t, "list", "rollouts")
	if !strings.Contains(out, "demo  Canary    Healthy  2/2") {
		t.Errorf("list rollouts:\n%s", out)
	}

	// --watch renders again on a change, and --timeout ends it.
	go func() {
		time.Sleep(time.Second)
		ro := f.get(t)
		ro.Status.Phase = v1alpha1.RolloutPhaseDegraded
		_ = f.c.Status().Update(context.Background(), ro)
	}()
	out = f.mustRun(t, "get", "rollout", "demo", "--watch", "--timeout", "4s")
	if !strings.Contains(out, "✔ Healthy") || !strings.Contains(out, "✖ Degraded") {
		t.Errorf("get rollout --watch did not render the change from Healthy to Degraded:\n%s", out)
	}
}

func TestLintCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	manifest := strings.Replace(demo, "setWeight: 20", "setWeight: 120", 1) + "---\n" + demo
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := plugin.Run(context.Background(), filepath.Join(dir, "no-kubeconfig"), "lint", "-f", path)
	if plugin.ExitCode(err) != 1 {
		t.Errorf("lint of a file with an invalid Rollout: exit %d (%v)", plugin.ExitCode(err), err)
	}
	if !strings.Contains(out, "must not exceed trafficRouting.maxTrafficWeight") || !strings.Contains(out, "Rollout/demo: valid") {
		t.Errorf("lint output:\n%s", out)
	}
}

// TestLintSaysWhatTheAPIServerSays: for every invalid manifest of the API's corpus that is
// refused on create (and for one with an unknown field), lint's error is word for word the
// error the API server returns for the same object.
func TestLintSaysWhatTheAPIServerSays(t *testing.T) {
	f := setup(t)
	l, err := plugin.NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "api", "testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	unknown := filepath.Join(t.TempDir(), "unknown-field.yaml")
	if err := os.WriteFile(unknown, []byte(strings.Replace(demo, "  replicas: 5", "  replicas: 5\n  replica: 3", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	files = append(files, unknown)
	same := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "# patch:") {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		lintErr := l.Lint(context.Background(), obj.DeepCopy())
		if obj.GetNamespace() == "" {
			obj.SetNamespace(f.ns)
		}
		apiErr := f.c.Create(context.Background(), obj, client.FieldValidation(metav1.FieldValidationStrict))
		if lintErr == nil || apiErr == nil {
			t.Errorf("%s: lint error %v, API server error %v; want both", filepath.Base(path), lintErr, apiErr)
			continue
		}
		l, a := strings.ReplaceAll(lintErr.Error(), `"default"`, `"`+f.ns+`"`), apiErr.Error()
		if l != a {
			t.Errorf("%s: lint and the API server differ:\nlint: %s\napi:  %s", filepath.Base(path), l, a)
			continue
		}
		same++
	}
	t.Logf("%d manifests: lint's error is the API server's", same)
}
