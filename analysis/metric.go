package analysis

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	// DefaultConsecutiveErrorLimit is how many measurement errors in a row a metric tolerates
	// when consecutiveErrorLimit is not set; one more makes the metric Error.
	DefaultConsecutiveErrorLimit = 4
	// DefaultMeasurementRetention is how many measurements a run keeps per metric when no
	// measurementRetention rule sets a limit.
	DefaultMeasurementRetention = 10
	// ErrorRetryInterval is how long after a measurement error the metric is measured again,
	// whatever its interval.
	ErrorRetryInterval = 10 * time.Second
)

// ValidateSpec checks a run's spec once its arguments are resolved: at least one metric,
// unique names, exactly one provider per metric, limits and durations that parse and agree
// with each other (as Argo Rollouts checks them), conditions that compile, and dryRun and
// measurementRetention rules that are valid regular expressions matching at least one
// metric. It returns an *InvalidSpecError naming the first problem. DueTasks and Advance
// check the same, so a controller calls ValidateSpec only to fail early.
func ValidateSpec(spec *v1alpha1.AnalysisRunSpec) error {
	_, err := parseSpec(spec)
	return err
}

// ProviderType returns the name of the provider block that m sets, such as "prometheus" or
// "plugin", or "" when it sets none or several. It is what Provider.Type returns for the
// provider that serves m.
func ProviderType(m *v1alpha1.Metric) string {
	p := &m.Provider
	var found []string
	add := func(set bool, name string) {
		if set {
			found = append(found, name)
		}
	}
	add(p.Prometheus != nil, "prometheus")
	add(p.Kayenta != nil, "kayenta")
	add(p.Web != nil, "web")
	add(p.Datadog != nil, "datadog")
	add(p.Wavefront != nil, "wavefront")
	add(p.NewRelic != nil, "newRelic")
	add(p.Job != nil, "job")
	add(p.CloudWatch != nil, "cloudWatch")
	add(p.Graphite != nil, "graphite")
	add(p.Influxdb != nil, "influxdb")
	add(p.SkyWalking != nil, "skywalking")
	for range p.Plugin {
		found = append(found, "plugin")
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// settings are the parsed, checked settings of one metric.
type settings struct {
	metric *v1alpha1.Metric

	interval     time.Duration
	hasInterval  bool
	initialDelay time.Duration
	// count is the number of measurements to take; unbounded when the metric runs until the
	// run ends.
	count     int32
	unbounded bool

	failureLimit            int32 // -1: no failure limit
	inconclusiveLimit       int32
	consecutiveErrorLimit   int32
	consecutiveSuccessLimit int32 // 0: off

	dryRun    bool
	retention int
}

// runSettings are the parsed settings of every metric of a run, in spec order.
type runSettings struct {
	metrics []settings
	byName  map[string]int
	// hasDryRun is true when the spec has dryRun rules.
	hasDryRun bool
}

// parseSpec parses and checks spec; see ValidateSpec.
func parseSpec(spec *v1alpha1.AnalysisRunSpec) (*runSettings, error) {
	if len(spec.Metrics) == 0 {
		return nil, invalidMetric("metrics", "the run has no metric")
	}
	rs := &runSettings{byName: make(map[string]int, len(spec.Metrics)), hasDryRun: len(spec.DryRun) > 0}
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		if m.Name == "" {
			return nil, invalidMetric(fmt.Sprintf("metrics[%d].name", i), "is empty")
		}
		if _, dup := rs.byName[m.Name]; dup {
			return nil, invalidMetric(fmt.Sprintf("metrics[%d].name", i), "%q is used by two metrics", m.Name)
		}
		s, err := parseMetric(fmt.Sprintf("metrics[%d]", i), m)
		if err != nil {
			return nil, err
		}
		rs.byName[m.Name] = len(rs.metrics)
		rs.metrics = append(rs.metrics, s)
	}

	dry, err := matchRules("dryRun", dryRunNames(spec.DryRun), spec.Metrics)
	if err != nil {
		return nil, err
	}
	for _, matched := range dry {
		for _, mi := range matched {
			rs.metrics[mi].dryRun = true
		}
	}
	retained, err := matchRules("measurementRetention", retentionNames(spec.MeasurementRetention), spec.Metrics)
	if err != nil {
		return nil, err
	}
	for ri, matched := range retained { // a later rule wins, as in Argo Rollouts
		limit := int(spec.MeasurementRetention[ri].Limit)
		if limit < 0 {
			return nil, invalidMetric(fmt.Sprintf("measurementRetention[%d].limit", ri), "must be 0 or more")
		}
		for _, mi := range matched {
			rs.metrics[mi].retention = limit
		}
	}
	for i := range rs.metrics {
		if rs.metrics[i].retention <= 0 {
			rs.metrics[i].retention = DefaultMeasurementRetention
		}
	}
	return rs, nil
}

// parseMetric parses and checks the settings of one metric; field is its path.
func parseMetric(field string, m *v1alpha1.Metric) (settings, error) {
	s := settings{metric: m}
	var err error
	if m.Interval != "" {
		if s.interval, err = parseDuration(field+".interval", m.Interval); err != nil {
			return s, err
		}
		s.hasInterval = true
	}
	if m.InitialDelay != "" {
		if s.initialDelay, err = parseDuration(field+".initialDelay", m.InitialDelay); err != nil {
			return s, err
		}
	}
	count, err := parseLimit(field+".count", m.Count, 0)
	if err != nil {
		return s, err
	}
	if s.failureLimit, err = parseLimit(field+".failureLimit", m.FailureLimit, 0); err != nil {
		return s, err
	}
	if s.inconclusiveLimit, err = parseLimit(field+".inconclusiveLimit", m.InconclusiveLimit, 0); err != nil {
		return s, err
	}
	if s.consecutiveErrorLimit, err = parseLimit(field+".consecutiveErrorLimit", m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit); err != nil {
		return s, err
	}
	if s.consecutiveSuccessLimit, err = parseLimit(field+".consecutiveSuccessLimit", m.ConsecutiveSuccessLimit, 0); err != nil {
		return s, err
	}

	switch {
	case count < 0:
		return s, invalidMetric(field+".count", "must be 0 or more, not %d", count)
	case s.failureLimit < -1:
		return s, invalidMetric(field+".failureLimit", "must be -1 (no failure limit) or 0 or more, not %d", s.failureLimit)
	case s.inconclusiveLimit < 0:
		return s, invalidMetric(field+".inconclusiveLimit", "must be 0 or more, not %d", s.inconclusiveLimit)
	case s.consecutiveErrorLimit < 0:
		return s, invalidMetric(field+".consecutiveErrorLimit", "must be 0 or more, not %d", s.consecutiveErrorLimit)
	case s.consecutiveSuccessLimit < 0:
		return s, invalidMetric(field+".consecutiveSuccessLimit", "must be 0 or more, not %d", s.consecutiveSuccessLimit)
	case s.failureLimit == -1 && s.consecutiveSuccessLimit == 0:
		return s, invalidMetric(field+".failureLimit",
			"-1 turns the failure limit off, so consecutiveSuccessLimit must be more than 0: at least one of them must apply")
	}
	if count > 0 {
		need := s.consecutiveSuccessLimit
		if s.failureLimit > 0 {
			need += s.failureLimit
		}
		if count < need {
			return s, invalidMetric(field+".count",
				"%d is less than failureLimit + consecutiveSuccessLimit (%d): the metric could never reach a verdict", count, need)
		}
		if count < s.inconclusiveLimit {
			return s, invalidMetric(field+".count", "%d is less than inconclusiveLimit (%d)", count, s.inconclusiveLimit)
		}
		if count > 1 && !s.hasInterval {
			return s, invalidMetric(field+".interval", "is required when count is more than 1")
		}
	}
	switch {
	case count > 0:
		s.count = count
	case !s.hasInterval:
		s.count = 1
	default:
		s.unbounded = true
	}

	if ProviderType(m) == "" {
		return s, invalidMetric(field+".provider", "needs exactly one provider")
	}
	for _, c := range []struct{ name, expr string }{
		{"successCondition", m.SuccessCondition},
		{"failureCondition", m.FailureCondition},
	} {
		if strings.TrimSpace(c.expr) == "" {
			continue
		}
		if err := ValidateCondition(c.expr); err != nil {
			ise := AsInvalidSpec(err)
			ise.Field = field + "." + c.name
			ise.Message = fmt.Sprintf("%q %s", shorten(c.expr), ise.Message)
			return s, ise
		}
	}
	return s, nil
}

// parseDuration parses a duration field; placeholders must be resolved by now.
func parseDuration(field string, d v1alpha1.TemplatedDurationString) (time.Duration, error) {
	v, err := d.Duration()
	if err != nil {
		return 0, invalidMetric(field, "%q is not a duration such as 30s or 5m", string(d))
	}
	if v < 0 {
		return 0, invalidMetric(field, "%q is negative", string(d))
	}
	return v, nil
}

// parseLimit reads an integer-or-string field; def is its value when unset. A string must
// hold an integer once its placeholders are resolved.
func parseLimit(field string, v *intstr.IntOrString, def int32) (int32, error) {
	if v == nil {
		return def, nil
	}
	if v.Type == intstr.Int {
		return v.IntVal, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.StrVal), 10, 64)
	if err != nil || n > math.MaxInt32 || n < math.MinInt32 {
		return 0, invalidMetric(field, "%q is not an integer", v.StrVal)
	}
	return int32(n), nil
}

// dryRunNames returns the metricName of each dryRun rule.
func dryRunNames(rules []v1alpha1.DryRun) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.MetricName
	}
	return out
}

// retentionNames returns the metricName of each measurementRetention rule.
func retentionNames(rules []v1alpha1.MeasurementRetention) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.MetricName
	}
	return out
}

// matchRules returns, for each rule, the indexes of the metrics it matches. A rule is a
// regular expression matched anywhere in the name, as in Argo Rollouts (so "error" matches
// "http-error-rate"; anchor it as ^error$ to match one name), or "*" for every metric. A
// rule that is not a valid expression, or that matches no metric, is an error.
func matchRules(kind string, rules []string, metrics []v1alpha1.Metric) ([][]int, error) {
	out := make([][]int, len(rules))
	for ri, rule := range rules {
		field := fmt.Sprintf("%s[%d].metricName", kind, ri)
		match := func(string) bool { return true }
		if rule != "*" {
			re, err := regexp.Compile(rule)
			if err != nil {
				return nil, invalidMetric(field, "%q is not a regular expression: %v", rule, err)
			}
			match = re.MatchString
		}
		for mi := range metrics {
			if match(metrics[mi].Name) {
				out[ri] = append(out[ri], mi)
			}
		}
		if len(out[ri]) == 0 {
			return nil, invalidMetric(field, "%q matches no metric", rule)
		}
	}
	return out, nil
}
