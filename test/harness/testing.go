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

package harness

import (
	"context"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeepLogsEnv is an environment variable that, when set to anything, keeps the log folders of passing tests too.
const KeepLogsEnv = "FLOTILLA_KEEP_LOGS"

// stopTimeout bounds the stop of everything a test started.
const stopTimeout = time.Minute

// NewEnv starts an API-only environment for the test and stops it in t.Cleanup. Its logs
// go to a fresh folder that is removed if the test passes and kept (its path logged) if it
// fails. Missing binaries fail the test.
func NewEnv(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	HandleSignals(os.Stderr)
	if opts.Binaries == nil {
		bins, err := FindBinaries(BinEtcd, BinAPIServer)
		if err != nil {
			t.Fatal(err)
		}
		opts.Binaries = &bins
	}
	if opts.Dir == "" {
		opts.Dir = TempDir(t, "flotilla-env-")
	}
	env, err := StartEnv(opts)
	if err != nil {
		t.Fatalf("starting API-only environment: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping API-only environment: %v", err)
		}
	})
	return env
}

// Namespace creates a namespace with a fresh name for the test in the env.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	return Namespace(t, e.Client)
}

// NewFleet starts a fleet of full clusters for the test and stops it in t.Cleanup. Unless
// opts.Dir is set, its state and logs go to a fresh folder that is removed if the test
// passes and kept (its path logged) if it fails. Progress is logged with t.Logf.
func NewFleet(t testing.TB, opts FleetOptions) *Fleet {
	t.Helper()
	HandleSignals(os.Stderr)
	if opts.Binaries == nil {
		bins, err := FindBinaries(BinEtcd, BinAPIServer, BinControllerManager, BinScheduler, BinKwok)
		if err != nil {
			t.Fatal(err)
		}
		opts.Binaries = &bins
	}
	if opts.Dir == "" {
		opts.Dir = TempDir(t, "flotilla-fleet-")
	}
	if opts.Log == nil {
		opts.Log = testWriter{t}
	}
	fleet, err := StartFleet(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting fleet: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := fleet.Stop(ctx); err != nil {
			t.Errorf("stopping fleet: %v", err)
		}
	})
	return fleet
}

// TempDir makes a folder for a test's state and logs. Unlike t.TempDir it outlives a failed
// test: it is removed after a passing test (unless KeepLogsEnv is set) and kept, with its
// path logged, after a failing one. Call it before registering the cleanup that stops what
// writes there, so that the removal runs after the stop.
func TempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("making a log folder: %v", err)
	}
	t.Cleanup(func() {
		switch {
		case t.Failed():
			t.Logf("harness: test failed, logs kept in %s", dir)
		case os.Getenv(KeepLogsEnv) != "":
			t.Logf("harness: %s is set, logs kept in %s", KeepLogsEnv, dir)
		default:
			_ = os.RemoveAll(dir)
		}
	})
	return dir
}

// testWriter turns each line written to it into a t.Logf.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace with a fresh name derived from the test's name and deletes
// it in t.Cleanup (without waiting: on an API-only env nothing finalizes namespaces).
func Namespace(t testing.TB, c client.Client) string {
	t.Helper()
	base := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-" + base + "-"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace for %s: %v", t.Name(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// SeededRand returns a random source seeded from the environment variable env (a whole
// number), or from def when it is not set, and logs the seed and how to repeat the run with
// it, so that a test that chooses its kill points or timings at random can be replayed.
func SeededRand(t testing.TB, env string, def uint64) *rand.Rand {
	t.Helper()
	seed := def
	if s := os.Getenv(env); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", env, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set %s=%d to repeat)", seed, env, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
