package federation

import (
	"errors"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// FieldManager is the server-side apply field manager of every write the hub makes to a
	// member cluster.
	FieldManager = "flotilla-hub"

	// PlacedLabel marks an object the hub placed on a member cluster. The fencing policy
	// checks only objects that carry it.
	PlacedLabel = "fleet.flotilla.dev/placed"

	// TermAnnotation holds the raft term of the hub leader that last wrote the object, in
	// decimal.
	TermAnnotation = "fleet.flotilla.dev/term"

	// RevisionAnnotation holds the FleetRollout revision the object belongs to.
	RevisionAnnotation = "fleet.flotilla.dev/revision"

	// FleetRolloutAnnotation names the FleetRollout (namespace/name in the hub) that placed
	// the object.
	FleetRolloutAnnotation = "fleet.flotilla.dev/fleetrollout"

	// FleetRolloutUIDAnnotation holds the metadata.uid of that FleetRollout: a FleetRollout
	// created again with the same name takes over the objects an earlier one left (deletion
	// policy Orphan), and its first write to each is then a real change the hub's watch sees.
	FleetRolloutUIDAnnotation = "fleet.flotilla.dev/fleetrollout-uid"
)

// ErrStaleTerm is wrapped by the error CheckTerm returns for a directive from an older term.
var ErrStaleTerm = errors.New("stale hub term")

// StampTerm marks obj as placed by the hub leader of the given term.
func StampTerm(obj metav1.Object, term uint64) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[PlacedLabel] = "true"
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[TermAnnotation] = strconv.FormatUint(term, 10)
	obj.SetAnnotations(ann)
}

// TermOf returns the term stamped on obj; ok is false when obj carries none.
func TermOf(obj metav1.Object) (term int64, ok bool, err error) {
	raw, found := obj.GetAnnotations()[TermAnnotation]
	if !found {
		return 0, false, nil
	}
	term, err = strconv.ParseInt(raw, 10, 64)
	if err != nil || term < 0 {
		return 0, true, fmt.Errorf("annotation %s=%q is not a term (a whole number)", TermAnnotation, raw)
	}
	return term, true, nil
}

// CheckTerm is the spoke's check of a directive: it returns the term to record, or an error
// wrapping ErrStaleTerm when obj is stamped with a term lower than recorded, the highest term
// accepted so far. An object with no term (not placed by a hub) passes with recorded.
func CheckTerm(obj metav1.Object, recorded int64) (int64, error) {
	term, ok, err := TermOf(obj)
	if err != nil {
		return recorded, err
	}
	if !ok {
		return recorded, nil
	}
	if term < recorded {
		return recorded, fmt.Errorf("%w: the directive carries term %d, but term %d was already accepted; a newer hub leader has taken over", ErrStaleTerm, term, recorded)
	}
	return term, nil
}
