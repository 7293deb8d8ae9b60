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

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// objectExists is a Condition that holds once key can be read into obj.
func objectExists(c client.Client, key client.ObjectKey, obj client.Object) Condition {
	return func(ctx context.Context) (bool, string, error) {
		if err := c.Get(ctx, key, obj); err != nil {
			return notYet("getting "+key.String(), err)
		}
		return true, "", nil
	}
}

// DeploymentAvailable is a Condition that holds once the Deployment's controller has seen
// its latest spec and every desired replica is updated, ready and available.
func DeploymentAvailable(c client.Client, key client.ObjectKey) Condition {
	return func(ctx context.Context) (bool, string, error) {
		var d appsv1.Deployment
		if err := c.Get(ctx, key, &d); err != nil {
			return notYet("getting deployment "+key.String(), err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		seen := fmt.Sprintf("deployment %s: generation %d observed %d, %d desired, %d updated, %d ready, %d available",
			key, d.Generation, s.ObservedGeneration, want, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
		done := s.ObservedGeneration >= d.Generation && s.Replicas == want &&
			s.UpdatedReplicas == want && s.ReadyReplicas == want && s.AvailableReplicas == want
		return done, seen, nil
	}
}
