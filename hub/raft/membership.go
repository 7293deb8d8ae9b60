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
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// The membership API: every replica answers it on its raft listener, over mutual TLS with
// the hub CA, to clients that negotiate MembershipProtocol. A call is one JSON request and
// one JSON answer on a fresh connection.
//
// Who may do what, judged from the client certificate (which already chains to the hub CA
// and names PeerName or AdminName, or the handshake failed):
//   - list the servers: any such certificate;
//   - add a voter: a certificate that names the voter's ID (a replica joining as itself) or
//     AdminName (an operator); a replica's certificate cannot add anyone else, so every
//     voter a replica added is one whose certificate names it;
//   - remove a server: any such certificate (operators use a replica's or an admin one).
//
// Changes go to the leader: a follower refuses them with CodeNotLeader and the leader's
// address, which is also its membership address; MembershipClient follows it.

// Membership operations.
const (
	opServers  = "servers"
	opAddVoter = "add-voter"
	opRemove   = "remove"
)

// Codes of a refused membership call.
const (
	// CodeNotLeader: this replica does not lead; LeaderAddress names the leader if known.
	CodeNotLeader = "not-leader"
	// CodeForbidden: the client certificate does not allow the operation.
	CodeForbidden = "forbidden"
	// CodeInvalid: the request is malformed (no ID, a bad address...).
	CodeInvalid = "invalid"
	// CodeNotFound: the server to remove is not in the configuration.
	CodeNotFound = "not-found"
	// CodeFailed: raft did not complete the change (leadership lost, timeout...); retry.
	CodeFailed = "failed"
)

// maxMembershipRequest bounds a request body.
const maxMembershipRequest = 4 << 10

type membershipRequest struct {
	Op      string `json:"op"`
	ID      string `json:"id,omitempty"`
	Address string `json:"address,omitempty"`
}

type membershipResponse struct {
	Code          string   `json:"code,omitempty"`
	Error         string   `json:"error,omitempty"`
	LeaderID      string   `json:"leaderID,omitempty"`
	LeaderAddress string   `json:"leaderAddress,omitempty"`
	Servers       []Server `json:"servers,omitempty"`
}

// serveMembership answers one membership call on conn, within ApplyTimeout plus the
// transport timeout for reading and writing.
func (n *Node) serveMembership(conn *tls.Conn) {
	_ = conn.SetDeadline(time.Now().Add(n.cfg.ApplyTimeout + 2*n.cfg.TransportTimeout))
	var req membershipRequest
	var resp membershipResponse
	if err := json.NewDecoder(io.LimitReader(conn, maxMembershipRequest)).Decode(&req); err != nil {
		resp = membershipResponse{Code: CodeInvalid, Error: fmt.Sprintf("reading the request: %v", err)}
	} else {
		ctx, cancel := context.WithTimeout(n.baseCtx, n.cfg.ApplyTimeout)
		resp = n.membershipCall(ctx, conn.ConnectionState().PeerCertificates[0], req)
		cancel()
	}
	if resp.Code != "" && resp.Code != CodeNotLeader {
		n.log.Info("membership call refused", "remote", conn.RemoteAddr().String(), "op", req.Op, "id", req.ID,
			"code", resp.Code, "error", resp.Error)
	}
	_ = json.NewEncoder(conn).Encode(&resp)
}

func (n *Node) membershipCall(ctx context.Context, client *x509.Certificate, req membershipRequest) membershipResponse {
	refuse := func(code, format string, args ...any) membershipResponse {
		return membershipResponse{Code: code, Error: fmt.Sprintf(format, args...)}
	}
	if code, err := authorizeMembership(client, req); err != nil {
		return refuse(code, "%v", err)
	}
	if req.Op == opServers {
		servers, err := n.Servers()
		if err != nil {
			return refuse(CodeFailed, "%v", err)
		}
		resp := membershipResponse{Servers: servers}
		resp.LeaderID, resp.LeaderAddress = n.Leader()
		return resp
	}
	if !n.IsLeader() {
		resp := refuse(CodeNotLeader, "%v", n.notLeader())
		resp.LeaderID, resp.LeaderAddress = n.Leader()
		return resp
	}
	servers, err := n.Servers()
	if err != nil {
		return refuse(CodeFailed, "%v", err)
	}
	i := slices.IndexFunc(servers, func(s Server) bool { return s.ID == req.ID })
	switch req.Op {
	case opAddVoter:
		if i >= 0 && servers[i].Voter && servers[i].Address == req.Address {
			break // a retried join: already done
		}
		if err := n.AddVoter(ctx, req.ID, req.Address); err != nil {
			return refuse(CodeFailed, "%v", err)
		}
		n.log.Info("membership: voter added", "id", req.ID, "address", req.Address, "by", client.Subject.CommonName)
	case opRemove:
		if i < 0 {
			return refuse(CodeNotFound, "server %q is not in the raft configuration", req.ID)
		}
		if err := n.RemoveServer(ctx, req.ID); err != nil {
			return refuse(CodeFailed, "%v", err)
		}
		n.log.Info("membership: server removed", "id", req.ID, "by", client.Subject.CommonName)
	}
	servers, err = n.Servers()
	if err != nil {
		return refuse(CodeFailed, "%v", err)
	}
	resp := membershipResponse{Servers: servers}
	resp.LeaderID, resp.LeaderAddress = n.Leader()
	return resp
}

// authorizeMembership checks the request's shape (else CodeInvalid) and whether client may
// make it (else CodeForbidden). The handshake already verified that client chains to the hub
// CA and names PeerName or AdminName.
func authorizeMembership(client *x509.Certificate, req membershipRequest) (string, error) {
	switch req.Op {
	case opServers:
		return "", nil
	case opAddVoter:
		if req.ID == "" {
			return CodeInvalid, errors.New("add-voter: the server ID is empty")
		}
		if _, _, err := net.SplitHostPort(req.Address); err != nil {
			return CodeInvalid, fmt.Errorf("add-voter %s: address %q is not host:port", req.ID, req.Address)
		}
		if !slices.Contains(client.DNSNames, req.ID) && !slices.Contains(client.DNSNames, AdminName) {
			return CodeForbidden, fmt.Errorf("add-voter %s: the client certificate (DNS names %v) names neither %q nor %s: a replica may only add itself",
				req.ID, client.DNSNames, req.ID, AdminName)
		}
		return "", nil
	case opRemove:
		if req.ID == "" {
			return CodeInvalid, errors.New("remove: the server ID is empty")
		}
		return "", nil
	default:
		return CodeInvalid, fmt.Errorf("unknown operation %q; want %s, %s or %s", req.Op, opServers, opAddVoter, opRemove)
	}
}
