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
	"io"
	"net/http"
	"sync"

	"k8s.io/client-go/rest"
)

// WatchGate makes the watches of a client lag at will, as a slow network would: while it is
// held, the bytes of every watch response the client receives are kept back (nothing is
// dropped), so an informer fed by that client keeps showing the objects as they were; Release
// lets them through in order. Requests other than watches, and the API server, are untouched.
// Wrap a REST config with it (Wrap) before building the client or cache.
type WatchGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is released; nil means released
}

// Hold keeps back the watch bytes that arrive from now on. Bytes a watch had received before
// Hold returned may still reach the client.
func (g *WatchGate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil || isClosed(g.open) {
		g.open = make(chan struct{})
	}
}

// Release lets the kept-back bytes through, and those that follow.
func (g *WatchGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil && !isClosed(g.open) {
		close(g.open)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// wait returns the channel that is closed when the gate is released (nil: it is).
func (g *WatchGate) wait() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// Wrap makes the config's watches go through the gate (for rest.Config-taking options such as
// members.Registry.RESTOptions).
func (g *WatchGate) Wrap(cfg *rest.Config) error {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return gatedTransport{rt: rt, g: g}
	})
	return nil
}

type gatedTransport struct {
	rt http.RoundTripper
	g  *WatchGate
}

func (t gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || req.URL.Query().Get("watch") != "true" {
		return resp, err
	}
	resp.Body = &gatedBody{ReadCloser: resp.Body, g: t.g, closed: make(chan struct{})}
	return resp, nil
}

// gatedBody hands over what it read only while the gate is released: bytes read while it is
// held wait (in the caller's buffer) until Release, or until the body is closed.
type gatedBody struct {
	io.ReadCloser
	g         *WatchGate
	closed    chan struct{}
	closeOnce sync.Once
}

func (b *gatedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if open := b.g.wait(); open != nil {
		select {
		case <-open:
		case <-b.closed:
			return 0, io.ErrClosedPipe
		}
	}
	return n, err
}

func (b *gatedBody) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return b.ReadCloser.Close()
}
