package trafficrouting

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Reasons of the TrafficRouted condition for the errors below. An error of none of these
// types is transient (the API server was unreachable, an object changed while it was being
// patched): the controller retries it with back-off instead of pausing.
const (
	// ReasonObjectNotFound: an object the Rollout names (an Ingress, a VirtualService, a
	// DestinationRule, ...) does not exist.
	ReasonObjectNotFound = "TrafficRouterObjectNotFound"
	// ReasonRouteNotFound: the object exists but has no route of the name (or port and SNI
	// hosts) the Rollout gives.
	ReasonRouteNotFound = "TrafficRouteNotFound"
	// ReasonCRDNotInstalled: the cluster does not serve the router's kind.
	ReasonCRDNotInstalled = "TrafficRouterCRDNotInstalled"
	// ReasonInvalidConfig: the router's objects and the Rollout do not fit together (the
	// stable Ingress has no rule for the stable Service, a route lacks the canary
	// destination, an object of the name Flotilla would create belongs to someone else).
	ReasonInvalidConfig = "TrafficRoutingInvalid"
)

// ObjectNotFoundError says that an object the Rollout names does not exist.
type ObjectNotFoundError struct {
	// Kind of the object, such as VirtualService.
	Kind string
	// Namespace and Name of the object.
	Namespace, Name string
}

func (e *ObjectNotFoundError) Error() string {
	return fmt.Sprintf("%s %s/%s does not exist", e.Kind, e.Namespace, e.Name)
}

// Reason is the condition reason.
func (e *ObjectNotFoundError) Reason() string { return ReasonObjectNotFound }

// RouteNotFoundError says that an object has no route the Rollout names.
type RouteNotFoundError struct {
	// Kind, Namespace and Name of the object searched.
	Kind, Namespace, Name string
	// Route describes the route looked for, such as `HTTP route "primary"`.
	Route string
}

func (e *RouteNotFoundError) Error() string {
	return fmt.Sprintf("%s %s/%s has no %s", e.Kind, e.Namespace, e.Name, e.Route)
}

// Reason is the condition reason.
func (e *RouteNotFoundError) Reason() string { return ReasonRouteNotFound }

// CRDNotInstalledError says that the cluster does not serve a router's kind.
type CRDNotInstalledError struct {
	// GroupKind is the kind that is not served, such as VirtualService.networking.istio.io.
	GroupKind schema.GroupKind
	// Err is the error that told.
	Err error
}

func (e *CRDNotInstalledError) Error() string {
	return fmt.Sprintf("the cluster does not serve %s: install its CustomResourceDefinition, or configure another traffic router", e.GroupKind)
}

// Unwrap returns the underlying error.
func (e *CRDNotInstalledError) Unwrap() error { return e.Err }

// Reason is the condition reason.
func (e *CRDNotInstalledError) Reason() string { return ReasonCRDNotInstalled }

// InvalidConfigError says that the router's objects and the Rollout do not fit together.
type InvalidConfigError struct {
	// Router is the router's type, such as "nginx".
	Router string
	// Message says what is wrong and, where it can, what to change.
	Message string
}

func (e *InvalidConfigError) Error() string { return e.Router + ": " + e.Message }

// Reason is the condition reason.
func (e *InvalidConfigError) Reason() string { return ReasonInvalidConfig }

// Invalid returns an InvalidConfigError with a formatted message.
func Invalid(router, format string, args ...any) error {
	return &InvalidConfigError{Router: router, Message: fmt.Sprintf(format, args...)}
}

// Reason returns the condition reason of err when it is (or wraps) one of the errors above,
// and "" for a transient error.
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

// ReadError turns the error of reading the object gk namespace/name into an
// ObjectNotFoundError or a CRDNotInstalledError where it is one, and returns other errors
// wrapped with the object's identity. It returns nil for nil.
func ReadError(err error, gk schema.GroupKind, namespace, name string) error {
	switch {
	case err == nil:
		return nil
	case meta.IsNoMatchError(err):
		return &CRDNotInstalledError{GroupKind: gk, Err: err}
	case apierrors.IsNotFound(err):
		// A 404 without the object's name comes from a path the server does not serve: the
		// CRD went away after the client's REST mapping was cached.
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			if d := status.Status().Details; d == nil || d.Name == "" {
				return &CRDNotInstalledError{GroupKind: gk, Err: err}
			}
		}
		return &ObjectNotFoundError{Kind: gk.Kind, Namespace: namespace, Name: name}
	default:
		return fmt.Errorf("reading %s %s/%s: %w", gk.Kind, namespace, name, err)
	}
}
