// Package credentials is how metric providers read the Secrets that hold their credentials
// (Datadog's API keys, a New Relic account, InfluxDB's token), without depending on a
// Kubernetes client: the caller hands each provider a SecretReader.
//
// Providers follow Argo Rollouts' conventions for which Secret they read and which keys it
// holds; each provider's package documentation lists them.
package credentials

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) by a SecretReader when the Secret does not exist.
var ErrNotFound = errors.New("secret not found")

// SecretReader reads the data of a Secret.
type SecretReader interface {
	// SecretData returns the data of the Secret namespace/name, or an error that wraps
	// ErrNotFound when there is no such Secret.
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// SecretReaderFunc adapts a function to SecretReader.
type SecretReaderFunc func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// SecretData calls f.
func (f SecretReaderFunc) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	return f(ctx, namespace, name)
}

// Static is a SecretReader over fixed data, keyed by "namespace/name"; for tests and for
// credentials that come from configuration rather than the cluster.
type Static map[string]map[string]string

// SecretData returns a copy of the Secret's data.
func (s Static) SecretData(_ context.Context, namespace, name string) (map[string][]byte, error) {
	data, ok := s[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, ErrNotFound)
	}
	out := make(map[string][]byte, len(data))
	for k, v := range data {
		out[k] = []byte(v)
	}
	return out, nil
}

// None is a SecretReader with no Secrets at all, for providers used without a cluster.
var None SecretReader = Static(nil)
