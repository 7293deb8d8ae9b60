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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// CA issues hub peer certificates. It is meant for local fleets and tests; in a real fleet
// the certificates come from cert-manager or the platform's PKI, signed by the hub CA, with
// PeerName among their DNS names and both server and client key usage.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
}

// NewCA generates a self-signed CA named commonName, valid for a year.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour) // tolerate small clock skew
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now,
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, cert, err := createCert(tmpl, tmpl, key, key)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// IssuePeer returns a PEM certificate and key for the hub peer nodeID: DNS names PeerName
// and nodeID, usable as TLS server and client, valid for a year.
func (ca *CA) IssuePeer(nodeID string) (certPEM, keyPEM []byte, err error) {
	return ca.issue(nodeID, []string{PeerName, nodeID},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

func (ca *CA) issue(name string, dnsNames []string, usages []x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().Add(-time.Hour)
	der, _, err := createCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    dnsNames,
		NotBefore:   now,
		NotAfter:    now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usages,
	}, ca.Cert, key, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate for %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// IssueAdmin returns a PEM certificate and key for an operator named name: DNS name
// AdminName, client use only. It may change the raft membership but never speak raft.
func (ca *CA) IssueAdmin(name string) (certPEM, keyPEM []byte, err error) {
	return ca.issue(name, []string{AdminName}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

// PeerTLS issues a certificate for nodeID and returns the node's TLS material.
func (ca *CA) PeerTLS(nodeID string) (*PeerTLS, error) {
	certPEM, keyPEM, err := ca.IssuePeer(nodeID)
	if err != nil {
		return nil, err
	}
	return NewPeerTLS(ca.CertPEM, certPEM, keyPEM)
}

// WritePeerFiles issues a certificate for nodeID and writes ca.crt, tls.crt and tls.key
// into dir, the layout LoadPeerTLS reads (and a kubernetes.io/tls Secret mounts).
func (ca *CA) WritePeerFiles(dir, nodeID string) error {
	certPEM, keyPEM, err := ca.IssuePeer(nodeID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.crt": ca.CertPEM, "tls.crt": certPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
}

func createCert(tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

// PeerTLSPool returns a pool holding the CA certificate.
func (ca *CA) PeerTLSPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}
