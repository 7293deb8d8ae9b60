package analysis

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

const (
	successful   = v1alpha1.AnalysisPhaseSuccessful
	failed       = v1alpha1.AnalysisPhaseFailed
	inconclusive = v1alpha1.AnalysisPhaseInconclusive
	errored      = v1alpha1.AnalysisPhaseError
	running      = v1alpha1.AnalysisPhaseRunning
	pending      = v1alpha1.AnalysisPhasePending
)

// TestEvaluateTruthTable checks every row of the truth table in the package documentation.
func TestEvaluateTruthTable(t *testing.T) {
	const (
		yes = "true"
		no  = "false"
		bad = "result.nope.deeper > 1" // fails at run time on a number
	)
	tests := []struct {
		success, failure string
		want             v1alpha1.AnalysisPhase
	}{
		{"", "", successful},
		{yes, "", successful},
		{no, "", failed},
		{"", yes, failed},
		{"", no, successful},
		{yes, yes, failed},
		{no, yes, failed},
		{yes, no, successful},
		{no, no, inconclusive},
		{bad, "", errored},
		{bad, yes, errored},
		{"", bad, errored},
		{yes, bad, errored},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("S=%q F=%q", tt.success, tt.failure), func(t *testing.T) {
			v, err := Evaluate(0.5, tt.success, tt.failure)
			if v.Phase != tt.want {
				t.Fatalf("phase = %s (%s), want %s", v.Phase, v.Message, tt.want)
			}
			if (err != nil) != (tt.want == errored) {
				t.Fatalf("err = %v, want an error only for Error", err)
			}
			if err != nil && IsInvalidSpec(err) {
				t.Fatalf("a run-time failure must not be an InvalidSpec: %v", err)
			}
		})
	}
}

func TestEvaluateResults(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	var nilSlice []float64
	var nilPtr *float64
	half := 0.5
	tests := []struct {
		name             string
		result           any
		success, failure string
		want             v1alpha1.AnalysisPhase
	}{
		// The examples of Argo Rollouts' documentation.
		{"NaN accepted explicitly", nan, "isNaN(result) || result >= 0.95", "", successful},
		{"NaN meets neither", nan, "result >= 0.95", "result < 0.95", inconclusive},
		{"NaN fails a lone success condition", nan, "result >= 0.95", "", failed},
		{"+Inf meets the success condition", inf, "result >= 0.95", "", successful},
		{"+Inf caught by failure condition", inf, "", "isInf(result)", failed},
		{"empty vector accepted explicitly", []float64{}, "len(result) == 0 || result[0] >= 0.95", "", successful},
		{"empty vector refused", []float64{}, "len(result) > 0 && result[0] >= 0.95", "", failed},
		{"nil with default", nil, "default(result, 0) < 0.05", "", successful},

		// Results without data never pass by implication.
		{"NaN does not pass a lone failure condition", nan, "", "result > 0.05", inconclusive},
		{"NaN in a vector does not pass a lone failure condition", []float64{nan}, "", "result[0] > 0.05", inconclusive},
		{"Inf does not pass without conditions", inf, "", "", inconclusive},
		{"nil does not pass without conditions", nil, "", "", inconclusive},
		{"empty vector does not pass without conditions", []float64{}, "", "", inconclusive},
		{"empty map does not pass without conditions", map[string]any{}, "", "", inconclusive},
		{"nil slice does not pass without conditions", nilSlice, "", "", inconclusive},
		{"nil pointer does not pass without conditions", nilPtr, "", "", inconclusive},
		{"nil element in a list", []any{1.0, nil}, "", "result[0] > 5", inconclusive},
		{"plain number passes a lone failure condition", 0.01, "", "result > 0.05", successful},
		{"a map with a null field still passes", map[string]any{"a": 1.0, "next": nil}, "", "result.a > 5", successful},

		// Failures to evaluate are Errors, never successes.
		{"index into empty vector", []float64{}, "result[0] < 0.05", "", errored},
		{"index into nil", nil, "result[0] < 0.05", "", errored},
		{"compare nil", nil, "result < 0.05", "", errored},
		{"compare vector with number", []float64{0.01}, "result < 0.05", "", errored},
		{"compare string with number", "0.01", "result < 0.05", "", errored},
		{"isNaN of a vector", []float64{0.01}, "isNaN(result)", "", errored},
		{"isNaN of nil", nil, "isNaN(result)", "", errored},
		{"len of a number", 1.0, "len(result) > 0", "", errored},
		{"expression yields no boolean at run time", map[string]any{"a": 1.0}, "result.a", "", errored},

		// Shapes providers return.
		{"vector", []float64{0.99, 0.2}, "result[0] >= 0.95 && result[1] < 0.5", "", successful},
		{"matrix", [][]float64{{1, 2}, {3, 4}}, "result[1][0] == 3", "", successful},
		{"nested JSON", decodeJSON(t, `{"data":{"items":[{"v":3}]}}`), "result.data.items[0].v == 3", "", successful},
		{"JSON array with builtins", decodeJSON(t, `[1,2,3]`), "all(result, {# > 0}) && sum(result) == 6", "", successful},
		{"string result", "ok", `result == "ok"`, "", successful},
		{"string converted", "0.01", "asFloat(result) < 0.05", "", successful},
		{"integer result", 3, "result == 3 && asInt(result) == 3", "", successful},
		{"pointer is followed", &half, "result == 0.5", "", successful},
		{"json.Number", json.Number("0.25"), "result < 0.5", "", successful},
		{"huge number", 1e308, "result > 1e307", "", successful},
		{"huge number times ten is +Inf", 1e308, "isInf(result * 10)", "", successful},
		{"bool result", true, "result", "", successful},
		{"isNil on a value", 1.0, "!isNil(result)", "", successful},
		{"isNil on nil", nil, "isNil(result)", "", successful},
		{"default keeps a value", 0.2, "default(result, 0) == 0.2", "", successful},
		{"nil-coalescing operator", nil, "(result ?? 1) == 1", "", successful},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Evaluate(tt.result, tt.success, tt.failure)
			if v.Phase != tt.want {
				t.Fatalf("phase = %s (message %q, err %v), want %s", v.Phase, v.Message, err, tt.want)
			}
			if tt.want == errored {
				if err == nil || v.Message == "" {
					t.Fatalf("an Error needs an error and a message, got %v / %q", err, v.Message)
				}
				if IsInvalidSpec(err) {
					t.Fatalf("a failure on this result must not be an InvalidSpec: %v", err)
				}
			}
			if tt.want == inconclusive && v.Message == "" {
				t.Fatal("an Inconclusive verdict should say why")
			}
		})
	}
}

func TestEvaluateErrorMessages(t *testing.T) {
	_, err := Evaluate([]float64{}, "result[0] < 0.05", "")
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"successCondition", `"result[0] < 0.05"`, "no data"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message %q spans several lines", msg)
	}
}

func TestEvaluateInvalidConditions(t *testing.T) {
	tests := []struct {
		name, expression string
	}{
		{"syntax error", "result >"},
		{"unknown variable", "value > 1"},
		{"unknown function", "median2(result) > 1"},
		{"not a boolean", "1 + 2"},
		{"string constant", `"yes"`},
		{"wrong number of arguments", "isNaN(result, 1)"},
		{"unbalanced", "((result > 1)"},
		{"only spaces", "   "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateCondition(tt.expression); !IsInvalidSpec(err) {
				t.Fatalf("ValidateCondition(%q) = %v, want an InvalidSpecError", tt.expression, err)
			}
			if strings.TrimSpace(tt.expression) == "" {
				return // an empty condition is "not set" for Evaluate
			}
			v, err := Evaluate(1.0, tt.expression, "")
			ise := AsInvalidSpec(err)
			if ise == nil {
				t.Fatalf("Evaluate: err = %v, want an InvalidSpecError", err)
			}
			if v.Phase != errored || ise.Reason != v1alpha1.AnalysisRunReasonInvalidMetric || ise.Field != "successCondition" {
				t.Fatalf("got phase %s, reason %q, field %q", v.Phase, ise.Reason, ise.Field)
			}
			if strings.Contains(ise.Error(), "\n") {
				t.Errorf("message %q spans several lines", ise.Error())
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	tests := []struct {
		name, expression string
		result           any
		wantErr          bool
	}{
		{"asInt of a float truncates", "asInt(result) == 2", 2.9, false},
		{"asInt of a string", `asInt(result) == 42`, "42", false},
		{"asInt of a non-integer string", `asInt(result) == 42`, "4.2", true},
		{"asInt of NaN", "asInt(result) == 0", math.NaN(), true},
		{"asInt of +Inf", "asInt(result) == 0", math.Inf(1), true},
		{"asInt beyond int64", "asInt(result) == 0", 1e19, true},
		{"asInt of a uint", "asInt(result) == 7", uint8(7), false},
		{"asInt of nil", "asInt(result) == 0", nil, true},
		{"asInt of a vector", "asInt(result) == 0", []float64{1}, true},
		{"asFloat of a string", "asFloat(result) == 0.5", "0.5", false},
		{"asFloat of NaN text", "isNaN(asFloat(result))", "NaN", false},
		{"asFloat of a huge string is +Inf", "isInf(asFloat(result))", "1e400", false},
		{"asFloat of words", "asFloat(result) == 0", "many", true},
		{"asFloat of a map", "asFloat(result) == 0", map[string]any{"a": 1.0}, true},
		{"isNaN of an int", "!isNaN(result)", 3, false},
		{"isInf of -Inf", "isInf(result)", math.Inf(-1), false},
		{"isInf of a string", "isInf(result)", "Inf", true},
		{"isNil of a nil map", "isNil(result)", map[string]any(nil), false},
		{"default of nil inside a map", "default(result.missing, 7) == 7", map[string]any{"a": 1.0}, false},
		{"default needs two arguments", "default(result) == 1", 1.0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Evaluate(tt.result, tt.expression, "")
			if tt.wantErr {
				if v.Phase != errored {
					t.Fatalf("phase = %s, want Error", v.Phase)
				}
				return
			}
			if err != nil || v.Phase != successful {
				t.Fatalf("phase = %s, err = %v, want Successful", v.Phase, err)
			}
		})
	}
}

func TestConditionCache(t *testing.T) {
	p1, err := compileCondition("result > 41")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := compileCondition("result > 41")
	if p1 != p2 {
		t.Fatal("the same expression should be compiled once")
	}
	_, e1 := compileCondition("result >>> 1")
	_, e2 := compileCondition("result >>> 1")
	if e1 == nil || e1 != e2 { //nolint:errorlint // the cached error itself is expected back
		t.Fatalf("a compile error should be cached: %v / %v", e1, e2)
	}
	for i := range 3 * maxCachedConditions {
		if _, err := compileCondition(fmt.Sprintf("result > %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	conditionCache.Lock()
	n := len(conditionCache.entries)
	conditionCache.Unlock()
	if n > maxCachedConditions {
		t.Fatalf("cache holds %d entries, bound is %d", n, maxCachedConditions)
	}
}

func TestEvaluateConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				x := float64(i*1000 + j)
				v, err := Evaluate([]float64{x}, "result[0] >= 0", "isNaN(result[0])")
				if err != nil || v.Phase != successful {
					t.Errorf("Evaluate(%v) = %s, %v", x, v.Phase, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestEvaluateMetric(t *testing.T) {
	m := &v1alpha1.Metric{SuccessCondition: "result[0] < 0.05", FailureCondition: "result[0] >= 0.1"}
	for _, tt := range []struct {
		v    float64
		want v1alpha1.AnalysisPhase
	}{{0.01, successful}, {0.07, inconclusive}, {0.2, failed}} {
		if v, _ := EvaluateMetric(m, []float64{tt.v}); v.Phase != tt.want {
			t.Errorf("error rate %v: phase %s, want %s", tt.v, v.Phase, tt.want)
		}
	}
}

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
