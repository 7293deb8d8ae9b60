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

package ambassador_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting"
	"github.com/flotilla-io/flotilla/spoke/trafficrouting/ambassador"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The Mapping CRD comes from Emissary-ingress's own module. It serves v1, v2 and v3alpha1,
// stores v2, and converts through a webhook that does not run here: the router must use v2.
//
// The module holds its CRDs in several renderings of one source (build-aux/generate.mk runs
// tools/src/fix-crds once per target). pkg/api/getambassador.io/crds.yaml is the
// "internal-validator" one, which keeps string-or-list unions that an API server refuses as
// not structural; test/apiext/testdata/crds.yaml is the "apiext-crds" one, the CRDs alone as
// Emissary installs them into an API server (the same schemas as
// manifests/emissary/emissary-crds.yaml.in, without its Deployment and RBAC).
const (
	emissaryModule  = "github.com/emissary-ingress/emissary/v3"
	emissaryVersion = "v3.10.0"
	emissaryCRDFile = "test/apiext/testdata/crds.yaml"
)

var mappingGVK = schema.GroupVersionKind{Group: ambassador.Group, Version: "v2", Kind: ambassador.Kind}

func newRollout(ns string, mappings ...string) *v1alpha1.Rollout {
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: types.UID("c4a8e0d2-5b3f-4f6a-8e2d-" + fmt.Sprintf("%012d", len(ns)))}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{
		StableService: "web-stable",
		CanaryService: "web-canary",
		TrafficRouting: &v1alpha1.RolloutTrafficRouting{
			Ambassador: &v1alpha1.AmbassadorTrafficRouting{Mappings: mappings},
		},
	}
	return ro
}

const stableMapping = `
apiVersion: getambassador.io/v2
kind: Mapping
metadata:
  name: web
  labels: {team: payments}
spec:
  prefix: /web/
  service: web-stable.shop:8080
  timeout_ms: 3000
  ambassador_id: [edge]
`

func TestAmbassadorRouter(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{
		CRDDirs: []string{harness.VendorCRDDir(t, emissaryModule, emissaryVersion, emissaryCRDFile)},
	})

	t.Run("canary 20 50 100 then abort", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		harness.CreateYAML(t, env.Client, ns, stableMapping)
		stableBefore := harness.GetUnstructured(t, env.Client, mappingGVK, ns, "web")
		c := harness.RecordWrites(env.Client)
		ro := newRollout(ns, "web")
		r, err := ambassador.New(c, ro)
		if err != nil {
			t.Fatal(err)
		}

		// Weight 0 before the canary Mapping exists creates nothing.
		if err := r.SetWeight(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if writes := c.Writes(); len(writes) != 0 {
			t.Errorf("SetWeight(0) with no canary Mapping wrote: %v", writes)
		}

		extra := ""
		for _, w := range []int32{20, 50, 100, 0} {
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatalf("SetWeight(%d): %v", w, err)
			}
			if n := len(c.Writes()); n != 1 {
				t.Errorf("SetWeight(%d) wrote %d times, want 1: %v", w, n, c.Writes())
			}
			canary := harness.GetUnstructured(t, env.Client, mappingGVK, ns, "web-canary")
			harness.EqualYAML(t, fmt.Sprintf("canary Mapping spec at %d", w), fmt.Sprintf(`
prefix: /web/
service: web-canary.shop:8080
timeout_ms: 3000
ambassador_id: [edge]
weight: %d
%s`, w, extra), canary.Object["spec"])
			if !metav1.IsControlledBy(canary, ro) || canary.GetLabels()["team"] != "payments" {
				t.Errorf("the canary Mapping is not owned by the Rollout or lacks the labels: %v %v", canary.GetOwnerReferences(), canary.GetLabels())
			}
			// The stable Mapping is never written.
			stable := harness.GetUnstructured(t, env.Client, mappingGVK, ns, "web")
			if stable.GetResourceVersion() != stableBefore.GetResourceVersion() {
				t.Errorf("the stable Mapping changed: %v", stable.Object["spec"])
			}
			c.Reset()
			if err := r.SetWeight(ctx, w); err != nil {
				t.Fatal(err)
			}
			if writes := c.Writes(); len(writes) != 0 {
				t.Errorf("SetWeight(%d) at an unchanged weight wrote: %v", w, writes)
			}
			if w == 50 {
				// Someone adds a field to the canary Mapping: a weight change leaves it.
				if err := env.Client.Patch(ctx, canary, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"retry_policy":{"num_retries":2}}}`)),
					client.FieldOwner(harness.UserFieldOwner)); err != nil {
					t.Fatal(err)
				}
				extra = "retry_policy: {num_retries: 2}\n" // expected from now on
			}
		}

		// The abort (weight 0 above) keeps the canary Mapping at weight 0; removing the
		// managed routes deletes it.
		if err := r.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		gone := &unstructured.Unstructured{}
		gone.SetGroupVersionKind(mappingGVK)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-canary"}, gone); !apierrors.IsNotFound(err) {
			t.Errorf("the canary Mapping is still there: %v", err)
		}
	})

	t.Run("errors a person can act on", func(t *testing.T) {
		ctx := context.Background()
		ns := env.Namespace(t)
		r, err := ambassador.New(env.Client, newRollout(ns, "web"))
		if err != nil {
			t.Fatal(err)
		}
		var notFound *trafficrouting.ObjectNotFoundError
		if err := r.SetWeight(ctx, 10); !errors.As(err, &notFound) || notFound.Name != "web" {
			t.Errorf("missing stable Mapping: got %v, want an ObjectNotFoundError for web", err)
		}

		harness.CreateYAML(t, env.Client, ns, strings.Replace(stableMapping, "timeout_ms: 3000", "weight: 30", 1))
		if err := r.SetWeight(ctx, 10); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("a stable Mapping with a weight: got %v, want an InvalidConfigError", err)
		} else {
			t.Logf("reads: %v", err)
		}

		harness.CreateYAML(t, env.Client, ns, strings.Replace(strings.Replace(stableMapping, "web-stable.shop", "api.shop", 1), "name: web\n", "name: api\n", 1))
		api, err := ambassador.New(env.Client, newRollout(ns, "api"))
		if err != nil {
			t.Fatal(err)
		}
		var routeNotFound *trafficrouting.RouteNotFoundError
		if err := api.SetWeight(ctx, 10); !errors.As(err, &routeNotFound) {
			t.Errorf("a Mapping whose service is not the stable Service: got %v, want a RouteNotFoundError", err)
		} else {
			t.Logf("reads: %v", err)
		}

		// A Mapping of the canary's name that the user owns is not taken over.
		harness.CreateYAML(t, env.Client, ns, strings.Replace(stableMapping, "name: web\n", "name: shop\n", 1))
		harness.CreateYAML(t, env.Client, ns, strings.Replace(stableMapping, "name: web\n", "name: shop-canary\n", 1))
		shop, err := ambassador.New(env.Client, newRollout(ns, "shop"))
		if err != nil {
			t.Fatal(err)
		}
		if err := shop.SetWeight(ctx, 10); trafficrouting.Reason(err) != trafficrouting.ReasonInvalidConfig {
			t.Errorf("a canary Mapping name the user has: got %v, want an InvalidConfigError", err)
		}
		if err := shop.RemoveManagedRoutes(ctx); err != nil {
			t.Fatal(err)
		}
		harness.GetUnstructured(t, env.Client, mappingGVK, ns, "shop-canary") // still there

		x, err := ambassador.New(env.Client, newRollout(ns, "web"), ambassador.WithGroupVersion(schema.GroupVersion{Group: "x.getambassador.io", Version: "v3alpha1"}))
		if err != nil {
			t.Fatal(err)
		}
		var noCRD *trafficrouting.CRDNotInstalledError
		if err := x.SetWeight(ctx, 10); !errors.As(err, &noCRD) {
			t.Errorf("a group the cluster does not serve: got %v, want a CRDNotInstalledError", err)
		}
	})
}

func TestCanaryMappingName(t *testing.T) {
	if got := ambassador.CanaryMappingName("web"); got != "web-canary" {
		t.Errorf("CanaryMappingName(web) = %q", got)
	}
	if got := ambassador.CanaryMappingName(strings.Repeat("a", 253)); len(got) != 253 || !strings.HasSuffix(got, "-canary") {
		t.Errorf("CanaryMappingName of a 253-character name = %d characters", len(got))
	}
}
