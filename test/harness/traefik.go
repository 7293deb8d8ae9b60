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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TraefikBinary is where hack/tools/traefik/build.sh puts Traefik, relative to the repo root.
const TraefikBinary = "bin/traefik"

// TraefikOptions describes a Traefik for a test: a real data plane on 127.0.0.1 that reads
// its routing from an API server.
type TraefikOptions struct {
	// Config is the API server Traefik's Kubernetes providers read (the env's admin config).
	Config *rest.Config
	// Args are the provider flags, such as "--providers.kubernetescrd=true".
	Args []string
}

// Traefik is a running Traefik: its web entry point and its API listen on 127.0.0.1.
type Traefik struct {
	// WebURL is the base URL of the "web" entry point; WebPort its port.
	WebURL  string
	WebPort int
	// APIURL is the base URL of Traefik's API.
	APIURL string

	proc   *Process
	client *http.Client
}

// StartTraefik starts bin/traefik (failing the test, with how to build it, when it is
// missing) and stops it in t.Cleanup. It never reports usage or checks for new versions: it
// sends nothing but to its backends.
func StartTraefik(t testing.TB, opts TraefikOptions) *Traefik {
	t.Helper()
	bin, err := RepoPath(TraefikBinary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Traefik binary is missing (%v): run hack/tools/traefik/build.sh (make test does)", err)
	}
	dir := TempDir(t, "flotilla-traefik-")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeRESTKubeconfig(kubeconfig, opts.Config); err != nil {
		t.Fatal(err)
	}
	webPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{
		"--global.checkNewVersion=false",
		"--global.sendAnonymousUsage=false",
		"--log.level=INFO",
		"--entryPoints.web.address=127.0.0.1:" + strconv.Itoa(webPort),
		"--entryPoints.traefik.address=127.0.0.1:" + strconv.Itoa(apiPort),
		"--api=true",
		"--api.insecure=true",
		"--api.dashboard=false",
	}, opts.Args...)
	proc, err := StartProcess(ProcessSpec{
		Name:    "traefik",
		Path:    bin,
		Args:    args,
		Env:     []string{"KUBECONFIG=" + kubeconfig},
		Dir:     dir,
		LogFile: filepath.Join(dir, "traefik.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := proc.Stop(ctx); err != nil {
			t.Errorf("stopping traefik: %v", err)
		}
	})
	return &Traefik{
		WebURL:  "http://127.0.0.1:" + strconv.Itoa(webPort),
		WebPort: webPort,
		APIURL:  "http://127.0.0.1:" + strconv.Itoa(apiPort),
		proc:    proc,
		client:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	}
}

// writeRESTKubeconfig writes cfg (client certificate or token) as a kubeconfig file.
func writeRESTKubeconfig(path string, cfg *rest.Config) error {
	data, err := KubeconfigFromREST(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// LogTail is the end of Traefik's log.
func (tr *Traefik) LogTail(n int) string { return tr.proc.LogTail(n) }

// WaitWeighted polls Traefik's API (at most for a minute) until it runs a weighted service
// whose members are exactly the keys of want, with want's weights. Members are named as
// Traefik names them, such as "ns-web-stable-80" or "ns-web-stable@kubernetescrd".
func (tr *Traefik) WaitWeighted(t testing.TB, want map[string]int) {
	t.Helper()
	err := WaitFor(context.Background(), fmt.Sprintf("Traefik to run weights %v", want), time.Minute, func(ctx context.Context) (bool, string, error) {
		if exited, err := tr.proc.Exited(); exited {
			return false, "", fmt.Errorf("traefik exited (%w)", err)
		}
		body, err := tr.getAPI(ctx, "/api/http/services")
		if err != nil {
			return notYet("Traefik's API", err)
		}
		var services []struct {
			Name     string `json:"name"`
			Weighted *struct {
				Services []struct {
					Name   string `json:"name"`
					Weight *int   `json:"weight"`
				} `json:"services"`
			} `json:"weighted"`
		}
		if err := json.Unmarshal(body, &services); err != nil {
			return false, "", err
		}
		var seen []string
		for _, s := range services {
			if s.Weighted == nil {
				continue
			}
			got := map[string]int{}
			for _, m := range s.Weighted.Services {
				w := 1
				if m.Weight != nil {
					w = *m.Weight
				}
				got[m.Name] = w
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return true, "", nil
			}
			seen = append(seen, fmt.Sprintf("%s %v", s.Name, got))
		}
		return false, "weighted services: " + strings.Join(seen, "; "), nil
	})
	if err != nil {
		t.Fatalf("%v\ntraefik log ends with:\n%s", err, tr.LogTail(20))
	}
}

// WaitService polls Traefik's API (at most for a minute) until it runs the HTTP service id,
// such as "ns-mirror@kubernetescrd".
func (tr *Traefik) WaitService(t testing.TB, id string) {
	t.Helper()
	err := WaitFor(context.Background(), "Traefik to run service "+id, time.Minute, func(ctx context.Context) (bool, string, error) {
		if _, err := tr.getAPI(ctx, "/api/http/services/"+id); err != nil {
			return notYet("Traefik's API", err)
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("%v\ntraefik log ends with:\n%s", err, tr.LogTail(20))
	}
}

// WaitServiceGone polls Traefik's API (at most for a minute) until it no longer runs the
// HTTP service id.
func (tr *Traefik) WaitServiceGone(t testing.TB, id string) {
	t.Helper()
	err := WaitFor(context.Background(), "Traefik to drop service "+id, time.Minute, func(ctx context.Context) (bool, string, error) {
		_, err := tr.getAPI(ctx, "/api/http/services/"+id)
		if err == nil {
			return false, "Traefik still runs it", nil
		}
		return strings.Contains(err.Error(), "404"), err.Error(), nil
	})
	if err != nil {
		t.Fatalf("%v\ntraefik log ends with:\n%s", err, tr.LogTail(20))
	}
}

func (tr *Traefik) getAPI(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.APIURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// Send sends n GET requests to the web entry point, four at a time (two minutes at most in
// all), and counts the answers by body. Failed requests are test errors.
func (tr *Traefik) Send(t testing.TB, n int) map[string]int {
	t.Helper()
	return tr.SendWith(t, n, nil)
}

// SendWith is Send with the given request headers.
func (tr *Traefik) SendWith(t testing.TB, n int, header http.Header) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu      sync.Mutex
		answers = map[string]int{}
		errs    []error
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				body, err := tr.get(ctx, header)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					answers[body]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d of %d requests failed, the first with: %v", len(errs), n, errors.Join(errs[0]))
	}
	return answers
}

func (tr *Traefik) get(ctx context.Context, header http.Header) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.WebURL+"/", nil)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return string(body), err
}

// WaitAnswer sends a request with header every 100 ms (at most for a minute, so at most 600
// probes) until the answer is want: for a routing change that Traefik's API does not show
// as a weight, such as a header rule.
func (tr *Traefik) WaitAnswer(t testing.TB, header http.Header, want string) {
	t.Helper()
	err := WaitFor(context.Background(), fmt.Sprintf("Traefik to answer %q to %v", want, header), time.Minute, func(ctx context.Context) (bool, string, error) {
		if exited, err := tr.proc.Exited(); exited {
			return false, "", fmt.Errorf("traefik exited (%w)", err)
		}
		body, err := tr.get(ctx, header)
		if err != nil {
			return notYet("probe", err)
		}
		return body == want, "answer " + body, nil
	})
	if err != nil {
		t.Fatalf("%v\ntraefik log ends with:\n%s", err, tr.LogTail(20))
	}
}

// WaitRouted sends a request every 100 ms (at most for a minute, so at most 600 probes) until
// one is answered by a backend: Traefik's API can show a service before the router in front
// of it takes requests.
func (tr *Traefik) WaitRouted(t testing.TB) {
	t.Helper()
	err := WaitFor(context.Background(), "Traefik to route requests", time.Minute, func(ctx context.Context) (bool, string, error) {
		if exited, err := tr.proc.Exited(); exited {
			return false, "", fmt.Errorf("traefik exited (%w)", err)
		}
		if _, err := tr.get(ctx, nil); err != nil {
			return notYet("probe", err)
		}
		return true, "", nil
	})
	if err != nil {
		t.Fatalf("%v\ntraefik log ends with:\n%s", err, tr.LogTail(20))
	}
}

// HTTPBackend is a local HTTP server on 127.0.0.1 that answers every request with its body.
type HTTPBackend struct {
	// Port it listens on.
	Port int
	// Hits counts the requests it received.
	Hits atomic.Int64
}

// StartHTTPBackend starts an HTTPBackend answering body and stops it in t.Cleanup.
func StartHTTPBackend(t testing.TB, body string) *HTTPBackend {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &HTTPBackend{Port: l.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.Copy(io.Discard, req.Body)
			b.Hits.Add(1)
			_, _ = io.WriteString(w, body)
		}),
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return b
}

// CreateBackendService creates the Service name in namespace for backend b: an
// ExternalName for localhost on b's port, since the API server refuses loopback
// EndpointSlices. Traefik reaches it with allowExternalNameServices.
func CreateBackendService(t testing.TB, c client.Client, namespace, name string, b *HTTPBackend) {
	t.Helper()
	CreateYAML(t, c, namespace, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: %s}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{port: %d}]
`, name, b.Port))
}

// WaitSettled returns count() once it has not changed for half a second, waiting at most
// 30 s (a test error if it keeps changing): for counts that grow in the background, such as
// mirrored requests.
func WaitSettled(t testing.TB, count func() int64) int64 {
	t.Helper()
	last, since := count(), time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if c := count(); c != last {
			last, since = c, time.Now()
		} else if time.Since(since) > 500*time.Millisecond {
			return c
		}
	}
	t.Errorf("the count kept changing for 30 s (last %d)", last)
	return last
}

// CheckSplit sets each weight through set, waits until Traefik applies it to the weighted
// members stable and canary, sends n requests and fails the test when the share answered by
// the canary backend ("v2") is more than tolerance points off the weight, or when a request
// reached neither backend.
func (tr *Traefik) CheckSplit(t testing.TB, set func(weight int32) error, stable, canary string, n int, tolerance float64, weights ...int32) {
	t.Helper()
	for _, w := range weights {
		if err := set(w); err != nil {
			t.Fatalf("SetWeight(%d): %v", w, err)
		}
		tr.WaitWeighted(t, map[string]int{stable: int(100 - w), canary: int(w)})
		tr.WaitRouted(t)
		answers := tr.Send(t, n)
		got := 100 * float64(answers["v2"]) / float64(n)
		t.Logf("weight %d: %d requests answered v1 %d, v2 %d: canary share %.2f%%", w, n, answers["v1"], answers["v2"], got)
		if answers["v1"]+answers["v2"] != n {
			t.Errorf("weight %d: only %d of %d requests reached a backend: %v", w, answers["v1"]+answers["v2"], n, answers)
		}
		if got < float64(w)-tolerance || got > float64(w)+tolerance {
			t.Errorf("weight %d: the canary got %.2f%% of the requests, more than %.0f points off", w, got, tolerance)
		}
	}
}
