#!/usr/bin/env bash
# make demo: start the local fleet and show it. It grows with the project: the hub and the
# spoke agents join the fleet, and a sample FleetRollout moves through its waves.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="bin/k8s/${KUBE_VERSION:-v1.36.3}/kubectl"
members=(us-east eu-west ap-south)
start=$(date +%s)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Starting the local fleet: a hub and ${#members[@]} member clusters (real control planes, kwok nodes)"
go run ./hack/fleet up

step "Member clusters registered in the hub"
"$kubectl" --kubeconfig .fleet/hub.kubeconfig get memberclusters -L env

for m in "${members[@]}"; do
  step "Nodes of ${m}"
  "$kubectl" --kubeconfig ".fleet/${m}.kubeconfig" get nodes -L topology.kubernetes.io/region
done

step "Flotilla kinds in the hub (fleet.flotilla.dev)"
"$kubectl" --kubeconfig .fleet/hub.kubeconfig api-resources --api-group=fleet.flotilla.dev
step "Flotilla kinds in each member (rollouts.flotilla.dev), here us-east"
"$kubectl" --kubeconfig .fleet/us-east.kubeconfig api-resources --api-group=rollouts.flotilla.dev

step "The sample FleetRollout is accepted by the hub (server-side dry run)"
"$kubectl" --kubeconfig .fleet/hub.kubeconfig create namespace shop --dry-run=client -o yaml \
  | "$kubectl" --kubeconfig .fleet/hub.kubeconfig apply --server-side -f - >/dev/null
"$kubectl" --kubeconfig .fleet/hub.kubeconfig apply --server-side --dry-run=server -n shop -f examples/fleet/checkout.yaml

echo
echo "demo: the fleet is up in $(( $(date +%s) - start ))s. Kubeconfigs: .fleet/<cluster>.kubeconfig; logs: .fleet/logs/."
echo "demo: stop it with 'make fleet-down'."
