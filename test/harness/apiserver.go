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
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// Service network of every cluster; serviceIP is its first address.
const serviceClusterIPRange = "10.96.0.0/12"

// apiServerStopTimeout is kube-apiserver's grace period after SIGTERM. Alone among its
// cluster (StopAPIServer), it stops serving within milliseconds but then does not exit
// while its clients keep their connections open; it holds no state of its own, so a short
// grace period loses nothing.
const apiServerStopTimeout = 3 * time.Second

// apiServerStartTimeout bounds the wait for /readyz. Four API servers starting at once on
// two cores take about ten seconds; the margin is for a busy machine.
const apiServerStartTimeout = 90 * time.Second

// apiServerSpec is the command line of the cluster's kube-apiserver on port.
func (c *Cluster) apiServerSpec(port int) ProcessSpec {
	args := []string{
		"--etcd-servers=" + c.fleet.Etcd.URL,
		"--etcd-prefix=/flotilla/" + c.Name,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + c.dir("apiserver"),
		"--tls-cert-file=" + c.PKI.ServingCert,
		"--tls-private-key-file=" + c.PKI.ServingKey,
		"--client-ca-file=" + c.PKI.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.PKI.SAPub,
		"--service-account-signing-key-file=" + c.PKI.SAKey,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--max-requests-inflight=1000",
		"--max-mutating-requests-inflight=500",
		"--profiling=false",
	}
	return ProcessSpec{
		Name:        c.Name + "/" + BinAPIServer,
		Path:        c.fleet.bins.Path(BinAPIServer),
		Args:        append(args, c.spec.APIServerArgs...),
		LogFile:     c.logFile(BinAPIServer),
		StopTimeout: apiServerStopTimeout,
	}
}

// startAPIServer starts kube-apiserver on a fresh port (retrying if the port was taken)
// and waits for /readyz.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	build := func() (ProcessSpec, error) {
		port, err := FreePort()
		if err != nil {
			return ProcessSpec{}, err
		}
		c.Port = port
		c.APIServerURL = "https://127.0.0.1:" + strconv.Itoa(port)
		return c.apiServerSpec(port), nil
	}
	proc, err := startUntilReady(ctx, c.Name+" kube-apiserver", apiServerStartTimeout, build,
		c.fleet.recordStart, c.apiServerReady())
	if err != nil {
		return err
	}
	c.setAPIServer(proc)
	return nil
}

// StopAPIServer stops this cluster's kube-apiserver alone (SIGTERM, then SIGKILL after
// three seconds), for example to cut a member off from the hub. Its other components keep
// running and retry until StartAPIServer.
func (c *Cluster) StopAPIServer(ctx context.Context) error {
	c.mu.Lock()
	proc := c.apiServer
	c.mu.Unlock()
	if proc == nil {
		return nil
	}
	return proc.Stop(ctx)
}

// StartAPIServer starts this cluster's kube-apiserver again, with the same flags and on the
// same port as before, and waits until it is ready. It does nothing if it is running.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	prev := c.apiServer
	c.mu.Unlock()
	if prev == nil {
		return errors.New(c.Name + ": kube-apiserver was never started")
	}
	if exited, _ := prev.Exited(); !exited {
		return nil
	}
	proc, err := StartProcess(prev.Spec())
	if err != nil {
		return err
	}
	c.fleet.recordStart(proc)
	c.setAPIServer(proc)
	return WaitFor(ctx, c.Name+" kube-apiserver ready after restart", apiServerStartTimeout,
		untilExit(proc, c.apiServerReady()))
}

// APIServer is the current kube-apiserver process.
func (c *Cluster) APIServer() *Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apiServer
}

func (c *Cluster) setAPIServer(p *Process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.apiServer = p
}

// apiServerReady asks /readyz?verbose as the admin user; while it is not ready it reports
// the failing checks.
func (c *Cluster) apiServerReady() Condition {
	var client *http.Client
	return func(ctx context.Context) (bool, string, error) {
		if client == nil {
			cfg := &rest.Config{
				Host: c.APIServerURL,
				TLSClientConfig: rest.TLSClientConfig{
					CAData: c.PKI.CAData, CertData: c.PKI.AdminCertData, KeyData: c.PKI.AdminKeyData,
				},
				Timeout: 5 * time.Second,
			}
			var err error
			if client, err = rest.HTTPClientFor(cfg); err != nil {
				return false, "", err
			}
		}
		return checkReadyz(ctx, client, c.APIServerURL)
	}
}

func checkReadyz(ctx context.Context, client *http.Client, server string) (bool, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz?verbose", nil)
	if err != nil {
		return false, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error(), nil
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return true, "", nil
	}
	var failing []string
	for line := range bytes.Lines(body) {
		if s := strings.TrimSpace(string(line)); strings.HasPrefix(s, "[-]") {
			failing = append(failing, s)
		}
	}
	return false, fmt.Sprintf("/readyz %d: %s", resp.StatusCode, strings.Join(failing, "; ")), nil
}
