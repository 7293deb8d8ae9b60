#!/usr/bin/env bash
# Deletes the kind clusters that up.sh created.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
for c in hub us-east eu-west ap-south; do
  kind delete cluster --name "flotilla-$c"
done
rm -rf "$root/.fleet-kind"
