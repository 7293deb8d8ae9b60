// Command flotilla-hub is the hub controller: its replicas decide, wave by wave, when each
// member cluster takes a release, and combine the clusters' results into fleet gates.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/fleetrollout"
	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/hub/replica"
	"github.com/flotilla-io/flotilla/internal/cli"
	"github.com/flotilla-io/flotilla/internal/config"
)

const (
	keyRaftID          = "raft-id"
	keyRaftBind        = "raft-bind-address"
	keyRaftAdvertise   = "raft-advertise-address"
	keyRaftDataDir     = "raft-data-dir"
	keyRaftPeers       = "raft-peers"
	keyRaftTLSCA       = "raft-tls-ca"
	keyRaftTLSCert     = "raft-tls-cert"
	keyRaftTLSKey      = "raft-tls-key"
	keyRaftDevTLS      = "raft-dev-ephemeral-tls"
	keyMemberNamespace = "member-namespace"
	keyProbeInterval   = "member-probe-interval"
	keyHubAPI          = "hub-api-bind-address"
)

func main() {
	settings := []config.Setting{
		{Key: keyRaftID, Default: "hub-0", Usage: "this replica's raft server ID; stable across restarts and unique in the raft group"},
		{Key: keyRaftBind, Default: "127.0.0.1:7420", Usage: "host:port the raft transport (mutual TLS) listens on", Check: hostPort},
		{Key: keyRaftAdvertise, Usage: "host:port peers reach this replica at; empty means raft-bind-address"},
		{Key: keyRaftDataDir, Default: "data/raft", Usage: "folder of the raft log, stable store and snapshots; keep it across restarts"},
		{Key: keyRaftPeers, Kind: config.StringList, Usage: "static raft group as id=host:port entries, this replica included; empty bootstraps a single-replica group"},
		{Key: keyRaftTLSCA, Usage: "PEM file of the hub CA that signs every peer certificate"},
		{Key: keyRaftTLSCert, Usage: "PEM file of this replica's peer certificate, signed by the hub CA, with DNS names raft.hub.flotilla.dev and the raft-id"},
		{Key: keyRaftTLSKey, Usage: "PEM file of this replica's peer key"},
		{Key: keyRaftDevTLS, Kind: config.Bool, Default: "false", Usage: "development only: issue a throwaway CA and certificate at start instead of raft-tls-*; refused unless the group is this one replica on a loopback address"},
		{Key: keyMemberNamespace, Default: "flotilla-system", Usage: "namespace of the member kubeconfig Secrets (labelled sigs.k8s.io/multicluster-runtime-kubeconfig=true, key kubeconfig; each engages one member cluster, whose placed Rollouts the hub watches); the hub reads Secrets there only"},
		{Key: keyHubAPI, Default: "127.0.0.1:7421", Usage: "host:port of the read-only hub API (raft status, journal history; JSON, no authentication), answered by every replica; keep it on loopback unless something in front authenticates; 0 turns it off", Check: hostPortOrZero},
		{Key: keyProbeInterval, Kind: config.Duration, Default: "10s", Usage: "how often each member's API server is probed for MemberCluster health (the heartbeat that finds a member cut off: its clusters then count as Unknown)"},
	}
	cli.Execute(cli.NewDaemon("flotilla-hub", "Flotilla's hub: fleet-wide waves and gates", settings, run))
}

func hostPort(v any) error {
	s, _ := v.(string)
	if _, _, err := net.SplitHostPort(s); err != nil {
		return errors.New("want host:port, such as 127.0.0.1:7420")
	}
	return nil
}

func hostPortOrZero(v any) error {
	if s, _ := v.(string); s == "0" {
		return nil
	}
	return hostPort(v)
}

func run(ctx context.Context, cfg *config.Config) error {
	log := logf.FromContext(ctx)
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, fleetv1alpha1.AddToScheme, rolloutsv1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	node, err := startRaft(cfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = node.Shutdown() }()
	if err := raft.RegisterMetrics(node); err != nil {
		return err
	}
	if addr := cfg.String(keyHubAPI); addr != "0" {
		api, err := hubapi.Start(addr, node)
		if err != nil {
			return err
		}
		defer func() { _ = api.Close() }()
		log.Info("hub API listening", "address", api.Addr())
	}

	memberNS := cfg.String(keyMemberNamespace)
	mgr, err := cli.NewManager(cfg, scheme, manager.Options{Cache: replica.CacheOptions(memberNS)})
	if err != nil {
		return err
	}
	if err := replica.Setup(ctx, mgr, node, replica.Options{MemberNamespace: memberNS,
		ProbeInterval: cfg.Duration(keyProbeInterval)}); err != nil {
		return err
	}
	// Every replica reports the FleetRollouts and members it caches, leader or not.
	if err := ctrlmetrics.Registry.Register(&fleetrollout.Collector{Reader: mgr.GetCache()}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// startRaft starts this replica's raft node from the settings.
func startRaft(cfg *config.Config, log logr.Logger) (*raft.Node, error) {
	id := cfg.String(keyRaftID)
	var peers []raft.Peer
	for _, p := range cfg.Strings(keyRaftPeers) {
		pid, addr, ok := strings.Cut(p, "=")
		if !ok || pid == "" || addr == "" {
			return nil, fmt.Errorf("%s: %q is not id=host:port", keyRaftPeers, p)
		}
		peers = append(peers, raft.Peer{ID: pid, Address: addr})
	}
	var tls *raft.PeerTLS
	var err error
	switch {
	case cfg.Bool(keyRaftDevTLS):
		if tls, err = devTLS(cfg, id, peers); err != nil {
			return nil, err
		}
		log.Info("raft: using a throwaway CA and certificate (raft-dev-ephemeral-tls); never in production")
	default:
		ca, cert, key := cfg.String(keyRaftTLSCA), cfg.String(keyRaftTLSCert), cfg.String(keyRaftTLSKey)
		if ca == "" || cert == "" || key == "" {
			return nil, fmt.Errorf("raft peers talk mutual TLS only: set %s, %s and %s (or, for one replica on loopback in development, %s)",
				keyRaftTLSCA, keyRaftTLSCert, keyRaftTLSKey, keyRaftDevTLS)
		}
		if tls, err = raft.LoadPeerTLS(ca, cert, key); err != nil {
			return nil, err
		}
	}
	return raft.New(raft.Config{ID: id, DataDir: cfg.String(keyRaftDataDir), BindAddr: cfg.String(keyRaftBind),
		AdvertiseAddr: cfg.String(keyRaftAdvertise), TLS: tls, Peers: peers, Logger: log.WithName("raft")})
}

// devTLS issues a throwaway CA and peer certificate, for a single replica on loopback only.
func devTLS(cfg *config.Config, id string, peers []raft.Peer) (*raft.PeerTLS, error) {
	if len(peers) > 1 || (len(peers) == 1 && peers[0].ID != id) {
		return nil, fmt.Errorf("%s is for a single replica; with %s set, give %s, %s and %s", keyRaftDevTLS, keyRaftPeers,
			keyRaftTLSCA, keyRaftTLSCert, keyRaftTLSKey)
	}
	host, _, err := net.SplitHostPort(cfg.String(keyRaftBind))
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s needs %s on a loopback address such as 127.0.0.1:7420, got %q", keyRaftDevTLS, keyRaftBind,
			cfg.String(keyRaftBind))
	}
	ca, err := raft.NewCA("flotilla-hub-dev-ca")
	if err != nil {
		return nil, err
	}
	return ca.PeerTLS(id)
}
