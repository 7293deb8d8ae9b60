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
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterSpec describes one full cluster of a fleet.
type ClusterSpec struct {
	// Name names the cluster: its kubeconfig, log folder and etcd prefix.
	Name string
	// Nodes is how many simulated (kwok) nodes to create; with none, pods stay Pending.
	Nodes int
	// NodeLabels are put on every node, for example topology.kubernetes.io/region.
	NodeLabels map[string]string
	// CRDDirs are folders of CRD manifests to server-side apply once the cluster is up;
	// relative paths are taken from the repo root.
	CRDDirs []string
	// APIServerArgs are added to kube-apiserver's command line (feature gates, admission).
	APIServerArgs []string
	// KwokStages, when set, are kwok Stage documents (YAML) that replace kwok's default pod
	// stages, for example KwokJobStages; kwok's default node stages stay. Empty keeps kwok's
	// defaults: pods become Ready, Job pods complete.
	KwokStages string
}

// nodeReadyTimeout bounds the wait for kwok and the node lifecycle controller to make the
// nodes schedulable.
const nodeReadyTimeout = 90 * time.Second

// Cluster is one running cluster: kube-apiserver (its data under its own prefix in the
// fleet's etcd), kube-controller-manager, kube-scheduler and kwok, plus any processes added
// with StartProcess.
type Cluster struct {
	// Name is the cluster's name.
	Name string
	// APIServerURL is https://127.0.0.1:Port.
	APIServerURL string
	// Port is kube-apiserver's port; it stays the same across StopAPIServer/StartAPIServer.
	Port int
	// KubeconfigPath is the admin kubeconfig (certificates inline).
	KubeconfigPath string
	// Kubeconfig holds the same bytes.
	Kubeconfig []byte
	// Config is the admin *rest.Config.
	Config *rest.Config
	// Client is an admin client with the fleet's scheme.
	Client client.Client
	// PKI holds the cluster's certificates and keys.
	PKI *PKI

	spec  ClusterSpec
	fleet *Fleet

	mu         sync.Mutex
	apiServer  *Process
	components []*Process // controller-manager, scheduler, kwok
	extras     []*Process // added by StartProcess
}

// Spec is the spec the cluster was started from.
func (c *Cluster) Spec() ClusterSpec { return c.spec }

// dir is a folder of the cluster's own state.
func (c *Cluster) dir(sub string) string { return filepath.Join(c.fleet.Dir, "clusters", c.Name, sub) }

// logFile is the log of one of the cluster's processes.
func (c *Cluster) logFile(name string) string {
	return filepath.Join(c.fleet.LogDir, c.Name, filepath.Base(name)+".log")
}

// start brings the cluster up and waits until it is ready: API server serving, nodes
// schedulable, the default service account made, CRDs established.
func (c *Cluster) start(ctx context.Context) error {
	pki, err := NewPKI(c.dir("pki"), c.Name)
	if err != nil {
		return fmt.Errorf("%s: generating certificates: %w", c.Name, err)
	}
	c.PKI = pki
	if err := os.MkdirAll(c.dir("kwok-home"), 0o755); err != nil {
		return err
	}
	if c.spec.KwokStages != "" {
		if err := os.WriteFile(c.kwokStagesPath(), []byte(c.spec.KwokStages), 0o600); err != nil {
			return fmt.Errorf("%s: writing kwok's stages: %w", c.Name, err)
		}
	}
	if err := c.startAPIServer(ctx); err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	for _, spec := range []ProcessSpec{c.controllerManagerSpec(), c.schedulerSpec(), c.kwokSpec()} {
		proc, err := StartProcess(spec)
		if err != nil {
			return err
		}
		c.fleet.recordStart(proc)
		c.mu.Lock()
		c.components = append(c.components, proc)
		c.mu.Unlock()
	}
	if err := c.createNodes(ctx); err != nil {
		return err
	}
	if err := WaitFor(ctx, c.Name+" nodes schedulable", nodeReadyTimeout,
		c.whileRunning(NodesReady(c.Client, c.spec.Nodes))); err != nil {
		return err
	}
	if err := WaitFor(ctx, c.Name+" default service account", nodeReadyTimeout,
		c.whileRunning(objectExists(c.Client, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{}))); err != nil {
		return err
	}
	if len(c.spec.CRDDirs) > 0 {
		if _, err := ApplyCRDs(ctx, c.Client, c.spec.CRDDirs...); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
	}
	return nil
}

func (c *Cluster) writeKubeconfig() error {
	kubeconfig, err := AdminKubeconfig(c.Name, c.APIServerURL, c.PKI)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	c.Kubeconfig = kubeconfig
	if c.Config, err = RESTConfigFromKubeconfig(kubeconfig); err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: c.fleet.scheme})
	return err
}

// whileRunning ends a wait at once if one of the cluster's processes exits.
func (c *Cluster) whileRunning(cond Condition) Condition {
	return func(ctx context.Context) (bool, string, error) {
		for _, p := range c.Processes() {
			if exited, _ := p.Exited(); exited {
				return false, "", p.exitError()
			}
		}
		return cond(ctx)
	}
}

// StartProcess starts another process that belongs to this cluster (a hub replica, a spoke
// agent). Its log goes to the cluster's log folder unless spec.LogFile says otherwise, and
// it is stopped, before the cluster's own components, when the cluster stops.
func (c *Cluster) StartProcess(spec ProcessSpec) (*Process, error) {
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	if spec.LogFile == "" {
		spec.LogFile = c.logFile(spec.Name)
	}
	spec.Name = c.Name + "/" + spec.Name
	proc, err := StartProcess(spec)
	if err != nil {
		return nil, err
	}
	c.fleet.recordStart(proc)
	c.mu.Lock()
	c.extras = append(c.extras, proc)
	c.mu.Unlock()
	return proc, nil
}

// Processes lists the cluster's current processes: kube-apiserver, its components and the
// ones added with StartProcess.
func (c *Cluster) Processes() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Process
	if c.apiServer != nil {
		out = append(out, c.apiServer)
	}
	out = append(out, c.components...)
	return append(out, c.extras...)
}

// Stop stops the processes added with StartProcess, then the cluster's components and its
// API server, and waits until all of them are reaped.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	extras := c.extras
	core := append([]*Process{c.apiServer}, c.components...)
	c.mu.Unlock()
	return errors.Join(StopProcesses(ctx, extras), StopProcesses(ctx, core))
}
