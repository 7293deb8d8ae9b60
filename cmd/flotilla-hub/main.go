// Command flotilla-hub is the hub controller: its replicas decide, wave by wave, when each
// member cluster takes a release, and combine the clusters' results into fleet gates.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
	keyRaftJoin        = "raft-join"
	keyRaftTLSCA       = "raft-tls-ca"
	keyRaftTLSCert     = "raft-tls-cert"
	keyRaftTLSKey      = "raft-tls-key"
	keyRaftDevTLS      = "raft-dev-ephemeral-tls"
	keyMemberNamespace = "member-namespace"
	keyProbeInterval   = "member-probe-interval"
	keyHubAPI          = "hub-api-bind-address"
	keyMemberProvider  = "member-provider"
	keyMemberNSConfig  = "member-namespace-kubeconfig"
)

// Member providers.
const (
	providerKubeconfig = "kubeconfig"
	providerNamespace  = "namespace"
)

func main() {
	settings := hubSettings()
	root := cli.NewDaemon("flotilla-hub", "Flotilla's hub: fleet-wide waves and gates", settings, run)
	root.AddCommand(newRaftCommand(settings))
	cli.Execute(root)
}

// hubSettings are the hub's settings; the raft subcommands take them too, so that they read
// the same settings file.
func hubSettings() []config.Setting {
	return []config.Setting{
		{Key: keyRaftID, Default: "hub-0", Usage: "this replica's raft server ID; stable across restarts and unique in the raft group"},
		{Key: keyRaftBind, Default: "127.0.0.1:7420", Usage: "host:port the raft transport (mutual TLS) listens on", Check: hostPort},
		{Key: keyRaftAdvertise, Usage: "host:port peers reach this replica at; empty means raft-bind-address"},
		{Key: keyRaftDataDir, Default: "data/raft", Usage: "folder of the raft log, stable store and snapshots; keep it across restarts"},
		{Key: keyRaftPeers, Kind: config.StringList, Usage: "static raft group as id=host:port entries that the replicas it lists bootstrap (with empty data dirs); empty, and without raft-join, bootstraps a single-replica group"},
		{Key: keyRaftJoin, Kind: config.StringList, Check: hostPorts, Usage: "raft addresses (host:port) of replicas of a running group: a replica that raft-peers does not list, with an empty raft-data-dir, asks the group's leader to add it as a voter, retrying until it is added; its certificate must name its raft-id. Ignored once the replica has raft state, and by a replica raft-peers lists, whose raft-join may only name raft-peers addresses"},
		{Key: keyRaftTLSCA, Usage: "PEM file of the hub CA that signs every peer certificate"},
		{Key: keyRaftTLSCert, Usage: "PEM file of this replica's peer certificate, signed by the hub CA, with DNS names raft.hub.flotilla.dev and the raft-id"},
		{Key: keyRaftTLSKey, Usage: "PEM file of this replica's peer key"},
		{Key: keyRaftDevTLS, Kind: config.Bool, Default: "false", Usage: "development only: issue a throwaway CA and certificate at start instead of raft-tls-*; refused unless the group is this one replica on a loopback address"},
		{Key: keyMemberNamespace, Default: "flotilla-system", Usage: "namespace of the member kubeconfig Secrets (labelled sigs.k8s.io/multicluster-runtime-kubeconfig=true, key kubeconfig; each engages one member cluster, whose placed Rollouts the hub watches); the hub reads Secrets there only"},
		{Key: keyMemberProvider, Default: providerKubeconfig, OneOf: []string{providerKubeconfig, providerNamespace}, Usage: "how member clusters are found: kubeconfig (one per labelled kubeconfig Secret in member-namespace) or namespace (large simulations: every namespace labelled fleet.flotilla.dev/simulated-member=true of the API server of member-namespace-kubeconfig is a member, named like the namespace)"},
		{Key: keyMemberNSConfig, Usage: "with member-provider namespace: kubeconfig of the API server whose labelled namespaces are the members; empty means the hub's own API server"},
		{Key: keyHubAPI, Default: "127.0.0.1:7421", Usage: "host:port of the read-only hub API (raft status, journal history; JSON, no authentication), answered by every replica; keep it on loopback unless something in front authenticates; 0 turns it off", Check: hostPortOrZero},
		{Key: keyProbeInterval, Kind: config.Duration, Default: "10s", Usage: "how often each member's API server is probed for MemberCluster health (the heartbeat that finds a member cut off: its clusters then count as Unknown)"},
	}
}

func hostPorts(v any) error {
	l, _ := v.([]string)
	for _, a := range l {
		if err := hostPort(a); err != nil {
			return fmt.Errorf("%q: %w", a, err)
		}
	}
	return nil
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
	// A fresh replica with raft-join asks to be added while the rest of the hub starts; a
	// refusal for good (its certificate does not name it) stops the hub.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if err := node.Join(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("%s: %w", keyRaftJoin, err)
		}
		return nil
	})); err != nil {
		return err
	}
	opts := replica.Options{MemberNamespace: memberNS, ProbeInterval: cfg.Duration(keyProbeInterval)}
	if cfg.String(keyMemberProvider) == providerNamespace {
		if opts.NamespaceClusters, err = namespaceClusters(cfg); err != nil {
			return err
		}
		log.Info("member clusters are the labelled namespaces of one API server (namespace provider)", "host", opts.NamespaceClusters.Host)
	}
	if err := replica.Setup(ctx, mgr, node, opts); err != nil {
		return err
	}
	// Every replica reports the FleetRollouts and members it caches, leader or not.
	if err := ctrlmetrics.Registry.Register(&fleetrollout.Collector{Reader: mgr.GetCache()}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// namespaceClusters is the API server of the namespace provider's members.
func namespaceClusters(cfg *config.Config) (*rest.Config, error) {
	path := cfg.String(keyMemberNSConfig)
	var c *rest.Config
	var err error
	if path == "" {
		c, err = cli.RESTConfig(cfg)
	} else if c, err = clientcmd.BuildConfigFromFlags("", path); err != nil {
		err = fmt.Errorf("%s: loading %s: %w", keyMemberNSConfig, path, err)
	}
	if err != nil {
		return nil, err
	}
	// Every member shares this API server: the same client-side limits as the hub's own.
	c.QPS, c.Burst = float32(cfg.Int(config.KeyKubeAPIQPS)), cfg.Int(config.KeyKubeAPIBurst)
	return c, nil
}

// startRaft starts this replica's raft node from the settings.
func startRaft(cfg *config.Config, log logr.Logger) (*raft.Node, error) {
	rc, err := raftConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	return raft.New(rc)
}

// raftConfig turns the settings into the node's config, refusing contradictory ones with an
// error that names them.
func raftConfig(cfg *config.Config, log logr.Logger) (raft.Config, error) {
	id := cfg.String(keyRaftID)
	var peers []raft.Peer
	for _, p := range cfg.Strings(keyRaftPeers) {
		pid, addr, ok := strings.Cut(p, "=")
		if !ok || pid == "" || addr == "" {
			return raft.Config{}, fmt.Errorf("%s: %q is not id=host:port", keyRaftPeers, p)
		}
		peers = append(peers, raft.Peer{ID: pid, Address: addr})
	}
	peers, join, err := membership(id, peers, cfg.Strings(keyRaftJoin))
	if err != nil {
		return raft.Config{}, err
	}
	var tls *raft.PeerTLS
	switch {
	case cfg.Bool(keyRaftDevTLS):
		if len(join) > 0 {
			return raft.Config{}, fmt.Errorf("%s issues a throwaway CA that no running group trusts: to use %s, give %s, %s and %s",
				keyRaftDevTLS, keyRaftJoin, keyRaftTLSCA, keyRaftTLSCert, keyRaftTLSKey)
		}
		if tls, err = devTLS(cfg, id, peers); err != nil {
			return raft.Config{}, err
		}
		log.Info("raft: using a throwaway CA and certificate (raft-dev-ephemeral-tls); never in production")
	default:
		if tls, err = loadTLS(cfg); err != nil {
			return raft.Config{}, err
		}
	}
	return raft.Config{ID: id, DataDir: cfg.String(keyRaftDataDir), BindAddr: cfg.String(keyRaftBind),
		AdvertiseAddr: cfg.String(keyRaftAdvertise), TLS: tls, Peers: peers, Join: join, Logger: log.WithName("raft")}, nil
}

// membership decides between bootstrapping and joining. A replica raft-peers lists
// bootstraps that group (raft-join may then only repeat its addresses, as the chart, which
// gives every replica the same settings, does); one it does not list joins through raft-join.
func membership(id string, peers []raft.Peer, join []string) ([]raft.Peer, []string, error) {
	if len(peers) == 0 {
		return nil, join, nil
	}
	listed := slices.ContainsFunc(peers, func(p raft.Peer) bool { return p.ID == id })
	if !listed {
		if len(join) == 0 {
			return nil, nil, fmt.Errorf("%s does not list this replica (%s=%s): add it there to bootstrap with the group, or set %s to join the running group",
				keyRaftPeers, keyRaftID, id, keyRaftJoin)
		}
		return nil, join, nil
	}
	for _, a := range join {
		if !slices.ContainsFunc(peers, func(p raft.Peer) bool { return p.Address == a }) {
			return nil, nil, fmt.Errorf("%s names %s, which is not in %s; %s lists this replica (%s=%s), so it bootstraps that group and cannot also join another: drop %s, or drop this replica from %s",
				keyRaftJoin, a, keyRaftPeers, keyRaftPeers, keyRaftID, id, keyRaftJoin, keyRaftPeers)
		}
	}
	return peers, nil, nil
}

// loadTLS reads the hub CA, certificate and key the raft-tls-* settings name.
func loadTLS(cfg *config.Config) (*raft.PeerTLS, error) {
	ca, cert, key := cfg.String(keyRaftTLSCA), cfg.String(keyRaftTLSCert), cfg.String(keyRaftTLSKey)
	if ca == "" || cert == "" || key == "" {
		return nil, fmt.Errorf("raft peers talk mutual TLS only: set %s, %s and %s (or, for one replica on loopback in development, %s)",
			keyRaftTLSCA, keyRaftTLSCert, keyRaftTLSKey, keyRaftDevTLS)
	}
	return raft.LoadPeerTLS(ca, cert, key)
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
