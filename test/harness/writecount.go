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

package harness

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WriteRecorder is a client that passes every call on and records the writes among them
// (create, update, patch, apply, delete, delete-all-of on the main resource), so that a test
// can assert that an idempotent call wrote nothing.
type WriteRecorder struct {
	client.Client

	mu     sync.Mutex
	writes []string
}

// RecordWrites wraps c.
func RecordWrites(c client.Client) *WriteRecorder { return &WriteRecorder{Client: c} }

// Writes returns the writes recorded since the last Reset, as "verb Kind namespace/name".
func (w *WriteRecorder) Writes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// Reset forgets the recorded writes.
func (w *WriteRecorder) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = nil
}

func (w *WriteRecorder) record(verb string, obj runtime.Object) {
	desc := verb
	if o, ok := obj.(client.Object); ok {
		desc = fmt.Sprintf("%s %s %s/%s", verb, o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, desc)
}

// Create records and creates.
func (w *WriteRecorder) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	w.record("create", obj)
	return w.Client.Create(ctx, obj, opts...)
}

// Update records and updates.
func (w *WriteRecorder) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	w.record("update", obj)
	return w.Client.Update(ctx, obj, opts...)
}

// Patch records and patches.
func (w *WriteRecorder) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	w.record("patch", obj)
	return w.Client.Patch(ctx, obj, patch, opts...)
}

// Apply records and applies.
func (w *WriteRecorder) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	w.record("apply", nil)
	return w.Client.Apply(ctx, obj, opts...)
}

// Delete records and deletes.
func (w *WriteRecorder) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	w.record("delete", obj)
	return w.Client.Delete(ctx, obj, opts...)
}

// DeleteAllOf records and deletes.
func (w *WriteRecorder) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	w.record("delete-all-of", obj)
	return w.Client.DeleteAllOf(ctx, obj, opts...)
}
