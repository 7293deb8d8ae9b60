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
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// EnvOptions describes an API-only environment.
type EnvOptions struct {
	// CRDDirs are folders of CRD manifests to install; relative paths are taken from the
	// repo root (HubCRDDir, SpokeCRDDir). A folder with no files is fine, a missing one is not.
	CRDDirs []string
	// Scheme of the client; nil means DefaultScheme(). It should hold client-go's types.
	Scheme *runtime.Scheme
	// Dir receives the logs (etcd.log, kube-apiserver.log), etcd's data, the API server's
	// certificates and the launch wrappers.
	Dir string
	// Binaries to run; nil means FindBinaries.
	Binaries *Binaries
}

// Env is an API-only control plane (etcd and kube-apiserver, no controllers), started by
// controller-runtime's envtest.
type Env struct {
	// Config is an admin *rest.Config.
	Config *rest.Config
	// Client is an admin client with the env's scheme.
	Client client.Client
	// Scheme is the client's scheme.
	Scheme *runtime.Scheme
	// Dir holds the logs.
	Dir string
	// Environment is the envtest environment underneath.
	Environment *envtest.Environment

	pids          []int
	release       chan struct{}
	stopInterrupt func()
	logs          []*os.File
	stopOnce      sync.Once
	stopErr       error
}

// StartEnv starts an API-only environment and installs the CRDs. Call Stop when done.
//
// envtest starts etcd and kube-apiserver itself, with no Pdeathsig. So that they still die
// with this process, each is launched through a two-line wrapper that runs
// `setpriv --pdeathsig KILL` (util-linux) before exec'ing the real binary, and envtest is
// started from an OS thread that stays locked until Stop, because Linux sends the signal
// when the parent thread ends.
func StartEnv(opts EnvOptions) (*Env, error) {
	if opts.Dir == "" {
		return nil, errors.New("EnvOptions.Dir is required")
	}
	bins, err := envBinaries(opts.Binaries)
	if err != nil {
		return nil, err
	}
	crdDirs, err := repoPaths(opts.CRDDirs)
	if err != nil {
		return nil, err
	}
	e := &Env{Scheme: opts.Scheme, Dir: opts.Dir, release: make(chan struct{})}
	if e.Scheme == nil {
		e.Scheme = DefaultScheme()
	}
	etcdPath, err := deathWrapper(opts.Dir, bins.Path(BinEtcd))
	if err != nil {
		return nil, err
	}
	apiServerPath, err := deathWrapper(opts.Dir, bins.Path(BinAPIServer))
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"etcd", "apiserver"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	etcdLog, err := openLog(filepath.Join(opts.Dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	apiServerLog, err := openLog(filepath.Join(opts.Dir, "kube-apiserver.log"))
	if err != nil {
		_ = etcdLog.Close()
		return nil, err
	}
	e.logs = []*os.File{etcdLog, apiServerLog}
	e.Environment = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			// Data and certificates live in opts.Dir too, so a killed test leaves one folder.
			Etcd: &envtest.Etcd{Path: etcdPath, DataDir: filepath.Join(opts.Dir, "etcd"),
				Out: etcdLog, Err: etcdLog},
			APIServer: &envtest.APIServer{Path: apiServerPath, CertDir: filepath.Join(opts.Dir, "apiserver"),
				Out: apiServerLog, Err: apiServerLog},
		},
		Scheme:                   e.Scheme,
		CRDDirectoryPaths:        crdDirs,
		ErrorIfCRDPathMissing:    true,
		CRDInstallOptions:        envtest.CRDInstallOptions{MaxTime: time.Minute}, // the default 10 s is short on a busy machine
		BinaryAssetsDirectory:    bins.Dir,
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  DefaultStopTimeout,
	}
	if kubectl := bins.Path(BinKubectl); bins.Require(BinKubectl) == nil {
		e.Environment.ControlPlane.KubectlPath = kubectl
	}

	before := childPids()
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // the children's parent thread: kept until Stop
		_, err := e.Environment.Start()
		started <- err
		<-e.release
		goruntime.UnlockOSThread()
	}()
	e.stopInterrupt = onInterrupt(func() { _ = e.Stop() })
	if err := <-started; err != nil {
		return nil, errors.Join(fmt.Errorf("starting envtest (logs in %s): %w", opts.Dir, err), e.Stop())
	}
	e.pids = newChildren(before, bins.Path(BinEtcd), bins.Path(BinAPIServer))
	e.Config = rest.CopyConfig(e.Environment.Config)
	e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme})
	if err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	return e, nil
}

// Stop stops kube-apiserver and etcd and waits until they are reaped. It is safe to call
// more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		e.stopErr = e.Environment.Stop()
		close(e.release)
		if e.stopInterrupt != nil {
			e.stopInterrupt()
		}
		for _, f := range e.logs {
			_ = f.Close()
		}
	})
	return e.stopErr
}

// Pids are the process ids of the env's etcd and kube-apiserver (found among this
// process's children when it started), for leak checks.
func (e *Env) Pids() []int { return slices.Clone(e.pids) }

func envBinaries(b *Binaries) (Binaries, error) {
	if b != nil {
		return *b, b.Require(BinEtcd, BinAPIServer)
	}
	return FindBinaries(BinEtcd, BinAPIServer)
}

// deathWrapper writes an executable script into dir/bin that runs binary with
// Pdeathsig=SIGKILL, and returns its path. Without setpriv it returns binary itself.
func deathWrapper(dir, binary string) (string, error) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return binary, nil //nolint:nilerr // without setpriv, run the binary itself
	}
	path := filepath.Join(dir, "bin", filepath.Base(binary))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	script := fmt.Sprintf("#!/bin/sh\nexec %q --pdeathsig KILL -- %q \"$@\"\n", setpriv, binary)
	return path, os.WriteFile(path, []byte(script), 0o755)
}

// newChildren lists this process's children that were not in before and run one of the
// given binaries.
func newChildren(before []int, binaries ...string) []int {
	for i, b := range binaries {
		if resolved, err := filepath.EvalSymlinks(b); err == nil {
			binaries[i] = resolved
		}
	}
	var out []int
	for _, pid := range childPids() {
		if slices.Contains(before, pid) {
			continue
		}
		if exe, err := ExePath(pid); err == nil && slices.Contains(binaries, exe) {
			out = append(out, pid)
		}
	}
	return out
}

// repoPaths makes relative paths absolute against the repo root.
func repoPaths(paths []string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			abs, err := RepoPath(p)
			if err != nil {
				return nil, err
			}
			p = abs
		}
		out = append(out, p)
	}
	return out, nil
}
