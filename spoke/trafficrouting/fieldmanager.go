package trafficrouting

import (
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FieldManager is the field manager of every write a router makes, so that the API server
// records which fields of a router object the spoke owns.
const FieldManager = "flotilla-spoke"

// AppliedAnnotations returns the annotation keys of obj that FieldManager owns through
// server-side apply. A router that applies an object compares these with the annotations it
// is about to apply: a key it owns but no longer applies would be removed by the apply, so
// the object differs from what the router wants even when every wanted annotation is there.
func AppliedAnnotations(obj metav1.Object) []string {
	var keys []string
	for _, entry := range obj.GetManagedFields() {
		if entry.Manager != FieldManager || entry.Operation != metav1.ManagedFieldsOperationApply ||
			entry.Subresource != "" || entry.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Metadata struct {
				Annotations map[string]json.RawMessage `json:"f:annotations"`
			} `json:"f:metadata"`
		}
		if err := json.Unmarshal(entry.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue // not the structure the API server writes: own nothing
		}
		for k := range fields.Metadata.Annotations {
			if key, ok := strings.CutPrefix(k, "f:"); ok {
				keys = append(keys, key)
			}
		}
	}
	return keys
}
