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
//
// The listener is shared with the membership API: a client that negotiates the ALPN
// protocol MembershipProtocol is handed to the membership handler instead of raft, so a
// replica's membership address is its raft address.
type tlsStreamLayer struct {
	ln               net.Listener
	advertise        net.Addr
	server, client   *tls.Config
	handshakeTimeout time.Duration
	log              logr.Logger

	// handshakeFailures counts refused handshakes, both directions.
	handshakeFailures atomic.Uint64

	// raftConns carries handshaken raft connections from route to Accept.
	raftConns chan net.Conn
	// membership serves a membership connection; nil until the node is built.
	membership atomic.Pointer[func(*tls.Conn)]
	closing    chan struct{}

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

var _ hraft.StreamLayer = (*tlsStreamLayer)(nil)

func newTLSStreamLayer(ln net.Listener, advertise net.Addr, peer *PeerTLS, handshakeTimeout time.Duration,
	log logr.Logger) *tlsStreamLayer {
	s := &tlsStreamLayer{
		ln: ln, advertise: advertise, server: peer.ServerConfig(), client: peer.ClientConfig(),
		handshakeTimeout: handshakeTimeout, log: log, conns: map[*trackedConn]struct{}{},
		raftConns: make(chan net.Conn), closing: make(chan struct{}),
	}
	go s.acceptLoop()
	return s
}

// serveMembership sets the handler of membership connections.
func (s *tlsStreamLayer) serveMembership(h func(*tls.Conn)) { s.membership.Store(&h) }

// acceptLoop accepts every inbound connection and routes it in a goroutine of its own, so a
// slow or hostile client never stalls the others; it ends when the listener is closed.
func (s *tlsStreamLayer) acceptLoop() {
	var delay time.Duration
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A temporary failure (out of file descriptors): back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Info("raft listener: accept failed; retrying", "error", err.Error(), "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go s.route(raw)
	}
}

// route completes the server side of the handshake, bounded by the handshake timeout, then
// hands the connection to raft or, for the membership protocol, to the membership handler.
func (s *tlsStreamLayer) route(raw net.Conn) {
	c := tls.Server(raw, s.server)
	ctx, cancel := context.WithTimeout(context.Background(), s.handshakeTimeout)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.handshakeFailed(raw.RemoteAddr().String(), err)
		_ = c.Close()
		return
	}
	t, err := s.track(c)
	if err != nil {
		return
	}
	if c.ConnectionState().NegotiatedProtocol == MembershipProtocol {
		defer func() { _ = t.Close() }()
		// Until the node is built there is no handler: closing makes the client retry.
		if h := s.membership.Load(); h != nil {
			(*h)(c)
		}
		return
	}
	select {
	case s.raftConns <- t:
	case <-s.closing:
		_ = t.Close()
	}
}

// Accept returns the next inbound raft connection, its handshake done.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.closing:
		return nil, net.ErrClosed
	}
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
	if !s.closed {
		close(s.closing)
	}
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
