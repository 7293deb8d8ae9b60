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

// Package kubesecret reads Secrets live, through a controller-runtime reader (the manager's
// API reader), for what analysis needs of them: the credentials of metric providers and the
// arguments that take their value from a Secret. The spoke's AnalysisRuns and the hub's gates
// both use it; neither keeps an informer over every Secret of its cluster.
package kubesecret

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-io/flotilla/analysis"
	"github.com/flotilla-io/flotilla/analysis/providers/credentials"
)

// Reader reads Secrets through Reader.
type Reader struct {
	Reader client.Reader
}

var _ credentials.SecretReader = Reader{}

// SecretData returns the data of the Secret namespace/name; a missing Secret is an error that
// wraps credentials.ErrNotFound.
func (s Reader) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, credentials.ErrNotFound)
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return secret.Data, nil
}

// ArgValue returns the value of key in the Secret namespace/name, for an argument's
// valueFrom.secretKeyRef (analysis.ArgResolver's Secret). A missing Secret or key wraps
// analysis.ErrNotFound.
func (s Reader) ArgValue(ctx context.Context, namespace, name, key string) (string, error) {
	data, err := s.SecretData(ctx, namespace, name)
	if errors.Is(err, credentials.ErrNotFound) {
		return "", fmt.Errorf("no such Secret: %w", analysis.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	v, ok := data[key]
	if !ok {
		return "", fmt.Errorf("the Secret has no such key: %w", analysis.ErrNotFound)
	}
	return string(v), nil
}
