package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/hubapi/hubtest"
	"github.com/flotilla-io/flotilla/hub/journal"
	"github.com/flotilla-io/flotilla/internal/plugin"
	"github.com/flotilla-io/flotilla/test/harness"
)

// The fleet verbs are tested against a real API server with the hub CRDs and no hub
// controller: each test checks what the verb wrote (the FleetRollout's spec, a FleetApproval),
// which is the whole contract with the hub. `fleet history` and `hub status` are tested
// against real raft replicas with their hub API (hubtest).

const fleetDemo = `
apiVersion: fleet.flotilla.dev/v1alpha1
kind: FleetRollout
metadata:
  name: demo
spec:
  template:
    spec:
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          containers:
            - name: web
              image: web:v2
      strategy:
        canary:
          steps:
            - setWeight: 20
            - pause: {}
  overrides:
    - clusterNames: [west-1]
      replicas: 3
  placement:
    clusterSelector: {}
  waves:
    - name: canary
      clusterNames: [east-1]
      approval: {before: true}
    - name: prod
`

func (f fixture) createFleet(t *testing.T, status func(*fleetv1alpha1.FleetRolloutStatus)) *fleetv1alpha1.FleetRollout {
	t.Helper()
	fro := &fleetv1alpha1.FleetRollout{}
	if err := yaml.UnmarshalStrict([]byte(fleetDemo), fro); err != nil {
		t.Fatal(err)
	}
	fro.Namespace = f.ns
	ctx := context.Background()
	if err := f.c.Create(ctx, fro); err != nil {
		t.Fatal(err)
	}
	if status != nil {
		status(&fro.Status)
		fro.Status.ObservedGeneration = fro.Generation
		if err := f.c.Status().Update(ctx, fro); err != nil {
			t.Fatal(err)
		}
	}
	return fro
}

func (f fixture) getFleet(t *testing.T) *fleetv1alpha1.FleetRollout {
	t.Helper()
	fro := &fleetv1alpha1.FleetRollout{}
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "demo"}, fro); err != nil {
		t.Fatal(err)
	}
	return fro
}

// midway is revision 3 going out: canary done with its gate passed, prod progressing.
func midway(s *fleetv1alpha1.FleetRolloutStatus) {
	now := metav1.Now()
	s.Phase, s.Message, s.CurrentRevision, s.StableRevision, s.CurrentWave, s.Term =
		fleetv1alpha1.FleetRolloutProgressing, "wave prod: 0 of 1 clusters healthy", 3, 2, "prod", 7
	s.Waves = []fleetv1alpha1.WaveStatus{
		{Name: "canary", Phase: fleetv1alpha1.WaveSucceeded, Clusters: []string{"east-1"}, StartedAt: &now,
			Approval: &fleetv1alpha1.WaveApprovalStatus{
				Before: &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalApproved, ApprovedBy: "alice", ApprovalName: "demo-ok"},
				After:  &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalNotRequired}},
			Gates: []fleetv1alpha1.GateStatus{{Name: "healthy", Fleet: true, Verdict: fleetv1alpha1.GatePassed, Message: "1 of 1 clusters healthy"}}},
		{Name: "prod", Phase: fleetv1alpha1.WaveProgressing, Clusters: []string{"west-1"}, StartedAt: &now},
	}
	s.Clusters = []fleetv1alpha1.ClusterStatus{
		{Name: "east-1", Wave: "canary", Phase: fleetv1alpha1.ClusterHealthy, Revision: 3, Step: ptr.To[int32](2), Weight: ptr.To[int32](100), LastTransitionTime: &now},
		{Name: "west-1", Wave: "prod", Phase: fleetv1alpha1.ClusterProgressing, Revision: 3, Step: ptr.To[int32](0), Weight: ptr.To[int32](20), Message: "paused at step 1"},
		{Name: "lab-1", Phase: fleetv1alpha1.ClusterSkipped, Message: "maintenance"},
	}
}

func TestFleetGetAndList(t *testing.T) {
	f := setup(t)
	f.createFleet(t, midway)

	out := f.mustRun(t, "fleet", "get", "demo")
	lines := strings.Split(out, "\n")
	has := func(fields ...string) bool {
		for _, l := range lines {
			if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") ||
				strings.HasPrefix(strings.Join(strings.Fields(l), " "), strings.Join(fields, " ")+" ") {
				return true
			}
		}
		return false
	}
	for _, want := range [][]string{
		{"Status:", "◌", "Progressing"},
		{"Revision:", "3", "(stable", "2)"},
		{"canary", "✔", "Succeeded", "east-1", "✔", "Healthy", "3", "2", "100"},
		{"prod", "◌", "Progressing", "west-1", "◌", "Progressing", "3", "0", "20", "-", "paused", "at", "step", "1"},
		{"(no", "wave)", "lab-1", "?", "Skipped"},
		{"canary", "approval", "before", "✔", "Approved", "by", "alice", "(demo-ok)"},
		{"canary", "fleet", "gate", "healthy", "✔", "Passed", "1", "of", "1", "clusters", "healthy"},
	} {
		if !has(want...) {
			t.Errorf("fleet get has no line %q:\n%s", strings.Join(want, " "), out)
		}
	}
	if strings.Contains(out, "approval after") {
		t.Errorf("fleet get shows an approval the wave does not ask for:\n%s", out)
	}

	out = f.mustRun(t, "fleet", "list")
	if !strings.Contains(out, "demo  ◌ Progressing  prod  3         2       1/2") {
		t.Errorf("fleet list:\n%s", out)
	}

	// --watch renders again on a change, and --timeout ends it.
	go func() {
		time.Sleep(time.Second)
		fro := f.getFleet(t)
		fro.Status.Phase = fleetv1alpha1.FleetRolloutFailed
		_ = f.c.Status().Update(context.Background(), fro)
	}()
	out = f.mustRun(t, "fleet", "get", "demo", "--watch", "--timeout", "4s")
	if !strings.Contains(out, "◌ Progressing") || !strings.Contains(out, "Status:     ✖ Failed") {
		t.Errorf("fleet get --watch did not render the change from Progressing to Failed:\n%s", out)
	}
}

func TestFleetPauseResumeAbort(t *testing.T) {
	f := setup(t)
	f.createFleet(t, nil)
	if _, err := f.run(t, "fleet", "abort", "demo"); err == nil || !strings.Contains(err.Error(), "status.currentRevision") {
		t.Errorf("abort before the hub numbered a revision: %v, want an error naming status.currentRevision", err)
	}

	f.mustRun(t, "fleet", "pause", "demo")
	if !f.getFleet(t).Spec.Paused {
		t.Error("fleet pause did not set spec.paused")
	}
	f.mustRun(t, "fleet", "resume", "demo")
	if f.getFleet(t).Spec.Paused {
		t.Error("fleet resume did not clear spec.paused")
	}

	fro := f.getFleet(t)
	fro.Status.CurrentRevision = 4
	if err := f.c.Status().Update(context.Background(), fro); err != nil {
		t.Fatal(err)
	}
	out := f.mustRun(t, "fleet", "abort", "demo")
	if got := f.getFleet(t).Spec.AbortRevision; got == nil || *got != 4 {
		t.Errorf("fleet abort set spec.abortRevision to %v, want 4 (the current revision)", got)
	}
	if !strings.Contains(out, "revision 4 aborted") {
		t.Errorf("fleet abort said %q", out)
	}
}

// fleet retry asks the hub for a retry with a new token each time: two retries are two
// requests, never one the hub already handled.
func TestFleetRetry(t *testing.T) {
	f := setup(t)
	f.createFleet(t, nil)
	if _, err := f.run(t, "fleet", "retry", "demo"); err == nil || !strings.Contains(err.Error(), "status.currentRevision") {
		t.Errorf("retry before the hub numbered a revision: %v, want an error naming status.currentRevision", err)
	}
	fro := f.getFleet(t)
	fro.Status.CurrentRevision, fro.Status.Phase = 3, fleetv1alpha1.FleetRolloutFailed
	if err := f.c.Status().Update(context.Background(), fro); err != nil {
		t.Fatal(err)
	}
	out := f.mustRun(t, "fleet", "retry", "demo")
	first := f.getFleet(t).Annotations[fleetv1alpha1.AnnotationRetryRequestedAt]
	if _, err := time.Parse(time.RFC3339Nano, first); err != nil {
		t.Fatalf("annotation %s = %q after fleet retry, want a time: %v", fleetv1alpha1.AnnotationRetryRequestedAt, first, err)
	}
	if !strings.Contains(out, "retry of revision 3 requested ("+first+")") {
		t.Errorf("fleet retry said %q", out)
	}
	// The hub handled it; a second retry is a new request.
	fro = f.getFleet(t)
	fro.Status.LastHandledRetryAt = first
	if err := f.c.Status().Update(context.Background(), fro); err != nil {
		t.Fatal(err)
	}
	f.mustRun(t, "fleet", "retry", "demo")
	got := f.getFleet(t)
	if second := got.Annotations[fleetv1alpha1.AnnotationRetryRequestedAt]; second == "" || second == first {
		t.Errorf("second fleet retry left the annotation at %q, want a token other than %q", second, first)
	}
	if got.Spec.Paused || got.Spec.AbortRevision != nil {
		t.Errorf("fleet retry changed the spec: %+v", got.Spec)
	}
}

func TestFleetApprove(t *testing.T) {
	f := setup(t)
	f.createFleet(t, func(s *fleetv1alpha1.FleetRolloutStatus) {
		s.CurrentRevision = 3
		s.Phase = fleetv1alpha1.FleetRolloutWaitingForApproval
		s.Waves = []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WaveWaitingForApproval,
			Approval: &fleetv1alpha1.WaveApprovalStatus{Before: &fleetv1alpha1.StageApprovalStatus{State: fleetv1alpha1.ApprovalPending}}},
			{Name: "prod", Phase: fleetv1alpha1.WavePending}}
	})

	// The approver is whoever the API server says the user is: here, alice by impersonation,
	// with the rights an approver needs and no more, and the hub chart's policy that refuses an
	// approval in someone else's name.
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "approver"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"fleetrollouts"}, Verbs: []string{"get"}},
		{APIGroups: []string{fleetv1alpha1.GroupVersion.Group}, Resources: []string{"fleetapprovals"}, Verbs: []string{"create"}},
	}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "approver"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "approver"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "alice"}}}
	for _, o := range []client.Object{role, binding} {
		if err := f.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	installApprovalPolicy(t, f)
	f.mustRun(t, "fleet", "approve", "demo", "--as=alice", "--comment", "dashboards look fine")
	list := &fleetv1alpha1.FleetApprovalList{}
	if err := f.c.List(ctx, list, client.InNamespace(f.ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d FleetApprovals, want 1", len(list.Items))
	}
	want := fleetv1alpha1.FleetApprovalSpec{FleetRollout: "demo", Revision: 3, Wave: "canary", Stage: fleetv1alpha1.ApprovalStageBefore,
		ApprovedBy: "alice", Comment: "dashboards look fine"}
	if got := list.Items[0].Spec; got != want {
		t.Errorf("FleetApproval spec %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wave", "prod"}, "spec.waves[prod].approval is unset"},
		{[]string{"--wave", "nope"}, `--wave "nope" is not in spec.waves (canary, prod)`},
		{[]string{"--wave", "canary", "--stage", "After"}, "spec.waves[canary].approval.after"},
		{[]string{"--stage", "Later"}, `--stage "Later": want Before or After`},
	} {
		_, err := f.run(t, append([]string{"fleet", "approve", "demo"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("approve %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestFleetRollback(t *testing.T) {
	f := setup(t)
	fro := f.createFleet(t, func(s *fleetv1alpha1.FleetRolloutStatus) { s.CurrentRevision, s.StableRevision = 2, 1 })
	// Revision 1, as the hub keeps it: image v1, no overrides, companions.
	old := fro.Spec.Template.DeepCopy()
	old.Spec.Template.Spec.Containers[0].Image = "web:v1"
	data, err := json.Marshal(map[string]any{"template": old, "targetNamespace": f.ns,
		"companions": []runtime.RawExtension{{Raw: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web-config"},"data":{"color":"blue"}}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "demo-1"}, Revision: 1,
		Data: runtime.RawExtension{Raw: data}}
	if err := controllerutil.SetControllerReference(fro, cr, plugin.Scheme()); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(context.Background(), cr); err != nil {
		t.Fatal(err)
	}

	if _, err := f.run(t, "fleet", "rollback", "demo", "--to-revision", "7"); err == nil || !strings.Contains(err.Error(), "revision 7 is not kept") {
		t.Errorf("rollback to a revision not kept: %v", err)
	}
	f.mustRun(t, "fleet", "rollback", "demo")
	got := f.getFleet(t)
	if img := got.Spec.Template.Spec.Template.Spec.Containers[0].Image; img != "web:v1" {
		t.Errorf("image after rollback %q, want web:v1", img)
	}
	if len(got.Spec.Overrides) != 0 || len(got.Spec.Companions) != 1 || got.Spec.TargetNamespace != "" {
		t.Errorf("after rollback: overrides %v, %d companions, targetNamespace %q; want revision 1's: none, 1, unset",
			got.Spec.Overrides, len(got.Spec.Companions), got.Spec.TargetNamespace)
	}
	if len(got.Spec.Waves) != 2 || got.Spec.Waves[0].Approval == nil {
		t.Errorf("rollback changed the waves: %+v", got.Spec.Waves)
	}
}

// `fleet history` and `hub status` against three real raft replicas, each serving the hub
// API; the history is read from a follower.
func TestFleetHistoryAndHubStatus(t *testing.T) {
	f := setup(t)
	g := hubtest.Start(t, 3)
	leader := g.Leader(t)
	d := func(typ journal.Type, wave string) journal.Decision {
		return journal.Decision{Type: typ, Namespace: f.ns, Name: "demo", Revision: 3, Wave: wave}
	}
	started := d(journal.WaveStarted, "canary")
	started.Clusters = []string{"east-1"}
	approved := d(journal.ApprovalGiven, "canary")
	approved.Approval = &journal.Approval{Stage: fleetv1alpha1.ApprovalStageBefore, ApprovedBy: "alice", ApprovalName: "demo-ok"}
	gate := d(journal.GateEvaluated, "canary")
	gate.Gate = &journal.Gate{Name: "healthy", Fleet: true, Verdict: fleetv1alpha1.GatePassed, Message: "1 of 1 clusters healthy"}
	paused := d(journal.Paused, "")
	paused.ID, paused.Reason = paused.NaturalID()+"/g2", "spec.paused set"
	deleted := d(journal.Deleted, "")
	deleted.Clusters, deleted.Reason = []string{"east-1"}, "removed from east-1"
	deleted.Deletion = &journal.Deletion{Policy: fleetv1alpha1.DeletionDelete, UID: "u1", LeftOn: []string{"west-2"}}
	g.Propose(t, approved, started, gate, paused, deleted)

	var follower string
	for i, n := range g.Nodes {
		if n != leader {
			follower = strings.TrimPrefix(g.APIs[i], "http://")
		}
	}
	out := f.mustRun(t, "fleet", "history", "demo", "--hub", follower)
	want := [][]string{
		{"ApprovalGiven", "canary", "-", "Before approved by alice; FleetApproval demo-ok"},
		{"WaveStarted", "canary", "-", "clusters east-1"},
		{"GateEvaluated", "canary", "-", "gate healthy: Passed; 1 of 1 clusters healthy"},
		{"Paused", "-", "-", "spec.paused set"},
		{"Deleted", "-", "-", "policy Delete; left on west-2; clusters east-1; removed from east-1"},
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 {
		t.Fatalf("fleet history printed %d lines, want a header and %d entries:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i+1], fmt.Sprintf("%d         %s", 3, w[0])) || !strings.Contains(lines[i+1], w[3]) ||
			!strings.Contains(lines[i+1], w[1]) {
			t.Errorf("history line %d: %q, want %v", i+1, lines[i+1], w)
		}
	}

	// FLOTILLA_HUB names every replica; each answers, one leads, all agree.
	t.Setenv("FLOTILLA_HUB", strings.Join(g.APIs, ","))
	out = f.mustRun(t, "hub", "status")
	if n := strings.Count(out, " Leader "); n != 1 {
		t.Errorf("hub status shows %d leaders, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, " Follower "); n != 2 {
		t.Errorf("hub status shows %d followers, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "Leader: "+leader.ID()+" (raft "+leader.Addr()+")") {
		t.Errorf("hub status does not name %s as the leader:\n%s", leader.ID(), out)
	}
	if n := strings.Count(out, "(voter)"); n != 3 {
		t.Errorf("hub status lists %d voters, want 3:\n%s", n, out)
	}

	// A replica that does not answer is shown, and fails the command.
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	out, err = f.run(t, "hub", "status", "--hub", g.APIs[0]+","+dead)
	if plugin.ExitCode(err) != 1 || !strings.Contains(out, "unreachable") || !strings.Contains(err.Error(), "1 of 2 hub replicas did not answer") {
		t.Errorf("hub status with a dead replica: exit %d, %v:\n%s", plugin.ExitCode(err), err, out)
	}

	t.Setenv("FLOTILLA_HUB", "")
	if _, err := f.run(t, "fleet", "history", "demo"); err == nil || !strings.Contains(err.Error(), "FLOTILLA_HUB") {
		t.Errorf("history without a hub address: %v, want an error naming FLOTILLA_HUB", err)
	}
}

// installApprovalPolicy applies the hub chart's templates, the approval policy (cluster-wide,
// on the shared API server) and waits until alice can no longer approve in bob's name.
func installApprovalPolicy(t *testing.T, f fixture) {
	t.Helper()
	ctx := context.Background()
	dir, err := harness.RepoPath("charts/flotilla-hub/templates/approval-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := harness.ApplyCRDs(ctx, f.c, dir); err != nil { // applies every manifest, idempotent
		t.Fatalf("installing the approval policy: %v", err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	alice, err := client.New(cfg, client.Options{Scheme: plugin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		forged := &fleetv1alpha1.FleetApproval{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, GenerateName: "forged-"},
			Spec: fleetv1alpha1.FleetApprovalSpec{FleetRollout: "demo", Revision: 3, Wave: "canary",
				Stage: fleetv1alpha1.ApprovalStageBefore, ApprovedBy: "bob"}}
		err := alice.Create(ctx, forged)
		if err != nil && strings.Contains(err.Error(), "spec.approvedBy: bob is not you (alice)") {
			return
		}
		if err == nil {
			// The policy was not loaded yet: the API server admitted it; remove it and retry.
			if err := f.c.Delete(ctx, forged); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice can still approve in bob's name 30s after the policy was installed: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
