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
	"sort"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/journal"
)

// Input is everything Compute needs.
type Input struct {
	// Spec is the FleetRollout's spec. The plan points into it; do not change it while the
	// plan is in use.
	Spec *fleetv1alpha1.FleetRolloutSpec
	// Clusters are all MemberClusters of the hub (see ClustersFrom).
	Clusters []Cluster
	// Started are the waves of the current revision that have started, by wave name, each with
	// the clusters fixed when it started (the journal's WaveStarted clusters, which
	// status.waves[].clusters repeats). A started wave keeps exactly these clusters whatever
	// labels change later. Nil for a revision that has not started.
	Started map[string][]string
}

// StartedFrom returns the waves of the journal's run that started, with their clusters, in the
// shape of Input.Started. It returns nil for a run of another revision than revision.
func StartedFrom(s *journal.RolloutState, revision int64) map[string][]string {
	if s == nil || s.Revision != revision {
		return nil
	}
	var out map[string][]string
	for i := range s.Waves {
		if w := &s.Waves[i]; w.Started {
			if out == nil {
				out = map[string][]string{}
			}
			out[w.Name] = append([]string(nil), w.Clusters...)
		}
	}
	return out
}

// Plan is where the current revision goes: the placed clusters and the ordered waves.
type Plan struct {
	// Placed are the names of the clusters that placement selects, sorted.
	Placed []string
	// Waves are the waves in spec order.
	Waves []Wave
	// Clusters is one entry per placed cluster, sorted by name (the order of
	// status.clusters).
	Clusters []ClusterPlan
}

// Wave is one wave of the plan.
type Wave struct {
	// Name and Index identify the wave in spec.waves; Spec points to it.
	Name  string
	Index int
	Spec  *fleetv1alpha1.Wave
	// CatchAll is true for a wave with neither clusterSelector nor clusterNames, which takes
	// every placed cluster left over.
	CatchAll bool
	// Started is true when Input.Started fixed the wave's clusters.
	Started bool
	// Clusters are the wave's clusters, sorted by name: for a started wave the clusters fixed
	// when it started, otherwise the placed clusters it would take now, without those in
	// maintenance (exactly what status.waves[].clusters shows).
	Clusters []string
	// Maintenance are clusters of the wave that are in maintenance. A wave that has not started
	// leaves them out of Clusters; in a started wave they stay in Clusters and Decide leaves
	// them out unless they were already dispatched.
	Maintenance []string
	// Departed are clusters of a started wave that are no longer placed (their MemberCluster
	// was deleted, or placement stopped selecting it). They take no further part.
	Departed []string
	// Late are placed clusters that this wave would select first but that were not among its
	// clusters when it started (they joined, or left maintenance, later), and that no later
	// wave takes. They take no part in this run; the controller brings them to the stable
	// revision, as for a cluster whose maintenance ended.
	Late []string
}

// ClusterPlan is the plan for one placed cluster.
type ClusterPlan struct {
	Name string
	// Wave is the name of the wave that takes the cluster (or that it is Late for); empty when
	// no wave selects it, which is an UnwavedCluster problem.
	Wave string
	// Maintenance is the MemberCluster's spec.maintenance.
	Maintenance bool
	// Late is true when the cluster is in its wave's Late list.
	Late bool
	// Overrides are the indices in spec.overrides of the overrides that apply to the cluster,
	// in the order they apply.
	Overrides []int
}

// Wave returns the named wave, or nil.
func (p *Plan) Wave(name string) *Wave {
	for i := range p.Waves {
		if p.Waves[i].Name == name {
			return &p.Waves[i]
		}
	}
	return nil
}

// Cluster returns the plan of the named placed cluster, or nil.
func (p *Plan) Cluster(name string) *ClusterPlan {
	i := sort.Search(len(p.Clusters), func(i int) bool { return p.Clusters[i].Name >= name })
	if i < len(p.Clusters) && p.Clusters[i].Name == name {
		return &p.Clusters[i]
	}
	return nil
}

// Compute resolves placement and waves. It always returns a plan, as complete as the input
// allows, together with the problems found; when Problems.HasErrors the controller sets the
// Invalid condition and starts nothing.
func Compute(in Input) (*Plan, Problems) {
	ps := &problems{}
	spec := in.Spec
	ix := newIndex(in.Clusters, ps)

	// Placement: clusters matching the selector together with the named ones.
	pm := newMatcher(spec.Placement.ClusterSelector, spec.Placement.ClusterNames, "spec.placement", ps)
	if unknown := ix.unknownNames(&pm); len(unknown) > 0 {
		ps.errorf(CodeUnknownCluster, "spec.placement.clusterNames",
			"names %s, for which there is no MemberCluster: register the %s or remove the %s",
			nameList(unknown), plural(len(unknown), "cluster"), plural(len(unknown), "name"))
	}
	var placed []*Cluster
	placedSet := make(map[string]bool)
	inMaintenance := 0
	for _, c := range ix.sorted {
		if pm.matches(c) {
			placed = append(placed, c)
			placedSet[c.Name] = true
			if c.Maintenance {
				inMaintenance++
			}
		}
	}
	switch {
	case len(placed) == 0:
		ps.errorf(CodeNoClusters, "spec.placement", "selects no MemberCluster (%d registered)", len(ix.sorted))
	case inMaintenance == len(placed):
		ps.warnf(CodeNoClusters, "spec.placement",
			"every placed cluster (%d) is in maintenance: no wave can start until one leaves maintenance", len(placed))
	}

	a := assigner{spec: spec, ix: &ix, ps: ps, placed: placed, placedSet: placedSet,
		taken: make(map[string]int, len(placed)), lateAt: map[string]int{}}
	a.fixStarted(in.Started)
	for i := range spec.Waves {
		a.assign(i, in.Started)
	}

	p := &Plan{Placed: make([]string, 0, len(placed)), Clusters: make([]ClusterPlan, 0, len(placed))}
	p.Waves = a.waves(in.Started)
	var unwaved []string
	for _, c := range placed {
		p.Placed = append(p.Placed, c.Name)
		cp := ClusterPlan{Name: c.Name, Maintenance: c.Maintenance}
		if i, ok := a.taken[c.Name]; ok {
			cp.Wave = spec.Waves[i].Name
		} else if i, ok := a.lateAt[c.Name]; ok {
			cp.Wave, cp.Late = spec.Waves[i].Name, true
		} else {
			unwaved = append(unwaved, c.Name)
		}
		p.Clusters = append(p.Clusters, cp)
	}
	if len(unwaved) > 0 {
		ps.errorf(CodeUnwavedCluster, "spec.waves",
			"placement selects %s, but no wave selects %s: add %s to a wave, end with a wave that has "+
				"neither clusterSelector nor clusterNames (it takes every cluster left over), or narrow the placement",
			nameList(unwaved), pronoun(len(unwaved)), pronoun(len(unwaved)))
	}

	validateWaves(spec, ps)
	validateGates(spec, p, ps)
	planOverrides(spec, &ix, p, ps)
	return p, ps.list
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// assigner gives each placed cluster to the first wave that selects it.
type assigner struct {
	spec      *fleetv1alpha1.FleetRolloutSpec
	ix        *index
	ps        *problems
	placed    []*Cluster
	placedSet map[string]bool
	// taken maps a cluster to the index of the wave that has it.
	taken map[string]int
	// lateAt maps a cluster to the first started wave that would select it but does not have it.
	lateAt map[string]int
	// fixed maps a started wave's index to its clusters as the caller fixed them.
	fixed map[int][]string
}

// fixStarted gives the clusters of the started waves to those waves first: their membership
// no longer depends on labels.
func (a *assigner) fixStarted(started map[string][]string) {
	a.fixed = map[int][]string{}
	for i := range a.spec.Waves {
		names, ok := started[a.spec.Waves[i].Name]
		if !ok {
			continue
		}
		a.fixed[i] = names
		for _, n := range names {
			if j, dup := a.taken[n]; dup {
				a.ps.errorf(CodeInconsistentHistory, fieldIndex("spec.waves", i),
					"cluster %q was recorded in two started waves, %q and %q", n, a.spec.Waves[j].Name, a.spec.Waves[i].Name)
				continue
			}
			if a.placedSet[n] {
				a.taken[n] = i
			}
		}
	}
}

// assign gives wave i the placed clusters it selects that no earlier wave took, and reports
// what is wrong with the wave's selection.
func (a *assigner) assign(i int, started map[string][]string) {
	w := &a.spec.Waves[i]
	field := fieldIndex("spec.waves", i)
	m := newMatcher(w.ClusterSelector, w.ClusterNames, field, a.ps)
	m.all = w.ClusterSelector == nil && len(w.ClusterNames) == 0
	_, isStarted := started[w.Name]
	// A started wave's clusters are fixed: what its names say can no longer change the run, so
	// a name gone wrong since (a cluster deleted or moved out of placement) only warns.
	report := a.ps.errorf
	if isStarted {
		report = a.ps.warnf
	}

	if unknown := a.ix.unknownNames(&m); len(unknown) > 0 {
		report(CodeUnknownCluster, field+".clusterNames",
			"wave %q names %s, for which there is no MemberCluster", w.Name, nameList(unknown))
	}
	var notPlaced []string
	for _, n := range m.sortedNames() {
		if a.ix.byName[n] != nil && !a.placedSet[n] {
			notPlaced = append(notPlaced, n)
		}
	}
	if len(notPlaced) > 0 {
		report(CodeNotPlaced, field+".clusterNames",
			"wave %q names %s, which spec.placement does not select: add %s to the placement or remove %s from the wave",
			w.Name, nameList(notPlaced), pronoun(len(notPlaced)), pronoun(len(notPlaced)))
	}

	matched, took := 0, 0
	var elsewhere []string
	overlap := map[int][]string{} // earlier wave index -> clusters this wave names
	for _, c := range a.placed {
		if !m.matches(c) {
			continue
		}
		matched++
		if j, ok := a.taken[c.Name]; ok {
			if j == i {
				took++
				continue
			}
			elsewhere = append(elsewhere, c.Name)
			if m.names[c.Name] {
				overlap[j] = append(overlap[j], c.Name)
			}
			continue
		}
		if isStarted {
			if _, ok := a.lateAt[c.Name]; !ok {
				a.lateAt[c.Name] = i
			}
			continue
		}
		a.taken[c.Name] = i
		took++
	}
	a.reportOverlap(i, overlap)
	if isStarted || len(a.placed) == 0 {
		return
	}
	switch {
	case matched == 0:
		a.ps.errorf(CodeEmptyWave, field, "wave %q selects no placed cluster: check its %s", w.Name, selectionFields(w))
	case took == 0 && m.all:
		a.ps.warnf(CodeEmptyWave, field,
			"wave %q takes every cluster left over, but earlier waves took every placed cluster: it will have nothing to do", w.Name)
	case took == 0:
		a.ps.errorf(CodeEmptyWave, field,
			"every cluster wave %q selects (%s) already belongs to an earlier wave (a cluster belongs to the first "+
				"wave that selects it): the wave would be empty", w.Name, nameList(elsewhere))
	}
}

func (a *assigner) reportOverlap(i int, overlap map[int][]string) {
	earlier := make([]int, 0, len(overlap))
	for j := range overlap {
		earlier = append(earlier, j)
	}
	sort.Ints(earlier)
	w := &a.spec.Waves[i]
	for _, j := range earlier {
		names := overlap[j]
		a.ps.errorf(CodeWaveOverlap, fieldIndex("spec.waves", i)+".clusterNames",
			"waves %q and %q overlap: wave %q names %s, but %s already in wave %q, and a cluster belongs to the "+
				"first wave that selects it; remove %s from one of the two waves",
			a.spec.Waves[j].Name, w.Name, w.Name, nameList(names), isAre(len(names)), a.spec.Waves[j].Name, pronoun(len(names)))
	}
}

func isAre(n int) string {
	if n == 1 {
		return "it is"
	}
	return "they are"
}

func selectionFields(w *fleetv1alpha1.Wave) string {
	switch {
	case w.ClusterSelector != nil && len(w.ClusterNames) > 0:
		return "clusterSelector and clusterNames"
	case w.ClusterSelector != nil:
		return "clusterSelector"
	default:
		return "clusterNames"
	}
}

// waves builds the plan's waves from the assignment.
func (a *assigner) waves(started map[string][]string) []Wave {
	out := make([]Wave, len(a.spec.Waves))
	for i := range a.spec.Waves {
		sw := &a.spec.Waves[i]
		w := Wave{Name: sw.Name, Index: i, Spec: sw, CatchAll: sw.ClusterSelector == nil && len(sw.ClusterNames) == 0}
		if _, ok := started[sw.Name]; ok {
			w.Started = true
			w.Clusters = append([]string(nil), a.fixed[i]...)
			sort.Strings(w.Clusters)
			for _, n := range w.Clusters {
				switch c := a.ix.byName[n]; {
				case c == nil || !a.placedSet[n]:
					w.Departed = append(w.Departed, n)
				case c.Maintenance:
					w.Maintenance = append(w.Maintenance, n)
				}
			}
		}
		out[i] = w
	}
	for _, c := range a.placed { // in name order, so every list below is sorted
		if i, ok := a.taken[c.Name]; ok {
			w := &out[i]
			if w.Started {
				continue
			}
			if c.Maintenance {
				w.Maintenance = append(w.Maintenance, c.Name)
			} else {
				w.Clusters = append(w.Clusters, c.Name)
			}
		} else if i, ok := a.lateAt[c.Name]; ok {
			out[i].Late = append(out[i].Late, c.Name)
		}
	}
	for i := range out {
		w := &out[i]
		if !w.Started && len(w.Clusters) == 0 && len(w.Maintenance) > 0 {
			a.ps.warnf(CodeEmptyWave, fieldIndex("spec.waves", i),
				"every cluster of wave %q (%s) is in maintenance: the wave will be skipped unless one leaves maintenance before it starts",
				w.Name, nameList(w.Maintenance))
		}
	}
	return out
}

// String describes the plan in one line per wave, for logs and test failures.
func (p *Plan) String() string {
	s := fmt.Sprintf("placed %d", len(p.Placed))
	for i := range p.Waves {
		w := &p.Waves[i]
		s += fmt.Sprintf("; %s (%d): %s", w.Name, len(w.Clusters), nameList(w.Clusters))
	}
	return s
}
