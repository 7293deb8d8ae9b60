package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// validate checks what the schema cannot: that the selector matches the template, that
// durations parse, that steps are consistent with the traffic routing, that the Services
// exist. It returns the InvalidSpec reason and message, or an empty message.
func validate(ro *v1alpha1.Rollout, obs Observed) (string, string) {
	spec := &ro.Spec
	if err := validateTemplate(ro, obs); err != nil {
		reason := v1alpha1.RolloutReasonInvalidSpec
		if errors.Is(err, errWorkloadNotFound) {
			reason = v1alpha1.RolloutReasonWorkloadNotFound
		}
		return reason, err.Error()
	}
	if err := validateWorkloadRef(ro); err != nil {
		return v1alpha1.RolloutReasonInvalidSpec, err.Error()
	}
	if err := validatePodMetadata(ro, obs); err != nil {
		return v1alpha1.RolloutReasonInvalidSpec, err.Error()
	}
	if spec.Replicas != nil && *spec.Replicas < 0 {
		return v1alpha1.RolloutReasonInvalidSpec, "spec.replicas must not be negative"
	}
	if spec.MinReadySeconds >= progressDeadline(ro) {
		return v1alpha1.RolloutReasonInvalidSpec, "spec.progressDeadlineSeconds must be greater than spec.minReadySeconds"
	}
	var missing []string
	switch {
	case spec.Strategy.Canary != nil && spec.Strategy.BlueGreen != nil, spec.Strategy.Canary == nil && spec.Strategy.BlueGreen == nil:
		return v1alpha1.RolloutReasonInvalidSpec, "exactly one of spec.strategy.canary and spec.strategy.blueGreen must be set"
	case spec.Strategy.Canary != nil:
		if err := validateCanary(ro); err != nil {
			return v1alpha1.RolloutReasonInvalidSpec, err.Error()
		}
		c := spec.Strategy.Canary
		missing = missingServices(obs, c.CanaryService, c.StableService)
	default:
		if err := validateBlueGreen(ro); err != nil {
			return v1alpha1.RolloutReasonInvalidSpec, err.Error()
		}
		b := spec.Strategy.BlueGreen
		missing = missingServices(obs, b.ActiveService, b.PreviewService)
	}
	if len(missing) > 0 {
		return v1alpha1.RolloutReasonServiceNotFound, fmt.Sprintf("Service %s not found", strings.Join(missing, ", "))
	}
	return "", ""
}

var errWorkloadNotFound = errors.New("the workload spec.workloadRef names was not found")

func validateTemplate(ro *v1alpha1.Rollout, obs Observed) error {
	tmpl := ro.Spec.Template
	switch {
	case ro.Spec.Template != nil && ro.Spec.WorkloadRef != nil:
		return errors.New("exactly one of spec.template and spec.workloadRef must be set")
	case ro.Spec.Template == nil && ro.Spec.WorkloadRef == nil:
		return errors.New("one of spec.template and spec.workloadRef must be set")
	case ro.Spec.Template == nil:
		if obs.Template == nil {
			return fmt.Errorf("%w: %s %s", errWorkloadNotFound, ro.Spec.WorkloadRef.Kind, ro.Spec.WorkloadRef.Name)
		}
		tmpl = obs.Template
	}
	if ro.Spec.Selector == nil {
		if ro.Spec.WorkloadRef == nil {
			return errors.New("spec.selector is required")
		}
		return nil
	}
	if len(ro.Spec.Selector.MatchLabels) == 0 && len(ro.Spec.Selector.MatchExpressions) == 0 {
		return errors.New("spec.selector must not be empty")
	}
	sel, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
	if err != nil {
		return fmt.Errorf("spec.selector: %w", err)
	}
	if !sel.Matches(labels.Set(tmpl.Labels)) {
		return fmt.Errorf("spec.selector %s does not match the template labels %v", sel, tmpl.Labels)
	}
	return nil
}

func missingServices(obs Observed, names ...string) []string {
	var out []string
	for _, n := range names {
		if n == "" {
			continue
		}
		if _, ok := obs.Services[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func validateCanary(ro *v1alpha1.Rollout) error {
	c := ro.Spec.Strategy.Canary
	if err := validateSurge(c.MaxSurge, c.MaxUnavailable, "spec.strategy.canary"); err != nil {
		return err
	}
	if c.PingPong != nil {
		return errors.New("spec.strategy.canary.pingPong is not supported by this spoke agent yet")
	}
	tr := c.TrafficRouting
	maxW := maxTrafficWeight(ro)
	routes := map[string]bool{}
	if tr != nil {
		for _, r := range tr.ManagedRoutes {
			routes[r.Name] = true
		}
	}
	if c.Analysis != nil {
		if len(c.Analysis.Templates) == 0 {
			return errors.New("spec.strategy.canary.analysis needs at least one template")
		}
		if s := c.Analysis.StartingStep; s != nil && (*s < 0 || int(*s) > len(c.Steps)) {
			return fmt.Errorf("spec.strategy.canary.analysis.startingStep %d is outside the %d steps", *s, len(c.Steps))
		}
	}
	for i := range c.Steps {
		if err := validateStep(&c.Steps[i], tr, maxW, routes); err != nil {
			return fmt.Errorf("spec.strategy.canary.steps[%d]: %w", i, err)
		}
	}
	return nil
}

func validateStep(s *v1alpha1.CanaryStep, tr *v1alpha1.RolloutTrafficRouting, maxW int32, routes map[string]bool) error {
	main := 0
	for _, set := range []bool{s.SetWeight != nil, s.Pause != nil, s.Analysis != nil, s.Experiment != nil} {
		if set {
			main++
		}
	}
	if main > 1 {
		return errors.New("sets more than one of setWeight, pause, analysis and experiment")
	}
	if main == 0 && s.SetCanaryScale == nil && s.SetHeaderRoute == nil && s.SetMirrorRoute == nil && s.Plugin == nil {
		return errors.New("sets nothing")
	}
	if s.Plugin != nil {
		return fmt.Errorf("plugin step %q: step plugins are not supported by this spoke agent", s.Plugin.Name)
	}
	if s.SetWeight != nil && (*s.SetWeight < 0 || *s.SetWeight > maxW) {
		return fmt.Errorf("setWeight %d is outside 0..%d", *s.SetWeight, maxW)
	}
	if s.Pause != nil {
		if _, _, err := pauseDuration(s.Pause); err != nil {
			return err
		}
	}
	if s.Analysis != nil && len(s.Analysis.Templates) == 0 {
		return errors.New("analysis needs at least one template")
	}
	if x := s.Experiment; x != nil {
		if x.Duration != "" {
			if d, err := x.Duration.Duration(); err != nil || d < 0 {
				return fmt.Errorf("experiment.duration %q is not a duration", x.Duration)
			}
		}
		for _, t := range x.Templates {
			if t.SpecRef != v1alpha1.CanarySpecRef && t.SpecRef != v1alpha1.StableSpecRef {
				return fmt.Errorf("experiment template %q: specRef must be canary or stable", t.Name)
			}
			if t.Weight != nil && tr == nil {
				return fmt.Errorf("experiment template %q: weight needs trafficRouting", t.Name)
			}
		}
	}
	if sc := s.SetCanaryScale; sc != nil {
		if tr == nil {
			return errors.New("setCanaryScale needs trafficRouting")
		}
		n := 0
		for _, set := range []bool{sc.Weight != nil, sc.Replicas != nil, sc.MatchTrafficWeight} {
			if set {
				n++
			}
		}
		if n != 1 {
			return errors.New("setCanaryScale must set exactly one of weight, replicas and matchTrafficWeight")
		}
	}
	if r := s.SetHeaderRoute; r != nil && !routes[r.Name] {
		return fmt.Errorf("setHeaderRoute %q is not listed in trafficRouting.managedRoutes", r.Name)
	}
	if r := s.SetMirrorRoute; r != nil && !routes[r.Name] {
		return fmt.Errorf("setMirrorRoute %q is not listed in trafficRouting.managedRoutes", r.Name)
	}
	return nil
}

func validateBlueGreen(ro *v1alpha1.Rollout) error {
	b := ro.Spec.Strategy.BlueGreen
	if b.ActiveService == "" {
		return errors.New("spec.strategy.blueGreen.activeService is required")
	}
	if b.PreviewService == b.ActiveService {
		return errors.New("spec.strategy.blueGreen.previewService must differ from activeService")
	}
	if u := b.MaxUnavailable; u != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(u, 100, false); err != nil || v < 0 {
			return fmt.Errorf("spec.strategy.blueGreen.maxUnavailable %q is not a count or a percentage", u.String())
		}
	}
	limit := int32(defaultRevisionHistoryLimit)
	if ro.Spec.RevisionHistoryLimit != nil {
		limit = *ro.Spec.RevisionHistoryLimit
	}
	if b.ScaleDownDelayRevisionLimit != nil && *b.ScaleDownDelayRevisionLimit > limit {
		return errors.New("spec.strategy.blueGreen.scaleDownDelayRevisionLimit must not be greater than spec.revisionHistoryLimit")
	}
	return nil
}

func validateSurge(surge, unavailable *intstr.IntOrString, path string) error {
	s, u := 1, 1
	var err error
	if surge != nil {
		if s, err = intstr.GetScaledValueFromIntOrPercent(surge, 100, true); err != nil || s < 0 {
			return fmt.Errorf("%s.maxSurge %q is not a count or a percentage", path, surge.String())
		}
	}
	if unavailable != nil {
		if u, err = intstr.GetScaledValueFromIntOrPercent(unavailable, 100, false); err != nil || u < 0 {
			return fmt.Errorf("%s.maxUnavailable %q is not a count or a percentage", path, unavailable.String())
		}
	}
	if s == 0 && u == 0 {
		return fmt.Errorf("%s.maxSurge and maxUnavailable cannot both be zero", path)
	}
	return nil
}

// pauseDuration parses a pause's duration: a number of seconds or a Go duration string.
// ok is false for an indefinite pause.
func pauseDuration(p *v1alpha1.RolloutPause) (d time.Duration, ok bool, err error) {
	if p == nil || p.Duration == nil {
		return 0, false, nil
	}
	if p.Duration.Type == intstr.Int {
		if p.Duration.IntVal < 0 {
			return 0, false, fmt.Errorf("pause.duration %d must not be negative", p.Duration.IntVal)
		}
		return time.Duration(p.Duration.IntVal) * time.Second, true, nil
	}
	d, err = time.ParseDuration(p.Duration.StrVal)
	if err != nil || d < 0 {
		return 0, false, fmt.Errorf("pause.duration %q is not a duration such as 30s, 5m or 1h", p.Duration.StrVal)
	}
	return d, true, nil
}

// maxTrafficWeight is the weight that stands for all the traffic.
func maxTrafficWeight(ro *v1alpha1.Rollout) int32 {
	if c := ro.Spec.Strategy.Canary; c != nil && c.TrafficRouting != nil && c.TrafficRouting.MaxTrafficWeight != nil && *c.TrafficRouting.MaxTrafficWeight > 0 {
		return *c.TrafficRouting.MaxTrafficWeight
	}
	return defaultMaxTrafficWeight
}
