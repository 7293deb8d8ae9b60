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
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-io/flotilla/test/harness"
)

// up starts the supervisor in a session of its own and waits until it reports the fleet
// ready or failed. Interrupting up stops the fleet.
func up(d stateDir, timeout time.Duration, out io.Writer) error {
	if pid, err := d.readSupervisorPid(); err == nil && d.supervisorAlive(pid) {
		fmt.Fprintf(out, "fleet: already up (supervisor pid %d); `make fleet-status` shows it, `make fleet-down` stops it\n", pid)
		return nil
	}
	if err := clearStale(d, out); err != nil {
		return err
	}
	bins, err := harness.FindBinaries(harness.BinEtcd, harness.BinAPIServer, harness.BinControllerManager,
		harness.BinScheduler, harness.BinKwok)
	if err != nil {
		return err
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.logDir(), 0o755); err != nil {
		return err
	}
	if err := buildAgents(root, out); err != nil {
		return err
	}

	begin := time.Now()
	cmd, reports, err := startSupervisor(d, bins, root)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "fleet: supervisor pid %d, logs in %s\n", cmd.Process.Pid, d.logDir())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // reap it if it dies while up still waits

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the fleet was not ready within %s", timeout))
	defer cancelTimeout()

	result := make(chan error, 1)
	go func() { result <- readReport(reports, out) }()
	select {
	case err = <-result:
	case <-ctx.Done():
		err = context.Cause(ctx)
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(out, "fleet: %v; stopping the supervisor\n", err)
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	}
	if err != nil {
		select { // the supervisor stops the fleet and exits
		case <-exited:
		case <-time.After(stopTimeout + 10*time.Second):
			fmt.Fprintf(out, "fleet: the supervisor (pid %d) did not exit; run `make fleet-down`\n", cmd.Process.Pid)
		}
		return fmt.Errorf("%w\nlogs are in %s; `make fleet-down` removes them", err, d.logDir())
	}
	fmt.Fprintf(out, "fleet: ready after %s\n", time.Since(begin).Round(100*time.Millisecond))
	for _, def := range topology {
		rel, _ := filepath.Rel(root, d.kubeconfig(def.name))
		if rel == "" || strings.HasPrefix(rel, "..") {
			rel = d.kubeconfig(def.name)
		}
		fmt.Fprintf(out, "  %-9s kubectl --kubeconfig %s get nodes\n", def.name, rel)
	}
	return nil
}

// startSupervisor starts this program's supervise command in a new session, with its
// output in logs/supervisor.log and the write end of a pipe as descriptor 3. It returns
// the read end.
func startSupervisor(d stateDir, bins harness.Binaries, root string) (*exec.Cmd, io.ReadCloser, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(d.logDir(), "supervisor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = logFile.Close() }()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = w.Close() }() // the supervisor holds its own copy; ours must go for EOF to arrive
	// Not CommandContext: the supervisor must outlive this process.
	cmd := exec.Command(self, superviseCommand, //nolint:noctx // see above
		"--dir="+string(d), "--bin-dir="+bins.Dir)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{w} // descriptor 3 = reportFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		return nil, nil, fmt.Errorf("starting the supervisor: %w", err)
	}
	if err := os.WriteFile(d.supervisorPidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		_ = r.Close()
		return nil, nil, err
	}
	return cmd, r, nil
}

// readReport prints the supervisor's log lines until it reports ready (nil) or failed, or
// the pipe ends without a verdict.
func readReport(r io.ReadCloser, out io.Writer) error {
	defer func() { _ = r.Close() }()
	var failure []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, text, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case reportLog:
			fmt.Fprintf(out, "  %s\n", text)
		case reportReady:
			return nil
		case reportFailed:
			failure = append(failure, text)
		}
	}
	if len(failure) > 0 {
		return errors.New("the fleet failed to start: " + strings.Join(failure, "\n"))
	}
	return errors.New("the supervisor exited without reporting (see logs/supervisor.log)")
}

// clearStale removes the folder of an earlier fleet whose supervisor is gone, unless some
// of its processes still run.
func clearStale(d stateDir, out io.Writer) error {
	if !d.exists() {
		return nil
	}
	recs, err := d.readRecords()
	if err != nil {
		return err
	}
	var live []string
	for _, r := range recs {
		if r.live() {
			live = append(live, fmt.Sprintf("%d %s", r.pid, filepath.Base(r.binary)))
		}
	}
	if len(live) > 0 {
		return fmt.Errorf("processes of an earlier fleet still run (%s); run `make fleet-down` first",
			strings.Join(live, ", "))
	}
	fmt.Fprintf(out, "fleet: removing %s, left by an earlier fleet that no longer runs\n", d)
	return os.RemoveAll(string(d))
}

// buildTimeout bounds the build of the agents (a cold build cache takes a minute or two).
const buildTimeout = 5 * time.Minute

// buildAgents builds the spoke agent the members run and the hub the hub cluster runs into
// bin/ (go build is incremental: quick when nothing changed), so that the fleet never runs
// a stale binary.
func buildAgents(root string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	for _, b := range []struct{ out, pkg string }{
		{spokeBinary, "./cmd/flotilla-spoke"},
		{hubBinary, "./cmd/flotilla-hub"},
	} {
		begin := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %w\n%s", b.out, err, msg)
		}
		fmt.Fprintf(out, "fleet: built %s in %s\n", b.out, time.Since(begin).Round(100*time.Millisecond))
	}
	return nil
}
