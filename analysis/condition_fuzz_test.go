package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// FuzzEvaluate feeds arbitrary provider results and conditions to Evaluate. It must never
// panic, must always return one of the four final phases, must return an error exactly when
// the phase is Error, and must never call a result without data Successful unless the
// successCondition held.
//
// The result comes in as JSON text plus a shape selector, because providers hand over
// decoded JSON, float vectors and matrices, bare numbers (NaN and ±Inf included), strings and
// nil.
func FuzzEvaluate(f *testing.F) {
	seeds := []struct {
		result           string
		shape            uint8
		number           float64
		success, failure string
	}{
		{`[0.01]`, shapeVector, 0, "result[0] < 0.05", ""},
		{`[]`, shapeVector, 0, "result[0] < 0.05", "result[0] >= 0.1"},
		{`[]`, shapeVector, 0, "len(result) == 0 || result[0] < 0.05", ""},
		{``, shapeNumber, math.NaN(), "", "result > 0.05"},
		{``, shapeNumber, math.NaN(), "isNaN(result) || result < 0.05", ""},
		{``, shapeNumber, math.Inf(1), "result >= 0.95", "isInf(result)"},
		{``, shapeNumber, math.Inf(-1), "asInt(result) > 0", ""},
		{``, shapeNumber, 1.7976931348623157e308, "result * 10 > result", ""},
		{``, shapeNumber, math.Copysign(0, -1), "1 / result > 0", ""},
		{``, shapeNil, 0, "default(result, 0) < 1", "isNil(result)"},
		{``, shapeNil, 0, "", ""},
		{`{"data":{"result":[{"value":[1,"0.5"]}]}}`, shapeJSON, 0, "asFloat(result.data.result[0].value[1]) < 1", ""},
		{`{"a":{"b":{"c":{"d":[[[[1]]]]}}}}`, shapeJSON, 0, "result.a.b.c.d[0][0][0][0] == 1", ""},
		{`[1e308, 1e308]`, shapeJSON, 0, "sum(result) > 0", ""},
		{`123456789012345678901234567890`, shapeJSON, 0, "asInt(result) > 0", ""},
		{`"NaN"`, shapeJSON, 0, "isNaN(asFloat(result))", ""},
		{`"text"`, shapeString, 0, `result matches "^t"`, `result contains "x"`},
		{`[[1,2],[3]]`, shapeMatrix, 0, "result[1][0] == 3", ""},
		{`null`, shapeJSON, 0, "result.x.y > 1", ""},
		{`[null, 1]`, shapeJSON, 0, "", "result[1] > 5"},
		{`{}`, shapeJSON, 0, "", "len(result) > 0"},
		{`[1,2,3]`, shapeJSON, 0, "all(result, {# > 0}) && reduce(result, #acc + #, 0) == 6", ""},
		{`[1,2,3]`, shapeJSON, 0, "map(1..10, {# * 2})[9] == 20", "filter(result, {# > 1}) == []"},
		{`1`, shapeJSON, 0, "result >", "result ?? "},
		{`1`, shapeJSON, 0, "toJSON(result) == \"1\"", "fromJSON(\"{\") == nil"},
		{`1`, shapeJSON, 0, "repeat(\"a\", 100000000) != \"\"", ""},
		{`1`, shapeJSON, 0, "1..100000000 != nil", ""},
		{`1`, shapeJSON, 0, "duration(\"x\") > duration(\"1s\")", "now() == now()"},
	}
	for _, s := range seeds {
		f.Add(s.result, s.shape, s.number, s.success, s.failure)
	}

	f.Fuzz(func(t *testing.T, raw string, shape uint8, number float64, success, failure string) {
		result := buildResult(raw, shape, number)
		v, err := Evaluate(result, success, failure)

		switch v.Phase {
		case successful, failed, inconclusive, errored:
		default:
			t.Fatalf("phase %q is not final", v.Phase)
		}
		if (err != nil) != (v.Phase == errored) {
			t.Fatalf("phase %s with err %v: an error must come exactly with Error", v.Phase, err)
		}
		if v.Phase != successful {
			return
		}
		why, weak := weakResult(normalizeResult(result))
		if !weak || strings.TrimSpace(success) == "" {
			if weak {
				t.Fatalf("result without data (%s) passed without a successCondition", why)
			}
			return
		}
		// A result without data passed: the successCondition must hold on its own.
		if ok, err := evalCondition("successCondition", success, normalizeResult(result)); err != nil || !ok {
			t.Fatalf("result without data (%s) passed, but the successCondition gives %v, %v", why, ok, err)
		}
	})
}

// Result shapes for FuzzEvaluate.
const (
	shapeJSON uint8 = iota
	shapeNumber
	shapeVector
	shapeMatrix
	shapeString
	shapeNil
	shapeCount
)

// buildResult makes a provider result of the given shape from fuzzed input.
func buildResult(raw string, shape uint8, number float64) any {
	switch shape % shapeCount {
	case shapeNumber:
		return number
	case shapeVector:
		var v []float64
		if json.Unmarshal([]byte(raw), &v) != nil {
			v = []float64{number}
		}
		return v
	case shapeMatrix:
		var m [][]float64
		if json.Unmarshal([]byte(raw), &m) != nil {
			m = [][]float64{{number}, {}}
		}
		return m
	case shapeString:
		return raw
	case shapeNil:
		return nil
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return raw
	}
	return v
}

// TestFuzzSeedsAreJudged keeps FuzzEvaluate honest: its result builder produces the shapes
// it claims.
func TestFuzzSeedsAreJudged(t *testing.T) {
	if _, ok := buildResult(`[1,2]`, shapeVector, 0).([]float64); !ok {
		t.Fatal("vector shape")
	}
	if _, ok := buildResult(`[[1],[2]]`, shapeMatrix, 0).([][]float64); !ok {
		t.Fatal("matrix shape")
	}
	if v := buildResult(`x`, shapeNil, 0); v != nil {
		t.Fatal("nil shape")
	}
	if v, _ := Evaluate(buildResult(`[]`, shapeVector, 0), "result[0] < 1", ""); v.Phase != v1alpha1.AnalysisPhaseError {
		t.Fatalf("empty vector indexed: %s", v.Phase)
	}
}
