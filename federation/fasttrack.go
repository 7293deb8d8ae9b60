package federation

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FastTrackAnnotation is the hub's fast-track directive on a Rollout it placed: the fleet
// revision, in decimal, whose update must not step. The hub stamps it only on a placement that
// returns a cluster to the stable revision (a cluster that joined after its wave ran, a
// rollback, an abort); the spoke then skips the canary steps, pauses and analyses of that update
// (a blue-green update is promoted at once). A normal dispatch never carries it, and server-side
// apply removes the annotation from the member's Rollout as soon as the hub stops applying it.
const FastTrackAnnotation = "fleet.flotilla.dev/fast-track"

// StampFastTrack marks obj, a Rollout the hub places at fleet revision rev, with the fast-track
// directive for that revision.
func StampFastTrack(obj metav1.Object, rev int64) {
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[FastTrackAnnotation] = strconv.FormatInt(rev, 10)
	obj.SetAnnotations(ann)
}

// FastTrack is the spoke's reading of the directive: it returns the fleet revision the
// directive names and true when it applies to obj as it is placed now. It applies only to an
// object the hub stamped with a term (so the term check fences it as it fences the rest of the
// spec) and only when it names the fleet revision the object carries: a directive left on a
// Rollout that has since moved to another revision, or one with a value that is not that
// revision, is ignored.
func FastTrack(obj metav1.Object) (string, bool) {
	ann := obj.GetAnnotations()
	rev, found := ann[FastTrackAnnotation]
	if !found || rev == "" || rev != ann[RevisionAnnotation] {
		return "", false
	}
	if _, stamped := ann[TermAnnotation]; !stamped {
		return "", false
	}
	return rev, true
}
