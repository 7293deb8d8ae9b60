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
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a program that starts an API-only env and a
// one-cluster fleet, prints their pids and waits to be killed.
const helperEnv = "FLOTILLA_HARNESS_LEAK_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(leakHelper(dir))
	}
	os.Exit(m.Run())
}

// TestNoLeakWhenKilled starts the helper, signals it once everything runs and checks that
// every process it started is gone: SIGINT goes through HandleSignals, SIGKILL leaves it
// to Pdeathsig.
func TestNoLeakWhenKilled(t *testing.T) {
	if _, err := FindBinaries(BinEtcd, BinAPIServer, BinControllerManager, BinScheduler, BinKwok); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := TempDir(t, "flotilla-leak-")
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), helperEnv+"="+dir)
			var stderr output
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

			var pids []int
			sc := bufio.NewScanner(stdout)
			for sc.Scan() && sc.Text() != "ready" {
				if pid, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
					n, _ := strconv.Atoi(pid)
					pids = append(pids, n)
				}
			}
			if len(pids) < 7 { // env: etcd, apiserver; fleet: etcd, apiserver, kcm, scheduler, kwok
				t.Fatalf("helper reported %d pids (%v), want at least 7; logs in %s", len(pids), pids, dir)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			err = WaitFor(context.Background(), "the helper's processes gone", 30*time.Second,
				func(context.Context) (bool, string, error) {
					var left []string
					for _, pid := range pids {
						if PidExists(pid) {
							left = append(left, fmt.Sprintf("%d (%s)", pid, procState(pid)))
						}
					}
					return len(left) == 0, "still there: " + strings.Join(left, ", "), nil
				})
			if err != nil {
				t.Error(err)
			}
			if caught := strings.Contains(stderr.String(), "harness: caught interrupt"); sig == syscall.SIGINT && !caught {
				t.Errorf("the signal handler did not run; helper's stderr:\n%s", stderr.String())
			}
		})
	}
}

// output is a bytes.Buffer that a child's output goroutine may write while the test reads.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// leakHelper is the helper program's main.
func leakHelper(dir string) int {
	HandleSignals(os.Stderr)
	env, err := StartEnv(EnvOptions{Dir: filepath.Join(dir, "env")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fleet, err := StartFleet(context.Background(), FleetOptions{
		Dir:      filepath.Join(dir, "fleet"),
		Clusters: []ClusterSpec{{Name: "only", Nodes: 1}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		return 1
	}
	for _, pid := range env.Pids() {
		fmt.Printf("pid %d\n", pid)
	}
	for _, p := range fleet.Processes() {
		fmt.Printf("pid %d\n", p.Pid())
	}
	fmt.Println("ready")
	select {} // until a signal ends it
}
