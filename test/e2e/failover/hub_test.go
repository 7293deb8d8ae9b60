package failover_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/hub/raft"
	"github.com/flotilla-io/flotilla/test/harness"
)

// replicas is the size of the hub's raft group.
const replicas = 3

// replica is one flotilla-hub process: its raft ID, its ports (kept across restarts, so its
// peers find it again) and its current process.
type replica struct {
	id          string
	dataDir     string
	metricsAddr string
	apiAddr     string
	spec        harness.ProcessSpec
	proc        *harness.Process
	starts      int
}

// hubGroup is the hub's three replicas on the hub cluster, one raft group over mutual TLS on
// loopback, started as hack/fleet starts them.
type hubGroup struct {
	t        *testing.T
	cluster  *harness.Cluster
	replicas []*replica
	http     *http.Client
}

// raftView is what a replica's metrics endpoint says about its raft node.
type raftView struct {
	leader                bool
	term, commit, applied uint64
	decisions             uint64
}

// startHubGroup issues a hub CA and a peer certificate per replica and starts the replicas
// with static peers.
func startHubGroup(t *testing.T, hub *harness.Cluster, bin, dir string) *hubGroup {
	t.Helper()
	ca, err := raft.NewCA("flotilla-failover-test-hub-ca")
	if err != nil {
		t.Fatal(err)
	}
	g := &hubGroup{t: t, cluster: hub, http: &http.Client{Timeout: 2 * time.Second}}
	var peers []string
	raftAddrs := map[string]string{}
	for i := range replicas {
		id := fmt.Sprintf("hub-%d", i)
		raftPort, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		metricsPort, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		apiPort, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		raftAddrs[id] = fmt.Sprintf("127.0.0.1:%d", raftPort)
		peers = append(peers, id+"="+raftAddrs[id])
		g.replicas = append(g.replicas, &replica{id: id, dataDir: filepath.Join(dir, id),
			metricsAddr: fmt.Sprintf("127.0.0.1:%d", metricsPort), apiAddr: fmt.Sprintf("127.0.0.1:%d", apiPort)})
	}
	for _, r := range g.replicas {
		tlsDir := filepath.Join(dir, "pki", r.id)
		if err := ca.WritePeerFiles(tlsDir, r.id); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		r.spec = harness.ProcessSpec{
			Name: "flotilla-" + r.id,
			Path: bin,
			Args: []string{
				"--kubeconfig=" + hub.KubeconfigPath,
				"--raft-id=" + r.id,
				"--raft-bind-address=" + raftAddrs[r.id],
				"--raft-peers=" + strings.Join(peers, ","),
				"--raft-data-dir=" + r.dataDir,
				"--raft-tls-ca=" + filepath.Join(tlsDir, "ca.crt"),
				"--raft-tls-cert=" + filepath.Join(tlsDir, "tls.crt"),
				"--raft-tls-key=" + filepath.Join(tlsDir, "tls.key"),
				"--member-namespace=" + systemNamespace,
				"--member-probe-interval=2s",
				"--metrics-bind-address=" + r.metricsAddr,
				"--hub-api-bind-address=" + r.apiAddr, // each replica its own port, not the shared default
				"--health-probe-bind-address=0",
				"--log-format=text",
			},
			StopTimeout: 10 * time.Second,
		}
		g.start(r)
	}
	return g
}

// start starts (or restarts) a replica's process.
func (g *hubGroup) start(r *replica) {
	g.t.Helper()
	p, err := g.cluster.StartProcess(r.spec)
	if err != nil {
		g.t.Fatal(err)
	}
	r.proc = p
	r.starts++
}

// kill kills the replica with SIGKILL and waits until it is reaped.
func (g *hubGroup) kill(r *replica) {
	g.t.Helper()
	if err := r.proc.Kill(); err != nil {
		g.t.Fatal(err)
	}
}

// scrape reads the replica's raft metrics from its metrics endpoint.
func (g *hubGroup) scrape(ctx context.Context, r *replica) (raftView, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.metricsAddr+"/metrics", nil)
	if err != nil {
		return raftView{}, err
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return raftView{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return raftView{}, fmt.Errorf("%s: GET /metrics: %s", r.id, resp.Status)
	}
	var v raftView
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		n := uint64(f)
		switch name {
		case "flotilla_hub_raft_leader":
			v.leader = n == 1
		case "flotilla_hub_raft_term":
			v.term = n
		case "flotilla_hub_raft_commit_index":
			v.commit = n
		case "flotilla_hub_raft_applied_index":
			v.applied = n
		case "flotilla_hub_journal_decisions":
			v.decisions = n
		default:
			continue
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return raftView{}, err
	}
	if found < 5 {
		return raftView{}, fmt.Errorf("%s: the raft metrics are not served yet", r.id)
	}
	return v, nil
}

// views scrapes every running replica; replicas that do not answer are left out.
func (g *hubGroup) views(ctx context.Context) map[*replica]raftView {
	out := map[*replica]raftView{}
	for _, r := range g.replicas {
		if exited, _ := r.proc.Exited(); exited {
			continue
		}
		if v, err := g.scrape(ctx, r); err == nil {
			out[r] = v
		}
	}
	return out
}

// leaderOf returns the replica that leads in the highest term among the views, or nil.
func leaderOf(views map[*replica]raftView) (*replica, raftView) {
	var lead *replica
	var lv raftView
	for r, v := range views {
		if v.leader && (lead == nil || v.term > lv.term) {
			lead, lv = r, v
		}
	}
	return lead, lv
}

// waitQuorum waits until every replica runs and answers, one of them leads, and every
// follower has applied what the leader had committed when the wait began: then a kill of
// the leader leaves two replicas that can elect a new one. It returns the leader.
func (g *hubGroup) waitQuorum(ctx context.Context, timeout time.Duration) (*replica, raftView) {
	g.t.Helper()
	var lead *replica
	var lv raftView
	var target uint64
	err := harness.WaitFor(ctx, "three hub replicas, a leader, followers caught up", timeout,
		func(ctx context.Context) (bool, string, error) {
			for _, r := range g.replicas {
				if exited, err := r.proc.Exited(); exited {
					return false, "", fmt.Errorf("%s exited (%w); log %s ends with:\n%s", r.proc, err, r.proc.LogPath(), r.proc.LogTail(30))
				}
			}
			views := g.views(ctx)
			if len(views) < replicas {
				return false, fmt.Sprintf("%d of %d replicas answer", len(views), replicas), nil
			}
			lead, lv = leaderOf(views)
			if lead == nil {
				return false, "no replica leads", nil
			}
			if target == 0 {
				target = lv.commit
			}
			for r, v := range views {
				if v.applied < target {
					return false, fmt.Sprintf("%s applied %d of %d", r.id, v.applied, target), nil
				}
			}
			return true, "", nil
		})
	if err != nil {
		g.t.Fatal(err)
	}
	return lead, lv
}

// stopAll waits until the three replicas have applied the same journal (a follower learns
// of the last commit with the leader's next message), then stops them with SIGTERM,
// followers first, so that none of them commits anything after the others stopped.
func (g *hubGroup) stopAll(ctx context.Context) {
	g.t.Helper()
	var lead *replica
	err := harness.WaitFor(ctx, "the three replicas on the same journal", 30*time.Second,
		func(ctx context.Context) (bool, string, error) {
			views := g.views(ctx)
			var lv raftView
			lead, lv = leaderOf(views)
			if len(views) < replicas || lead == nil {
				return false, fmt.Sprintf("%d of %d replicas answer, leader %v", len(views), replicas, lead != nil), nil
			}
			for r, v := range views {
				if v.applied != lv.applied || v.decisions != lv.decisions {
					return false, fmt.Sprintf("%s applied %d entries (%d decisions), the leader %d (%d)", r.id, v.applied,
						v.decisions, lv.applied, lv.decisions), nil
				}
			}
			return true, "", nil
		})
	if err != nil {
		g.t.Error(err)
	}
	var errs []error
	for _, r := range g.replicas {
		if r != lead {
			errs = append(errs, r.proc.Stop(ctx))
		}
	}
	if lead != nil {
		errs = append(errs, lead.proc.Stop(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		g.t.Fatal(err)
	}
}
