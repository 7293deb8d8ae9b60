package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// PodTemplateHash computes the pod-template hash of a template the way the Kubernetes
// Deployment controller does (controller.ComputeHash): a 32-bit FNV-1a hash of the deep-printed
// template, followed by the collision count when there is one, written with the safe
// alphabet of rand.SafeEncodeString. The LabelPodTemplateHash label is left out, so that a
// ReplicaSet's template hashes to its own label value.
func PodTemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	t := template.DeepCopy()
	delete(t.Labels, LabelPodTemplateHash)
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	h := fnv.New32a()
	fmt.Fprint(h, dump.ForHash(*t))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		_, _ = h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// StepsHash is a short hash of the canary steps, recorded in status.currentStepHash to notice
// that the steps changed in the middle of an update.
func StepsHash(steps []v1alpha1.CanaryStep) string {
	b, err := json.Marshal(steps)
	if err != nil {
		// The steps are plain data; this cannot fail.
		return ""
	}
	h := fnv.New32a()
	_, _ = h.Write(b)
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
