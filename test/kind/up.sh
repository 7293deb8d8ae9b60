#!/usr/bin/env bash
# Creates a hub and three member clusters with kind and registers the members in the hub.
# Needs docker, kind and kubectl on PATH. Not run by CI: see README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.fleet-kind"
mkdir -p "$out"
members=(us-east eu-west ap-south)

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is not on PATH" >&2; exit 1; }
done

create() { # name
  if ! kind get clusters | grep -qx "flotilla-$1"; then
    kind create cluster --name "flotilla-$1" --config "$root/test/kind/cluster.yaml" --wait 120s
  fi
  kind get kubeconfig --name "flotilla-$1" > "$out/$1.kubeconfig"
}

create hub
kubectl --kubeconfig "$out/hub.kubeconfig" apply --server-side -f "$root/charts/flotilla-hub/crds"
kubectl --kubeconfig "$out/hub.kubeconfig" create namespace flotilla-system --dry-run=client -o yaml \
  | kubectl --kubeconfig "$out/hub.kubeconfig" apply --server-side -f -

for m in "${members[@]}"; do
  create "$m"
  k=(kubectl --kubeconfig "$out/$m.kubeconfig")
  "${k[@]}" apply --server-side -f "$root/charts/flotilla-spoke/crds"
  for n in $("${k[@]}" get nodes -o name); do
    "${k[@]}" label --overwrite "$n" "topology.kubernetes.io/region=$m"
  done
  # The hub runs in a container on the kind network, so it needs the internal address.
  kind get kubeconfig --internal --name "flotilla-$m" > "$out/$m.internal.kubeconfig"
  h=(kubectl --kubeconfig "$out/hub.kubeconfig")
  "${h[@]}" -n flotilla-system create secret generic "$m" \
    --from-file=kubeconfig="$out/$m.internal.kubeconfig" --dry-run=client -o yaml \
    | "${h[@]}" label --local -f - sigs.k8s.io/multicluster-runtime-kubeconfig=true -o yaml \
    | "${h[@]}" apply --server-side -f -
  cat <<YAML | "${h[@]}" apply --server-side -f -
apiVersion: fleet.flotilla.dev/v1alpha1
kind: MemberCluster
metadata:
  name: $m
  labels: {region: $m, env: prod}
spec:
  kubeconfigSecretRef: {namespace: flotilla-system, name: $m, key: kubeconfig}
YAML
done

kubectl --kubeconfig "$out/hub.kubeconfig" get memberclusters
echo "up.sh: kubeconfigs in $out"
