package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/internal/config"
)

const (
	keyRaftServer  = "raft-server"
	keyRaftTimeout = "raft-timeout"
)

// newRaftCommand is `flotilla-hub raft`: the operator's view and changes of the raft group,
// through the membership API every replica serves on its raft address. It takes the hub's
// settings (so --config reads the replica's settings file), the raft-tls-* files naming the
// client's certificate: a replica's, or an admin one (DNS name admin.raft.hub.flotilla.dev)
// to add a voter other than itself.
func newRaftCommand(settings []config.Setting) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raft",
		Short: "List, add and remove the hub's raft voters (mutual TLS with the hub CA, using the raft-tls-* settings)",
	}
	cmd.AddCommand(
		raftClientCommand("list-peers", "List the raft servers, their suffrage and the leader", cobra.NoArgs, settings,
			func(ctx context.Context, c *raft.MembershipClient, addrs, _ []string, out io.Writer) error {
				servers, leaderID, _, err := c.Servers(ctx, addrs)
				if err != nil {
					return err
				}
				return printServers(out, servers, leaderID)
			}),
		raftClientCommand("add-voter ID ADDRESS", "Add (or move) voter ID, reachable by its peers at the raft address ADDRESS (host:port)",
			cobra.ExactArgs(2), settings,
			func(ctx context.Context, c *raft.MembershipClient, addrs, args []string, out io.Writer) error {
				servers, err := c.AddVoter(ctx, addrs, args[0], args[1])
				if err != nil {
					return err
				}
				return printServers(out, servers, "")
			}),
		raftClientCommand("remove-peer ID", "Remove server ID from the raft group (before scaling its replica away for good)",
			cobra.ExactArgs(1), settings,
			func(ctx context.Context, c *raft.MembershipClient, addrs, args []string, out io.Writer) error {
				servers, err := c.RemoveServer(ctx, addrs, args[0])
				if err != nil {
					return err
				}
				return printServers(out, servers, "")
			}),
	)
	return cmd
}

type raftClientFunc func(ctx context.Context, c *raft.MembershipClient, addrs, args []string, out io.Writer) error

func raftClientCommand(use, short string, args cobra.PositionalArgs, settings []config.Setting, run raftClientFunc) *cobra.Command {
	cfg := config.New(append(append(config.Common(), settings...),
		config.Setting{Key: keyRaftServer, Kind: config.StringList, Check: hostPorts,
			Usage: "raft addresses (host:port) of hub replicas to ask, in order; a follower sends a change on to the leader. Empty means this replica's raft-advertise-address, else raft-bind-address"},
		config.Setting{Key: keyRaftTimeout, Kind: config.Duration, Default: "30s", Usage: "how long the command may take"},
	)...)
	cmd := &cobra.Command{
		Use:           use,
		Short:         short,
		Args:          args,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cfg.Load(cmd.Flags()); err != nil {
				return err
			}
			if cfg.String(keyRaftTLSCA) == "" || cfg.String(keyRaftTLSCert) == "" || cfg.String(keyRaftTLSKey) == "" {
				return fmt.Errorf("set %s, %s and %s: the hub CA, and a certificate it signed with its key (a replica's, or an operator's with the DNS name %s)",
					keyRaftTLSCA, keyRaftTLSCert, keyRaftTLSKey, raft.AdminName)
			}
			tls, err := loadTLS(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), cfg.Duration(keyRaftTimeout))
			defer cancel()
			return run(ctx, &raft.MembershipClient{TLS: tls}, raftServers(cfg), args, cmd.OutOrStdout())
		},
	}
	cfg.AddFlags(cmd.Flags())
	return cmd
}

// raftServers are the addresses to ask: raft-server, else this replica's own address, with
// an unspecified bind host (0.0.0.0) asked on loopback.
func raftServers(cfg *config.Config) []string {
	if s := cfg.Strings(keyRaftServer); len(s) > 0 {
		return s
	}
	if a := cfg.String(keyRaftAdvertise); a != "" {
		return []string{a}
	}
	addr := cfg.String(keyRaftBind)
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return []string{net.JoinHostPort("127.0.0.1", port)}
		}
	}
	return []string{addr}
}

func printServers(out io.Writer, servers []raft.Server, leaderID string) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tADDRESS\tSUFFRAGE\tSTATE")
	for _, s := range servers {
		suffrage, state := "nonvoter", ""
		if s.Voter {
			suffrage = "voter"
		}
		switch {
		case leaderID == "":
		case s.ID == leaderID:
			state = "leader"
		default:
			state = "follower"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.ID, s.Address, suffrage, state)
	}
	return w.Flush()
}
