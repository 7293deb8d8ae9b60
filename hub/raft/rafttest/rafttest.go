// Package rafttest starts raft nodes for the tests of the hub's controllers.
package rafttest

import (
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/flotilla-io/flotilla/hub/raft"
)

// Start bootstraps a one-replica raft group "hub-0" on loopback, in a folder of the test, with
// mutual TLS from a throwaway CA (what flotilla-hub does with raft-dev-ephemeral-tls), and
// shuts it down when the test ends.
func Start(t testing.TB) *raft.Node {
	t.Helper()
	ca, err := raft.NewCA("flotilla-test-hub-ca")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ca.PeerTLS("hub-0")
	if err != nil {
		t.Fatal(err)
	}
	node, err := raft.New(raft.Config{ID: "hub-0", DataDir: t.TempDir(), BindAddr: "127.0.0.1:0", TLS: peer,
		Logger: ctrl.Log.WithName("raft")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Shutdown() })
	return node
}
