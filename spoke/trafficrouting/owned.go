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

package trafficrouting

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
)

// UnstructuredValue converts v (a map, a slice, a struct) into the form that
// unstructured.Unstructured holds after a read: maps of string to any, []any, int64 for whole
// numbers. A router builds the fields it wants in that form, so that they compare equal to
// the same fields read back from the API server, and an unchanged object causes no write.
func UnstructuredValue(v any) (any, error) {
	data, err := utiljson.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := utiljson.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SameValue reports whether two unstructured values are equal, numbers compared by value.
func SameValue(a, b any) bool {
	na, errA := UnstructuredValue(a)
	nb, errB := UnstructuredValue(b)
	return errA == nil && errB == nil && equality.Semantic.DeepEqual(na, nb)
}

// EnsureOwnedSpec makes the object want (kind, namespace, name and spec set; labels and
// ownerReferences as it should be created with) exist with want's spec, owned by ro:
//   - no such object: it is created, with ControllerReference(ro) added;
//   - an object that ro controls: its spec is replaced by want's when the two differ, and
//     nothing is sent when they do not;
//   - an object that ro does not control: nothing is written, and an InvalidConfigError says
//     that the name is taken.
//
// router is the router's type, for the error.
func EnsureOwnedSpec(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, router string, want *unstructured.Unstructured) error {
	gvk := want.GroupVersionKind()
	have := &unstructured.Unstructured{}
	have.SetGroupVersionKind(gvk)
	err := ReadError(c.Get(ctx, client.ObjectKeyFromObject(want), have), gvk.GroupKind(), want.GetNamespace(), want.GetName())
	var notFound *ObjectNotFoundError
	if errors.As(err, &notFound) {
		obj := want.DeepCopy()
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), ControllerReference(ro)))
		if err := c.Create(ctx, obj, client.FieldOwner(FieldManager)); err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", gvk.Kind, want.GetNamespace(), want.GetName(), err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(have, ro) {
		return Invalid(router, "%s %s/%s exists and does not belong to Rollout %s: rename the managed route or remove that object",
			gvk.Kind, have.GetNamespace(), have.GetName(), ro.Name)
	}
	if SameValue(have.Object["spec"], want.Object["spec"]) {
		return nil
	}
	var p JSONPatch
	p.Test(Pointer("metadata", "uid"), string(have.GetUID()))
	p.Add(Pointer("spec"), want.Object["spec"])
	return ApplyJSONPatch(ctx, c, have, p)
}

// DeleteOwned deletes the object gvk namespace/name when ro controls it. An object that does
// not exist, or that ro does not control, is left as it is; a kind the cluster does not
// serve is a CRDNotInstalledError.
func DeleteOwned(ctx context.Context, c client.Client, ro *v1alpha1.Rollout, gvk schema.GroupVersionKind, namespace, name string) error {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	err := ReadError(c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj), gvk.GroupKind(), namespace, name)
	var notFound *ObjectNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(obj, ro) {
		return nil
	}
	err = c.Delete(ctx, obj, client.Preconditions{UID: ptrTo(obj.GetUID())})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
