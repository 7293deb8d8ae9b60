package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// Verdict is the judgement of one measured value.
type Verdict struct {
	// Phase is Successful, Failed, Inconclusive or Error.
	Phase v1alpha1.AnalysisPhase
	// Message explains a phase that is not plain: why a result was Inconclusive, or why a
	// condition could not be evaluated.
	Message string
}

// Evaluate judges a provider's result against a metric's successCondition and
// failureCondition, following the truth table in the package documentation.
//
// The returned error is non-nil exactly when the verdict's phase is Error. It is an
// *InvalidSpecError when a condition does not compile (the spec is wrong, not the
// measurement); any other error means the condition could not be evaluated against this
// result, such as result[0] on an empty vector, which makes the measurement an Error.
// Evaluate never panics, whatever the result holds.
func Evaluate(result any, successCondition, failureCondition string) (Verdict, error) {
	result = normalizeResult(result)
	hasSuccess := strings.TrimSpace(successCondition) != ""
	hasFailure := strings.TrimSpace(failureCondition) != ""

	var succeeded, failed bool
	if hasSuccess {
		ok, err := evalCondition("successCondition", successCondition, result)
		if err != nil {
			return Verdict{Phase: v1alpha1.AnalysisPhaseError, Message: err.Error()}, err
		}
		succeeded = ok
	}
	if hasFailure {
		ok, err := evalCondition("failureCondition", failureCondition, result)
		if err != nil {
			return Verdict{Phase: v1alpha1.AnalysisPhaseError, Message: err.Error()}, err
		}
		failed = ok
	}

	switch {
	case hasSuccess && hasFailure:
		if failed {
			return Verdict{Phase: v1alpha1.AnalysisPhaseFailed}, nil
		}
		if succeeded {
			return Verdict{Phase: v1alpha1.AnalysisPhaseSuccessful}, nil
		}
		return Verdict{
			Phase:   v1alpha1.AnalysisPhaseInconclusive,
			Message: "neither successCondition nor failureCondition holds",
		}, nil
	case hasSuccess:
		if succeeded {
			return Verdict{Phase: v1alpha1.AnalysisPhaseSuccessful}, nil
		}
		return Verdict{Phase: v1alpha1.AnalysisPhaseFailed}, nil
	case hasFailure:
		if failed {
			return Verdict{Phase: v1alpha1.AnalysisPhaseFailed}, nil
		}
	}
	// No condition accepted the result explicitly: success is implied, either because the
	// failureCondition did not hold or because there is no condition at all. A result that
	// carries no usable data cannot support an implied success.
	if why, weak := weakResult(result); weak {
		return Verdict{
			Phase: v1alpha1.AnalysisPhaseInconclusive,
			Message: fmt.Sprintf("%s: without a successCondition that holds, such a result "+
				"is neither a success nor a failure", why),
		}, nil
	}
	return Verdict{Phase: v1alpha1.AnalysisPhaseSuccessful}, nil
}

// EvaluateMetric is Evaluate with the conditions of m.
func EvaluateMetric(m *v1alpha1.Metric, result any) (Verdict, error) {
	return Evaluate(result, m.SuccessCondition, m.FailureCondition)
}

// ValidateCondition compiles expression as a successCondition or failureCondition would be
// compiled, and returns an *InvalidSpecError with reason InvalidMetric when it does not
// compile or cannot produce a boolean. The compiled program is cached for Evaluate.
func ValidateCondition(expression string) error {
	if _, err := compileCondition(expression); err != nil {
		return invalidMetric("", "%s", err.Error())
	}
	return nil
}

// conditionEnv is the environment that conditions are compiled against: result has no static
// type, so that a program compiles once and runs against results of any shape.
type conditionEnv struct {
	Result any `expr:"result"`
}

// conditionOptions are the compile options of every condition: the helpers of Argo Rollouts'
// conditions on top of expr's builtins, and a boolean result.
var conditionOptions = []expr.Option{
	expr.Env(conditionEnv{}),
	expr.AsBool(),
	expr.Function("asInt", unary(asInt), new(func(any) int64)),
	expr.Function("asFloat", unary(asFloat), new(func(any) float64)),
	expr.Function("isNaN", unary(isNaN), new(func(any) bool)),
	expr.Function("isInf", unary(isInf), new(func(any) bool)),
	expr.Function("isNil", unary(func(v any) (any, error) { return isNil(v), nil }), new(func(any) bool)),
	expr.Function("default", defaultValue, new(func(any, any) any)),
}

// maxCachedConditions bounds the cache of compiled conditions. A controller sees a few
// distinct expressions per template; the bound only stops a flood of distinct ones from
// growing memory without limit.
const maxCachedConditions = 512

// maxConditionLength bounds the text of a condition. Real conditions are a line or two; the
// bound keeps the parser's recursion, the cache and error messages small.
const maxConditionLength = 16 << 10

// compiledCondition is a cache entry: the program, or the reason it does not compile.
type compiledCondition struct {
	program *vm.Program
	err     error
}

// conditionCache holds compiled conditions by expression text. Programs are immutable and
// safe to run from several goroutines at once.
var conditionCache = struct {
	sync.Mutex
	entries map[string]compiledCondition
}{entries: map[string]compiledCondition{}}

// compileCondition returns the compiled program of expression, compiling it on first use.
// Compile errors are cached too, since compiling is deterministic.
func compileCondition(expression string) (*vm.Program, error) {
	if len(expression) > maxConditionLength {
		return nil, fmt.Errorf("is longer than %d bytes", maxConditionLength)
	}
	conditionCache.Lock()
	c, ok := conditionCache.entries[expression]
	conditionCache.Unlock()
	if ok {
		return c.program, c.err
	}

	c.program, c.err = compileSafely(expression)

	conditionCache.Lock()
	if len(conditionCache.entries) >= maxCachedConditions {
		for k := range conditionCache.entries { // evict one arbitrary entry
			delete(conditionCache.entries, k)
			break
		}
	}
	conditionCache.entries[expression] = c
	conditionCache.Unlock()
	return c.program, c.err
}

// compileSafely compiles expression, turning a panic inside the compiler into an error.
func compileSafely(expression string) (program *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			program, err = nil, fmt.Errorf("does not compile: %v", r)
		}
	}()
	if strings.TrimSpace(expression) == "" {
		return nil, errors.New("is empty")
	}
	program, err = expr.Compile(expression, conditionOptions...)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %s", exprMessage(err))
	}
	return program, nil
}

// evalCondition runs one condition against result.
func evalCondition(name, expression string, result any) (ok bool, err error) {
	program, err := compileCondition(expression)
	if err != nil {
		return false, &InvalidSpecError{
			Reason:  v1alpha1.AnalysisRunReasonInvalidMetric,
			Field:   name,
			Message: fmt.Sprintf("%q %s", shorten(expression), err.Error()),
			Err:     err,
		}
	}
	defer func() {
		if r := recover(); r != nil { // vm.Run recovers by itself; this is a second net
			ok, err = false, fmt.Errorf("could not evaluate %s %q: %v", name, shorten(expression), r)
		}
	}()
	out, err := expr.Run(program, conditionEnv{Result: result})
	if err != nil {
		msg := exprMessage(err)
		if why, weak := weakResult(result); weak {
			msg += "; " + why
		}
		return false, fmt.Errorf("could not evaluate %s %q: %s", name, shorten(expression), msg)
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("%s %q returned %T, not a boolean", name, shorten(expression), out)
	}
	return b, nil
}

// shorten cuts a condition's text for an error message.
func shorten(expression string) string {
	const keep = 200
	if len(expression) <= keep {
		return expression
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(expression[cut]) {
		cut--
	}
	return expression[:cut] + "..."
}

// exprMessage is the one-line message of an expr error, without the source snippet that expr
// draws over several lines.
func exprMessage(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Line > 0 && fe.Snippet != "" {
			return fmt.Sprintf("%s (line %d, column %d)", fe.Message, fe.Line, fe.Column+1)
		}
		return fe.Message
	}
	return err.Error()
}

// normalizeResult turns what a provider may hand over into what conditions see: the value
// behind a pointer (nil for a nil pointer), and a json.Number as a float64.
func normalizeResult(v any) any {
	if isNil(v) {
		return nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	v = rv.Interface()
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
		return string(n)
	}
	return v
}

// maxWeakScan bounds how many elements weakResult inspects, so a huge vector costs little.
const maxWeakScan = 10000

// weakResult reports whether result carries no usable data for an implied success, and why:
// nil, an empty list or map, a NaN or infinite number, or a list holding any of those.
func weakResult(result any) (string, bool) {
	budget := maxWeakScan
	return weakValue(result, 0, &budget)
}

// weakValue is weakResult for one value at depth, spending one unit of budget per value.
func weakValue(v any, depth int, budget *int) (string, bool) {
	*budget--
	if isNil(v) {
		return "the result is nil (no data)", true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) {
			return "the result is NaN", true
		}
		if math.IsInf(f, 0) {
			return "the result is infinite", true
		}
	case reflect.Map:
		if rv.Len() == 0 {
			return "the result is empty (no data)", true
		}
	case reflect.Slice, reflect.Array:
		if rv.Len() == 0 {
			return "the result is empty (no data)", true
		}
		if depth >= 3 {
			return "", false
		}
		for i := 0; i < rv.Len() && *budget > 0; i++ {
			if why, weak := weakValue(rv.Index(i).Interface(), depth+1, budget); weak {
				return why, true
			}
		}
	}
	return "", false
}

// unary adapts a one-argument helper to expr's function signature.
func unary(fn func(any) (any, error)) func(...any) (any, error) {
	return func(params ...any) (any, error) {
		if len(params) != 1 {
			return nil, fmt.Errorf("takes 1 argument, got %d", len(params))
		}
		return fn(params[0])
	}
}

// toFloat returns v as a float64 when v is a number of any Go numeric type.
func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// describe names a value's type for an error message.
func describe(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

// asInt converts a number or a decimal string to an int64, truncating a fraction.
func asInt(v any) (any, error) {
	v = normalizeResult(v)
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("asInt: %d does not fit in an int64", u)
		}
		return int64(u), nil
	case reflect.Float32, reflect.Float64:
		return floatToInt(rv.Float())
	case reflect.String:
		s := strings.TrimSpace(rv.String())
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("asInt: %q is not an integer", s)
		}
		return i, nil
	}
	return nil, fmt.Errorf("asInt: cannot convert %s to an integer", describe(v))
}

// floatToInt truncates f to an int64, refusing values that have no int64 form.
func floatToInt(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("asInt: %v has no integer value", f)
	}
	if f >= math.MaxInt64 || f < math.MinInt64 {
		return nil, fmt.Errorf("asInt: %g does not fit in an int64", f)
	}
	return int64(f), nil
}

// asFloat converts a number or a numeric string (including "NaN" and "+Inf") to a float64.
func asFloat(v any) (any, error) {
	v = normalizeResult(v)
	if f, ok := toFloat(v); ok {
		return f, nil
	}
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("asFloat: %q is not a number", s)
		}
		return f, nil
	}
	return nil, fmt.Errorf("asFloat: cannot convert %s to a number", describe(v))
}

// isNaN reports whether a number is NaN. Anything that is not a number is an error, so that
// isNaN(result) on a vector or on nil does not quietly read as false.
func isNaN(v any) (any, error) {
	f, ok := toFloat(normalizeResult(v))
	if !ok {
		return nil, fmt.Errorf("isNaN: %s is not a number", describe(v))
	}
	return math.IsNaN(f), nil
}

// isInf reports whether a number is +Inf or -Inf; anything that is not a number is an error.
func isInf(v any) (any, error) {
	f, ok := toFloat(normalizeResult(v))
	if !ok {
		return nil, fmt.Errorf("isInf: %s is not a number", describe(v))
	}
	return math.IsInf(f, 0), nil
}

// defaultValue returns its first argument, or its second when the first is nil.
func defaultValue(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, fmt.Errorf("default takes 2 arguments, got %d", len(params))
	}
	if isNil(params[0]) {
		return params[1], nil
	}
	return normalizeResult(params[0]), nil
}

// isNil reports whether v is nil or a nil pointer, map, slice, channel, function or
// interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
