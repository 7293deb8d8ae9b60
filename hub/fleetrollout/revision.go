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
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/plan"
)

const (
	// LabelFleetRollout labels the ControllerRevisions of a FleetRollout with its name.
	LabelFleetRollout = "fleet.flotilla.dev/fleetrollout-name"
	// AnnotationRevisionHash holds plan.RevisionHash of a revision on its ControllerRevision.
	AnnotationRevisionHash = "fleet.flotilla.dev/revision-hash"
)

// revisionData is the content of one revision, kept in its ControllerRevision so that a
// rollback can render the stable revision again.
type revisionData struct {
	Template        fleetv1alpha1.RolloutTemplate   `json:"template"`
	Companions      []runtime.RawExtension          `json:"companions,omitempty"`
	TargetNamespace string                          `json:"targetNamespace"`
	Overrides       []fleetv1alpha1.ClusterOverride `json:"overrides,omitempty"`
}

// revision is the current revision: its number and hash.
type revision struct {
	Number int64
	Hash   string
}

// resolveRevision numbers the spec's revision: the newest ControllerRevision's number when its
// hash is the spec's, else the next number, recorded in a new ControllerRevision (a spec equal
// to an older revision is still a new revision, as the API says). Revisions beyond
// revisionHistoryLimit are deleted, oldest first, never the newest two.
func (r *Reconciler) resolveRevision(ctx context.Context, fro *fleetv1alpha1.FleetRollout) (revision, error) {
	hash, err := plan.RevisionHash(&fro.Spec, fro.Namespace)
	if err != nil {
		return revision{}, err
	}
	list := &appsv1.ControllerRevisionList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(fro.Namespace),
		client.MatchingLabels{LabelFleetRollout: fro.Name}); err != nil {
		return revision{}, fmt.Errorf("listing revisions: %w", err)
	}
	var own []appsv1.ControllerRevision
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], fro) {
			own = append(own, list.Items[i])
		}
	}
	sort.Slice(own, func(i, j int) bool { return own[i].Revision < own[j].Revision })
	if n := len(own); n > 0 && own[n-1].Annotations[AnnotationRevisionHash] == hash {
		return revision{Number: own[n-1].Revision, Hash: hash}, nil
	}
	next := int64(1)
	if n := len(own); n > 0 {
		next = own[n-1].Revision + 1
	}
	ns := fro.Spec.TargetNamespace
	if ns == "" {
		ns = fro.Namespace
	}
	raw, err := json.Marshal(revisionData{Template: fro.Spec.Template, Companions: fro.Spec.Companions,
		TargetNamespace: ns, Overrides: fro.Spec.Overrides})
	if err != nil {
		return revision{}, err
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fro.Name + "-" + strconv.FormatInt(next, 10),
			Namespace:   fro.Namespace,
			Labels:      map[string]string{LabelFleetRollout: fro.Name},
			Annotations: map[string]string{AnnotationRevisionHash: hash},
		},
		Data:     runtime.RawExtension{Raw: raw},
		Revision: next,
	}
	if err := controllerutil.SetControllerReference(fro, cr, r.Client.Scheme()); err != nil {
		return revision{}, err
	}
	if err := r.Client.Create(ctx, cr); err != nil {
		return revision{}, fmt.Errorf("recording revision %d: %w", next, err)
	}
	limit := 10
	if fro.Spec.RevisionHistoryLimit != nil {
		limit = int(*fro.Spec.RevisionHistoryLimit)
	}
	own = append(own, *cr)
	for i := 0; i < len(own)-max(limit, 2); i++ {
		_ = r.Client.Delete(ctx, &own[i])
	}
	return revision{Number: next, Hash: hash}, nil
}
