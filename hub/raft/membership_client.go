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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults of the membership client and of Join's retries.
const (
	DefaultMembershipTimeout = 10 * time.Second
	// Join waits JoinBackoffMin after its first failed round, doubling up to JoinBackoffMax.
	JoinBackoffMin = 250 * time.Millisecond
	JoinBackoffMax = 5 * time.Second
	// maxRedirects is how many times a call follows a follower to the leader it names.
	maxRedirects          = 3
	maxMembershipResponse = 1 << 20
)

// MembershipClient calls the membership API that every hub replica serves on its raft
// address (see MembershipProtocol).
type MembershipClient struct {
	// TLS is the client's hub CA and certificate: a replica's, or an operator's from
	// CA.IssueAdmin. The server must present a hub peer certificate.
	TLS *PeerTLS
	// Timeout bounds one call to one replica: dial, handshake, the change and the answer.
	// Zero means DefaultMembershipTimeout.
	Timeout time.Duration
}

// MembershipError is a replica's refusal of a membership call.
type MembershipError struct {
	// Address is the replica that refused.
	Address string
	// Code is one of the Code* constants.
	Code    string
	Message string
	// LeaderID and LeaderAddress name the leader when Code is CodeNotLeader and it is known.
	LeaderID, LeaderAddress string
}

func (e *MembershipError) Error() string { return fmt.Sprintf("%s: %s", e.Address, e.Message) }

// Permanent reports whether asking again, here or at another replica, cannot help: the
// certificate is not allowed to, the request is malformed or names no server.
func (e *MembershipError) Permanent() bool {
	return e.Code == CodeForbidden || e.Code == CodeInvalid || e.Code == CodeNotFound
}

func permanent(err error) bool {
	var me *MembershipError
	return errors.As(err, &me) && me.Permanent()
}

// Servers returns the raft configuration and the leader as the first replica of addrs that
// answers sees them.
func (c *MembershipClient) Servers(ctx context.Context, addrs []string) (servers []Server, leaderID, leaderAddress string, err error) {
	resp, err := c.do(ctx, addrs, membershipRequest{Op: opServers})
	return resp.Servers, resp.LeaderID, resp.LeaderAddress, err
}

// AddVoter asks the group's leader, through any replica of addrs, to add (or update the
// address of) voter id at address; it returns the configuration that follows.
func (c *MembershipClient) AddVoter(ctx context.Context, addrs []string, id, address string) ([]Server, error) {
	resp, err := c.do(ctx, addrs, membershipRequest{Op: opAddVoter, ID: id, Address: address})
	return resp.Servers, err
}

// RemoveServer asks the group's leader, through any replica of addrs, to remove server id;
// it returns the configuration that follows.
func (c *MembershipClient) RemoveServer(ctx context.Context, addrs []string, id string) ([]Server, error) {
	resp, err := c.do(ctx, addrs, membershipRequest{Op: opRemove, ID: id})
	return resp.Servers, err
}

// do tries each address in turn until one answers; a follower's refusal that names the
// leader is followed there. A permanent refusal ends it at once.
func (c *MembershipClient) do(ctx context.Context, addrs []string, req membershipRequest) (membershipResponse, error) {
	if len(addrs) == 0 {
		return membershipResponse{}, errors.New("no membership address to ask")
	}
	var errs []error
	for _, addr := range addrs {
		for hop := 0; ; hop++ {
			resp, err := c.call(ctx, addr, req)
			if err == nil {
				return resp, nil
			}
			var me *MembershipError
			if errors.As(err, &me) && me.Permanent() {
				return resp, err
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				return resp, errors.Join(errs...)
			}
			if me == nil || me.Code != CodeNotLeader || me.LeaderAddress == "" || me.LeaderAddress == addr || hop == maxRedirects {
				break
			}
			addr = me.LeaderAddress
		}
	}
	return membershipResponse{}, errors.Join(errs...)
}

// call makes one membership call to the replica at addr.
func (c *MembershipClient) call(ctx context.Context, addr string, req membershipRequest) (membershipResponse, error) {
	if c.TLS == nil {
		return membershipResponse{}, errors.New("membership client: TLS is required")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultMembershipTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: c.TLS.MembershipClientConfig()}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return membershipResponse{}, fmt.Errorf("%s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var resp membershipResponse
	if err := json.NewEncoder(conn).Encode(&req); err != nil {
		return resp, fmt.Errorf("%s: sending the request: %w", addr, err)
	}
	// TLS 1.3: a server that refuses our certificate says so here, as an alert.
	if err := json.NewDecoder(io.LimitReader(conn, maxMembershipResponse)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return resp, fmt.Errorf("%s: reading the answer: %w", addr, err)
	}
	if resp.Code != "" {
		return resp, &MembershipError{Address: addr, Code: resp.Code, Message: resp.Error,
			LeaderID: resp.LeaderID, LeaderAddress: resp.LeaderAddress}
	}
	return resp, nil
}

// Join asks the running group at Config.Join to add this node as a voter, through whichever
// replica answers (a follower sends it on to the leader). It retries every round that fails,
// waiting JoinBackoffMin and doubling up to JoinBackoffMax, until the leader has added it, a
// replica refuses it for good (its certificate does not name its ID, say), or ctx ends.
// A node that started with raft state, or without Config.Join, returns nil at once: it is a
// member already, or bootstrapped its own group.
func (n *Node) Join(ctx context.Context) error {
	if n.existing || len(n.cfg.Join) == 0 {
		return nil
	}
	client := &MembershipClient{TLS: n.cfg.TLS, Timeout: n.cfg.ApplyTimeout + 2*n.cfg.TransportTimeout}
	wait := JoinBackoffMin
	for attempt := 1; ; attempt++ {
		_, err := client.AddVoter(ctx, n.cfg.Join, n.cfg.ID, n.Addr())
		if err == nil {
			n.log.Info("joined the raft group as a voter", "via", n.cfg.Join, "attempts", attempt)
			return nil
		}
		if permanent(err) {
			return fmt.Errorf("joining the raft group through %v: refused: %w", n.cfg.Join, err)
		}
		n.log.Info("joining the raft group failed; retrying", "via", n.cfg.Join, "attempt", attempt,
			"retryIn", wait, "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("joining the raft group through %v: %w (last error: %w)", n.cfg.Join, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, JoinBackoffMax)
	}
}
