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
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests run real raft nodes on loopback with the membership API on their raft
// listeners; nothing is mocked.

// adminTLS returns an operator's TLS material: a hub CA certificate naming AdminName.
func adminTLS(t *testing.T, ca *CA) *PeerTLS {
	t.Helper()
	certPEM, keyPEM, err := ca.IssueAdmin("operator")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPeerTLS(ca.CertPEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// describe renders a configuration for messages.
func describe(servers []Server) string {
	var out []string
	for _, s := range servers {
		out = append(out, fmt.Sprintf("%s@%s voter=%v", s.ID, s.Address, s.Voter))
	}
	return strings.Join(out, ", ")
}

// waitServers waits until n's configuration is exactly the voters ids.
func waitServers(t *testing.T, n *Node, ids ...string) []Server {
	t.Helper()
	var servers []Server
	waitFor(t, replicaBound, fmt.Sprintf("%s to see voters %v", n.ID(), ids), func() (bool, string) {
		var err error
		if servers, err = n.Servers(); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, s := range servers {
			if s.Voter {
				got = append(got, s.ID)
			}
		}
		slices.Sort(got)
		return slices.Equal(got, ids) && len(servers) == len(ids), describe(servers)
	})
	return servers
}

func followers(c *testCluster, leader *Node) []*Node {
	var out []*Node
	for _, n := range c.live() {
		if n != leader {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.ID(), b.ID()) })
	return out
}

// startGroup starts hub-0, hub-1 and hub-2 from a static peer list and commits decisions
// decisions on every one of them.
func startGroup(t *testing.T, decisions int) (*testCluster, *Node) {
	t.Helper()
	c := newTestCluster(t)
	c.startStatic("hub-0", "hub-1", "hub-2")
	leader := c.waitLeader(electionBound)
	if decisions > 0 {
		proposeN(t, leader, 0, decisions)
		c.waitApplied(decisions)
	}
	return c, leader
}

// startJoiner starts a fresh node id with Join set to addrs and waits for Join to add it.
func (c *testCluster) startJoiner(t *testing.T, id string, addrs ...string) *Node {
	t.Helper()
	cfg := c.config(id, nil)
	cfg.Join = addrs
	n := c.start(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*replicaBound)
	defer cancel()
	if err := n.Join(ctx); err != nil {
		t.Fatalf("%s Join: %v", id, err)
	}
	return n
}

func TestJoinedVoterReceivesTheJournalWinsAnElectionAndRemovalShrinksTheGroup(t *testing.T) {
	c, leader := startGroup(t, 5)
	fs := followers(c, leader)

	// hub-3 starts with an empty data dir and the addresses of a follower first, then the
	// leader: the follower sends it on to the leader.
	joiner := c.startJoiner(t, "hub-3", c.addrs[fs[0].ID()], c.addrs[leader.ID()])
	ctx, cancel := context.WithTimeout(context.Background(), 2*replicaBound)
	defer cancel()
	servers := waitServers(t, leader, "hub-0", "hub-1", "hub-2", "hub-3")
	if i := slices.IndexFunc(servers, func(s Server) bool { return s.ID == "hub-3" }); servers[i].Address != joiner.Addr() {
		t.Fatalf("hub-3 was added at %s, it listens at %s", servers[i].Address, joiner.Addr())
	}
	// The decisions proposed before it joined reach its journal, and so do new ones.
	c.waitApplied(5)
	proposeN(t, leader, 5, 2)
	c.waitApplied(7)
	waitServers(t, joiner, "hub-0", "hub-1", "hub-2", "hub-3")

	// The old leader dies, and so do the others; the two followers come back with heartbeat
	// timeouts of a minute, so they never stand for election themselves. Only hub-3 can
	// then win, and it needs both their votes: three of four.
	slow := func(cfg *Config) { cfg.HeartbeatTimeout, cfg.ElectionTimeout = time.Minute, time.Minute }
	oldLeader := leader.ID()
	for _, n := range []*Node{leader, fs[0], fs[1]} {
		c.kill(n.ID())
	}
	c.tune = slow
	for _, n := range fs {
		c.start(c.config(n.ID(), nil))
	}
	c.tune = nil
	if got := c.waitLeader(electionBound + failoverBound); got != joiner {
		t.Fatalf("%s leads, want hub-3", got.ID())
	}
	c.waitApplied(7)

	// An operator removes the dead old leader with a replica's certificate, through a
	// follower. The configuration shrinks to three voters, and two of them are a quorum:
	// the group keeps committing with one more replica gone.
	client := &MembershipClient{TLS: c.nodes[fs[0].ID()].cfg.TLS}
	after, err := client.RemoveServer(ctx, []string{c.addrs[fs[0].ID()]}, oldLeader)
	if err != nil {
		t.Fatalf("RemoveServer %s: %v", oldLeader, err)
	}
	if slices.ContainsFunc(after, func(s Server) bool { return s.ID == oldLeader }) || len(after) != 3 {
		t.Fatalf("after removing %s the configuration is %s", oldLeader, describe(after))
	}
	var rest []string
	for _, n := range c.live() {
		rest = append(rest, n.ID())
	}
	slices.Sort(rest)
	for _, n := range c.live() {
		waitServers(t, n, rest...)
	}
	c.kill(fs[1].ID())
	proposeN(t, joiner, 7, 3)
	c.waitApplied(10)
}

func TestJoinRefusesANodeWithoutACertificateForItsID(t *testing.T) {
	c, leader := startGroup(t, 3)
	refusedBefore := totalHandshakeFailures(c)
	var addrs []string
	for _, id := range []string{"hub-0", "hub-1", "hub-2"} {
		addrs = append(addrs, c.addrs[id])
	}

	foreignTLS := foreignPeerTLS(t, "hub-x")
	// A certificate from the hub CA, for another replica than the one it claims to be.
	otherTLS, err := c.ca.PeerTLS("hub-0")
	if err != nil {
		t.Fatal(err)
	}
	joiners := map[string]*PeerTLS{"hub-x": foreignTLS, "hub-y": otherTLS}
	nodes := map[string]*Node{}
	for id, tlsMaterial := range joiners {
		n, err := New(Config{ID: id, DataDir: t.TempDir(), Listener: listen(t), TLS: tlsMaterial, Join: addrs,
			Logger: c.logs.logger().WithName("joiner")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown() })
		nodes[id] = n
	}

	// The foreign certificate fails the handshake at every replica, so Join keeps trying
	// until its context ends. A client that trusts the hub CA, so that only its certificate
	// is wrong, shows the replicas refuse it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = nodes["hub-x"].Join(ctx)
	cancel()
	if err == nil {
		t.Fatal("hub-x (another CA) joined")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*replicaBound)
	trusting := &PeerTLS{CAs: c.ca.PeerTLSPool(), Certificate: foreignTLS.Certificate}
	_, err = (&MembershipClient{TLS: trusting}).AddVoter(ctx, addrs, "hub-x", nodes["hub-x"].Addr())
	cancel()
	if err == nil || strings.Count(err.Error(), "remote error: tls:") != len(addrs) {
		t.Fatalf("hub-x (another CA): want a TLS refusal from each of %d replicas, got %v", len(addrs), err)
	}
	t.Logf("hub-x: %v", err)
	// The hub CA certificate of hub-0 cannot add hub-y: refused for good, at once.
	ctx, cancel = context.WithTimeout(context.Background(), replicaBound)
	err = nodes["hub-y"].Join(ctx)
	cancel()
	var me *MembershipError
	if !errors.As(err, &me) || me.Code != CodeForbidden || !strings.Contains(me.Message, "may only add itself") {
		t.Fatalf("hub-y (certificate for hub-0): Join = %v, want a forbidden refusal", err)
	}
	t.Logf("hub-y: %v", err)
	if got := totalHandshakeFailures(c); got <= refusedBefore {
		t.Fatalf("no replica refused a handshake (%d before, %d after)", refusedBefore, got)
	}

	// The group carries on; neither joiner is in any configuration or holds any decision.
	proposeN(t, leader, 3, 3)
	c.waitApplied(6)
	for _, n := range c.live() {
		waitServers(t, n, "hub-0", "hub-1", "hub-2")
	}
	for id, n := range nodes {
		if got := n.Journal().Len(); got != 0 {
			t.Errorf("%s's journal holds %d decisions", id, got)
		}
		if lid, _ := n.Leader(); lid != "" {
			t.Errorf("%s knows leader %q", id, lid)
		}
		if got := n.AppliedIndex(); got != 0 {
			t.Errorf("%s applied up to index %d", id, got)
		}
	}
}

func TestMembershipAPIFollowersNameTheLeaderAndCertificatesLimitWhatAClientMayDo(t *testing.T) {
	c, leader := startGroup(t, 0)
	follower := followers(c, leader)[0]
	admin := &MembershipClient{TLS: adminTLS(t, c.ca)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*replicaBound)
	defer cancel()

	// A follower answers a change with the leader's address, which is its membership address.
	_, err := admin.call(ctx, follower.Addr(), membershipRequest{Op: opAddVoter, ID: "hub-9", Address: "127.0.0.1:9"})
	var me *MembershipError
	if !errors.As(err, &me) || me.Code != CodeNotLeader || me.LeaderID != leader.ID() || me.LeaderAddress != leader.Addr() {
		t.Fatalf("a follower answered %v, want not-leader naming %s at %s", err, leader.ID(), leader.Addr())
	}
	// Any replica lists the servers and the leader.
	servers, lid, laddr, err := admin.Servers(ctx, []string{follower.Addr()})
	if err != nil || len(servers) != 3 || lid != leader.ID() || laddr != leader.Addr() {
		t.Fatalf("Servers from a follower: %s, leader %s at %s, %v", describe(servers), lid, laddr, err)
	}

	// A replica's certificate may not add another ID; a malformed request is refused as such.
	replica := &MembershipClient{TLS: follower.cfg.TLS}
	for name, tc := range map[string]struct {
		client *MembershipClient
		req    membershipRequest
		code   string
	}{
		"replica adds another":  {replica, membershipRequest{Op: opAddVoter, ID: "hub-9", Address: "127.0.0.1:9"}, CodeForbidden},
		"address without port":  {admin, membershipRequest{Op: opAddVoter, ID: "hub-9", Address: "127.0.0.1"}, CodeInvalid},
		"no ID":                 {admin, membershipRequest{Op: opRemove}, CodeInvalid},
		"unknown operation":     {admin, membershipRequest{Op: "bootstrap"}, CodeInvalid},
		"remove unknown server": {admin, membershipRequest{Op: opRemove, ID: "hub-9"}, CodeNotFound},
	} {
		_, err := tc.client.do(ctx, []string{follower.Addr()}, tc.req)
		if !errors.As(err, &me) || me.Code != tc.code {
			t.Errorf("%s: %v, want code %s", name, err, tc.code)
		}
	}

	// The operator's certificate serves membership only: on the raft protocol it is refused.
	failures := leader.HandshakeFailures()
	conn, err := (&tls.Dialer{Config: admin.TLS.ClientConfig()}).DialContext(ctx, "tcp", leader.Addr())
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(replicaBound))
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "tls:") {
		t.Fatalf("an admin certificate was accepted on the raft protocol: %v", err)
	}
	waitFor(t, replicaBound, "the leader to count the refused handshake", func() (bool, string) {
		return leader.HandshakeFailures() > failures, fmt.Sprintf("%d failures", leader.HandshakeFailures())
	})

	// The operator adds a voter for a replica that is not running yet, then removes it: the
	// group commits throughout, the three running replicas being a quorum of four.
	if _, err := admin.AddVoter(ctx, []string{follower.Addr()}, "hub-9", "127.0.0.1:9"); err != nil {
		t.Fatalf("admin AddVoter: %v", err)
	}
	waitServers(t, follower, "hub-0", "hub-1", "hub-2", "hub-9")
	proposeN(t, leader, 0, 2)
	if _, err := admin.RemoveServer(ctx, []string{follower.Addr()}, "hub-9"); err != nil {
		t.Fatalf("admin RemoveServer: %v", err)
	}
	waitServers(t, follower, "hub-0", "hub-1", "hub-2")
	proposeN(t, leader, 2, 2)
	c.waitApplied(4)
}

func TestJoinIsIgnoredOnceTheNodeHasRaftState(t *testing.T) {
	c, leader := startGroup(t, 0)
	c.startJoiner(t, "hub-3", c.addrs[leader.ID()])
	proposeN(t, leader, 0, 2)
	c.waitApplied(2)

	// Restarted from its data dir with a join address where nothing listens, it does not ask
	// at all (an expired context would make any attempt fail) and carries on as a voter.
	c.kill("hub-3")
	cfg := c.config("hub-3", nil)
	cfg.Join = []string{"127.0.0.1:1"}
	joiner := c.start(cfg)
	expired, cancelExpired := context.WithCancel(context.Background())
	cancelExpired()
	if err := joiner.Join(expired); err != nil {
		t.Fatalf("Join with raft state: %v", err)
	}
	proposeN(t, leader, 2, 2)
	c.waitApplied(4)
	waitServers(t, joiner, "hub-0", "hub-1", "hub-2", "hub-3")
}
