/*
Copyright 2026 The Flotilla Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package plan

import (
	"fmt"
	"strings"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// Severity says whether a Problem keeps the FleetRollout from going out.
type Severity string

const (
	// SeverityError means the spec cannot be carried out as written; the controller sets the
	// Invalid condition and starts no wave.
	SeverityError Severity = "Error"
	// SeverityWarning means the spec can be carried out but probably does not say what its author
	// meant (an override that matches no cluster, say); the controller reports it in an event
	// and in the Invalid condition's message only if there are errors as well.
	SeverityWarning Severity = "Warning"
)

// Code names one kind of Problem, so that tests and callers need not parse messages.
type Code string

const (
	// CodeInvalidSelector means a label selector does not parse.
	CodeInvalidSelector Code = "InvalidSelector"
	// CodeUnknownCluster means clusterNames names a cluster that has no MemberCluster.
	CodeUnknownCluster Code = "UnknownCluster"
	// CodeNotPlaced means a wave names a MemberCluster that placement does not select.
	CodeNotPlaced Code = "NotPlaced"
	// CodeNoClusters means placement selects no cluster (error), or only clusters in maintenance
	// (warning).
	CodeNoClusters Code = "NoClusters"
	// CodeWaveOverlap means a wave names a cluster that an earlier wave already takes.
	CodeWaveOverlap Code = "WaveOverlap"
	// CodeEmptyWave means a wave selects no placed cluster, or only clusters earlier waves took.
	CodeEmptyWave Code = "EmptyWave"
	// CodeUnwavedCluster means a placed cluster belongs to no wave.
	CodeUnwavedCluster Code = "UnwavedCluster"
	// CodeInvalidWave means a wave's maxConcurrency, maxFailures or bakeTime cannot be read.
	CodeInvalidWave Code = "InvalidWave"
	// CodeInvalidGate means a gate's settings cannot be read, or the gate can never judge a wave
	// (an outlier gate with fewer clusters to compare than its minClusters).
	CodeInvalidGate Code = "InvalidGate"
	// CodeInvalidOverride means an override does not apply to the template (an unknown container,
	// a path outside the allow-list, a value of the wrong shape).
	CodeInvalidOverride Code = "InvalidOverride"
	// CodeUnmatchedOverride means an override matches no placed cluster, or names an unknown one.
	CodeUnmatchedOverride Code = "UnmatchedOverride"
	// CodeInconsistentHistory means the waves that already started, as the caller passed them,
	// contradict each other (one cluster in two started waves).
	CodeInconsistentHistory Code = "InconsistentHistory"
)

// Problem is one reason why a FleetRollout cannot go out as written.
type Problem struct {
	Severity Severity
	Code     Code
	// Field is the spec field at fault, as the API server would name it:
	// "spec.waves[1].clusterNames".
	Field string
	// Message says what is wrong and what to do, naming the waves and clusters involved.
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s", p.Field, p.Message)
}

// Problems are the problems found in one FleetRollout, in the order of the spec's fields.
type Problems []Problem

// Errors returns the problems of severity Error.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns the problems of severity Warning.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

// HasErrors is true when the FleetRollout cannot go out.
func (ps Problems) HasErrors() bool { return len(ps.Errors()) > 0 }

// Has reports whether a problem with the code exists, of any severity.
func (ps Problems) Has(c Code) bool {
	for _, p := range ps {
		if p.Code == c {
			return true
		}
	}
	return false
}

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// maxMessage bounds Message: a condition message may hold 32768 bytes, and a person reads
// the first few problems anyway.
const maxMessage = 4096

// Message joins the problems into one message for a condition or an event, each as
// "field: message", separated by "; ", cut at a few kilobytes with a count of the rest.
func (ps Problems) Message() string {
	var b strings.Builder
	for i, p := range ps {
		s := p.String()
		if i > 0 {
			s = "; " + s
		}
		if b.Len()+len(s) > maxMessage {
			fmt.Fprintf(&b, "; and %d more", len(ps)-i)
			break
		}
		b.WriteString(s)
	}
	return b.String()
}

// Reason is the reason of the Invalid condition for these problems, from conditions.go:
// NoClusters when the only errors are that placement selects no cluster, else InvalidSpec.
// It is empty when there is no error.
func (ps Problems) Reason() string {
	errs := ps.Errors()
	if len(errs) == 0 {
		return ""
	}
	for _, p := range errs {
		if p.Code != CodeNoClusters {
			return fleetv1alpha1.ReasonInvalidSpec
		}
	}
	return fleetv1alpha1.ReasonNoClusters
}

// problems collects problems while a plan is computed.
type problems struct{ list Problems }

func (c *problems) errorf(code Code, field, format string, args ...any) {
	c.list = append(c.list, Problem{Severity: SeverityError, Code: code, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *problems) warnf(code Code, field, format string, args ...any) {
	c.list = append(c.list, Problem{Severity: SeverityWarning, Code: code, Field: field, Message: fmt.Sprintf(format, args...)})
}

// maxNames bounds the cluster names quoted in one message.
const maxNames = 10

// nameList quotes up to maxNames names: "a", "b" and 3 more.
func nameList(names []string) string {
	quoted := make([]string, 0, min(len(names), maxNames))
	for i, n := range names {
		if i == maxNames {
			break
		}
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	s := strings.Join(quoted, ", ")
	if len(names) > maxNames {
		s += fmt.Sprintf(" and %d more", len(names)-maxNames)
	}
	return s
}

// plural returns word with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
