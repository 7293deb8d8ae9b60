package plugin

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// fleetIcon marks a wave, cluster, gate or approval state with the icons of `get rollout`
// (the kinds share the words Pending and Failed).
func fleetIcon(state string) string {
	switch state {
	case string(fleetv1alpha1.WaveSucceeded), string(fleetv1alpha1.ClusterHealthy), string(fleetv1alpha1.GatePassed),
		string(fleetv1alpha1.ClusterRolledBack), string(fleetv1alpha1.ApprovalApproved):
		return iconHealthy
	case string(fleetv1alpha1.WaveProgressing), string(fleetv1alpha1.WaveBaking), string(fleetv1alpha1.WaveEvaluatingGates),
		string(fleetv1alpha1.WavePending), string(fleetv1alpha1.GateRunning), string(fleetv1alpha1.ClusterRollingBack):
		return iconProgressing
	case string(fleetv1alpha1.ClusterPaused), string(fleetv1alpha1.WaveWaitingForApproval), string(fleetv1alpha1.GateInconclusive):
		return iconPaused
	case string(fleetv1alpha1.WaveFailed), string(fleetv1alpha1.ClusterDegraded), string(fleetv1alpha1.GateError):
		return iconDegraded
	}
	return iconUnknown
}

func iconed(state string) string {
	if state == "" {
		return "-"
	}
	return fleetIcon(state) + " " + state
}

func optInt(v *int32) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// RenderFleet writes what `fleet get` shows: a header, then the grid of waves and their
// clusters (phase, revision, step, weight), then each wave's approvals and gate verdicts.
func RenderFleet(w io.Writer, fro *fleetv1alpha1.FleetRollout, now time.Time) {
	st := &fro.Status
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", fro.Name)
	fmt.Fprintf(tw, "Namespace:\t%s\n", fro.Namespace)
	phase := string(st.Phase)
	if st.ObservedGeneration != fro.Generation {
		phase += fmt.Sprintf(" (the hub has not seen generation %d yet)", fro.Generation)
	}
	fmt.Fprintf(tw, "Status:\t%s\n", iconed(phase))
	if st.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", st.Message)
	}
	fmt.Fprintf(tw, "Revision:\t%d (stable %d)\n", st.CurrentRevision, st.StableRevision)
	if fro.Spec.Paused {
		fmt.Fprintf(tw, "Paused:\tyes (spec.paused; `fleet resume` lets it go on)\n")
	}
	if r := fro.Spec.AbortRevision; r != nil {
		fmt.Fprintf(tw, "Abort:\trevision %d (spec.abortRevision)\n", *r)
	}
	if st.CurrentWave != "" {
		fmt.Fprintf(tw, "Wave:\t%s\n", st.CurrentWave)
	}
	fmt.Fprintf(tw, "Term:\t%d\n", st.Term)
	_ = tw.Flush()

	clusters := map[string][]fleetv1alpha1.ClusterStatus{}
	for _, c := range st.Clusters {
		clusters[c.Wave] = append(clusters[c.Wave], c)
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tWAVE STATUS\tCLUSTER\tSTATUS\tREVISION\tSTEP\tWEIGHT\tAGE\tMESSAGE")
	row := func(wave, wavePhase string, c *fleetv1alpha1.ClusterStatus) {
		if c == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t\t\t\t\t\t\n", wave, wavePhase)
			return
		}
		since := "-"
		if c.LastTransitionTime != nil {
			since = age(c.LastTransitionTime.Time, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", wave, wavePhase, c.Name, iconed(string(c.Phase)), c.Revision,
			optInt(c.Step), optInt(c.Weight), since, oneLine(c.Message))
	}
	grid := func(wave, wavePhase string, cs []fleetv1alpha1.ClusterStatus) {
		if len(cs) == 0 {
			row(wave, wavePhase, nil)
		}
		for i := range cs {
			row(wave, wavePhase, &cs[i])
			wave, wavePhase = "", ""
		}
	}
	for _, ws := range st.Waves {
		grid(ws.Name, iconed(string(ws.Phase)), clusters[ws.Name])
	}
	if left := clusters[""]; len(left) > 0 {
		grid("(no wave)", "", left)
	}
	_ = tw.Flush()

	var checks [][]string
	for _, ws := range st.Waves {
		if a := ws.Approval; a != nil {
			for _, s := range []struct {
				stage string
				st    *fleetv1alpha1.StageApprovalStatus
			}{{"approval before", a.Before}, {"approval after", a.After}} {
				if s.st == nil || s.st.State == fleetv1alpha1.ApprovalNotRequired || s.st.State == "" {
					continue
				}
				msg := ""
				if s.st.ApprovedBy != "" {
					msg = fmt.Sprintf("by %s (%s)", s.st.ApprovedBy, s.st.ApprovalName)
				}
				checks = append(checks, []string{ws.Name, s.stage, iconed(string(s.st.State)), msg})
			}
		}
		for _, g := range ws.Gates {
			scope := "gate"
			if g.Fleet {
				scope = "fleet gate"
			}
			checks = append(checks, []string{ws.Name, scope + " " + g.Name, iconed(string(g.Verdict)), oneLine(g.Message)})
		}
	}
	if len(checks) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WAVE\tCHECK\tVERDICT\tMESSAGE")
	for _, c := range checks {
		fmt.Fprintln(tw, strings.Join(c, "\t"))
	}
	_ = tw.Flush()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// RenderFleetList writes one line per FleetRollout.
func RenderFleetList(w io.Writer, fros []fleetv1alpha1.FleetRollout, withNamespace bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tSTATUS\tWAVE\tREVISION\tSTABLE\tHEALTHY\tMESSAGE")
	for i := range fros {
		fro := &fros[i]
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", fro.Namespace)
		}
		healthy, placed := 0, 0
		for _, c := range fro.Status.Clusters {
			if c.Phase == fleetv1alpha1.ClusterSkipped {
				continue
			}
			placed++
			if c.Phase == fleetv1alpha1.ClusterHealthy && c.Revision == fro.Status.CurrentRevision {
				healthy++
			}
		}
		wave := fro.Status.CurrentWave
		if wave == "" {
			wave = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d/%d\t%s\n", fro.Name, iconed(string(fro.Status.Phase)), wave,
			fro.Status.CurrentRevision, fro.Status.StableRevision, healthy, placed, oneLine(fro.Status.Message))
	}
	_ = tw.Flush()
}
