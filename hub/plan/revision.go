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

package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// hashVersion is part of every hashed document: change it when the encoding below changes, so
// that the change is deliberate (every FleetRollout would see a new revision once).
const hashVersion = "flotilla.revision/v1"

// revisionContent is what makes a revision (fleetrollout_types.go: "Every change of template,
// companions, targetNamespace or overrides makes a new revision").
type revisionContent struct {
	Version         string                          `json:"v"`
	Template        *fleetv1alpha1.RolloutTemplate  `json:"template"`
	Companions      []runtime.RawExtension          `json:"companions,omitempty"`
	TargetNamespace string                          `json:"targetNamespace"`
	Overrides       []fleetv1alpha1.ClusterOverride `json:"overrides,omitempty"`
}

// RevisionHash is the content hash of the revision that spec describes: template, companions
// (in order), the effective target namespace (spec.targetNamespace, or namespace, the
// FleetRollout's own, when unset: making the default explicit is not a change) and every
// override (in order; an override that matches no cluster today may match one tomorrow).
// Placement, waves, gates and policies are left out: they change how a revision goes out,
// not what it is.
//
// The API numbers revisions 1, 2, 3 (status.currentRevision), so the hash does not replace
// the number: the controller keeps the hash with each revision's ControllerRevision and gives
// a spec whose hash differs from the current revision's the next number. A spec whose hash
// equals an older revision's (a rollback copied it back) still gets a new number, as the
// FleetRollout's comment says a rollback is a new revision.
//
// The hash is hex, 32 characters (128 bits of SHA-256), short enough for a label value. The
// document hashed is canonical JSON: object keys sorted, no insignificant space, numbers as
// written, so that the same content hashes the same however the API server or a client
// ordered the keys of the companions and patch values.
func RevisionHash(spec *fleetv1alpha1.FleetRolloutSpec, namespace string) (string, error) {
	ns := spec.TargetNamespace
	if ns == "" {
		ns = namespace
	}
	return hashOf(revisionContent{Version: hashVersion, Template: &spec.Template, Companions: spec.Companions,
		TargetNamespace: ns, Overrides: spec.Overrides})
}

// ClusterHash is the content hash of what one cluster receives: its rendered Rollout (see
// Plan.Render), the companions and the namespace. Two clusters with the same hash receive the
// same objects; a cluster whose hash changed without a new revision (a label change brought it
// under another override) needs its objects applied again.
func ClusterHash(rendered *fleetv1alpha1.RolloutTemplate, companions []runtime.RawExtension, namespace string) (string, error) {
	return hashOf(revisionContent{Version: hashVersion, Template: rendered, Companions: companions, TargetNamespace: namespace})
}

func hashOf(v any) (string, error) {
	doc, err := canonicalJSON(v)
	if err != nil {
		return "", fmt.Errorf("revision content cannot be encoded: %w", err)
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:16]), nil
}

// canonicalJSON encodes v, then decodes and encodes it again as plain JSON values, which sorts
// the keys of embedded raw documents too and drops their spacing; json.Number keeps numbers
// exactly as written.
func canonicalJSON(v any) ([]byte, error) {
	first, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(first))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return json.Marshal(generic)
}
