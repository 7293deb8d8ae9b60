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

package raft

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	hraft "github.com/hashicorp/raft"
)

// tlsStreamLayer is a raft.StreamLayer over TCP with mutual TLS 1.3. A connection whose
// peer has no certificate, or one that does not chain to the hub CA, never carries a raft
// RPC: the handshake fails before the transport reads its first byte.
type tlsStreamLayer struct {
	ln               net.Listener
	advertise        net.Addr
	server, client   *tls.Config
	handshakeTimeout time.Duration
	log              logr.Logger

	// handshakeFailures counts refused handshakes, both directions.
	handshakeFailures atomic.Uint64

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

var _ hraft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(ln net.Listener, advertise net.Addr, peer *PeerTLS, handshakeTimeout time.Duration,
	log logr.Logger) *tlsStreamLayer {
	return &tlsStreamLayer{
		ln: ln, advertise: advertise, server: peer.ServerConfig(), client: peer.ClientConfig(),
		handshakeTimeout: handshakeTimeout, log: log, conns: map[*trackedConn]struct{}{},
	}
}

// Accept returns the next inbound connection. The TLS handshake runs, bounded by the
// handshake timeout, on the connection's first read or write, in the transport's
// per-connection goroutine, so a slow or hostile client never stalls the accept loop.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	raw, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	c := &serverConn{Conn: tls.Server(raw, s.server), layer: s}
	return s.track(c)
}

// Dial connects to a peer and completes the handshake before returning, so a peer with a
// certificate this node does not trust is refused here.
func (s *tlsStreamLayer) Dial(address hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: timeout}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := (&tls.Dialer{NetDialer: dialer, Config: s.client}).DialContext(ctx, "tcp", string(address))
	if err != nil {
		var netErr *net.OpError
		if !errors.As(err, &netErr) || netErr.Op != "dial" {
			s.handshakeFailed(string(address), err)
		}
		return nil, err
	}
	return s.track(c)
}

// Close stops listening and closes every open connection, as if the node had died.
func (s *tlsStreamLayer) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[*trackedConn]struct{}{}
	s.mu.Unlock()
	err := s.ln.Close()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

// Addr is the address peers reach this node at.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

func (s *tlsStreamLayer) handshakeFailed(remote string, err error) {
	s.handshakeFailures.Add(1)
	s.log.Info("refused raft peer: TLS handshake failed", "remote", remote, "error", err.Error())
}

func (s *tlsStreamLayer) track(c net.Conn) (net.Conn, error) {
	t := &trackedConn{Conn: c, layer: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conns[t] = struct{}{}
	return t, nil
}

// trackedConn forgets itself in its layer when closed.
type trackedConn struct {
	net.Conn
	layer *tlsStreamLayer
	once  sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() {
		t.layer.mu.Lock()
		delete(t.layer.conns, t)
		t.layer.mu.Unlock()
	})
	return t.Conn.Close()
}

// serverConn runs the server side of the handshake once, with a deadline, before the
// first read or write.
type serverConn struct {
	*tls.Conn
	layer *tlsStreamLayer
	once  sync.Once
	err   error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.layer.handshakeTimeout)
		defer cancel()
		if err := c.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("TLS handshake: %w", err)
			c.layer.handshakeFailed(c.RemoteAddr().String(), err)
		}
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
