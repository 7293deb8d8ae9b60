#!/usr/bin/env bash
# Builds Traefik from the Go module proxy into bin/traefik, the real data plane of the
# traffic-routing tests. A binary that is already there is kept, so a second run takes a
# moment; a cold build takes about 4.5 minutes on 2 cores.
#
#   hack/tools/traefik/build.sh          # TRAEFIK_BIN overrides the output path
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${TRAEFIK_BIN:-$root/bin/traefik}
if [ -x "$out" ]; then exit 0; fi
cd "$root/hack/tools/traefik"
version=$(awk '$1 == "require" && $2 == "github.com/traefik/traefik/v3" {print $3}' go.mod)
echo "traefik: building $version into $out"
mkdir -p "$(dirname "$out")"
go build -trimpath -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
  -o "$out.tmp" github.com/traefik/traefik/v3/cmd/traefik
mv "$out.tmp" "$out"
