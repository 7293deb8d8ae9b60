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

package simulation

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/federation"
)

// timeline follows the member Rollouts during one revision, by a watch of the test's own: when
// each got the revision (the hub's dispatch) and when it was Healthy at it (the spoke's and the
// control plane's work). It explains a benchmark's wall time; nothing is asserted on it.
type timeline struct {
	rev    string
	t0     time.Time
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	placed map[string]time.Duration
	health map[string]time.Duration
}

// followRollouts starts following the member Rollouts (an informer of the test's own, which
// lists again if the API server closes its watch) until the timeline is stopped. Times are
// taken from its return, before which the revision must not change.
func followRollouts(ctx context.Context, t testing.TB, s *sim, rev int64) *timeline {
	t.Helper()
	ca, err := cache.New(s.cluster.Config, cache.Options{Scheme: s.cluster.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	tl := &timeline{rev: strconv.FormatInt(rev, 10), t0: time.Now(), stop: stop, done: make(chan struct{}),
		placed: map[string]time.Duration{}, health: map[string]time.Duration{}}
	inf, err := ca.GetInformer(ctx, &rolloutsv1alpha1.Rollout{}, cache.BlockUntilSynced(false))
	if err != nil {
		t.Fatal(err)
	}
	see := func(o any) {
		if ro, ok := o.(*rolloutsv1alpha1.Rollout); ok {
			tl.see(ro)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: see,
		UpdateFunc: func(_, o any) { see(o) }}); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tl.done)
		_ = ca.Start(ctx)
	}()
	if !ca.WaitForCacheSync(ctx) {
		t.Fatal("the timeline's Rollout informer did not sync")
	}
	tl.mu.Lock()
	tl.t0 = time.Now() // the revision is changed after this
	tl.mu.Unlock()
	return tl
}

func (tl *timeline) see(ro *rolloutsv1alpha1.Rollout) {
	if ro.Annotations[federation.RevisionAnnotation] != tl.rev {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	at := time.Since(tl.t0)
	if _, ok := tl.placed[ro.Namespace]; !ok {
		tl.placed[ro.Namespace] = at
	}
	if _, ok := tl.health[ro.Namespace]; !ok && ro.Status.Phase == rolloutsv1alpha1.RolloutPhaseHealthy &&
		ro.Status.ObservedGeneration == ro.Generation {
		tl.health[ro.Namespace] = at
	}
}

// log stops following and logs, per wave (members index modulo waves), the span of the
// dispatches, the span of the clusters becoming Healthy, and the slowest cluster's time from
// dispatch to Healthy.
func (tl *timeline) log(t testing.TB, s *sim, waves int) {
	t.Helper()
	tl.stop()
	<-tl.done
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for wv := range waves {
		var p0, p1, h0, h1, slowest time.Duration
		first := true
		for i := wv; i < len(s.members); i += waves {
			m := s.members[i]
			p, h := tl.placed[m], tl.health[m]
			if first {
				p0, p1, h0, h1, first = p, p, h, h, false
			}
			p0, p1, h0, h1 = min(p0, p), max(p1, p), min(h0, h), max(h1, h)
			slowest = max(slowest, h-p)
		}
		r := func(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
		t.Logf("wave-%d: dispatched %s..%s, Healthy %s..%s, slowest dispatch-to-Healthy %s (%d of %d seen Healthy)",
			wv, r(p0), r(p1), r(h0), r(h1), r(slowest), len(tl.health), len(tl.placed))
	}
}
