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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
)

// Cluster is what planning needs of one MemberCluster.
type Cluster struct {
	// Name is the MemberCluster's name.
	Name string
	// Labels are the MemberCluster's labels, which selectors match.
	Labels map[string]string
	// Maintenance is the MemberCluster's spec.maintenance: the cluster is left out of every
	// wave that has not started yet, and out of the clusters not yet started in a running wave.
	Maintenance bool
	// Reachable is true when the MemberCluster's Reachable and AgentReady conditions are
	// True: the hub can give it a directive. An unreachable cluster still takes part (it is
	// never dropped from a wave in silence); the scheduler just cannot start it.
	Reachable bool
}

// ClustersFrom converts MemberClusters into Clusters.
func ClustersFrom(members []fleetv1alpha1.MemberCluster) []Cluster {
	out := make([]Cluster, 0, len(members))
	for i := range members {
		m := &members[i]
		out = append(out, Cluster{
			Name:        m.Name,
			Labels:      m.Labels,
			Maintenance: m.Spec.Maintenance,
			Reachable: meta.IsStatusConditionTrue(m.Status.Conditions, fleetv1alpha1.ConditionReachable) &&
				meta.IsStatusConditionTrue(m.Status.Conditions, fleetv1alpha1.ConditionAgentReady),
		})
	}
	return out
}

// matcher is a parsed clusterSelector plus clusterNames: it matches a cluster selected by
// either (union), as placement, waves and overrides all define it. A matcher with neither
// matches nothing, unless all is set (the catch-all last wave).
type matcher struct {
	selector labels.Selector // nil: no selector
	names    map[string]bool
	all      bool
}

// newMatcher parses sel; an invalid selector is reported at field+".clusterSelector" and
// leaves the matcher with its names only.
func newMatcher(sel *metav1.LabelSelector, names []fleetv1alpha1.ClusterName, field string, ps *problems) matcher {
	m := matcher{names: make(map[string]bool, len(names))}
	for _, n := range names {
		m.names[string(n)] = true
	}
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			ps.errorf(CodeInvalidSelector, field+".clusterSelector", "the selector is not valid: %v", err)
		} else {
			m.selector = s
		}
	}
	return m
}

func (m *matcher) matches(c *Cluster) bool {
	if m.all || m.names[c.Name] {
		return true
	}
	return m.selector != nil && m.selector.Matches(labels.Set(c.Labels))
}

// sortedNames returns the names of m's clusterNames, sorted, so that messages are stable.
func (m *matcher) sortedNames() []string {
	out := make([]string, 0, len(m.names))
	for n := range m.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// index holds the clusters by name, in name order.
type index struct {
	sorted []*Cluster
	byName map[string]*Cluster
}

func newIndex(clusters []Cluster, ps *problems) index {
	ix := index{byName: make(map[string]*Cluster, len(clusters))}
	for i := range clusters {
		c := &clusters[i]
		if _, dup := ix.byName[c.Name]; dup {
			// MemberClusters are cluster-scoped, so this is a caller bug; say so rather than guess.
			ps.errorf(CodeInconsistentHistory, "memberClusters", "cluster %q was passed twice", c.Name)
			continue
		}
		ix.byName[c.Name] = c
		ix.sorted = append(ix.sorted, c)
	}
	sort.Slice(ix.sorted, func(i, j int) bool { return ix.sorted[i].Name < ix.sorted[j].Name })
	return ix
}

// unknownNames returns the names of m that have no cluster, sorted.
func (ix *index) unknownNames(m *matcher) []string {
	var out []string
	for _, n := range m.sortedNames() {
		if ix.byName[n] == nil {
			out = append(out, n)
		}
	}
	return out
}

func fieldIndex(base string, i int) string { return fmt.Sprintf("%s[%d]", base, i) }
