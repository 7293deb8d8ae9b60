package plugin

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flotilla-io/flotilla/hub/hubapi"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// `fleet history` and `hub status` read the hub's own read-only API (package hubapi), which
// every flotilla-hub replica serves from its raft node and its replica of the journal. The
// replicas' addresses come from --hub or FLOTILLA_HUB.

// hubFlag adds --hub to cmd and returns a function that resolves the addresses.
func hubFlag(cmd *cobra.Command) func() ([]string, error) {
	var hub string
	cmd.Flags().StringVar(&hub, "hub", "", "hub API of the replicas, host:port[,host:port...]; empty, the default, reads "+hubapi.EnvHub)
	return func() ([]string, error) {
		if hub == "" {
			hub = os.Getenv(hubapi.EnvHub)
		}
		return hubapi.ParseAddresses(hub)
	}
}

func newFleetHistoryCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history NAME [--hub ADDR]",
		Short: "Print the hub journal's entries about a FleetRollout, oldest first",
		Args:  cobra.ExactArgs(1),
	}
	addrs := hubFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		hubs, err := addrs()
		if err != nil {
			return err
		}
		ns, err := o.Namespace()
		if err != nil {
			return err
		}
		h, err := (&hubapi.Client{Addrs: hubs}).History(cmd.Context(), ns, args[0])
		if err != nil {
			return err
		}
		if len(h.Entries) == 0 {
			fmt.Fprintf(o.Streams.Out, "the journal of replica %s holds nothing about fleetrollout %s/%s\n", h.Replica, ns, args[0])
			return nil
		}
		RenderHistory(o.Streams.Out, h.Entries)
		return nil
	}
	return cmd
}

// RenderHistory writes one line per journal entry.
func RenderHistory(w io.Writer, entries []journal.Entry) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tTIME\tTERM\tREVISION\tDECISION\tWAVE\tCLUSTER\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.Index, e.At.UTC().Format(time.RFC3339), e.Term, e.Revision, e.Type,
			dash(e.Wave), dash(e.Cluster), oneLine(entryDetail(&e.Decision)))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// entryDetail says in a few words what the decision holds beyond its type, wave and cluster.
func entryDetail(d *journal.Decision) string {
	var parts []string
	switch {
	case d.Gate != nil:
		parts = append(parts, fmt.Sprintf("gate %s: %s", d.Gate.Name, d.Gate.Verdict))
		if d.Gate.Message != "" {
			parts = append(parts, d.Gate.Message)
		}
	case d.Approval != nil:
		parts = append(parts, fmt.Sprintf("%s approved by %s", d.Approval.Stage, d.Approval.ApprovedBy))
		if d.Approval.ApprovalName != "" {
			parts = append(parts, "FleetApproval "+d.Approval.ApprovalName)
		}
		if d.Approval.Comment != "" {
			parts = append(parts, fmt.Sprintf("%q", d.Approval.Comment))
		}
	case d.Rollback != nil:
		parts = append(parts, fmt.Sprintf("%s to revision %d", d.Rollback.Scope, d.Rollback.ToRevision))
	case d.Deletion != nil:
		parts = append(parts, "policy "+string(d.Deletion.Policy))
		if len(d.Deletion.LeftOn) > 0 {
			parts = append(parts, "left on "+strings.Join(d.Deletion.LeftOn, ","))
		}
	}
	if d.Outcome != "" {
		parts = append(parts, string(d.Outcome))
	}
	if len(d.Clusters) > 0 {
		parts = append(parts, "clusters "+strings.Join(d.Clusters, ","))
	}
	if d.Actor != "" {
		parts = append(parts, "by "+d.Actor)
	}
	if d.Reason != "" {
		parts = append(parts, d.Reason)
	}
	return strings.Join(parts, "; ")
}

func newHubCommand(o *Options) *cobra.Command {
	hub := &cobra.Command{Use: "hub", Short: "Inspect the hub's raft group"}
	status := &cobra.Command{
		Use:   "status [--hub ADDR]",
		Short: "Print each hub replica's raft state, term, commit and applied index and lag, and the peers",
		Long: "status asks every replica named by --hub (or FLOTILLA_HUB) for its view of the raft group. LAG is\n" +
			"how many committed entries the replica has not applied yet, counted from the highest commit index\n" +
			"any replica reported. It exits 1 when a replica does not answer or no replica knows a leader.",
		Args: cobra.NoArgs,
	}
	addrs := hubFlag(status)
	status.RunE = func(cmd *cobra.Command, _ []string) error {
		hubs, err := addrs()
		if err != nil {
			return err
		}
		c := &hubapi.Client{Addrs: hubs}
		sts := make([]hubapi.Status, len(hubs))
		errs := make([]error, len(hubs))
		for i, a := range hubs {
			sts[i], errs[i] = c.Status(cmd.Context(), a)
		}
		return RenderHubStatus(o.Streams.Out, hubs, sts, errs)
	}
	hub.AddCommand(status)
	return hub
}

// RenderHubStatus writes the replicas' states (errs[i] set for a replica that did not
// answer), the leader and the peers, and returns an error when a replica did not answer or
// none knows a leader.
func RenderHubStatus(w io.Writer, addrs []string, sts []hubapi.Status, errs []error) error {
	var commit uint64
	for i := range sts {
		if errs[i] == nil {
			commit = max(commit, sts[i].CommitIndex)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REPLICA\tSTATE\tTERM\tLAST LOG\tCOMMIT\tAPPLIED\tLAG\tLAST CONTACT\tJOURNAL\tAPI")
	var leader hubapi.Peer
	var peers []hubapi.Peer
	var failed []string
	for i, st := range sts {
		if errs[i] != nil {
			fmt.Fprintf(tw, "?\t%s unreachable\t\t\t\t\t\t\t\t%s\n", iconDegraded, addrs[i])
			failed = append(failed, errs[i].Error())
			continue
		}
		lag := uint64(0)
		if commit > st.AppliedIndex {
			lag = commit - st.AppliedIndex
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", st.ID, st.State, st.Term, st.LastLogIndex, st.CommitIndex,
			st.AppliedIndex, lag, dash(st.LastContact), st.JournalEntries, addrs[i])
		if st.Leader.ID != "" && leader.ID == "" {
			leader = st.Leader
		}
		if len(st.Peers) > len(peers) {
			peers = st.Peers
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if leader.ID != "" {
		fmt.Fprintf(w, "Leader: %s (raft %s)\n", leader.ID, leader.Address)
	} else {
		fmt.Fprintln(w, "Leader: none known")
	}
	var ps []string
	for _, p := range peers {
		role := "voter"
		if !p.Voter {
			role = "non-voter"
		}
		ps = append(ps, fmt.Sprintf("%s=%s (%s)", p.ID, p.Address, role))
	}
	fmt.Fprintf(w, "Peers:  %s\n", strings.Join(ps, ", "))
	switch {
	case len(failed) > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d hub replicas did not answer: %s", len(failed), len(addrs), strings.Join(failed, "; "))}
	case leader.ID == "":
		return &ExitError{Code: 1, Err: fmt.Errorf("no hub replica knows a leader")}
	}
	return nil
}
