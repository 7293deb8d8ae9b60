package federation_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flotilla-io/flotilla/federation"
)

func TestFastTrack(t *testing.T) {
	placed := func(ann map[string]string) *metav1.ObjectMeta { return &metav1.ObjectMeta{Annotations: ann} }
	stamped := &metav1.ObjectMeta{}
	federation.StampTerm(stamped, 4)
	stamped.Annotations[federation.RevisionAnnotation] = "3"
	federation.StampFastTrack(stamped, 3)
	tests := []struct {
		name    string
		obj     *metav1.ObjectMeta
		wantRev string
		want    bool
	}{
		{"stamped by the hub for the revision placed", stamped, "3", true},
		{"no directive", placed(map[string]string{federation.TermAnnotation: "4", federation.RevisionAnnotation: "3"}), "", false},
		{"a directive for another revision", placed(map[string]string{federation.TermAnnotation: "4",
			federation.RevisionAnnotation: "4", federation.FastTrackAnnotation: "3"}), "", false},
		{"not placed by a hub (no term)", placed(map[string]string{federation.RevisionAnnotation: "3",
			federation.FastTrackAnnotation: "3"}), "", false},
		{"an empty directive on an object with no revision", placed(map[string]string{federation.TermAnnotation: "4",
			federation.FastTrackAnnotation: ""}), "", false},
		{"not a revision", placed(map[string]string{federation.TermAnnotation: "4", federation.RevisionAnnotation: "3",
			federation.FastTrackAnnotation: "yes"}), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev, ok := federation.FastTrack(tc.obj)
			if rev != tc.wantRev || ok != tc.want {
				t.Errorf("FastTrack = %q, %v; want %q, %v", rev, ok, tc.wantRev, tc.want)
			}
		})
	}
}
