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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// rywClient is a member's client with read-your-writes for placed Rollouts, the one place
// every hub write to a member goes through: each write of a Rollout (apply, create, update,
// patch, delete, and the same on a subresource such as status) records what it returned in
// the member's expectations, and each read of a Rollout from the cache is resolved against
// them. Other kinds pass through: the hub reads none of them from a member.
type rywClient struct {
	client.Client
	expect *expectations
}

// Get reads from the cache; a Rollout older than the hub's own write is replaced by that write
// (or is a *NotObservedError, for a deletion).
func (c *rywClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	ro, ok := obj.(*rolloutsv1alpha1.Rollout)
	if !ok {
		return c.Client.Get(ctx, key, obj, opts...)
	}
	got, _, err := c.getRollout(ctx, key, opts...)
	if err != nil {
		return err
	}
	*ro = *got
	return nil
}

// getRollout is Get for a Rollout, with the end of the expectation the answer relies on (zero
// when it is the cache's own).
func (c *rywClient) getRollout(ctx context.Context, key client.ObjectKey, opts ...client.GetOption) (*rolloutsv1alpha1.Rollout, time.Time, error) {
	cached := &rolloutsv1alpha1.Rollout{}
	switch err := c.Client.Get(ctx, key, cached, opts...); {
	case apierrors.IsNotFound(err):
		cached = nil
	case err != nil:
		return nil, time.Time{}, err
	}
	ro, until, err := c.expect.read(key, cached, time.Now())
	if err == nil && ro == nil {
		err = apierrors.NewNotFound(rolloutsv1alpha1.GroupVersion.WithResource("rollouts").GroupResource(), key.Name)
	}
	return ro, until, err
}

func (c *rywClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	return c.record(obj, c.Client.Create(ctx, obj, opts...))
}

func (c *rywClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	return c.record(obj, c.Client.Update(ctx, obj, opts...))
}

func (c *rywClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	return c.record(obj, c.Client.Patch(ctx, obj, patch, opts...))
}

// Apply records the applied object, which client.ApplyConfigurationFromUnstructured fills in
// with the answer.
func (c *rywClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	return c.record(obj, c.Client.Apply(ctx, obj, opts...))
}

func (c *rywClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	err := c.Client.Delete(ctx, obj, opts...)
	if (err == nil || apierrors.IsNotFound(err)) && isRollout(obj) {
		c.expect.deleted(client.ObjectKeyFromObject(obj), time.Now())
	}
	return err
}

func (c *rywClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *rywClient) SubResource(name string) client.SubResourceClient {
	return &rywSubResource{SubResourceClient: c.Client.SubResource(name), c: c}
}

// record remembers, after a successful write, what the write of a Rollout returned.
func (c *rywClient) record(obj any, err error) error {
	if err != nil || !isRollout(obj) {
		return err
	}
	o := obj.(client.Object)
	var ro *rolloutsv1alpha1.Rollout
	switch t := obj.(type) {
	case *rolloutsv1alpha1.Rollout:
		ro = t.DeepCopy()
	case runtime.Unstructured:
		ro = &rolloutsv1alpha1.Rollout{}
		if runtime.DefaultUnstructuredConverter.FromUnstructured(t.UnstructuredContent(), ro) != nil {
			ro = nil // the answer cannot stand in for the cache: reads wait for the watch instead
		}
	}
	c.expect.wrote(client.ObjectKeyFromObject(o), o.GetResourceVersion(), ro, time.Now())
	return nil
}

// isRollout says whether obj is a member Rollout (typed, or unstructured of its kind).
func isRollout(obj any) bool {
	switch o := obj.(type) {
	case *rolloutsv1alpha1.Rollout:
		return true
	case runtime.Object:
		gvk := o.GetObjectKind().GroupVersionKind()
		_, isObj := obj.(client.Object)
		return isObj && gvk.GroupVersion() == rolloutsv1alpha1.GroupVersion && gvk.Kind == "Rollout"
	}
	return false
}

// rywSubResource records the writes of a subresource (status) of a Rollout.
type rywSubResource struct {
	client.SubResourceClient
	c *rywClient
}

func (s *rywSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	return s.c.record(obj, s.SubResourceClient.Create(ctx, obj, sub, opts...))
}

func (s *rywSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return s.c.record(obj, s.SubResourceClient.Update(ctx, obj, opts...))
}

func (s *rywSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return s.c.record(obj, s.SubResourceClient.Patch(ctx, obj, patch, opts...))
}

func (s *rywSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	return s.c.record(obj, s.SubResourceClient.Apply(ctx, obj, opts...))
}
