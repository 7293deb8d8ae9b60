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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultFleetStartTimeout bounds StartFleet when FleetOptions.StartTimeout is zero.
const DefaultFleetStartTimeout = 3 * time.Minute

// FleetOptions describes a set of full clusters that share one etcd.
type FleetOptions struct {
	// Dir holds all state: clusters/<name>/ (certificates), etcd/, <name>.kubeconfig.
	Dir string
	// LogDir holds one log per process (etcd.log, <cluster>/<binary>.log); default Dir/logs.
	LogDir string
	// Binaries to run; nil means FindBinaries.
	Binaries *Binaries
	// Clusters to start, concurrently.
	Clusters []ClusterSpec
	// Scheme of the clients handed out; nil means DefaultScheme().
	Scheme *runtime.Scheme
	// Log receives one line per step; nil discards them.
	Log io.Writer
	// OnProcessStart, if set, is called for every process the fleet starts (also restarts
	// and processes added later), for example to record its pid.
	OnProcessStart func(*Process)
	// StartTimeout bounds the whole start; zero means DefaultFleetStartTimeout.
	StartTimeout time.Duration
}

// Fleet is one etcd and the clusters that keep their data in it.
type Fleet struct {
	// Dir and LogDir are as in FleetOptions.
	Dir, LogDir string
	// Etcd is the shared etcd.
	Etcd *Etcd
	// Clusters are in the order of FleetOptions.Clusters.
	Clusters []*Cluster

	opts   FleetOptions
	bins   Binaries
	scheme *runtime.Scheme

	mu    sync.Mutex
	procs []*Process // every process ever started, in order
	logMu sync.Mutex
}

// StartFleet starts etcd and then every cluster concurrently, and returns once all of them
// are ready. On error it stops whatever it started before it returns.
func StartFleet(ctx context.Context, opts FleetOptions) (*Fleet, error) {
	if opts.Dir == "" {
		return nil, errors.New("FleetOptions.Dir is required")
	}
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(opts.Dir, "logs")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultFleetStartTimeout
	}
	opts.Clusters = slices.Clone(opts.Clusters)
	f := &Fleet{Dir: opts.Dir, LogDir: opts.LogDir, opts: opts, scheme: opts.Scheme}
	if f.scheme == nil {
		f.scheme = DefaultScheme()
	}
	if opts.Binaries != nil {
		f.bins = *opts.Binaries
	} else {
		bins, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		f.bins = bins
	}
	if err := f.bins.Require(BinEtcd, BinAPIServer, BinControllerManager, BinScheduler, BinKwok); err != nil {
		return nil, err
	}
	if err := checkClusterSpecs(opts.Clusters); err != nil {
		return nil, err
	}
	for _, dir := range []string{f.Dir, f.LogDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeoutCause(ctx, opts.StartTimeout,
		fmt.Errorf("fleet did not start within %s", opts.StartTimeout))
	defer cancel()
	if err := f.start(ctx); err != nil {
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer stopCancel()
		return nil, errors.Join(err, f.Stop(stopCtx))
	}
	return f, nil
}

// checkClusterSpecs checks names and makes CRD folders absolute (relative ones are taken
// from the repo root), so that mistakes show before anything starts.
func checkClusterSpecs(specs []ClusterSpec) error {
	seen := map[string]bool{}
	for i, spec := range specs {
		if spec.Name == "" || seen[spec.Name] {
			return fmt.Errorf("cluster names must be set and unique, got %q twice or empty", spec.Name)
		}
		seen[spec.Name] = true
		dirs, err := repoPaths(spec.CRDDirs)
		if err != nil {
			return err
		}
		for _, dir := range dirs {
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("cluster %s: CRD folder: %w", spec.Name, err)
			}
		}
		specs[i].CRDDirs = dirs
	}
	return nil
}

func (f *Fleet) start(ctx context.Context) error {
	begin := time.Now()
	etcd, err := StartEtcd(ctx, f.bins, filepath.Join(f.Dir, "etcd"), filepath.Join(f.LogDir, "etcd.log"), f.recordStart)
	if err != nil {
		return err
	}
	f.Etcd = etcd
	f.logf("etcd ready at %s after %s", etcd.URL, since(begin))

	for _, spec := range f.opts.Clusters {
		f.Clusters = append(f.Clusters, &Cluster{
			Name:           spec.Name,
			KubeconfigPath: filepath.Join(f.Dir, spec.Name+".kubeconfig"),
			spec:           spec,
			fleet:          f,
		})
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(f.Clusters))
	var wg sync.WaitGroup
	for i, c := range f.Clusters {
		wg.Go(func() {
			if errs[i] = c.start(ctx); errs[i] != nil {
				cancel(fmt.Errorf("cluster %s failed", c.Name))
				return
			}
			f.logf("cluster %s ready at %s (%d nodes) after %s", c.Name, c.APIServerURL, c.spec.Nodes, since(begin))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// recordStart records p and tells OnProcessStart.
func (f *Fleet) recordStart(p *Process) {
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	if f.opts.OnProcessStart != nil {
		f.opts.OnProcessStart(p)
	}
}

// Cluster returns the cluster with that name, or nil.
func (f *Fleet) Cluster(name string) *Cluster {
	for _, c := range f.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Processes lists every process the fleet has started, including ones that have exited
// since (a stopped API server); a leak check looks at all of them.
func (f *Fleet) Processes() []*Process {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Process(nil), f.procs...)
}

// Binaries are the binaries the fleet runs.
func (f *Fleet) Binaries() Binaries { return f.bins }

// Stop stops every cluster (concurrently), then etcd, and waits until every process is
// reaped. It is safe to call more than once.
func (f *Fleet) Stop(ctx context.Context) error {
	begin := time.Now()
	errs := make([]error, len(f.Clusters)+2)
	var wg sync.WaitGroup
	for i, c := range f.Clusters {
		wg.Go(func() { errs[i] = c.Stop(ctx) })
	}
	wg.Wait()
	if f.Etcd != nil {
		errs[len(f.Clusters)] = f.Etcd.proc.Stop(ctx)
	}
	// Anything else started (a process whose start was retried) goes too.
	errs[len(f.Clusters)+1] = StopProcesses(ctx, f.Processes())
	f.logf("fleet stopped after %s", since(begin))
	return errors.Join(errs...)
}

func (f *Fleet) logf(format string, args ...any) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	fmt.Fprintf(f.opts.Log, "harness: "+format+"\n", args...)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }
