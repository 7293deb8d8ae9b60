#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries, etcd and kwok from the Go module proxy into
# bin/k8s/<version>/. Binaries that are already there are kept, so a second run takes a second.
#
#   hack/k8s-bins.sh            # uses KUBE_VERSION and KWOK_VERSION from the environment
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kube_version=${KUBE_VERSION:-v1.36.3}
kwok_version=${KWOK_VERSION:-v0.7.0}
out=${K8S_BIN_DIR:-$root/bin/k8s/$kube_version}
mkdir -p "$out"

minor=${kube_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

cd "$root/hack/tools/k8s"
grep -q "k8s.io/kubernetes $kube_version" go.mod || {
  echo "k8s-bins: hack/tools/k8s/go.mod is not at $kube_version; run hack/tools/k8s/sync.sh $kube_version" >&2
  exit 1
}
build() { # name package
  if [ -x "$out/$1" ]; then return; fi
  echo "k8s-bins: building $1 ($kube_version)"
  go build -trimpath -ldflags "$ldflags" -o "$out/$1.tmp" "$2"
  mv "$out/$1.tmp" "$out/$1"
}
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
if [ ! -x "$out/kwok" ]; then
  echo "k8s-bins: building kwok ($kwok_version)"
  GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
fi
echo "k8s-bins: $(ls "$out" | tr '\n' ' ')in $out"
