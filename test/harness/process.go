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
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// ProcessSpec describes a child process.
type ProcessSpec struct {
	// Name identifies the process in errors and logs, for example "us-east/kube-apiserver".
	Name string
	// Path is the binary.
	Path string
	// Args are the arguments, without the binary.
	Args []string
	// Env is added to the parent's environment.
	Env []string
	// Dir is the working directory; empty means the parent's.
	Dir string
	// LogFile receives stdout and stderr (appended, so a restart keeps the earlier output).
	LogFile string
	// StopTimeout is the grace period between SIGTERM and SIGKILL; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
}

// Process is a running (or finished) child. It runs in its own process group and receives
// SIGKILL when the thread that started it dies (Pdeathsig), which in this package is a
// thread that lives as long as the parent process.
type Process struct {
	spec      ProcessSpec
	cmd       *exec.Cmd
	startTime uint64 // from /proc/<pid>/stat, guards against pid reuse

	done    chan struct{} // closed once the process is reaped
	mu      sync.Mutex
	waitErr error
}

// StartProcess starts spec's binary. The caller must Stop it.
func StartProcess(spec ProcessSpec) (*Process, error) {
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	path, err := filepath.Abs(spec.Path)
	if err != nil {
		return nil, err
	}
	spec.Path = path
	logFile, err := openLog(spec.LogFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	defer func() { _ = logFile.Close() }() // the child holds its own descriptor
	fmt.Fprintf(logFile, "==== %s harness: starting %s %s\n",
		time.Now().Format(time.RFC3339Nano), spec.Path, strings.Join(spec.Args, " "))

	// Not CommandContext: the process lives until Stop, not until some context ends.
	cmd := exec.Command(spec.Path, spec.Args...) //nolint:noctx // see above
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	p := &Process{spec: spec, cmd: cmd, done: make(chan struct{})}
	p.startTime, _ = procStartTime(cmd.Process.Pid)
	register(p)
	go p.reap()
	return p, nil
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

func (p *Process) reap() {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.mu.Unlock()
	unregister(p)
	close(p.done)
}

// Name is the process's name from its spec.
func (p *Process) Name() string { return p.spec.Name }

// Path is the absolute path of the binary.
func (p *Process) Path() string { return p.spec.Path }

// Args are the arguments it was started with.
func (p *Process) Args() []string { return p.spec.Args }

// LogPath is the file that holds its output.
func (p *Process) LogPath() string { return p.spec.LogFile }

// Spec is a copy of the spec it was started with, for starting it again.
func (p *Process) Spec() ProcessSpec { return p.spec }

// Pid is its process id (also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether it has exited (and been reaped), and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// String is "name (pid N)".
func (p *Process) String() string { return fmt.Sprintf("%s (pid %d)", p.spec.Name, p.Pid()) }

// Stop sends SIGTERM to the process group, then SIGKILL after the stop timeout or when ctx
// ends, and waits until the process is reaped. It is safe to call more than once.
func (p *Process) Stop(ctx context.Context) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	p.signalGroup(syscall.SIGTERM)
	timer := time.NewTimer(p.spec.StopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	p.signalGroup(syscall.SIGKILL)
	// After SIGKILL the kernel takes it down promptly; a bounded wait reports a stuck reap.
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: still not reaped 10s after SIGKILL (state %s)", p, procState(p.Pid()))
	}
}

// Kill sends SIGKILL to the process alone (not its group), as a crash would end it, and waits
// until it is reaped. It fails if the process had already exited: a test that means to kill a
// running process must not miss that it died on its own.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s: still not reaped 10s after SIGKILL (state %s)", p, procState(p.Pid()))
	}
}

// Signal sends sig to the process alone (not its group), for example SIGSTOP and SIGCONT to
// freeze and thaw it. It fails if the process had already exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if exited, err := p.Exited(); exited {
		return fmt.Errorf("%s had already exited (%w); log %s ends with:\n%s", p, err, p.LogPath(), p.LogTail(30))
	}
	// Not reaped yet, so the pid is still this process's.
	if err := syscall.Kill(p.Pid(), sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, p, err)
	}
	return nil
}

// signalGroup signals the process group whose id is the child's pid, as long as the child
// has not been reaped: until then its pid (and so the group id) cannot belong to anyone
// else. After the reap nothing is sent, so a recycled pid is never hit.
func (p *Process) signalGroup(sig syscall.Signal) {
	if exited, _ := p.Exited(); !exited {
		_ = syscall.Kill(-p.Pid(), sig)
	}
}

// LogTail returns up to the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return tailFile(p.spec.LogFile, n) }

// exitError describes an exited process with the end of its log.
func (p *Process) exitError() error {
	_, err := p.Exited()
	return fmt.Errorf("%s exited (%w); log %s ends with:\n%s", p, err, p.LogPath(), p.LogTail(15))
}

func tailFile(path string, n int) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// spawnRequests feeds the spawner goroutine.
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

// spawn starts cmd on one OS thread that never exits. Linux delivers Pdeathsig when the
// parent *thread* exits, and Go ends a thread when a goroutine locked to it returns, so
// forking from an arbitrary goroutine could kill the child early. Forking from a thread
// that lives as long as the process ties the child's life to the process's.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		started := make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: this goroutine and its thread live forever
			close(started)
			for req := range spawnRequests {
				req.err <- req.cmd.Start()
			}
		}()
		<-started
	})
	req := spawnRequest{cmd: cmd, err: make(chan error, 1)}
	spawnRequests <- req
	return <-req.err
}

// Alive reports whether this very process (same pid and start time) still has a /proc
// entry; a zombie that was not reaped yet counts as alive.
func (p *Process) Alive() bool {
	_, st, err := procStat(p.Pid())
	return err == nil && (p.startTime == 0 || st == p.startTime)
}
