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
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/flotilla-io/flotilla/test/harness"
)

// stateDir is the layout of the fleet's folder (.fleet/ by default).
type stateDir string

func (d stateDir) path(parts ...string) string {
	return filepath.Join(append([]string{string(d)}, parts...)...)
}

// pidsFile lists every process the supervisor started, one "<pid> <binary>" per line.
func (d stateDir) pidsFile() string { return d.path("pids") }

// supervisorPidFile holds the supervisor's pid.
func (d stateDir) supervisorPidFile() string { return d.path("supervisor.pid") }

// logDir holds one log per process, and the supervisor's own.
func (d stateDir) logDir() string { return d.path("logs") }

// kubeconfig is the admin kubeconfig of a cluster; the harness writes it there.
func (d stateDir) kubeconfig(cluster string) string { return d.path(cluster + ".kubeconfig") }

// exists reports whether the folder is there at all.
func (d stateDir) exists() bool {
	_, err := os.Stat(string(d))
	return err == nil
}

// record is one line of the pids file.
type record struct {
	pid    int
	binary string
}

// pidWriter appends records to the pids file as processes start.
type pidWriter struct {
	mu   sync.Mutex
	path string
	err  error
}

func (w *pidWriter) add(pid int, binary string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%d %s\n", pid, binary)
		err = errors.Join(err, f.Close())
	}
	w.err = errors.Join(w.err, err)
}

// readRecords reads the pids file; a missing file holds no records.
func (d stateDir) readRecords() ([]record, error) {
	f, err := os.Open(d.pidsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pidStr, binary, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 1 {
			return nil, fmt.Errorf("%s: malformed line %q", d.pidsFile(), sc.Text())
		}
		out = append(out, record{pid: pid, binary: binary})
	}
	return out, sc.Err()
}

// live reports whether the record's process still runs the recorded binary. A pid that
// now belongs to another program is not ours and is left alone.
func (r record) live() bool {
	exe, err := harness.ExePath(r.pid)
	return err == nil && exe == r.binary
}

// readSupervisorPid reads supervisor.pid; 0 if there is none.
func (d stateDir) readSupervisorPid() (int, error) {
	data, err := os.ReadFile(d.supervisorPidFile())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s: malformed pid %q", d.supervisorPidFile(), data)
	}
	return pid, nil
}

// supervisorAlive reports whether pid is this folder's supervisor: its command line is
// `<binary> supervise --dir <this folder> ...`. A recycled pid is not.
func (d stateDir) supervisorAlive(pid int) bool {
	if pid == 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	i := slices.Index(args, superviseCommand)
	return i > 0 && slices.Contains(args[i:], "--dir="+string(d))
}
