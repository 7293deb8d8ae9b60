package v1alpha1

import (
	"fmt"
	"time"
)

// DurationString is a duration written the way Go and Argo Rollouts write it: a sequence of
// decimal numbers with a unit suffix, such as "30s", "5m", "1h30m" or "1.5h". Valid units
// are ns, us (or µs), ms, s, m and h. "0" is also accepted.
//
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+)$')",message="must be a duration such as 30s, 5m or 1h30m (units: ns, us, ms, s, m, h)"
type DurationString string

// Duration parses the string. It fails on a value that the schema would have refused, which
// only happens when the object did not come through the API server.
func (d DurationString) Duration() (time.Duration, error) {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", string(d), err)
	}
	return v, nil
}
