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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// PeerName is the DNS name every hub peer certificate carries besides the node's ID. A peer
// dials with it as the TLS server name, and accepts a client only if its certificate names
// it too, so a certificate the hub CA signed for another purpose cannot join the group.
const PeerName = "raft.hub.flotilla.dev"

// AdminName is the DNS name of an operator's certificate: the hub CA signed it to manage the
// raft membership (flotilla-hub raft add-voter, remove-peer), not to be a peer, so it is
// refused on the raft protocol itself. See CA.IssueAdmin.
const AdminName = "admin.raft.hub.flotilla.dev"

// MembershipProtocol is the ALPN protocol of the membership API, which every replica serves on
// its raft listener: a client that negotiates it talks to the membership handler, not raft.
const MembershipProtocol = "flotilla-raft-membership/1"

// PeerTLS is what a node needs for mutual TLS with its peers: the hub CA and its own
// certificate. Both sides of every connection verify the other against the CA.
type PeerTLS struct {
	// CAs are the hub CA certificates peers must chain to.
	CAs *x509.CertPool
	// Certificate is this node's certificate and key.
	Certificate tls.Certificate
	// ServerName is the name peer certificates must carry; empty means PeerName.
	ServerName string
}

// LoadPeerTLS reads the hub CA bundle, this node's certificate and its key from PEM files.
func LoadPeerTLS(caFile, certFile, keyFile string) (*PeerTLS, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading hub CA: %w", err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading peer certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading peer key: %w", err)
	}
	return NewPeerTLS(caPEM, certPEM, keyPEM)
}

// NewPeerTLS builds a PeerTLS from PEM bytes.
func NewPeerTLS(caPEM, certPEM, keyPEM []byte) (*PeerTLS, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("hub CA: no PEM certificate found")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	return &PeerTLS{CAs: pool, Certificate: cert}, nil
}

func (p *PeerTLS) serverName() string {
	if p.ServerName != "" {
		return p.ServerName
	}
	return PeerName
}

func (p *PeerTLS) validate() error {
	if p == nil {
		return errors.New("TLS is required: raft peers talk mutual TLS only")
	}
	if p.CAs == nil {
		return errors.New("TLS: no hub CA")
	}
	if len(p.Certificate.Certificate) == 0 {
		return errors.New("TLS: no peer certificate")
	}
	return nil
}

// ServerConfig is the listener side: TLS 1.3, a client certificate is required, must chain
// to the hub CA and must name the peer name; a membership client (ALPN MembershipProtocol)
// may instead present an operator's certificate, naming AdminName.
func (p *PeerTLS) ServerConfig() *tls.Config {
	name := p.serverName()
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{p.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.CAs,
		// Raft peers offer no protocol; only membership clients negotiate this one.
		NextProtos: []string{MembershipProtocol},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			cert := cs.PeerCertificates[0]
			err := cert.VerifyHostname(name)
			if err != nil && cs.NegotiatedProtocol == MembershipProtocol {
				if cert.VerifyHostname(AdminName) == nil {
					return nil
				}
				return fmt.Errorf("client certificate is neither a hub peer nor a hub admin certificate: %w", err)
			}
			if err != nil {
				return fmt.Errorf("client certificate is not a hub peer certificate: %w", err)
			}
			return nil
		},
	}
}

// MembershipClientConfig is the dialing side of the membership API: like ClientConfig, the
// server must be a hub peer, and the client offers MembershipProtocol.
func (p *PeerTLS) MembershipClientConfig() *tls.Config {
	c := p.ClientConfig()
	c.NextProtos = []string{MembershipProtocol}
	return c
}

// ClientConfig is the dialing side: TLS 1.3, the server must chain to the hub CA and carry
// the peer name; this node presents its own certificate.
func (p *PeerTLS) ClientConfig() *tls.Config {
	cert := p.Certificate
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Always present the certificate and let the server judge it, even when the CAs
		// the server names differ from ours (a CA rotation in progress).
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		RootCAs:              p.CAs,
		ServerName:           p.serverName(),
	}
}
