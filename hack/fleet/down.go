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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flotilla-io/flotilla/test/harness"
)

// Grace periods of down.
const (
	supervisorExitTimeout = stopTimeout + 10*time.Second
	termTimeout           = 15 * time.Second
	killTimeout           = 10 * time.Second
	reapTimeout           = 15 * time.Second
)

// down stops the fleet: SIGTERM to the supervisor, which stops its children; then every
// recorded process still alive that still runs its recorded binary gets SIGTERM and, if
// need be, SIGKILL. Nothing is ever signalled by name, only by recorded pid. Once none is
// left it removes the folder. With nothing up it does nothing.
func down(d stateDir, out io.Writer) error {
	if !d.exists() {
		fmt.Fprintf(out, "fleet: nothing to stop (%s does not exist)\n", d)
		return nil
	}
	pid, err := d.readSupervisorPid()
	if err != nil {
		return err
	}
	supervisorRan := d.supervisorAlive(pid)
	if supervisorRan {
		fmt.Fprintf(out, "fleet: stopping the supervisor (pid %d)\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(supervisorExitTimeout, func() bool { return d.supervisorAlive(pid) }) {
			fmt.Fprintf(out, "fleet: the supervisor did not exit within %s; killing it\n", supervisorExitTimeout)
			_ = syscall.Kill(pid, syscall.SIGKILL) // its children die with it (Pdeathsig)
			waitGone(killTimeout, func() bool { return d.supervisorAlive(pid) })
		}
	}

	recs, err := d.readRecords()
	if err != nil {
		return err
	}
	if left := liveRecords(recs); len(left) > 0 {
		fmt.Fprintf(out, "fleet: %d processes outlived the supervisor; stopping them: %s\n", len(left), describe(left))
		signalRecords(left, syscall.SIGTERM)
		if !waitGone(termTimeout, func() bool { return len(liveRecords(left)) > 0 }) {
			signalRecords(liveRecords(left), syscall.SIGKILL)
			waitGone(killTimeout, func() bool { return len(liveRecords(left)) > 0 })
		}
	}
	if left := liveRecords(recs); len(left) > 0 {
		return fmt.Errorf("still running after SIGKILL: %s; %s kept", describe(left), d)
	}
	if d.supervisorAlive(pid) {
		return fmt.Errorf("the supervisor (pid %d) is still running; %s kept", pid, d)
	}
	// The supervisor is not our child: its parent (init, once `up` is gone) reaps it. Until
	// then its pid cannot be reused, so waiting on it is safe.
	if supervisorRan && !waitGone(reapTimeout, func() bool { return harness.PidExists(pid) }) {
		fmt.Fprintf(out, "fleet: the supervisor (pid %d) exited but its parent has not reaped it yet\n", pid)
	}
	fmt.Fprintf(out, "fleet: stopped (%d processes recorded, none left); removing %s\n", len(recs), d)
	return os.RemoveAll(string(d))
}

// liveRecords are the records whose pid still runs the recorded binary. A zombie counts as
// alive: its parent (the supervisor, or init once the supervisor is gone) has yet to reap it.
func liveRecords(recs []record) []record {
	var live []record
	for _, r := range recs {
		if r.live() || (harness.PidExists(r.pid) && zombieOf(r)) {
			live = append(live, r)
		}
	}
	return live
}

// zombieOf reports whether r's pid is a zombie whose name matches the recorded binary
// (a zombie has no /proc/<pid>/exe to compare).
func zombieOf(r record) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.pid))
	if err != nil {
		return false
	}
	stat := string(data)
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open || len(stat) < end+3 {
		return false
	}
	comm := stat[open+1 : end]
	name := filepath.Base(r.binary)
	return stat[end+2] == 'Z' && strings.HasPrefix(name, comm) // comm is cut to 15 bytes
}

// signalRecords signals each recorded process; one that leads its own process group (as
// every process the harness starts does) gets the signal for its whole group.
func signalRecords(recs []record, sig syscall.Signal) {
	for _, r := range recs {
		if !r.live() {
			continue
		}
		if pgid, err := syscall.Getpgid(r.pid); err == nil && pgid == r.pid {
			_ = syscall.Kill(-r.pid, sig)
		} else {
			_ = syscall.Kill(r.pid, sig)
		}
	}
}

// waitGone polls alive until it is false or timeout passes; it reports whether it ended.
func waitGone(timeout time.Duration, alive func() bool) bool {
	deadline := time.Now().Add(timeout)
	for alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func describe(recs []record) string {
	parts := make([]string, 0, len(recs))
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("%d (%s)", r.pid, filepath.Base(r.binary)))
	}
	return strings.Join(parts, ", ")
}
