package prometheus

import (
	"testing"
	"time"
)

func TestEvalTime(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		want time.Time
		err  bool
	}{
		{expr: "now()", want: now},
		{expr: ` now( ) - duration("5m") `, want: now.Add(-5 * time.Minute)},
		{expr: `now() - duration('1h') + duration("30s")`, want: now.Add(-time.Hour + 30*time.Second)},
		{expr: `duration("1m") + now()`, want: now.Add(time.Minute)},
		{expr: `date("2026-04-30T10:00:00Z")`, want: time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC)},
		{expr: `now() - (now() - duration("1m"))`, err: true},
		{expr: `duration("5m")`, err: true},
		{expr: `now() - duration("5 minutes")`, err: true},
		{expr: `yesterday()`, err: true},
		{expr: `now() * 2`, err: true},
		{expr: `now() - duration("5m`, err: true},
		{expr: ``, err: true},
	} {
		got, err := evalTime(tc.expr, now)
		if tc.err {
			if err == nil {
				t.Errorf("evalTime(%q) = %v, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("evalTime(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}
