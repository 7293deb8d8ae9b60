package engine

import (
	"crypto/sha256"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/dump"
)

// This file holds pod-template hash collisions, handled as the Deployment controller does:
// when a ReplicaSet already has the hash of the desired template but was made from another
// template, status.collisionCount goes up by one and the hash, which mixes it in, changes.
//
// The API server fills defaults into a ReplicaSet's template but not into a Rollout's, so
// the two cannot be compared field by field. Each ReplicaSet the engine creates records
// instead the digest of the template it was made from (AnnotationTemplateDigest): a
// ReplicaSet with the desired hash and another digest is a collision. A ReplicaSet of that
// name the Rollout does not own is one too; only the reconciler can see it, when the create
// fails (see the reconciler's collision handling).

// AnnotationTemplateDigest is the SHA-256 digest (hex, 32 characters) of the template a
// ReplicaSet was made from, before the pod-template-hash label and role metadata.
const AnnotationTemplateDigest = "rollout.flotilla.dev/template-digest"

// EventReasonHashCollision is the event recorded when the desired hash is taken.
const EventReasonHashCollision = "HashCollision"

// TemplateDigest is the digest AnnotationTemplateDigest holds for a template. Unlike the
// 32-bit pod-template hash, it does not collide in practice.
func TemplateDigest(template *corev1.PodTemplateSpec) string {
	t := template.DeepCopy()
	delete(t.Labels, LabelPodTemplateHash)
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	sum := sha256.Sum256([]byte(dump.ForHash(*t)))
	return hex.EncodeToString(sum[:16])
}

// desiredHash is the hash of the desired template, past any collision with a ReplicaSet
// made from another template; it raises status.collisionCount for each one.
func (e *engine) desiredHash() string {
	digest := TemplateDigest(e.template)
	hash := PodTemplateHash(e.template, e.st.CollisionCount)
	// Each round moves to a new hash; there cannot be more collisions than ReplicaSets.
	for range len(e.obs.ReplicaSets) {
		taken := e.takenBy(hash, digest)
		if taken == nil {
			break
		}
		n := int32(1)
		if e.st.CollisionCount != nil {
			n = *e.st.CollisionCount + 1
		}
		e.st.CollisionCount = &n
		e.event(corev1.EventTypeWarning, EventReasonHashCollision, "ReplicaSet %s has the pod-template hash %s but another template: collisionCount is now %d", taken.Name, hash, n)
		hash = PodTemplateHash(e.template, e.st.CollisionCount)
	}
	return hash
}

// takenBy is the ReplicaSet that has hash but was made from a template of another digest.
// A ReplicaSet without a digest (made before digests were recorded) is taken at its word.
func (e *engine) takenBy(hash, digest string) *ReplicaSet {
	for i := range e.obs.ReplicaSets {
		rs := &e.obs.ReplicaSets[i]
		if rs.PodTemplateHash == hash && rs.TemplateDigest != "" && rs.TemplateDigest != digest {
			return rs
		}
	}
	return nil
}

// sameTemplate reports whether rs was made from the desired template: by its digest, or,
// for a template copied back from it (an undo, which carries the API server's defaults),
// field by field.
func (e *engine) sameTemplate(rs *ReplicaSet, digest string) bool {
	if rs.TemplateDigest != "" && rs.TemplateDigest == digest {
		return true
	}
	return rs.Template != nil && equality.Semantic.DeepEqual(withoutRoleMetadata(rs), e.template)
}
