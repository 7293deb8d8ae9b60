package federation_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/federation"
	"github.com/flotilla-io/flotilla/test/harness"
)

func TestCheckTerm(t *testing.T) {
	tests := []struct {
		name     string
		ann      map[string]string
		recorded int64
		want     int64
		stale    bool
		bad      bool
	}{
		{name: "no term passes and keeps the record", recorded: 4, want: 4},
		{name: "first term is recorded", ann: map[string]string{federation.TermAnnotation: "3"}, want: 3},
		{name: "same term passes", ann: map[string]string{federation.TermAnnotation: "7"}, recorded: 7, want: 7},
		{name: "newer term is recorded", ann: map[string]string{federation.TermAnnotation: "9"}, recorded: 7, want: 9},
		{name: "older term is refused", ann: map[string]string{federation.TermAnnotation: "6"}, recorded: 7, want: 7, stale: true},
		{name: "garbage is an error, not a pass", ann: map[string]string{federation.TermAnnotation: "seven"}, recorded: 7, want: 7, bad: true},
		{name: "negative is an error", ann: map[string]string{federation.TermAnnotation: "-1"}, recorded: 0, want: 0, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &metav1.ObjectMeta{Annotations: tt.ann}
			got, err := federation.CheckTerm(obj, tt.recorded)
			if got != tt.want {
				t.Errorf("term to record = %d, want %d", got, tt.want)
			}
			switch {
			case tt.stale && !errors.Is(err, federation.ErrStaleTerm):
				t.Errorf("want ErrStaleTerm, got %v", err)
			case tt.bad && (err == nil || errors.Is(err, federation.ErrStaleTerm)):
				t.Errorf("want a format error, got %v", err)
			case !tt.stale && !tt.bad && err != nil:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

func TestStampTerm(t *testing.T) {
	obj := &metav1.ObjectMeta{Labels: map[string]string{"app": "checkout"}}
	federation.StampTerm(obj, 12)
	if obj.Labels[federation.PlacedLabel] != "true" || obj.Labels["app"] != "checkout" {
		t.Errorf("labels = %v", obj.Labels)
	}
	if term, ok, err := federation.TermOf(obj); !ok || err != nil || term != 12 {
		t.Errorf("TermOf = %d, %v, %v; want 12", term, ok, err)
	}
}

// TestFencingPolicy proves the first line of fencing on a real kube-apiserver: once the
// spoke chart's ValidatingAdmissionPolicy is installed, an update stamped with a lower term
// than the object carries never lands.
func TestFencingPolicy(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})
	ctx := context.Background()
	path, err := harness.RepoPath("charts/flotilla-spoke/templates/fencing-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := harness.ReadManifests(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("installing %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	ns := env.Namespace(t)

	placed := func(name string, term uint64) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"v": "1"}}
		federation.StampTerm(cm, term)
		return cm
	}
	update := func(name, term, data string) error {
		cm := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
			return err
		}
		if term == "" {
			delete(cm.Annotations, federation.TermAnnotation)
		} else {
			cm.Annotations[federation.TermAnnotation] = term
		}
		cm.Data["v"] = data
		return env.Client.Update(ctx, cm)
	}

	// The API server loads a new policy asynchronously: wait until a probe is refused.
	if err := env.Client.Create(ctx, placed("probe", 5)); err != nil {
		t.Fatal(err)
	}
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for last = update("probe", "4", "probe"); last == nil; last = update("probe", "4", "probe") {
		if time.Now().After(deadline) {
			t.Fatal("the fencing policy did not start refusing stale writes within 30s")
		}
		if err := update("probe", "5", "reset"); err != nil {
			t.Fatalf("resetting the probe: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := env.Client.Create(ctx, placed("checkout", 5)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		term, data string
		refused    string // empty: accepted
	}{
		{term: "5", data: "same term"},
		{term: "7", data: "newer term"},
		{term: "6", data: "stale", refused: "stale hub term: this write carries term 6 but the object was written in term 7"},
		{term: "", data: "dropped term", refused: "may not be removed"},
		{term: "x7", data: "garbage", refused: "is not a raft term"},
		{term: "8", data: "newest"},
	}
	for _, s := range steps {
		err := update("checkout", s.term, s.data)
		switch {
		case s.refused == "" && err != nil:
			t.Errorf("term %q: want accepted, got %v", s.term, err)
		case s.refused != "" && (err == nil || !strings.Contains(err.Error(), s.refused)):
			t.Errorf("term %q: want refused with %q, got %v", s.term, s.refused, err)
		}
	}
	got := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "checkout"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Data["v"] != "newest" || got.Annotations[federation.TermAnnotation] != "8" {
		t.Errorf("object after the writes: data %q term %q; want the term-8 write", got.Data["v"], got.Annotations[federation.TermAnnotation])
	}

	// Objects the hub did not place are not fenced.
	own := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: ns,
		Annotations: map[string]string{federation.TermAnnotation: "9"}}, Data: map[string]string{"v": "1"}}
	if err := env.Client.Create(ctx, own); err != nil {
		t.Fatal(err)
	}
	if err := update("users-own", "1", "unfenced"); err != nil {
		t.Errorf("an object without %s must not be fenced: %v", federation.PlacedLabel, err)
	}
}
