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

package fleetrollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/raft/rafttest"
	"github.com/flotilla-io/flotilla/test/harness"
)

// invalidBase is a FleetRollout that would go out to the four members of TestBadInputGetsACondition
// (us-1, us-2, eu-1, ap-1) in three waves; each case below breaks it in one way.
const invalidBase = `
apiVersion: fleet.flotilla.dev/v1alpha1
kind: FleetRollout
metadata:
  name: NAME
  namespace: shop
spec:
  template:
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
            - name: web
              image: nginx:1.27
      strategy:
        canary:
          steps:
            - setWeight: 50
  placement:
    clusterSelector:
      matchLabels: {env: prod}
  waves:
    - name: us
      clusterSelector:
        matchLabels: {region: us}
    - name: eu
      clusterSelector:
        matchLabels: {region: eu}
    - name: ap
      clusterSelector:
        matchLabels: {region: ap}
`

// TestBadInputGetsACondition applies FleetRollouts that pass the schema but cannot be carried
// out, to a hub with its controllers running, and checks that each gets the Invalid condition
// with a message naming the field and the clusters at fault, that no wave starts, and that
// the fix clears it. A patch to a forbidden path never gets that far: the API server refuses
// it, naming the field.
func TestBadInputGetsACondition(t *testing.T) {
	s := newScheme(t)
	env := harness.NewEnv(t, harness.EnvOptions{Scheme: s, CRDDirs: []string{harness.HubCRDDir}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := env.Client
	for _, ns := range []string{systemNamespace, "shop"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// The members are never reached: planning happens before any dispatch.
	for name, region := range map[string]string{"us-1": "us", "us-2": "us", "eu-1": "eu", "ap-1": "ap"} {
		mc := &fleetv1alpha1.MemberCluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": "prod", "region": region}},
			Spec: fleetv1alpha1.MemberClusterSpec{KubeconfigSecretRef: fleetv1alpha1.SecretKeyRef{
				Namespace: systemNamespace, Name: name, Key: "kubeconfig"}},
		}
		if err := c.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
	node := rafttest.Start(t)
	startHub(t, s, &harness.Cluster{Name: "hub", Config: env.Config}, node)

	cases := []struct {
		name string
		// edit changes invalidBase's spec (a YAML merge of these lines would hide mistakes, so
		// each case replaces text).
		old, new string
		// want are substrings of the Invalid condition's message.
		want []string
		// fix undoes the edit with a JSON patch; the condition must clear.
		fix string
	}{
		{
			name: "waves that overlap",
			old:  "    - name: eu\n      clusterSelector:\n        matchLabels: {region: eu}\n",
			new:  "    - name: eu\n      clusterNames: [eu-1, us-2]\n",
			want: []string{"spec.waves[1]", "us-2", `"us"`},
			fix:  `[{"op":"replace","path":"/spec/waves/1/clusterNames","value":["eu-1"]}]`,
		},
		{
			name: "a wave whose selector matches no cluster",
			old:  "        matchLabels: {region: ap}\n",
			new:  "        matchLabels: {region: sa}\n",
			want: []string{"spec.waves[2]", `"ap"`, "ap-1"},
			fix:  `[{"op":"replace","path":"/spec/waves/2/clusterSelector/matchLabels/region","value":"ap"}]`,
		},
		{
			name: "a placed cluster that is in no wave",
			old:  "    - name: ap\n      clusterSelector:\n        matchLabels: {region: ap}\n",
			new:  "",
			want: []string{"ap-1", "no wave"},
			fix:  `[{"op":"add","path":"/spec/waves/-","value":{"name":"ap","clusterSelector":{"matchLabels":{"region":"ap"}}}}]`,
		},
		{
			name: "an override for a container the template does not have",
			old:  "  waves:\n",
			new: "  overrides:\n    - clusterNames: [eu-1]\n      images:\n        - container: sidecar\n          image: envoy:1.31\n" +
				"  waves:\n",
			want: []string{"spec.overrides[0]", "sidecar"},
			fix:  `[{"op":"replace","path":"/spec/overrides/0/images/0/container","value":"web"}]`,
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "bad-" + string(rune('a'+i))
			text := strings.Replace(invalidBase, "name: NAME", "name: "+name, 1)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("the case does not apply to the base manifest: %q", tc.old)
			}
			text = strings.Replace(text, tc.old, tc.new, 1)
			fro := &fleetv1alpha1.FleetRollout{}
			if err := yaml.UnmarshalStrict([]byte(text), fro); err != nil {
				t.Fatal(err)
			}
			if err := c.Create(ctx, fro); err != nil {
				t.Fatalf("the schema refused a spec only the controller can judge: %v", err)
			}
			key := client.ObjectKeyFromObject(fro)
			got := waitFleetRollout(ctx, t, c, key, "Invalid", func(f *fleetv1alpha1.FleetRollout) bool {
				return apimeta.IsStatusConditionTrue(f.Status.Conditions, fleetv1alpha1.ConditionInvalid)
			})
			msg := apimeta.FindStatusCondition(got.Status.Conditions, fleetv1alpha1.ConditionInvalid).Message
			t.Logf("Invalid: %s", msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the Invalid condition's message does not name %s:\n%s", w, msg)
				}
			}
			for _, w := range got.Status.Waves {
				if w.Phase != fleetv1alpha1.WavePending {
					t.Errorf("wave %s is %s while the spec is invalid; want Pending", w.Name, w.Phase)
				}
			}
			jsonPatch(ctx, t, c, got, tc.fix)
			waitFleetRollout(ctx, t, c, key, "valid again", func(f *fleetv1alpha1.FleetRollout) bool {
				return apimeta.IsStatusConditionFalse(f.Status.Conditions, fleetv1alpha1.ConditionInvalid)
			})
		})
	}

	t.Run("an override that patches a forbidden path is refused at apply time", func(t *testing.T) {
		text := strings.Replace(invalidBase, "name: NAME", "name: bad-patch", 1)
		text = strings.Replace(text, "  waves:\n", "  overrides:\n    - clusterNames: [eu-1]\n      patches:\n"+
			"        - path: spec.template.spec.serviceAccountName\n          value: admin\n  waves:\n", 1)
		fro := &fleetv1alpha1.FleetRollout{}
		if err := yaml.UnmarshalStrict([]byte(text), fro); err != nil {
			t.Fatal(err)
		}
		err := c.Create(ctx, fro)
		if err == nil {
			t.Fatal("the API server took a patch of spec.template.spec.serviceAccountName")
		}
		for _, w := range []string{"spec.overrides[0].patches[0].path", "not allowed"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("the refusal does not say %q: %v", w, err)
			}
		}
	})
}
