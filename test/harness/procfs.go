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
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
)

// PidExists reports whether /proc/<pid> exists. A zombie (exited but not reaped) exists.
func PidExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// statFields returns the fields of /proc/<pid>/stat that follow the command name, so
// fields[0] is the state (field 3 in proc(5)), fields[1] the parent pid and fields[19] the
// start time.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name may hold spaces and parentheses; the fields after it are plain.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return nil, errors.New("short /proc stat")
	}
	return fields, nil
}

// procStat returns the state letter and start time (clock ticks since boot) of pid.
func procStat(pid int) (state string, startTime uint64, err error) {
	fields, err := statFields(pid)
	if err != nil {
		return "", 0, err
	}
	startTime, err = strconv.ParseUint(fields[19], 10, 64)
	return fields[0], startTime, err
}

func procStartTime(pid int) (uint64, error) {
	_, st, err := procStat(pid)
	return st, err
}

// procState is a human-readable state of pid for error messages.
func procState(pid int) string {
	state, _, err := procStat(pid)
	if err != nil {
		return "gone"
	}
	return state
}

// ExePath is the binary pid runs, from /proc/<pid>/exe, without the " (deleted)" the
// kernel adds when the file was replaced since.
func ExePath(pid int) (string, error) {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}

// childPids lists the processes whose parent is this process.
func childPids() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, err := parentPid(pid); err == nil && ppid == self {
			out = append(out, pid)
		}
	}
	return out
}

func parentPid(pid int) (int, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[1])
}
