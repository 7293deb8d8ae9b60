package analysis

import (
	"errors"
	"fmt"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// InvalidSpecError reports an analysis that cannot run as written: a condition that does not
// compile, an argument without a value, a limit or duration that does not parse, templates
// that cannot be combined. Retrying does not help; the controller sets the run's InvalidSpec
// condition with Reason and Error() as its message, and the run ends in phase Error.
type InvalidSpecError struct {
	// Reason is the condition reason: v1alpha1.AnalysisRunReasonUnresolvedArgument or
	// v1alpha1.AnalysisRunReasonInvalidMetric.
	Reason string
	// Field is the path of the offending field, such as metrics[0].successCondition or
	// args.api-token; empty when the problem is not about one field.
	Field string
	// Message says what is wrong, in words a user can act on.
	Message string
	// Err is the underlying error, if any.
	Err error
}

// Error returns the field and the message.
func (e *InvalidSpecError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Unwrap returns the underlying error.
func (e *InvalidSpecError) Unwrap() error { return e.Err }

// IsInvalidSpec reports whether err, or an error it wraps, is an *InvalidSpecError.
func IsInvalidSpec(err error) bool {
	var ise *InvalidSpecError
	return errors.As(err, &ise)
}

// AsInvalidSpec returns the *InvalidSpecError that err is or wraps, or nil.
func AsInvalidSpec(err error) *InvalidSpecError {
	var ise *InvalidSpecError
	if errors.As(err, &ise) {
		return ise
	}
	return nil
}

// invalidMetric builds an InvalidSpecError with reason InvalidMetric.
func invalidMetric(field, format string, a ...any) *InvalidSpecError {
	return &InvalidSpecError{
		Reason:  v1alpha1.AnalysisRunReasonInvalidMetric,
		Field:   field,
		Message: fmt.Sprintf(format, a...),
	}
}

// unresolvedArgument builds an InvalidSpecError with reason UnresolvedArgument.
func unresolvedArgument(field, format string, a ...any) *InvalidSpecError {
	return &InvalidSpecError{
		Reason:  v1alpha1.AnalysisRunReasonUnresolvedArgument,
		Field:   field,
		Message: fmt.Sprintf(format, a...),
	}
}
