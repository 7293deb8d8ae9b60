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

package fleetrollout

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// TestPlacedClusters: the clusters a deletion must visit are every cluster the journal says the
// hub wrote to (dispatched in any revision, caught up), including those that left since, and
// none of an earlier FleetRollout of the same name.
func TestPlacedClusters(t *testing.T) {
	e := func(typ journal.Type, cluster string) journal.Entry {
		return journal.Entry{Decision: journal.Decision{Type: typ, Cluster: cluster}}
	}
	h := []journal.Entry{
		e(journal.ClusterDispatched, "old-only"),
		e(journal.Deleted, ""),
		e(journal.WaveStarted, ""),
		e(journal.ClusterDispatched, "us-east"),
		e(journal.ClusterPromoted, "us-east"),
		e(journal.ClusterDispatched, "eu-west"),
		e(journal.ClusterDeparted, "eu-west"),
		e(journal.ClusterCaughtUp, "ap-south"),
		e(journal.ClusterDispatched, "us-east"), // revision 2
	}
	if got, want := placedClusters(h), []string{"ap-south", "eu-west", "us-east"}; !reflect.DeepEqual(got, want) {
		t.Errorf("placedClusters = %v, want %v", got, want)
	}
	if got := placedClusters(h[:2]); len(got) != 0 {
		t.Errorf("after a Deleted: %v, want none", got)
	}
}

// TestObjectsOf: every revision's Rollout and companions, each once, the Rollouts first and the
// companions last placed first; a companion that does not parse is skipped.
func TestObjectsOf(t *testing.T) {
	comp := func(kind, name string) runtime.RawExtension {
		return runtime.RawExtension{Raw: fmt.Appendf(nil, `{"apiVersion":"v1","kind":%q,"metadata":{"name":%q}}`, kind, name)}
	}
	revs := []revisionData{
		{TargetNamespace: "shop", Companions: []runtime.RawExtension{comp("Service", "web"), comp("ConfigMap", "cfg")}},
		{TargetNamespace: "shop", Companions: []runtime.RawExtension{comp("ConfigMap", "old-cfg"), comp("Service", "web")}},
		{TargetNamespace: "store", Companions: []runtime.RawExtension{{Raw: []byte(`{not json`)}}},
	}
	var got []string
	for _, o := range objectsOf("checkout", revs) {
		got = append(got, o.gvk.Kind+" "+o.namespace+"/"+o.name)
	}
	want := []string{"Rollout shop/checkout", "Rollout store/checkout", "ConfigMap shop/cfg", "Service shop/web", "ConfigMap shop/old-cfg"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("objectsOf =\n%v\nwant\n%v", got, want)
	}
}

// TestMayRemove: a leader never removes an object of its FleetRollout that a newer leader
// stamped; objects of other owners and of older terms are not its concern here.
func TestMayRemove(t *testing.T) {
	obj := func(owner, term string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetKind("Rollout")
		u.SetNamespace("shop")
		u.SetName("checkout")
		u.SetAnnotations(map[string]string{federation.FleetRolloutAnnotation: owner, federation.TermAnnotation: term})
		return u
	}
	for _, tc := range []struct {
		name  string
		obj   *unstructured.Unstructured
		stale bool
	}{
		{"same term", obj("shop/checkout", "5"), false},
		{"older term", obj("shop/checkout", "4"), false},
		{"newer term", obj("shop/checkout", "6"), true},
		{"another FleetRollout's", obj("shop/other", "9"), false},
	} {
		err := mayRemove(tc.obj, "shop/checkout", 5)
		if stale := errors.Is(err, federation.ErrStaleTerm); stale != tc.stale {
			t.Errorf("%s: mayRemove = %v, want stale %v", tc.name, err, tc.stale)
		}
		if tc.stale && !strings.Contains(err.Error(), "term 6") {
			t.Errorf("%s: %v does not name the newer term", tc.name, err)
		}
	}
}

// TestDeletedReason: the journal's reason says where the objects were removed and where they
// stay.
func TestDeletedReason(t *testing.T) {
	if got := deletedReason([]string{"a", "b"}, []string{"c"}); !strings.Contains(got, "removed from a, b") ||
		!strings.Contains(got, "stay on c") {
		t.Errorf("deletedReason = %q", got)
	}
	if got := deletedReason(nil, nil); !strings.Contains(got, "nothing was placed") {
		t.Errorf("deletedReason with nothing placed = %q", got)
	}
	if deletionPolicy(&fleetv1alpha1.FleetRollout{}) != fleetv1alpha1.DeletionDelete {
		t.Error("an empty deletionPolicy is not Delete")
	}
}
