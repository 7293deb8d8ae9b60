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

package nsclusters_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/multicluster-runtime/pkg/multicluster"

	"github.com/flotilla-io/flotilla/internal/nsclusters"
	"github.com/flotilla-io/flotilla/test/harness"
)

// engaged collects the clusters the provider engages (the provider's multicluster.Aware).
type engaged struct {
	mu sync.Mutex
	cl map[multicluster.ClusterName]cluster.Cluster
}

func (e *engaged) Engage(_ context.Context, name multicluster.ClusterName, cl cluster.Cluster) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cl[name] = cl
	return nil
}

func (e *engaged) get(name string) cluster.Cluster {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cl[multicluster.ClusterName(name)]
}

// seen records the ConfigMaps a handler was told about, as namespace/name.
type seen struct {
	mu    sync.Mutex
	names []string
}

func (s *seen) OnAdd(o any, _ bool) { s.add(o) }
func (s *seen) OnUpdate(_, o any)   { s.add(o) }
func (s *seen) OnDelete(o any)      { s.add(o) }

func (s *seen) add(o any) {
	cm, ok := o.(*corev1.ConfigMap)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := cm.Namespace + "/" + cm.Name; !slices.Contains(s.names, n) {
		s.names = append(s.names, n)
	}
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.names)
	slices.Sort(out)
	return out
}

// TestHandlersSeeTheirNamespaceOnly proves the event routing of the shared informers: a
// namespace-cluster's handler is given the objects its namespace already holds, then the
// events of its namespace and of no other, and none once removed.
func TestHandlersSeeTheirNamespaceOnly(t *testing.T) {
	env := harness.NewEnv(t, harness.EnvOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := env.Client
	for _, ns := range []string{"m-a", "m-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{nsclusters.MemberLabel: "true"}}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	shared, err := cluster.New(env.Config, func(o *cluster.Options) { o.Scheme = env.Scheme })
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = shared.Start(ctx) }()
	aware := &engaged{cl: map[multicluster.ClusterName]cluster.Cluster{}}
	go func() { _ = nsclusters.New(shared).Start(ctx, aware) }()
	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		if err := harness.WaitFor(ctx, what, time.Minute, func(context.Context) (bool, string, error) {
			ok, saw := cond()
			return ok, saw, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait("both namespace-clusters engaged", func() (bool, string) {
		return aware.get("m-a") != nil && aware.get("m-b") != nil, fmt.Sprint(aware.get("m-a") != nil, aware.get("m-b") != nil)
	})

	handlers := map[string]*seen{}
	regs := map[string]toolscache.ResourceEventHandlerRegistration{}
	infs := map[string]interface {
		RemoveEventHandler(toolscache.ResourceEventHandlerRegistration) error
	}{}
	for _, ns := range []string{"m-a", "m-b"} {
		inf, err := aware.get(ns).GetCache().GetInformer(ctx, &corev1.ConfigMap{})
		if err != nil {
			t.Fatal(err)
		}
		handlers[ns] = &seen{}
		if regs[ns], err = inf.AddEventHandler(handlers[ns]); err != nil {
			t.Fatal(err)
		}
		infs[ns] = inf
	}
	for ns, reg := range regs {
		wait(ns+" handler synced", func() (bool, string) { return reg.HasSynced(), "not synced" })
	}
	for _, ns := range []string{"m-a", "m-b"} {
		if got, want := handlers[ns].list(), []string{ns + "/before"}; !slices.Equal(got, want) {
			t.Errorf("%s handler was given %v at registration, want %v", ns, got, want)
		}
	}

	// m-b's handler goes; new objects reach m-a's handler only if they are m-a's.
	if err := infs["m-b"].RemoveEventHandler(regs["m-b"]); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"m-b", "m-a"} { // m-a's last: once it is seen, m-b's was delivered too
		if err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after", Namespace: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	wait("m-a's handler sees m-a/after", func() (bool, string) {
		return slices.Contains(handlers["m-a"].list(), "m-a/after"), fmt.Sprint(handlers["m-a"].list())
	})
	if got, want := handlers["m-a"].list(), []string{"m-a/after", "m-a/before"}; !slices.Equal(got, want) {
		t.Errorf("m-a's handler saw %v, want %v", got, want)
	}
	if got, want := handlers["m-b"].list(), []string{"m-b/before"}; !slices.Equal(got, want) {
		t.Errorf("m-b's handler, removed, saw %v, want %v", got, want)
	}
}
