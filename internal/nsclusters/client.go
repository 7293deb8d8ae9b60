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

package nsclusters

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewClient is c seen from one namespace-cluster: every namespaced object it reads or writes
// lives in namespace, whatever namespace the caller named; cluster-scoped objects pass as they
// are. Objects written come back with their real namespace.
func NewClient(c client.Client, namespace string) client.Client {
	return &scopedClient{Client: c, ns: scope{namespace: namespace, mapper: c.RESTMapper(), scheme: c.Scheme()}}
}

type scopedClient struct {
	client.Client
	ns scope
}

func (c *scopedClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.Client.Get(ctx, c.ns.key(key), obj, opts...)
}

func (c *scopedClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	opts, err := c.ns.list(list, opts)
	if err != nil {
		return err
	}
	return c.Client.List(ctx, list, opts...)
}

func (c *scopedClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c *scopedClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj, opts...)
}

func (c *scopedClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c *scopedClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.Client.Delete(ctx, obj, opts...)
}

func (c *scopedClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	ok, err := c.ns.namespaced(obj)
	if err != nil {
		return fmt.Errorf("namespace-cluster %s: %w", c.ns.namespace, err)
	}
	if ok {
		opts = append(append([]client.DeleteAllOfOption{}, opts...), client.InNamespace(c.ns.namespace))
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

func (c *scopedClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if err := c.ns.applyConfiguration(obj); err != nil {
		return err
	}
	return c.Client.Apply(ctx, obj, opts...)
}

func (c *scopedClient) Status() client.SubResourceWriter { return c.SubResource("status") }

func (c *scopedClient) SubResource(sub string) client.SubResourceClient {
	return &scopedSubResource{SubResourceClient: c.Client.SubResource(sub), ns: c.ns}
}

// applyConfiguration moves an unstructured apply configuration (the hub's) into the scope's
// namespace; a typed one must already name it.
func (s scope) applyConfiguration(obj runtime.ApplyConfiguration) error {
	switch o := obj.(type) {
	case interface {
		GetNamespace() string
		SetNamespace(string)
	}:
		if o.GetNamespace() != "" {
			o.SetNamespace(s.namespace)
		}
		return nil
	case interface{ GetNamespace() *string }:
		if ns := o.GetNamespace(); ns != nil && *ns != "" && *ns != s.namespace {
			return fmt.Errorf("namespace-cluster %s: apply configuration %T names namespace %s; only unstructured ones are moved into the cluster's namespace",
				s.namespace, obj, *ns)
		}
		return nil
	default:
		return fmt.Errorf("namespace-cluster %s: unknown apply configuration %T", s.namespace, obj)
	}
}

type scopedSubResource struct {
	client.SubResourceClient
	ns scope
}

func (c *scopedSubResource) Get(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceGetOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.SubResourceClient.Get(ctx, obj, sub, opts...)
}

func (c *scopedSubResource) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.SubResourceClient.Create(ctx, obj, sub, opts...)
}

func (c *scopedSubResource) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.SubResourceClient.Update(ctx, obj, opts...)
}

func (c *scopedSubResource) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := c.ns.object(obj); err != nil {
		return err
	}
	return c.SubResourceClient.Patch(ctx, obj, patch, opts...)
}

func (c *scopedSubResource) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	if err := c.ns.applyConfiguration(obj); err != nil {
		return err
	}
	return c.SubResourceClient.Apply(ctx, obj, opts...)
}
