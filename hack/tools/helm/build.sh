#!/usr/bin/env bash
# Builds helm, pinned by this module's go.mod, from the Go module proxy into bin/helm: the
# chart tests render, lint and install the charts with it. The link flags are the ones helm's
# own release build sets: its version, and the Kubernetes version `helm template` and `helm
# lint` assume when no cluster is asked (the minor of the client-go it is built with).
#
#   hack/tools/helm/build.sh          # HELM_BIN overrides the output path
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${HELM_BIN:-$root/bin/helm}
cd "$root/hack/tools/helm"
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v3)
clientgo=$(go list -m -f '{{.Version}}' k8s.io/client-go) # v0.MINOR.PATCH
minor=$(echo "$clientgo" | cut -d. -f2)
echo "helm: building $version (Kubernetes 1.$minor by default) into $out"
mkdir -p "$(dirname "$out")"
go build -trimpath -ldflags "-s -w \
  -X helm.sh/helm/v3/internal/version.version=$version \
  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
  -o "$out.tmp" helm.sh/helm/v3/cmd/helm
mv "$out.tmp" "$out"
