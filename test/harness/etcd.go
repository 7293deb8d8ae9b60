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
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Etcd is one etcd member listening on 127.0.0.1, shared by several API servers that each
// keep their data under their own prefix.
type Etcd struct {
	// URL is the client URL, http://127.0.0.1:PORT.
	URL string
	// DataDir holds its data.
	DataDir string

	proc *Process
}

// Process is the etcd process.
func (e *Etcd) Process() *Process { return e.proc }

// StartEtcd starts etcd with its data in dataDir and its log in logFile, and waits until
// it reports healthy.
// onStart, if not nil, is told about every process started (a start that is retried
// starts more than one).
func StartEtcd(ctx context.Context, bins Binaries, dataDir, logFile string, onStart func(*Process)) (*Etcd, error) {
	e := &Etcd{DataDir: dataDir}
	build := func() (ProcessSpec, error) {
		clientPort, err := FreePort()
		if err != nil {
			return ProcessSpec{}, err
		}
		peerPort, err := FreePort()
		if err != nil {
			return ProcessSpec{}, err
		}
		e.URL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
		return ProcessSpec{
			Name:    "etcd",
			Path:    bins.Path(BinEtcd),
			LogFile: logFile,
			Args: []string{
				"--name=default",
				"--data-dir=" + filepath.Clean(dataDir),
				"--listen-client-urls=" + e.URL,
				"--advertise-client-urls=" + e.URL,
				"--listen-peer-urls=" + peerURL,
				"--initial-advertise-peer-urls=" + peerURL,
				"--initial-cluster=default=" + peerURL,
				"--unsafe-no-fsync=true", // throwaway data; fsync only costs time here
				"--log-level=warn",
			},
		}, nil
	}
	proc, err := startUntilReady(ctx, "etcd", 60*time.Second, build, onStart, etcdHealthy(&e.URL))
	if err != nil {
		return nil, err
	}
	e.proc = proc
	return e, nil
}

// etcdHealthy reads the URL through a pointer because a retry on a taken port changes it.
func etcdHealthy(url *string) Condition {
	client := &http.Client{Timeout: 2 * time.Second}
	return func(ctx context.Context) (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url+"/health", nil)
		if err != nil {
			return false, "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		seen := fmt.Sprintf("%s: %d %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`), seen, nil
	}
}
