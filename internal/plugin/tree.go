package plugin

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// Tree is what `get rollout` shows: a Rollout and the objects it owns.
type Tree struct {
	Rollout      *v1alpha1.Rollout
	ReplicaSets  []appsv1.ReplicaSet
	Pods         []corev1.Pod
	AnalysisRuns []v1alpha1.AnalysisRun
	Experiments  []v1alpha1.Experiment
}

// Status icons, as in kubectl argo rollouts.
const (
	iconHealthy     = "✔"
	iconProgressing = "◌"
	iconPaused      = "॥"
	iconDegraded    = "✖"
	iconUnknown     = "?"
)

func phaseIcon(phase string) string {
	switch phase {
	case string(v1alpha1.RolloutPhaseHealthy), string(v1alpha1.AnalysisPhaseSuccessful), "Running", "Ready":
		return iconHealthy
	case string(v1alpha1.RolloutPhaseProgressing), string(v1alpha1.AnalysisPhasePending), "ScaledDown", "Terminating", "ContainerCreating":
		return iconProgressing
	case string(v1alpha1.RolloutPhasePaused), string(v1alpha1.AnalysisPhaseInconclusive):
		return iconPaused
	case string(v1alpha1.RolloutPhaseDegraded), string(v1alpha1.AnalysisPhaseFailed), string(v1alpha1.AnalysisPhaseError):
		return iconDegraded
	}
	return iconUnknown
}

// StrategyName is Canary or BlueGreen.
func StrategyName(ro *v1alpha1.Rollout) string {
	if ro.Spec.Strategy.BlueGreen != nil {
		return "BlueGreen"
	}
	return "Canary"
}

// SetWeight is the weight the steps up to the current one declare (100 when the update is
// done or there are no steps).
func SetWeight(ro *v1alpha1.Rollout) int32 {
	c := ro.Spec.Strategy.Canary
	if c == nil || len(c.Steps) == 0 || ro.Status.CurrentStepIndex == nil || int(*ro.Status.CurrentStepIndex) >= len(c.Steps) {
		return 100
	}
	var w int32
	for i := int32(0); i <= *ro.Status.CurrentStepIndex && int(i) < len(c.Steps); i++ {
		if c.Steps[i].SetWeight != nil {
			w = *c.Steps[i].SetWeight
		}
	}
	return w
}

// ActualWeight is the router's canary weight as status records it, or without a router
// the share of available pods that run the current template.
func ActualWeight(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet) int32 {
	if ro.Status.Canary != nil && ro.Status.Canary.Weights != nil {
		return ro.Status.Canary.Weights.Canary.Weight
	}
	var canary, total int32
	for _, rs := range rss {
		total += rs.Status.AvailableReplicas
		if rs.Labels[engine.LabelPodTemplateHash] == ro.Status.CurrentPodHash {
			canary += rs.Status.AvailableReplicas
		}
	}
	if total == 0 {
		return 0
	}
	return canary * 100 / total
}

// roles are the markers of a ReplicaSet: stable, canary, active, preview.
func roles(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) []string {
	h := rs.Labels[engine.LabelPodTemplateHash]
	var out []string
	if ro.Spec.Strategy.BlueGreen != nil {
		if bg := ro.Status.BlueGreen; bg != nil {
			if h == bg.ActiveSelector {
				out = append(out, "active")
			}
			if h == bg.PreviewSelector && bg.PreviewSelector != bg.ActiveSelector {
				out = append(out, "preview")
			}
		}
		if h == ro.Status.StableRS {
			out = append(out, "stable")
		}
		return out
	}
	if h == ro.Status.StableRS {
		out = append(out, "stable")
	}
	if h == ro.Status.CurrentPodHash && h != ro.Status.StableRS {
		out = append(out, "canary")
	}
	return out
}

// images lists each image of the live ReplicaSets with the roles that run it.
func images(ro *v1alpha1.Rollout, rss []appsv1.ReplicaSet) []string {
	byImage := map[string][]string{}
	var order []string
	for i := range rss {
		rs := &rss[i]
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 && rs.Status.Replicas == 0 {
			continue
		}
		for _, c := range rs.Spec.Template.Spec.Containers {
			if _, ok := byImage[c.Image]; !ok {
				order = append(order, c.Image)
				byImage[c.Image] = nil
			}
			for _, r := range roles(ro, rs) {
				if !contains(byImage[c.Image], r) {
					byImage[c.Image] = append(byImage[c.Image], r)
				}
			}
		}
	}
	sort.Strings(order)
	out := make([]string, len(order))
	for i, img := range order {
		out[i] = img
		if rs := byImage[img]; len(rs) > 0 {
			out[i] += " (" + strings.Join(rs, ", ") + ")"
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Render writes the tree of t as of now.
func Render(w io.Writer, t Tree, now time.Time) {
	ro := t.Rollout
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	field("Name:", ro.Name)
	field("Namespace:", ro.Namespace)
	field("Status:", phaseIcon(string(ro.Status.Phase))+" "+string(ro.Status.Phase))
	if ro.Status.Message != "" {
		field("Message:", ro.Status.Message)
	}
	field("Strategy:", StrategyName(ro))
	if c := ro.Spec.Strategy.Canary; c != nil {
		if len(c.Steps) > 0 {
			step := int32(len(c.Steps))
			if ro.Status.CurrentStepIndex != nil {
				step = *ro.Status.CurrentStepIndex
			}
			field("  Step:", fmt.Sprintf("%d/%d", step, len(c.Steps)))
		}
		field("  SetWeight:", fmt.Sprint(SetWeight(ro)))
		field("  ActualWeight:", fmt.Sprint(ActualWeight(ro, t.ReplicaSets)))
	}
	for i, img := range images(ro, t.ReplicaSets) {
		k := ""
		if i == 0 {
			k = "Images:"
		}
		field(k, img)
	}
	field("Replicas:", "")
	desired := int32(1)
	if ro.Spec.Replicas != nil {
		desired = *ro.Spec.Replicas
	}
	field("  Desired:", fmt.Sprint(desired))
	field("  Current:", fmt.Sprint(ro.Status.Replicas))
	field("  Updated:", fmt.Sprint(ro.Status.UpdatedReplicas))
	field("  Ready:", fmt.Sprint(ro.Status.ReadyReplicas))
	field("  Available:", fmt.Sprint(ro.Status.AvailableReplicas))
	_ = tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(prefix, icon, name, kind, status, age, info string) {
		fmt.Fprintf(tw, "%s%s %s\t%s\t%s\t%s\t%s\n", prefix, icon, name, kind, status, age, info)
	}
	fmt.Fprintf(tw, "NAME\tKIND\tSTATUS\tAGE\tINFO\n")
	row("", "⟳", ro.Name, "Rollout", phaseIcon(string(ro.Status.Phase))+" "+string(ro.Status.Phase), age(ro.CreationTimestamp.Time, now), "")

	revs := revisions(t)
	for i, rev := range revs {
		last := i == len(revs)-1
		fmt.Fprintf(tw, "%s# revision:%d\t\t\t\t\n", branch(last), rev.number)
		children := rev.children(t, ro, now)
		renderChildren(tw, indent(last), children)
	}
	_ = tw.Flush()
}

// node is one line of the tree below a revision.
type node struct {
	icon, name, kind, status, age, info string
	children                            []node
}

func renderChildren(tw io.Writer, prefix string, nodes []node) {
	for i, n := range nodes {
		last := i == len(nodes)-1
		fmt.Fprintf(tw, "%s%s %s\t%s\t%s\t%s\t%s\n", prefix+branch(last), n.icon, n.name, n.kind, n.status, n.age, n.info)
		renderChildren(tw, prefix+indent(last), n.children)
	}
}

func branch(last bool) string {
	if last {
		return "└──"
	}
	return "├──"
}

func indent(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.HumanDuration(now.Sub(t))
}

// revision groups the objects of one pod-template hash.
type revision struct {
	number int64
	hash   string
	rs     *appsv1.ReplicaSet
}

// revisions are the ReplicaSets newest first, by their revision annotation.
func revisions(t Tree) []revision {
	var out []revision
	for i := range t.ReplicaSets {
		rs := &t.ReplicaSets[i]
		out = append(out, revision{number: revisionOf(rs), hash: rs.Labels[engine.LabelPodTemplateHash], rs: rs})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].number != out[j].number {
			return out[i].number > out[j].number
		}
		return out[i].rs.Name < out[j].rs.Name
	})
	return out
}

func (r revision) children(t Tree, ro *v1alpha1.Rollout, now time.Time) []node {
	rs := r.rs
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	status := "Healthy"
	switch {
	case desired == 0 && rs.Status.Replicas == 0:
		status = "ScaledDown"
	case rs.Status.AvailableReplicas < desired || rs.Status.Replicas != desired:
		status = "Progressing"
	}
	info := strings.Join(roles(ro, rs), ",")
	info = strings.TrimLeft(info+fmt.Sprintf(" ready:%d/%d", rs.Status.ReadyReplicas, desired), " ")
	rsNode := node{icon: "⧉", name: rs.Name, kind: "ReplicaSet", status: phaseIcon(status) + " " + status, age: age(rs.CreationTimestamp.Time, now), info: info}
	pods := podsOf(t.Pods, rs)
	for _, p := range pods {
		rsNode.children = append(rsNode.children, podNode(p, now))
	}
	out := []node{rsNode}
	for _, ar := range t.AnalysisRuns {
		if ar.Labels[engine.LabelPodTemplateHash] != r.hash {
			continue
		}
		var ok, bad int32
		for _, m := range ar.Status.MetricResults {
			ok += m.Successful
			bad += m.Failed + m.Error
		}
		phase := string(ar.Status.Phase)
		if phase == "" {
			phase = string(v1alpha1.AnalysisPhasePending)
		}
		out = append(out, node{icon: "α", name: ar.Name, kind: "AnalysisRun", status: phaseIcon(phase) + " " + phase,
			age: age(ar.CreationTimestamp.Time, now), info: fmt.Sprintf("%s %d,%s %d", iconHealthy, ok, iconDegraded, bad)})
	}
	for _, ex := range t.Experiments {
		if ex.Labels[engine.LabelPodTemplateHash] != r.hash {
			continue
		}
		phase := string(ex.Status.Phase)
		if phase == "" {
			phase = string(v1alpha1.AnalysisPhasePending)
		}
		out = append(out, node{icon: "Σ", name: ex.Name, kind: "Experiment", status: phaseIcon(phase) + " " + phase, age: age(ex.CreationTimestamp.Time, now)})
	}
	return out
}

// podsOf are the pods the ReplicaSet controls, by name.
func podsOf(pods []corev1.Pod, rs *appsv1.ReplicaSet) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		for _, ref := range p.OwnerReferences {
			if ref.Controller != nil && *ref.Controller && ref.UID == rs.UID {
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func podNode(p corev1.Pod, now time.Time) node {
	var ready, restarts int32
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
	}
	status := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		status = "Terminating"
	}
	info := fmt.Sprintf("ready:%d/%d", ready, len(p.Spec.Containers))
	if restarts > 0 {
		info += fmt.Sprintf(",restarts:%d", restarts)
	}
	return node{icon: "□", name: p.Name, kind: "Pod", status: phaseIcon(status) + " " + status, age: age(p.CreationTimestamp.Time, now), info: info}
}
