package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"

	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/internal/config"
)

// These tests run real raft nodes on loopback, built from the hub's settings as flotilla-hub
// builds them, and the real `flotilla-hub raft` commands against them.

const bound = 10 * time.Second // CPU shared with other test binaries

func loadSettings(t *testing.T, args ...string) *config.Config {
	t.Helper()
	cfg := config.New(append(config.Common(), hubSettings()...)...)
	fs := pflag.NewFlagSet("flotilla-hub", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Load(fs); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// tlsFlags writes a certificate for names into a folder and returns the raft-tls-* flags.
func tlsFlags(t *testing.T, ca *raft.CA, id string, admin bool) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls-"+id)
	if err := ca.WritePeerFiles(dir, id); err != nil {
		t.Fatal(err)
	}
	if admin {
		certPEM, keyPEM, err := ca.IssueAdmin(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--raft-tls-ca", filepath.Join(dir, "ca.crt"), "--raft-tls-cert", filepath.Join(dir, "tls.crt"),
		"--raft-tls-key", filepath.Join(dir, "tls.key")}
}

func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last saw: %s", bound, what, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// raftCmd runs `flotilla-hub raft args...` and returns what it printed.
func raftCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRaftCommand(hubSettings())
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func TestRaftJoinSettingAndOperatorCommands(t *testing.T) {
	ca, err := raft.NewCA("flotilla-hub-cmd-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"hub-0", "hub-1", "hub-2"}
	addrs := map[string]string{}
	var peers []string
	for _, id := range append(ids, "hub-3") {
		addrs[id] = freeAddr(t)
		peers = append(peers, id+"="+addrs[id])
	}
	peers = peers[:3] // the bootstrap group; hub-3 joins later
	settings := func(id string, extra ...string) []string {
		args := append([]string{"--raft-id", id, "--raft-bind-address", addrs[id], "--raft-data-dir",
			filepath.Join(t.TempDir(), id), "--raft-peers", strings.Join(peers, ",")}, tlsFlags(t, ca, id, false)...)
		return append(args, extra...)
	}
	nodes := map[string]*raft.Node{}
	start := func(id string, extra ...string) *raft.Node {
		rc, err := raftConfig(loadSettings(t, settings(id, extra...)...), logr.Discard())
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		n, err := raft.New(rc)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		t.Cleanup(func() { _ = n.Shutdown() })
		nodes[id] = n
		return n
	}
	// Every replica gets the same raft-join, as the chart gives it: those raft-peers lists
	// bootstrap from it and ignore raft-join.
	join := "--raft-join=" + addrs["hub-0"] + "," + addrs["hub-1"] + "," + addrs["hub-2"]
	for _, id := range ids {
		start(id, join)
	}
	var leader *raft.Node
	waitUntil(t, "a leader", func() (bool, string) {
		for _, id := range ids {
			if _, _, ok := nodes[id].Leading(); ok {
				leader = nodes[id]
				return true, ""
			}
		}
		return false, "no leader"
	})
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	for i := range 3 {
		d := journal.Decision{Type: journal.ClusterDispatched, Namespace: "default", Name: "checkout", Revision: 1,
			Wave: "us-east", Cluster: fmt.Sprintf("c%d", i)}
		d.ID = d.NaturalID()
		if _, err := leader.Propose(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	// hub-3, which raft-peers does not list, joins through raft-join and gets the journal.
	joiner := start("hub-3", join)
	if err := joiner.Join(ctx); err != nil {
		t.Fatalf("hub-3 Join: %v", err)
	}
	waitUntil(t, "hub-3 to hold the 3 decisions proposed before it joined", func() (bool, string) {
		return joiner.Journal().Len() == 3, fmt.Sprintf("%d decisions", joiner.Journal().Len())
	})
	// What `kubectl flotilla hub status` shows lists it as a voter.
	st, err := hubapi.StatusOf(leader)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Peers, func(p hubapi.Peer) bool { return p.ID == "hub-3" && p.Voter && p.Address == addrs["hub-3"] }) {
		t.Fatalf("hub status peers %+v lack voter hub-3", st.Peers)
	}

	follower := ids[0]
	if follower == leader.ID() {
		follower = ids[1]
	}
	ask := "--raft-server=" + addrs[follower]
	replicaTLS := tlsFlags(t, ca, follower, false)
	adminTLS := tlsFlags(t, ca, "alice", true)

	out, err := raftCmd(t, append([]string{"list-peers", ask}, replicaTLS...)...)
	if err != nil {
		t.Fatalf("list-peers: %v\n%s", err, out)
	}
	t.Logf("list-peers:\n%s", out)
	for _, id := range append(ids, "hub-3") {
		if !strings.Contains(out, id+" ") {
			t.Errorf("list-peers does not list %s:\n%s", id, out)
		}
	}
	if !hasRow(out, leader.ID(), addrs[leader.ID()], "voter", "leader") {
		t.Errorf("list-peers does not show %s as the leader:\n%s", leader.ID(), out)
	}

	// Remove hub-3 with a replica's certificate, through a follower.
	out, err = raftCmd(t, append([]string{"remove-peer", "hub-3", ask}, replicaTLS...)...)
	if err != nil || strings.Contains(out, "hub-3") {
		t.Fatalf("remove-peer hub-3: %v\n%s", err, out)
	}
	// A replica's certificate cannot add another replica; an admin certificate can.
	out, err = raftCmd(t, append([]string{"add-voter", "hub-3", addrs["hub-3"], ask}, replicaTLS...)...)
	if err == nil || !strings.Contains(err.Error(), "may only add itself") {
		t.Fatalf("add-voter hub-3 with %s's certificate: %v\n%s", follower, err, out)
	}
	out, err = raftCmd(t, append([]string{"add-voter", "hub-3", addrs["hub-3"], ask}, adminTLS...)...)
	if err != nil || !hasRow(out, "hub-3", addrs["hub-3"], "voter") {
		t.Fatalf("add-voter hub-3 with an admin certificate: %v\n%s", err, out)
	}
	// A bad argument is refused by the replica, naming it.
	if out, err = raftCmd(t, append([]string{"add-voter", "hub-4", "nowhere", ask}, adminTLS...)...); err == nil ||
		!strings.Contains(err.Error(), `address "nowhere" is not host:port`) {
		t.Fatalf("add-voter with a bad address: %v\n%s", err, out)
	}
}

// hasRow reports whether a line of out holds every field, in order (other columns may sit
// between them).
func hasRow(out string, fields ...string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		rest := fields
		for _, f := range strings.Fields(line) {
			if len(rest) > 0 && f == rest[0] {
				rest = rest[1:]
			}
		}
		if len(rest) == 0 {
			return true
		}
	}
	return false
}

func TestContradictoryRaftSettingsAreRefused(t *testing.T) {
	ca, err := raft.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := tlsFlags(t, ca, "hub-0", false)
	peers := "--raft-peers=hub-0=127.0.0.1:7420,hub-1=127.0.0.1:7430"
	for name, tc := range map[string]struct {
		args      []string
		want      string
		peers     int
		joinAddrs int
	}{
		"listed, joining elsewhere": {[]string{peers, "--raft-join=127.0.0.1:9999"},
			"raft-join names 127.0.0.1:9999, which is not in raft-peers; raft-peers lists this replica (raft-id=hub-0)", 0, 0},
		"not listed, no join": {[]string{"--raft-id=hub-5", peers},
			"raft-peers does not list this replica (raft-id=hub-5)", 0, 0},
		"join with throwaway TLS": {[]string{"--raft-join=127.0.0.1:7420", "--raft-dev-ephemeral-tls=true"},
			"raft-dev-ephemeral-tls issues a throwaway CA", 0, 0},
		"join address":                   {[]string{"--raft-join=hub-1"}, "config: raft-join", 0, 0},
		"listed, join repeats the peers": {[]string{peers, "--raft-join=127.0.0.1:7430"}, "", 2, 0},
		"not listed, joining":            {[]string{"--raft-id=hub-5", peers, "--raft-join=127.0.0.1:7430"}, "", 0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.New(append(config.Common(), hubSettings()...)...)
			fs := pflag.NewFlagSet("flotilla-hub", pflag.ContinueOnError)
			cfg.AddFlags(fs)
			if err := fs.Parse(append(tc.args, tlsArgs...)); err != nil {
				t.Fatal(err)
			}
			err := cfg.Load(fs)
			var rc raft.Config
			if err == nil {
				rc, err = raftConfig(cfg, logr.Discard())
			}
			if tc.want == "" {
				if err != nil || len(rc.Peers) != tc.peers || len(rc.Join) != tc.joinAddrs {
					t.Fatalf("peers %v, join %v, %v", rc.Peers, rc.Join, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			t.Log(err)
		})
	}
}
