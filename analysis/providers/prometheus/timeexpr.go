package prometheus

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// evalTime evaluates the start or end of a range query. Argo Rollouts evaluates these as
// expr-lang expressions; the forms its documentation uses are covered here:
//
//	now()
//	now() - duration("5m")
//	now() + duration("{{args.offset}}") - duration("1h")
//	date("2026-05-01T10:00:00Z")
//
// that is, now() and date(...) times, duration(...) terms, added and subtracted. Anything
// else is an error that names the expression.
func evalTime(expr string, now time.Time) (time.Time, error) {
	p := &timeParser{src: expr, now: now}
	v, err := p.parse()
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", expr, err)
	}
	if !v.isTime {
		return time.Time{}, fmt.Errorf("%q is a duration, not a time (write now() - duration(...))", expr)
	}
	return v.t, nil
}

type timeValue struct {
	isTime bool
	t      time.Time
	d      time.Duration
}

type timeParser struct {
	src string
	pos int
	now time.Time
}

func (p *timeParser) parse() (timeValue, error) {
	v, err := p.term()
	if err != nil {
		return v, err
	}
	for {
		p.space()
		if p.pos == len(p.src) {
			return v, nil
		}
		op := p.src[p.pos]
		if op != '+' && op != '-' {
			return v, fmt.Errorf("unexpected %q at offset %d", p.src[p.pos:], p.pos)
		}
		p.pos++
		r, err := p.term()
		if err != nil {
			return v, err
		}
		if v, err = combine(v, op, r); err != nil {
			return v, err
		}
	}
}

func combine(l timeValue, op byte, r timeValue) (timeValue, error) {
	switch {
	case l.isTime && !r.isTime:
		if op == '-' {
			return timeValue{isTime: true, t: l.t.Add(-r.d)}, nil
		}
		return timeValue{isTime: true, t: l.t.Add(r.d)}, nil
	case !l.isTime && r.isTime && op == '+':
		return timeValue{isTime: true, t: r.t.Add(l.d)}, nil
	case !l.isTime && !r.isTime:
		if op == '-' {
			return timeValue{d: l.d - r.d}, nil
		}
		return timeValue{d: l.d + r.d}, nil
	case l.isTime && r.isTime && op == '-':
		return timeValue{d: l.t.Sub(r.t)}, nil
	}
	return timeValue{}, fmt.Errorf("cannot %s these two values", map[byte]string{'+': "add", '-': "subtract"}[op])
}

func (p *timeParser) space() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
}

func (p *timeParser) term() (timeValue, error) {
	p.space()
	start := p.pos
	for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || p.src[p.pos] == '_') {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		return timeValue{}, fmt.Errorf("expected now(), duration(...) or date(...) at offset %d", start)
	}
	p.space()
	if p.pos == len(p.src) || p.src[p.pos] != '(' {
		return timeValue{}, fmt.Errorf("expected ( after %s", name)
	}
	p.pos++
	p.space()
	var arg string
	hasArg := false
	if p.pos < len(p.src) && (p.src[p.pos] == '"' || p.src[p.pos] == '\'') {
		s, err := p.str()
		if err != nil {
			return timeValue{}, err
		}
		arg, hasArg = s, true
		p.space()
	}
	if p.pos == len(p.src) || p.src[p.pos] != ')' {
		return timeValue{}, fmt.Errorf("expected ) to close %s(", name)
	}
	p.pos++
	switch {
	case name == "now" && !hasArg:
		return timeValue{isTime: true, t: p.now}, nil
	case name == "duration" && hasArg:
		d, err := time.ParseDuration(arg)
		if err != nil {
			return timeValue{}, err
		}
		return timeValue{d: d}, nil
	case name == "date" && hasArg:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
			if t, err := time.Parse(layout, arg); err == nil {
				return timeValue{isTime: true, t: t}, nil
			}
		}
		return timeValue{}, fmt.Errorf("date(%q): not an RFC 3339 time or a date", arg)
	}
	return timeValue{}, fmt.Errorf("unsupported function %s (use now(), duration(\"5m\") or date(\"2006-01-02T15:04:05Z\"))", name)
}

func (p *timeParser) str() (string, error) {
	quote := p.src[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch {
		case c == quote:
			return b.String(), nil
		case c == '\\' && p.pos < len(p.src):
			b.WriteByte(p.src[p.pos])
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}
