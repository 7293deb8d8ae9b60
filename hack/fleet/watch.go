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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/test/harness"
)

// watchInterval is how often watch reads the FleetRollout.
const watchInterval = 2 * time.Second

// errRolloutFailed is returned by watch when the FleetRollout ends other than Succeeded.
var errRolloutFailed = errors.New("the FleetRollout did not succeed")

// watchOptions says which FleetRollout to follow and when to stop.
type watchOptions struct {
	namespace, name string
	timeout         time.Duration
	// revision is the revision to follow: watch ends once the FleetRollout is done with it
	// (0: with whichever revision is current).
	revision int64
	// want is the phase that ends the watch successfully (default Succeeded).
	want fleetv1alpha1.FleetRolloutPhase
}

// watch reads the FleetRollout in the hub every couple of seconds and, whenever something
// changed, prints one line with each wave and each cluster: phase, canary step and weight
// (and the FleetRollout's message whenever it changes). It ends
// when the revision is done (Succeeded, Failed or RolledBack), and fails unless the end is
// the wanted phase, or when the timeout passes.
func watch(d stateDir, o watchOptions, out io.Writer) error {
	data, err := os.ReadFile(d.kubeconfig("hub"))
	if err != nil {
		return fmt.Errorf("the fleet is not up? %w", err)
	}
	cfg, err := harness.RESTConfigFromKubeconfig(data)
	if err != nil {
		return err
	}
	s := runtime.NewScheme()
	if err := fleetv1alpha1.AddToScheme(s); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	if o.want == "" {
		o.want = fleetv1alpha1.FleetRolloutSucceeded
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var last, lastMessage string
	members := &memberReader{d: d, clients: map[string]client.Client{}}
	for {
		fro := &fleetv1alpha1.FleetRollout{}
		err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: o.name}, fro)
		elapsed := time.Since(begin).Round(time.Second)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			fmt.Fprintf(out, "[%4s] reading FleetRollout %s/%s: %v\n", elapsed, o.namespace, o.name, err)
		default:
			line, msg := describeFleetRollout(ctx, fro, members)
			if msg != lastMessage {
				lastMessage = msg
				fmt.Fprintf(out, "[%4s] %s\n", elapsed, msg)
			}
			if line != last {
				last = line
				fmt.Fprintf(out, "[%4s] %s\n", elapsed, line)
			}
			st := fro.Status
			current := o.revision == 0 || st.CurrentRevision == o.revision
			if current && fro.Status.ObservedGeneration == fro.Generation && done(st.Phase) {
				if st.Phase != o.want {
					return fmt.Errorf("%w: phase %s after %s: %s", errRolloutFailed, st.Phase, elapsed, st.Message)
				}
				fmt.Fprintf(out, "watch: FleetRollout %s/%s %s at revision %d after %s\n", o.namespace, o.name, st.Phase,
					st.CurrentRevision, elapsed)
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s: FleetRollout %s/%s still not done (last seen above)", o.timeout, o.namespace, o.name)
		case <-time.After(watchInterval):
		}
	}
}

// done reports whether the phase ends a revision.
func done(p fleetv1alpha1.FleetRolloutPhase) bool {
	switch p {
	case fleetv1alpha1.FleetRolloutSucceeded, fleetv1alpha1.FleetRolloutFailed, fleetv1alpha1.FleetRolloutRolledBack:
		return true
	}
	return false
}

// describeFleetRollout is one line: the FleetRollout's phase and revision, then each wave
// (phase, bake time left, gate verdicts) with its clusters (phase, revision, canary step and
// weight). The message, which changes less often, is returned apart.
func describeFleetRollout(ctx context.Context, fro *fleetv1alpha1.FleetRollout, members *memberReader) (line, message string) {
	st := fro.Status
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s rev %d (stable %d)", orDash(string(st.Phase)), st.CurrentRevision, st.StableRevision)
	for _, w := range st.Waves {
		fmt.Fprintf(&b, " | %s %s", w.Name, orDash(string(w.Phase)))
		if w.Phase == fleetv1alpha1.WaveBaking && w.BakeUntil != nil {
			fmt.Fprintf(&b, " %ds", max(0, int(time.Until(w.BakeUntil.Time).Seconds())))
		}
		for _, g := range w.Gates {
			if g.Verdict != "" && g.Verdict != fleetv1alpha1.GatePending {
				fmt.Fprintf(&b, " (gate %s)", g.Verdict)
			}
		}
		for _, cs := range st.Clusters {
			if cs.Wave != w.Name || (cs.Phase == fleetv1alpha1.ClusterPending && w.Phase == fleetv1alpha1.WavePending) {
				continue
			}
			weight := ptrString(cs.Weight)
			if cs.Weight == nil && cs.Revision == st.CurrentRevision {
				switch cs.Phase {
				case fleetv1alpha1.ClusterProgressing, fleetv1alpha1.ClusterPaused, fleetv1alpha1.ClusterDegraded:
					weight = members.weight(ctx, cs.Name, fro.Namespace, fro.Name)
				case fleetv1alpha1.ClusterHealthy:
					weight = "100"
				}
			}
			name := cs.Name + " "
			if cs.Name == w.Name {
				name = "" // one cluster per wave, named like it
			}
			fmt.Fprintf(&b, ": %s%s r%d step %s weight %s", name, orDash(string(cs.Phase)), cs.Revision, ptrString(cs.Step), weight)
		}
	}
	return b.String(), st.Message
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ptrString(p *int32) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

// memberReader reads the member clusters' Rollouts, for the canary weight when the member
// has no traffic router (the hub's status then has none): the weight of the last setWeight
// step the member's Rollout reached (100 once past every step), and its updated pods.
type memberReader struct {
	d       stateDir
	clients map[string]client.Client
}

func (m *memberReader) weight(ctx context.Context, cluster, namespace, name string) string {
	c, ok := m.clients[cluster]
	if !ok {
		data, err := os.ReadFile(m.d.kubeconfig(cluster))
		if err != nil {
			return "-"
		}
		cfg, err := harness.RESTConfigFromKubeconfig(data)
		if err != nil {
			return "-"
		}
		s := runtime.NewScheme()
		if err := rolloutsv1alpha1.AddToScheme(s); err != nil {
			return "-"
		}
		cfg.Timeout = statusTimeout
		if c, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
			return "-"
		}
		m.clients[cluster] = c
	}
	ro := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, ro); err != nil ||
		ro.Spec.Strategy.Canary == nil || ro.Status.CurrentStepIndex == nil {
		return "-"
	}
	steps := ro.Spec.Strategy.Canary.Steps
	idx := int(*ro.Status.CurrentStepIndex)
	w := int32(0)
	if idx >= len(steps) {
		w = 100
	} else {
		for _, st := range steps[:idx+1] {
			if st.SetWeight != nil {
				w = *st.SetWeight
			}
		}
	}
	return fmt.Sprintf("%d (%d/%d pods new)", w, ro.Status.UpdatedReplicas, ro.Status.Replicas)
}
