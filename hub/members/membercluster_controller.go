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

package members

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-io/flotilla/api/fleet/v1alpha1"
	"github.com/flotilla-io/flotilla/hub/leader"
)

// DefaultProbeInterval is how often a member's health is probed.
const DefaultProbeInterval = 10 * time.Second

// Reconciler keeps MemberCluster status (Reachable, AgentReady, Ready, lastContactTime,
// kubernetesVersion) up to date, acting only while this hub replica leads.
type Reconciler struct {
	Client   client.Client
	Registry *Registry
	Gate     *leader.Gate
	// ProbeInterval is how often each member is probed; zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("membercluster").
		For(&fleetv1alpha1.MemberCluster{}).
		WatchesRawSource(r.Gate.Source(func(ctx context.Context) ([]client.Object, error) {
			list := &fleetv1alpha1.MemberClusterList{}
			if err := r.Client.List(ctx, list); err != nil {
				return nil, err
			}
			out := make([]client.Object, 0, len(list.Items))
			for i := range list.Items {
				out = append(out, &list.Items[i])
			}
			return out, nil
		})).
		// A member cluster joining, leaving or its watch failing is probed at once.
		WatchesRawSource(r.Registry.MemberClusterSource(r.byCluster)).
		Complete(r)
}

// byCluster are the MemberClusters whose kubeconfigSecretRef names the cluster.
func (r *Reconciler) byCluster(ctx context.Context, name string) []reconcile.Request {
	list := &fleetv1alpha1.MemberClusterList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if n, err := r.Registry.ClusterName(&list.Items[i]); name == "" || err == nil && string(n) == name {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// Reconcile probes one member and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	lctx, release, _, ok := r.Gate.Acquire(ctx)
	defer release()
	if !ok || !r.Registry.Warm() {
		return ctrl.Result{}, nil // a follower, or members not engaged yet: enqueued when warm
	}
	ctx = logf.IntoContext(lctx, log)
	mc := &fleetv1alpha1.MemberCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, mc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	next := mc.DeepCopy()
	r.observe(ctx, next)
	if err := r.Client.Status().Patch(ctx, next, client.MergeFrom(mc)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	interval := r.ProbeInterval
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// observe probes the member and sets its status conditions.
func (r *Reconciler) observe(ctx context.Context, mc *fleetv1alpha1.MemberCluster) {
	now := metav1.NewTime(r.now())
	st := &mc.Status
	st.ObservedGeneration = mc.Generation
	set := func(typ string, ok bool, reason, msg string) {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason,
			Message: msg, ObservedGeneration: mc.Generation})
	}
	m, err := r.Registry.Get(ctx, mc)
	if err != nil {
		reason := fleetv1alpha1.ReasonUnreachable
		switch {
		case errors.Is(err, ErrKubeconfigNotFound):
			reason = fleetv1alpha1.ReasonKubeconfigNotFound
		case errors.Is(err, ErrNamespaceNotFound):
			reason = fleetv1alpha1.ReasonNamespaceNotFound
		}
		set(fleetv1alpha1.ConditionReachable, false, reason, err.Error())
		set(fleetv1alpha1.ConditionAgentReady, false, reason, "the member cannot be reached")
		set(fleetv1alpha1.ConditionReady, false, reason, err.Error())
		return
	}
	h := r.Registry.Probe(ctx, m)
	if werr := m.WatchFailure(); h.Reachable && werr != nil {
		h.Reachable, h.Err = false, fmt.Errorf("the API server answers but the hub's watch of its Rollouts fails: %w", werr)
	}
	if !h.Reachable {
		msg := "the API server did not answer"
		if h.Err != nil {
			msg = h.Err.Error()
		}
		set(fleetv1alpha1.ConditionReachable, false, fleetv1alpha1.ReasonUnreachable, msg)
		set(fleetv1alpha1.ConditionAgentReady, false, fleetv1alpha1.ReasonUnreachable, "the member cannot be reached")
		set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonUnreachable, msg)
		return
	}
	st.LastContactTime = &now
	st.KubernetesVersion = h.KubernetesVersion
	set(fleetv1alpha1.ConditionReachable, true, fleetv1alpha1.ReasonConnected, "the API server answered ("+h.KubernetesVersion+")")
	if !h.AgentReady {
		msg := "the spoke API is not served"
		if h.Err != nil {
			msg = h.Err.Error()
		}
		set(fleetv1alpha1.ConditionAgentReady, false, fleetv1alpha1.ReasonAgentNotFound, msg)
		set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonAgentNotFound, msg)
		return
	}
	// The spoke reports no heartbeat or version yet: serving its API is the readiness signal.
	set(fleetv1alpha1.ConditionAgentReady, true, fleetv1alpha1.ReasonConnected, "the member serves "+RolloutsGroupVersion)
	if mc.Spec.Maintenance {
		set(fleetv1alpha1.ConditionReady, false, fleetv1alpha1.ReasonMaintenance, "spec.maintenance is true: new waves leave the cluster out")
		return
	}
	set(fleetv1alpha1.ConditionReady, true, fleetv1alpha1.ReasonConnected, "reachable and the spoke API is served")
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
