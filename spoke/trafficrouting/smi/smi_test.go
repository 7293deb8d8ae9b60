package smi_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/smi"
	"github.com/flotilla-io/flotilla/test/harness"
)

var trafficSplit = schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha4", Kind: "TrafficSplit"}

func rollout(ns string, cfg *v1alpha1.SMITrafficRouting) *v1alpha1.Rollout {
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: uuid.NewUUID()},
		Spec: v1alpha1.RolloutSpec{Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
			StableService: "web-stable", CanaryService: "web-canary",
			TrafficRouting: &v1alpha1.RolloutTrafficRouting{SMI: cfg},
		}}},
	}
}

func TestSMI(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	writes := harness.RecordWrites(env.Client)
	wantWrites := func(t *testing.T, n int, what string) {
		t.Helper()
		if got := writes.Writes(); len(got) != n {
			t.Fatalf("%s: writes %v, want %d", what, got, n)
		}
		writes.Reset()
	}

	// First without the CRD: the error says so.
	t.Run("CRD not installed", func(t *testing.T) {
		ns := env.Namespace(t)
		r, err := smi.New(writes, rollout(ns, &v1alpha1.SMITrafficRouting{}))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetWeight(ctx, 20)
		var missing *trafficrouting.CRDNotInstalledError
		if !errors.As(err, &missing) || missing.GroupKind != smi.TrafficSplitKind {
			t.Fatalf("want a CRDNotInstalledError, got %v", err)
		}
		if trafficrouting.Reason(err) != trafficrouting.ReasonCRDNotInstalled {
			t.Errorf("reason %q", trafficrouting.Reason(err))
		}
		t.Logf("without the CRD: %v", err)
		wantWrites(t, 0, "without the CRD")
	})

	// The CRD as smi-sdk-go v0.5.0 ships it (apiextensions v1beta1, converted to v1).
	dir := harness.CRDDir(t, harness.ModuleFiles(t, "github.com/servicemeshinterface/smi-sdk-go", "v0.5.0", "crds/split.yaml"))
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}

	t.Run("canary 20 50 100 then abort", func(t *testing.T) {
		ns := env.Namespace(t)
		ro := rollout(ns, &v1alpha1.SMITrafficRouting{RootService: "web"})
		r, err := smi.New(writes, ro)
		if err != nil {
			t.Fatal(err)
		}
		get := func() map[string]any {
			return harness.GetUnstructured(t, env.Client, trafficSplit, ns, "web").Object
		}
		for i, w := range []int32{20, 50, 100, 0} {
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			wantWrites(t, 1, "new weight")
			wantManager(t, harness.GetUnstructured(t, env.Client, trafficSplit, ns, "web"))
			ts := get()
			harness.EqualYAML(t, "spec", `
service: web
backends:
- {service: web-canary, weight: `+itoa(w)+`}
- {service: web-stable, weight: `+itoa(100-w)+`}
`, ts["spec"])
			meta := ts["metadata"].(map[string]any)
			harness.EqualYAML(t, "ownerReferences", `
- apiVersion: rollouts.flotilla.dev/v1alpha1
  kind: Rollout
  name: web
  uid: `+string(ro.UID)+`
  controller: true
  blockOwnerDeletion: true
`, meta["ownerReferences"])
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			wantWrites(t, 0, "same weight again")

			if i == 0 {
				// The user labels the TrafficSplit; the label must stay.
				if err := env.Client.Patch(ctx, harness.GetUnstructured(t, env.Client, trafficSplit, ns, "web"),
					client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"web"}}}`)),
					client.FieldOwner(harness.UserFieldOwner)); err != nil {
					t.Fatal(err)
				}
			}
			if labels := get()["metadata"].(map[string]any)["labels"]; !harness.EqualYAML(t, "labels", `{team: web}`, labels) {
				t.Errorf("weight %d: the user's label is gone", w)
			}
		}
		// After the abort the TrafficSplit stays with everything on stable; the managed
		// route calls change nothing.
		for _, err := range []error{
			r.RemoveManagedRoutes(ctx),
			r.SetHeaderRoute(ctx, &v1alpha1.SetHeaderRoute{Name: "x"}),
			r.SetMirrorRoute(ctx, &v1alpha1.SetMirrorRoute{Name: "x"}),
			r.UpdateHash(ctx, "a", "b"),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		wantWrites(t, 0, "route calls")
		if v, err := r.VerifyWeight(ctx, 0); err != nil || v != trafficrouting.VerificationUnsupported {
			t.Errorf("VerifyWeight: %v %v", v, err)
		}
	})

	t.Run("experiment destinations and a named TrafficSplit", func(t *testing.T) {
		ns := env.Namespace(t)
		r, err := smi.New(writes, rollout(ns, &v1alpha1.SMITrafficRouting{TrafficSplitName: "split"}))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SetWeight(ctx, 20, v1alpha1.WeightDestination{ServiceName: "web-exp", Weight: 10}); err != nil {
			t.Fatal(err)
		}
		wantWrites(t, 1, "with an experiment")
		harness.EqualYAML(t, "spec", `
service: web-stable
backends:
- {service: web-canary, weight: 20}
- {service: web-exp, weight: 10}
- {service: web-stable, weight: 70}
`, harness.GetUnstructured(t, env.Client, trafficSplit, ns, "split").Object["spec"])
		// The experiment ends.
		if err := r.SetWeight(ctx, 20); err != nil {
			t.Fatal(err)
		}
		harness.EqualYAML(t, "spec", `
service: web-stable
backends:
- {service: web-canary, weight: 20}
- {service: web-stable, weight: 80}
`, harness.GetUnstructured(t, env.Client, trafficSplit, ns, "split").Object["spec"])
		writes.Reset()
	})

	t.Run("errors", func(t *testing.T) {
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, `
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends: [{service: web-v1, weight: 100}]
`)
		r, err := smi.New(writes, rollout(ns, &v1alpha1.SMITrafficRouting{}))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetWeight(ctx, 20)
		var invalid *trafficrouting.InvalidConfigError
		if !errors.As(err, &invalid) {
			t.Fatalf("a TrafficSplit that is not the Rollout's: got %v", err)
		}
		t.Logf("taken: %v", err)
		wantWrites(t, 0, "taken TrafficSplit")

		// A version the CRD does not serve.
		r, err = smi.New(writes, rollout(ns, &v1alpha1.SMITrafficRouting{TrafficSplitName: "other"}), smi.WithAPIVersion("v1alpha2"))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetWeight(ctx, 20)
		if !errors.As(err, &invalid) {
			t.Fatalf("unserved version: got %v", err)
		}
		t.Logf("unserved version: %v", err)
		if _, err := smi.New(writes, rollout(ns, &v1alpha1.SMITrafficRouting{}), smi.WithAPIVersion("v2")); err == nil {
			t.Error("unknown version accepted")
		}
	})
}

func itoa(w int32) string { return strconv.Itoa(int(w)) }

// wantManager fails the test unless the field manager flotilla-spoke has fields of obj.
func wantManager(t *testing.T, obj metav1.Object) {
	t.Helper()
	for _, e := range obj.GetManagedFields() {
		if e.Manager == trafficrouting.FieldManager {
			return
		}
	}
	t.Errorf("%s has no fields of manager %s", obj.GetName(), trafficrouting.FieldManager)
}
