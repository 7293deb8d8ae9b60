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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	hraft "github.com/hashicorp/raft"

	"github.com/flotilla-io/flotilla/hub/journal"
)

// selfSigned returns a self-signed certificate that otherwise looks like a peer's.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hub-mallory"},
		DNSNames:  []string{PeerName, "hub-mallory"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// foreignPeerTLS returns a proper-looking peer certificate for id, from another CA than the hub's.
func foreignPeerTLS(t *testing.T, id string) *PeerTLS {
	t.Helper()
	foreign, err := NewCA("mallory-ca")
	if err != nil {
		t.Fatal(err)
	}
	p, err := foreign.PeerTLS(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// notAPeer returns a client certificate the hub CA signed for something else than a peer.
func notAPeer(t *testing.T, ca *CA) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := createCert(&x509.Certificate{
		Subject: pkix.Name{CommonName: "kubectl-user"}, DNSNames: []string{"kubectl-user"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.Cert, key, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// journalBytes is every live node's journal in snapshot form, keyed by node.
func journalBytes(t *testing.T, c *testCluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range c.live() {
		var b strings.Builder
		if _, err := n.Journal().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		out[n.ID()] = b.String()
	}
	return out
}

func totalHandshakeFailures(c *testCluster) uint64 {
	var sum uint64
	for _, n := range c.live() {
		sum += n.HandshakeFailures()
	}
	return sum
}

func TestMutualTLSRefusesClientsWithoutAHubCertificate(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	proposeN(t, leader, 0, 3)
	c.waitApplied(3)
	before := journalBytes(t, c)
	term := leader.Term()
	failuresBefore := leader.HandshakeFailures()

	foreignTLS := foreignPeerTLS(t, "hub-mallory")
	// Every client trusts the hub CA, so it would accept the server; only its own
	// certificate is wrong.
	clients := map[string][]tls.Certificate{
		"no certificate":                           nil,
		"self-signed certificate":                  {selfSigned(t)},
		"certificate of another CA":                {foreignTLS.Certificate},
		"hub CA certificate without the peer name": {notAPeer(t, c.ca)},
	}
	for name, certs := range clients {
		cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: c.ca.PeerTLSPool(), ServerName: PeerName}
		if certs != nil {
			// Present the certificate even though the server asks for the hub CA's.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		dialer := &tls.Dialer{Config: cfg}
		ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
		conn, err := dialer.DialContext(ctx, "tcp", leader.Addr())
		cancel()
		if err == nil {
			// TLS 1.3: the client finishes first; the server's refusal arrives as an alert.
			_ = conn.SetDeadline(time.Now().Add(replicaBound))
			_, err = conn.Read(make([]byte, 1))
			_ = conn.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "tls:") {
			t.Errorf("%s: the handshake was not refused: %v", name, err)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}

	// A raft RPC that would append a decision, sent with a self-signed certificate, never
	// reaches raft.
	evil := journal.Decision{Version: journal.Version, Type: journal.Aborted, ID: "evil", Term: term + 1,
		Namespace: "default", Name: "checkout", Revision: 1}
	data, _ := json.Marshal(evil)
	bad := selfSigned(t)
	attacker := newTLSStreamLayer(listen(t), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
		&PeerTLS{CAs: c.ca.PeerTLSPool(), Certificate: bad}, time.Second, c.logs.logger())
	attacker.client.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad, nil }
	trans := hraft.NewNetworkTransportWithConfig(&hraft.NetworkTransportConfig{Stream: attacker, MaxPool: 1,
		Timeout: 2 * time.Second, Logger: newHCLogAdapter(c.logs.logger())})
	defer func() { _ = trans.Close() }()
	last := leader.raft.LastIndex()
	req := &hraft.AppendEntriesRequest{
		RPCHeader: hraft.RPCHeader{ID: []byte("hub-mallory"), Addr: []byte(attacker.Addr().String())},
		Term:      term + 1, PrevLogEntry: last, PrevLogTerm: term, LeaderCommitIndex: last + 1,
		Entries: []*hraft.Log{{Index: last + 1, Term: term + 1, Type: hraft.LogCommand, Data: data}},
	}
	var resp hraft.AppendEntriesResponse
	err := trans.AppendEntries("hub-0", hraft.ServerAddress(leader.Addr()), req, &resp)
	if err == nil {
		t.Fatalf("AppendEntries with a self-signed certificate succeeded: %+v", resp)
	}
	t.Logf("AppendEntries with a self-signed certificate: %v", err)

	want := failuresBefore + uint64(len(clients)) + 1
	waitFor(t, replicaBound, "the leader to record every refused handshake", func() (bool, string) {
		got := leader.HandshakeFailures()
		return got >= want, fmt.Sprintf("%d failures, want %d", got, want)
	})
	if after := journalBytes(t, c); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a journal changed:\nbefore %v\nafter  %v", before, after)
	}
	if leader.Term() != term || !leader.IsLeader() {
		t.Fatalf("leadership moved: %s leader=%v term %d (was %d)", leader.ID(), leader.IsLeader(), leader.Term(), term)
	}
}

func TestNodeWithAForeignCANeverJoins(t *testing.T) {
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	proposeN(t, leader, 0, 3)
	c.waitApplied(3)
	term := leader.Term()

	// The intruder believes it is a member (same static peer list plus itself) and has a
	// proper-looking peer certificate, from the wrong CA.
	foreignTLS := foreignPeerTLS(t, "hub-x")
	var peers []Peer
	for _, id := range []string{"hub-0", "hub-1", "hub-2"} {
		peers = append(peers, Peer{ID: id, Address: c.addrs[id]})
	}
	ln := listen(t)
	peers = append(peers, Peer{ID: "hub-x", Address: ln.Addr().String()})
	intruder, err := New(Config{ID: "hub-x", DataDir: t.TempDir(), Listener: ln, TLS: foreignTLS,
		Peers: peers, Logger: c.logs.logger().WithName("intruder")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = intruder.Shutdown() })

	journalsBefore := journalBytes(t, c)
	goodBefore := totalHandshakeFailures(c)
	waitFor(t, electionBound, "the intruder to try to reach the cluster and be refused", func() (bool, string) {
		good, bad := totalHandshakeFailures(c), intruder.HandshakeFailures()
		return good > goodBefore && bad > 0, fmt.Sprintf("good nodes refused %d, intruder refused %d", good-goodBefore, bad)
	})

	if after := journalBytes(t, c); fmt.Sprint(after) != fmt.Sprint(journalsBefore) {
		t.Fatalf("the intruder changed a journal:\nbefore %v\nafter  %v", journalsBefore, after)
	}
	if n := intruder.Journal().Len(); n != 0 {
		t.Fatalf("the intruder's journal has %d decisions", n)
	}

	// Even once the leader lists it as a voter, it cannot read the journal.
	ctx, cancel := context.WithTimeout(context.Background(), replicaBound)
	defer cancel()
	if err := leader.AddVoter(ctx, "hub-x", intruder.Addr()); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	leaderBefore := leader.HandshakeFailures()
	proposeN(t, leader, 3, 1)
	c.waitApplied(4)
	waitFor(t, replicaBound, "the leader to fail to replicate to the intruder", func() (bool, string) {
		return leader.HandshakeFailures() > leaderBefore, fmt.Sprintf("%d failures", leader.HandshakeFailures()-leaderBefore)
	})
	if n := intruder.Journal().Len(); n != 0 {
		t.Fatalf("the intruder's journal has %d decisions", n)
	}
	if id, _ := intruder.Leader(); id != "" {
		t.Fatalf("the intruder knows leader %q", id)
	}
	for _, n := range c.live() {
		if n.Term() != term {
			t.Errorf("%s: term %d, was %d: the intruder disturbed the election", n.ID(), n.Term(), term)
		}
	}
	if !leader.IsLeader() {
		t.Fatalf("%s lost leadership", leader.ID())
	}
	if err := leader.RemoveServer(ctx, "hub-x"); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
}
