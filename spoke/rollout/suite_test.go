package rollout_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// The reconciler's end-to-end behaviour (the getting-started canary, blue-green, analysis,
// undo) is tested through the kubectl plugin in test/e2e, and its crash safety with the
// real agent in test/e2e/crash; this package keeps the benchmark.

func scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
