package rollout

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/api/rollouts/v1alpha1"
	"github.com/flotilla-io/flotilla/spoke/rollout/engine"
)

// errHashCollision says that the name of the ReplicaSet to create is taken by one made
// from another template, or not owned by the Rollout: a pod-template hash collision. The
// reconcile that meets it raises status.collisionCount, as the Deployment controller does,
// and the next one plans under the next hash.
var errHashCollision = errors.New("pod-template hash collision")

// checkCollision looks at the ReplicaSet that has the name of want: the Rollout's own,
// made from the same template (the cache lagging a create of ours), counts as created;
// anything else is a collision. It reads the API server: the agent's cache holds only
// ReplicaSets with the pod-template-hash label, and a Deployment's ReplicaSet (the usual
// squatter, since a Deployment hashes its template the same way) has not got it.
func (r *Reconciler) checkCollision(ctx context.Context, ro *v1alpha1.Rollout, want *appsv1.ReplicaSet) error {
	existing := &appsv1.ReplicaSet{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), existing); err != nil {
		return err
	}
	if !ownedBy(existing, ro) {
		return fmt.Errorf("%w: ReplicaSet %s exists and is not owned by this Rollout", errHashCollision, want.Name)
	}
	digest := existing.Annotations[engine.AnnotationTemplateDigest]
	if digest != "" && digest != want.Annotations[engine.AnnotationTemplateDigest] {
		return fmt.Errorf("%w: ReplicaSet %s was made from another pod template", errHashCollision, want.Name)
	}
	return nil
}

// bumpCollisionCount raises status.collisionCount by one after a collision.
func bumpCollisionCount(st *v1alpha1.RolloutStatus, err error) {
	if !errors.Is(err, errHashCollision) {
		return
	}
	n := int32(1)
	if st.CollisionCount != nil {
		n = *st.CollisionCount + 1
	}
	st.CollisionCount = &n
}
