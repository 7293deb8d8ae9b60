#!/usr/bin/env bash
# Regenerates this module's go.mod for a Kubernetes release.
#
# k8s.io/kubernetes replaces each of its staging modules (k8s.io/api, k8s.io/client-go, ...)
# with a folder inside its own repository, which a module that requires it cannot see. This
# script reads the release's own go.mod and points each of those modules at the published
# version with the same minor (v1.36.3 -> v0.36.3), so that `go build` works from the proxy.
#
#   hack/tools/k8s/sync.sh v1.36.3
set -euo pipefail
cd "$(dirname "$0")"
version=${1:?usage: sync.sh KUBERNETES_VERSION (for example v1.36.3)}
staging=v0.${version#v1.}
modfile=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -f "$modfile" ] || { echo "sync.sh: could not download k8s.io/kubernetes@${version}" >&2; exit 1; }
{
  echo "module github.com/flotilla-io/flotilla/hack/tools/k8s"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes ${version}"
  echo
  echo "replace ("
  awk '/=> \.\/staging\/src\// {print "\t" $1 " => " $1 " '"${staging}"'"}' "$modfile"
  echo ")"
} > go.mod
rm -f go.sum
GOFLAGS=-mod=mod go mod tidy
