package engine

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// cluster is an in-memory cluster for one Rollout: ReplicaSets whose pods become available
// podDelay after they are created, AnalysisRuns and Experiments that finish runDelay after
// they are created with the phase verdict gives them, Services, and a traffic router. It
// applies a plan's actions the way the reconciler does, and checks invariants after each.
type cluster struct {
	t        *testing.T
	ro       *v1alpha1.Rollout
	now      time.Time
	podDelay time.Duration
	// podStagger, when set, makes the pods of one scale-up become available one after the
	// other, this far apart, as a real ReplicaSet's do.
	podStagger time.Duration
	runDelay   time.Duration
	// verdict gives the final phase of an AnalysisRun or Experiment by name.
	verdict func(name string) v1alpha1.AnalysisPhase

	rss    []*simRS
	runs   map[string]*simRun
	exps   map[string]*simRun
	svcs   map[string]string
	router simRouter

	// crash, when set, is asked before each plan is applied how many of its actions to
	// apply; a plan cut short has its status dropped, as when the agent is killed.
	crash func(p Plan) (int, bool)

	// history of persisted (step index, weight) pairs.
	steps   []int32
	weights []int32
	events  []Event
	// checks run after each applied action, and after each status patch with a nil action.
	checks      []func(c *cluster, a Action)
	availBefore int32
	crashes     int
	// completed are the step numbers (from 1) of the applied StepCompleted events.
	completed []int
	// canaryPods is the history of the desired version's replicas.
	canaryPods []int32
	// statusWrites counts the reconciles whose status differed from the one they read.
	statusWrites int
}

func (c *cluster) available() int32 {
	var avail int32
	for _, r := range c.observe().ReplicaSets {
		avail += r.AvailableReplicas
	}
	return avail
}

type simRS struct {
	rs   ReplicaSet
	pods []time.Time // when each pod becomes available
}

type simRun struct {
	created   time.Time
	terminate bool
	hash      string
}

type simRouter struct {
	weight         int32
	additional     []v1alpha1.WeightDestination
	canary, stable string
	routes         map[string]bool
	set            int // SetWeight calls
}

func newCluster(t *testing.T, ro *v1alpha1.Rollout, svcNames ...string) *cluster {
	c := &cluster{
		t: t, ro: ro.DeepCopy(), now: t0, podDelay: 5 * time.Second, runDelay: 20 * time.Second,
		verdict: func(string) v1alpha1.AnalysisPhase { return v1alpha1.AnalysisPhaseSuccessful },
		runs:    map[string]*simRun{}, exps: map[string]*simRun{}, svcs: map[string]string{},
		router: simRouter{routes: map[string]bool{}},
	}
	for _, n := range svcNames {
		c.svcs[n] = ""
	}
	return c
}

func (c *cluster) observe() Observed {
	obs := Observed{Now: c.now, Services: map[string]Service{}}
	for _, s := range c.rss {
		r := s.rs
		r.CurrentReplicas = int32(len(s.pods))
		r.AvailableReplicas, r.ReadyReplicas = 0, 0
		for _, at := range s.pods {
			if !c.now.Before(at) {
				r.AvailableReplicas++
				r.ReadyReplicas++
			}
		}
		obs.ReplicaSets = append(obs.ReplicaSets, r)
	}
	for name, r := range c.runs {
		obs.AnalysisRuns = append(obs.AnalysisRuns, AnalysisRun{Name: name, Phase: c.runPhase(name, r), Terminating: r.terminate, PodTemplateHash: r.hash, CreationTimestamp: r.created})
	}
	sort.Slice(obs.AnalysisRuns, func(i, j int) bool { return obs.AnalysisRuns[i].Name < obs.AnalysisRuns[j].Name })
	for name, r := range c.exps {
		obs.Experiments = append(obs.Experiments, Experiment{Name: name, Phase: c.runPhase(name, r), Terminating: r.terminate, PodTemplateHash: r.hash, CreationTimestamp: r.created})
	}
	for name, sel := range c.svcs {
		obs.Services[name] = Service{Name: name, Selector: sel}
	}
	return obs
}

func (c *cluster) runPhase(name string, r *simRun) v1alpha1.AnalysisPhase {
	switch {
	case r.terminate && c.now.Before(r.created.Add(c.runDelay)):
		return v1alpha1.AnalysisPhaseSuccessful // a terminated run reads Successful
	case c.now.Before(r.created.Add(c.runDelay)):
		return v1alpha1.AnalysisPhaseRunning
	}
	return c.verdict(name)
}

func (c *cluster) find(name string) *simRS {
	for _, s := range c.rss {
		if s.rs.Name == name {
			return s
		}
	}
	c.t.Fatalf("ReplicaSet %s not found", name)
	return nil
}

func (c *cluster) scaleTo(s *simRS, n int32) {
	s.rs.Replicas = n
	at := c.now.Add(c.podDelay)
	for int32(len(s.pods)) < n {
		s.pods = append(s.pods, at)
		at = at.Add(c.podStagger)
	}
	// The ReplicaSet controller deletes the pods that are not available first.
	sort.Slice(s.pods, func(i, j int) bool { return s.pods[i].Before(s.pods[j]) })
	if int32(len(s.pods)) > n {
		s.pods = s.pods[:n]
	}
}

func (c *cluster) apply(a Action) {
	switch a := a.(type) {
	case CreateReplicaSet:
		for _, s := range c.rss {
			if s.rs.Name == a.Name {
				c.t.Fatalf("ReplicaSet %s created twice", a.Name)
			}
		}
		s := &simRS{rs: ReplicaSet{Name: a.Name, PodTemplateHash: a.PodTemplateHash, Revision: a.Revision, CreationTimestamp: c.now, Template: a.Template.DeepCopy(),
			TemplateDigest: a.Annotations[AnnotationTemplateDigest], PodMetadata: parsePodMetadata(a.Annotations[AnnotationPodMetadata])}}
		c.rss = append(c.rss, s)
		c.scaleTo(s, a.Replicas)
	case ScaleReplicaSet:
		c.scaleTo(c.find(a.Name), a.Replicas)
	case AnnotateReplicaSet:
		s := c.find(a.Name)
		for k, v := range a.Set {
			switch k {
			case AnnotationScaleDownDeadline:
				d, err := time.Parse(time.RFC3339, v)
				if err != nil {
					c.t.Fatal(err)
				}
				s.rs.ScaleDownDeadline = &d
			case AnnotationRevision:
				_, _ = fmt.Sscan(v, &s.rs.Revision)
			}
		}
		for _, k := range a.Remove {
			if k == AnnotationScaleDownDeadline {
				s.rs.ScaleDownDeadline = nil
			}
		}
	case DeleteReplicaSet:
		for i, s := range c.rss {
			if s.rs.Name == a.Name {
				c.rss = append(c.rss[:i], c.rss[i+1:]...)
				break
			}
		}
	case SetServiceSelector:
		if _, ok := c.svcs[a.Service]; !ok {
			c.t.Fatalf("Service %s does not exist", a.Service)
		}
		c.svcs[a.Service] = a.PodTemplateHash
	case UpdateRouterHash:
		c.router.canary, c.router.stable = a.CanaryHash, a.StableHash
	case SetWeight:
		c.router.weight, c.router.additional = a.Weight, a.Additional
		c.router.set++
	case SetHeaderRoute:
		c.router.routes[a.Route.Name] = len(a.Route.Match) > 0
	case SetMirrorRoute:
		c.router.routes[a.Route.Name] = len(a.Route.Match) > 0
	case RemoveManagedRoutes:
		c.router.routes = map[string]bool{}
	case CreateAnalysisRun:
		if _, ok := c.runs[a.Name]; ok {
			c.t.Fatalf("AnalysisRun %s created twice", a.Name)
		}
		c.runs[a.Name] = &simRun{created: c.now, hash: a.Labels[LabelPodTemplateHash]}
	case TerminateAnalysisRun:
		c.runs[a.Name].terminate = true
	case CreateExperiment:
		if _, ok := c.exps[a.Name]; ok {
			c.t.Fatalf("Experiment %s created twice", a.Name)
		}
		c.exps[a.Name] = &simRun{created: c.now, hash: a.Labels[LabelPodTemplateHash]}
	case TerminateExperiment:
		c.exps[a.Name].terminate = true
	case DeleteAnalysisRun:
		delete(c.runs, a.Name)
	case DeleteExperiment:
		delete(c.exps, a.Name)
	case SyncPodMetadata:
		c.find(a.ReplicaSet).rs.PodMetadata = a.New.DeepCopy()
	case Event:
		c.events = append(c.events, a)
		// One event tells of a step transition, naming every step it completed.
		for _, part := range strings.Split(a.Message, "; ") {
			var done, total int
			if _, err := fmt.Sscanf(strings.ToUpper(part[:1])+part[1:], "Step %d/%d completed", &done, &total); err == nil && a.Reason == EventReasonStepCompleted {
				c.completed = append(c.completed, done)
			}
		}
	}
}

// reconcile runs the engine once and applies its plan. It reports whether anything changed.
func (c *cluster) reconcile() (Plan, bool) {
	c.t.Helper()
	before, _ := json.Marshal(c.ro.Status)
	plan := Reconcile(c.ro.DeepCopy(), c.observe())
	n, crashed := len(plan.Actions), false
	if c.crash != nil {
		n, crashed = c.crash(plan)
	}
	for _, a := range plan.Actions[:n] {
		c.availBefore = c.available()
		c.apply(a)
		if n, _ := c.pods(imageOf(c.ro)); len(c.canaryPods) == 0 || c.canaryPods[len(c.canaryPods)-1] != n {
			c.canaryPods = append(c.canaryPods, n)
		}
		for _, check := range c.checks {
			check(c, a)
		}
	}
	if crashed {
		c.crashes++
		return plan, true
	}
	c.ro.Status = roundTrip(c.t, plan.Status)
	after, _ := json.Marshal(c.ro.Status)
	if c.ro.Status.CurrentStepIndex != nil {
		idx := *c.ro.Status.CurrentStepIndex
		if len(c.steps) == 0 || c.steps[len(c.steps)-1] != idx {
			c.steps = append(c.steps, idx)
		}
	}
	if len(c.weights) == 0 || c.weights[len(c.weights)-1] != c.router.weight {
		c.weights = append(c.weights, c.router.weight)
	}

	for _, check := range c.checks {
		check(c, nil)
	}
	if string(before) != string(after) {
		c.statusWrites++
	}
	changed := string(before) != string(after) || len(actionStrings(plan)) > 0
	return plan, changed
}

// next is the next time something happens on its own: a pod becomes available, a run ends.
func (c *cluster) next(requeue time.Duration) (time.Time, bool) {
	var best time.Time
	consider := func(t time.Time) {
		if t.After(c.now) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	if requeue > 0 {
		consider(c.now.Add(requeue))
	}
	for _, s := range c.rss {
		for _, at := range s.pods {
			consider(at)
		}
	}
	for _, r := range c.runs {
		consider(r.created.Add(c.runDelay))
	}
	for _, r := range c.exps {
		consider(r.created.Add(c.runDelay))
	}
	return best, !best.IsZero()
}

// settle reconciles, and lets time pass when nothing changes, until until says stop or
// nothing is left to happen. It fails after too many rounds.
func (c *cluster) settle(until func(c *cluster) bool) {
	c.t.Helper()
	for range 2000 {
		plan, changed := c.reconcile()
		if until != nil && until(c) {
			return
		}
		if changed {
			continue
		}
		t, ok := c.next(plan.RequeueAfter)
		if !ok {
			return
		}
		c.now = t
	}
	c.t.Fatalf("did not settle; status: %s", c.describe())
}

func (c *cluster) describe() string {
	st := c.ro.Status
	idx := "-"
	if st.CurrentStepIndex != nil {
		idx = fmt.Sprint(*st.CurrentStepIndex)
	}
	s := fmt.Sprintf("phase=%s step=%s stable=%s current=%s weight=%d msg=%q", st.Phase, idx, st.StableRS, st.CurrentPodHash, c.router.weight, st.Message)
	for _, r := range c.rss {
		o := c.observeRS(r)
		s += fmt.Sprintf(" [%s rev%d %d/%d]", r.rs.PodTemplateHash, r.rs.Revision, o.AvailableReplicas, o.Replicas)
	}
	return s
}

func (c *cluster) observeRS(s *simRS) ReplicaSet {
	for _, r := range c.observe().ReplicaSets {
		if r.Name == s.rs.Name {
			return r
		}
	}
	return ReplicaSet{}
}

// pods returns the replicas and available pods of an image's ReplicaSet.
func (c *cluster) pods(image string) (int32, int32) {
	for _, s := range c.rss {
		if s.rs.PodTemplateHash == hashOf(image) {
			r := c.observeRS(s)
			return r.Replicas, r.AvailableReplicas
		}
	}
	return 0, 0
}

func (c *cluster) setImage(image string) {
	c.ro.Spec.Template = podTemplate(image)
	c.ro.Generation++
}

// promote does what `kubectl flotilla promote` does: it clears the pause conditions.
func (c *cluster) promote() { c.ro.Status.PauseConditions = nil }

func (c *cluster) phase(p v1alpha1.RolloutPhase) bool {
	return c.ro.Status.Phase == p && c.ro.Status.ObservedGeneration == c.ro.Generation
}

func (c *cluster) paused() bool { return c.phase(v1alpha1.RolloutPhasePaused) }

func (c *cluster) healthy() bool { return c.phase(v1alpha1.RolloutPhaseHealthy) }

func (c *cluster) degraded() bool { return c.phase(v1alpha1.RolloutPhaseDegraded) }

// declaredWeight is the weight the canary steps allow at the step status shows.
func declaredWeight(ro *v1alpha1.Rollout) int32 {
	steps := ro.Spec.Strategy.Canary.Steps
	if ro.Status.CurrentStepIndex == nil || int(*ro.Status.CurrentStepIndex) >= len(steps) {
		return maxTrafficWeight(ro)
	}
	for i := *ro.Status.CurrentStepIndex; i >= 0; i-- {
		if w := steps[i].SetWeight; w != nil {
			return *w
		}
	}
	return 0
}

// weightInvariant checks, after every action and with the status as the cluster holds it at
// that moment, that the router never sends the canary more than the step declares. A
// Rollout that is updating to a new revision, or aborted, only lowers the weight.
func weightInvariant(c *cluster, _ Action) {
	ro := c.ro
	if ro.Status.StableRS == ro.Status.CurrentPodHash || ro.Status.CurrentStepIndex == nil {
		return // no update under way: all traffic goes through the stable Service
	}
	if w := declaredWeight(ro); c.router.weight > w && c.router.canary == ro.Status.CurrentPodHash && !ro.Status.Abort {
		c.t.Fatalf("router weight %d above the declared weight %d at step %d", c.router.weight, w, *ro.Status.CurrentStepIndex)
	}
}

// availabilityInvariant checks that the pods that were available stay available, down to
// replicas-maxUnavailable, when pods are removed.
func availabilityInvariant(minAvailable int32) func(c *cluster, a Action) {
	return func(c *cluster, a Action) {
		if _, ok := a.(ScaleReplicaSet); !ok {
			return
		}
		avail := c.available()
		if avail < min(minAvailable, c.availBefore) {
			c.t.Fatalf("after %s only %d pods are available, fewer than %d: %s", a, avail, minAvailable, c.describe())
		}
	}
}

// seededCrash kills the agent at a random point of a random share of the plans.
func seededCrash(seed int64, rate float64) func(p Plan) (int, bool) {
	r := rand.New(rand.NewSource(seed))
	return func(p Plan) (int, bool) {
		if r.Float64() >= rate {
			return len(p.Actions), false
		}
		return r.Intn(len(p.Actions) + 1), true
	}
}

// atIndefinitePause reports whether the Rollout waits for a promote at a pause step with
// no duration.
func atIndefinitePause(c *cluster) bool {
	idx := c.ro.Status.CurrentStepIndex
	steps := c.ro.Spec.Strategy.Canary.Steps
	return c.paused() && idx != nil && int(*idx) < len(steps) && steps[*idx].Pause != nil && steps[*idx].Pause.Duration == nil
}

func imageOf(ro *v1alpha1.Rollout) string { return ro.Spec.Template.Spec.Containers[0].Image }
