#!/usr/bin/env bash
# make demo: start the local fleet (a hub cluster running three hub replicas, three member
# clusters each running its spoke agent), apply the sample FleetRollout
# (examples/fleet/checkout.yaml) to the hub, ship an update, and follow it live, wave by
# wave (us-east, then eu-west, then ap-south), until the fleet has it.
#
# FAIL=<member> (make demo FAIL=eu-west) makes the update fail in that member: an override
# gives it an analysis step after the first canary weight, against an AnalysisTemplate whose
# metric (a web call to the member's own API server) can never succeed, and lets that wave
# tolerate one failed cluster (maxFailures 1), so that the fleet gate decides. The member's
# canary aborts, the wave bakes, its all-healthy gate fails, the next wave never starts, and
# failurePolicy RollbackAll returns the clusters that already took the update to the stable
# revision.
set -euo pipefail
cd "$(dirname "$0")/.."
kubectl="bin/k8s/${KUBE_VERSION:-v1.36.3}/kubectl"
members=(us-east eu-west ap-south)
ns=shop
timeout=${DEMO_TIMEOUT:-5m}
fail=${FAIL:-}
if [[ -n "$fail" && ! " ${members[*]} " =~ " ${fail} " ]]; then
  echo "demo: FAIL=$fail is not a member; use one of: ${members[*]}" >&2
  exit 2
fi
start=$(date +%s)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
hub() { "$kubectl" --kubeconfig .fleet/hub.kubeconfig "$@"; }

step "Starting the local fleet: a hub cluster with 3 hub replicas (one raft group), ${#members[@]} member clusters with a spoke agent each"
go run ./hack/fleet up
go run ./hack/fleet status

if hub get fleetrollout checkout -n "$ns" >/dev/null 2>&1; then
  echo "demo: FleetRollout $ns/checkout already exists (an earlier demo on this fleet); for a fresh one: make fleet-down && make demo" >&2
  exit 1
fi

step "Member clusters registered in the hub"
hub get memberclusters -L region,env

step "Namespace $ns in the hub and in every member (the hub does not create namespaces)"
for c in hub "${members[@]}"; do
  "$kubectl" --kubeconfig ".fleet/${c}.kubeconfig" create namespace "$ns" --dry-run=client -o yaml \
    | "$kubectl" --kubeconfig ".fleet/${c}.kubeconfig" apply --server-side -f - >/dev/null
  echo "  $c: namespace/$ns"
done

step "First release: examples/fleet/checkout.yaml (nginx:1.27) goes out wave by wave, 30s bake and the all-healthy gate after each"
hub apply --server-side -n "$ns" -f examples/fleet/checkout.yaml
first=$(date +%s)
go run ./hack/fleet watch --namespace "$ns" --name checkout --revision 1 --timeout "$timeout"
first_took=$(( $(date +%s) - first ))

image_patch='{"op":"replace","path":"/spec/template/spec/template/spec/containers/0/image","value":"nginx:1.28"}'
if [[ -z "$fail" ]]; then
  step "Shipping an update: nginx:1.28 (revision 2), a canary in each member (25%, 50%, 75%, 10s pauses), region by region"
  hub patch fleetrollout checkout -n "$ns" --type=json -p "[${image_patch}]"
  want=Succeeded
else
  step "Injecting a failure in ${fail}: an AnalysisTemplate whose metric always fails, and an override that adds an analysis step to ${fail}'s canary"
  server=$(sed -n 's/^ *server: *//p' ".fleet/${fail}.kubeconfig" | head -1)
  "$kubectl" --kubeconfig ".fleet/${fail}.kubeconfig" apply --server-side -n "$ns" -f - <<YAML
apiVersion: rollouts.flotilla.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: checkout-errors
spec:
  metrics:
  - name: error-rate
    # A real web call (the member API server's /version), judged by a condition that never
    # holds: the demo's stand-in for an error rate over the threshold.
    provider:
      web:
        url: ${server}/version
        insecure: true
        jsonPath: "{\$.major}"
    successCondition: "false"
    failureLimit: 0
YAML
  override='{"op":"add","path":"/spec/overrides","value":[{"clusterNames":["'"$fail"'"],"patches":[{"path":"spec.strategy.canary.steps","value":[{"setWeight":25},{"analysis":{"templates":[{"templateName":"checkout-errors"}]}},{"setWeight":50},{"pause":{"duration":"10s"}},{"setWeight":75},{"pause":{"duration":"10s"}}]}]}]}'
  # The wave tolerates one failed cluster, so it is the fleet's all-healthy gate, evaluated
  # after the wave's bake, that stops the fleet rather than the wave's own maxFailures.
  wave=-1
  for i in "${!members[@]}"; do if [[ "${members[$i]}" == "$fail" ]]; then wave=$i; fi; done
  tolerate='{"op":"add","path":"/spec/waves/'"$wave"'/maxFailures","value":1}'
  step "Shipping an update: nginx:1.28 (revision 2), region by region; ${fail}'s canary runs the failing analysis, and its wave tolerates one failed cluster so that the gate decides"
  hub patch fleetrollout checkout -n "$ns" --type=json -p "[${image_patch},${override},${tolerate}]"
  want=RolledBack
fi
update=$(date +%s)
if ! go run ./hack/fleet watch --namespace "$ns" --name checkout --revision 2 --want "$want" --timeout "$timeout"; then
  echo "demo: revision 2 did not end $want; hub logs: .fleet/logs/hub/, spoke logs: .fleet/logs/<member>/" >&2
  exit 1
fi
update_took=$(( $(date +%s) - update ))

step "What each member runs now"
for m in "${members[@]}"; do
  printf '  %-9s ' "$m"
  "$kubectl" --kubeconfig ".fleet/${m}.kubeconfig" get rollout checkout -n "$ns" \
    -o jsonpath='{.status.phase} {.spec.template.spec.containers[0].image} {.status.updatedReplicas}/{.status.replicas} pods updated, term {.status.term}{"\n"}'
done

echo
if [[ -z "$fail" ]]; then
  echo "demo: nginx:1.28 reached us-east, eu-west and ap-south wave by wave in ${update_took}s (first release ${first_took}s); total $(( $(date +%s) - start ))s. Stop the fleet with 'make fleet-down'."
else
  gate=$(hub get fleetrollout checkout -n "$ns" -o jsonpath='{range .status.waves[?(@.name=="'"$fail"'")].gates[*]}{.name} {.verdict}: {.message}{"\n"}{end}' | head -1)
  echo "demo: nginx:1.28 failed its canary analysis in ${fail}; the gate of that wave stopped the fleet before the next wave (${gate:-no gate verdict recorded}), and RollbackAll returned every cluster that had it to nginx:1.27, ${update_took}s after the update (first release ${first_took}s); total $(( $(date +%s) - start ))s. Stop the fleet with 'make fleet-down'."
fi
