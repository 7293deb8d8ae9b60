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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flotilla-io/flotilla/test/harness"
)

// reportFD is the descriptor on which `up` hands the supervisor the write end of a pipe.
const reportFD = 3

// Lines on the report pipe are "<kind> <text>"; the pipe's end ends the report.
const (
	reportLog    = "log"
	reportReady  = "ready"
	reportFailed = "failed"
)

// stopTimeout bounds the supervisor's stop of the fleet.
const stopTimeout = 90 * time.Second

// supervise is the background process that `up` starts in a session of its own. It owns
// every process of the fleet: it starts them (each with Pdeathsig, so they die with it),
// reports to `up` on the pipe at reportFD, and stops them all when it gets SIGTERM, SIGINT
// or SIGHUP. Its output goes to logs/supervisor.log.
func supervise(d stateDir, bins harness.Binaries) error {
	rep := newReporter(os.NewFile(reportFD, "report"))
	defer rep.close()
	stderr := timestamped{os.Stderr}
	log := &lineWriter{w: io.MultiWriter(stderr, rep)}
	logf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	pids := &pidWriter{path: d.pidsFile()}
	specs := make([]harness.ClusterSpec, 0, len(topology))
	for _, def := range topology {
		specs = append(specs, def.spec())
	}
	logf("supervisor pid %d: starting etcd and %d clusters", os.Getpid(), len(specs))
	begin := time.Now()
	fleet, err := harness.StartFleet(ctx, harness.FleetOptions{
		Dir:            string(d),
		LogDir:         d.logDir(),
		Binaries:       &bins,
		Clusters:       specs,
		Log:            log,
		OnProcessStart: func(p *harness.Process) { pids.add(p.Pid(), p.Path()) },
	})
	if err != nil {
		rep.failed(err)
		return err
	}
	stopFleet := func() error {
		logf("stopping the fleet")
		stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		err := fleet.Stop(stopCtx)
		logf("fleet stopped (error: %v)", err)
		return err
	}
	if err := errors.Join(setUp(ctx, fleet, d, logf), pids.err); err != nil {
		rep.failed(err)
		return errors.Join(err, stopFleet())
	}
	logf("fleet ready after %s", time.Since(begin).Round(10*time.Millisecond))
	rep.ready()
	rep.close()
	log.set(stderr)

	watchExits(ctx, fleet, logf)
	<-ctx.Done()
	logf("got %v", context.Cause(ctx))
	return stopFleet()
}

// setUp registers the members in the hub and starts each cluster's extra processes.
func setUp(ctx context.Context, fleet *harness.Fleet, d stateDir, logf func(string, ...any)) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	hub := fleet.Cluster("hub")
	for _, def := range topology {
		if def.role != roleMember {
			continue
		}
		if err := registerMember(ctx, hub.Client, def, fleet.Cluster(def.name).Kubeconfig); err != nil {
			return err
		}
		logf("registered member %s (region %s) in the hub", def.name, def.region)
	}
	hubPeers, err := prepareHub(d)
	if err != nil {
		return fmt.Errorf("hub certificates and ports: %w", err)
	}
	logf("issued a hub CA and %d peer certificates in %s", len(hubPeers), d.hubPKIDir())
	hubAPIs, err := prepareHubAPI(d)
	if err != nil {
		return fmt.Errorf("hub API ports: %w", err)
	}
	for _, def := range topology {
		c := fleet.Cluster(def.name)
		env := processEnv{repoRoot: root, cluster: c, hub: hub, stateDir: d, hubPeers: hubPeers, hubAPIs: hubAPIs}
		for _, spec := range def.processes(env) {
			p, err := c.StartProcess(spec)
			if err != nil {
				return err
			}
			logf("started %s", p)
		}
	}
	begin := time.Now()
	leader, err := waitHubLeader(ctx, d)
	if err != nil {
		return err
	}
	logf("hub: %s leads the raft group of %d replicas (elected in %s)", leader, hubReplicas,
		time.Since(begin).Round(10*time.Millisecond))
	logf("hub API of the replicas in %s: export FLOTILLA_HUB=$(cat %s) for `kubectl flotilla hub status` and `fleet history`",
		d.hubFile(), d.hubFile())
	return nil
}

// watchExits logs any process of the fleet that exits before the supervisor stops it.
func watchExits(ctx context.Context, fleet *harness.Fleet, logf func(string, ...any)) {
	for _, c := range fleet.Clusters {
		for _, p := range c.Processes() {
			go func() {
				select {
				case <-ctx.Done():
				case <-p.Done():
					if ctx.Err() == nil {
						_, err := p.Exited()
						logf("%s exited unexpectedly (%v); its log: %s", p, err, p.LogPath())
					}
				}
			}()
		}
	}
}

// reporter writes the report lines to `up`. Without the pipe (the supervisor started by
// hand) it writes nothing.
type reporter struct {
	mu sync.Mutex
	f  *os.File
}

func newReporter(f *os.File) *reporter {
	if f != nil {
		if _, err := f.Stat(); err != nil {
			f = nil
		}
	}
	return &reporter{f: f}
}

// Write sends each line as a log line.
func (r *reporter) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		r.send(reportLog, strings.TrimRight(line, "\n"))
	}
	return len(p), nil
}

func (r *reporter) ready() { r.send(reportReady, "") }

func (r *reporter) failed(err error) {
	for line := range strings.Lines(err.Error()) {
		r.send(reportFailed, strings.TrimRight(line, "\n"))
	}
}

func (r *reporter) send(kind, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		_, _ = fmt.Fprintf(r.f, "%s %s\n", kind, text) // `up` may be gone: EPIPE is fine
	}
}

func (r *reporter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
}

// lineWriter serializes writes from the harness's goroutines and lets the destination be
// swapped once `up` is gone.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lineWriter) set(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = w
}

// timestamped puts the time in front of every line.
type timestamped struct{ w io.Writer }

func (t timestamped) Write(p []byte) (int, error) {
	now := time.Now().Format("15:04:05.000 ")
	for line := range strings.Lines(string(p)) {
		if _, err := io.WriteString(t.w, now+line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
