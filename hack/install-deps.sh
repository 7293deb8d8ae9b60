#!/usr/bin/env bash
# Installs the Debian packages the tests run for real: Prometheus, and graphite (carbon +
# graphite-web), as metric back ends of the analysis providers. Nothing happens when they
# are already there. The packages also register system services, which the tests do not
# use: they start their own copies on free loopback ports.
set -euo pipefail

missing=()
command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ -x /usr/bin/carbon-cache ] || missing+=(graphite-carbon)
/usr/bin/python3 -c 'import graphite, django' 2>/dev/null || missing+=(graphite-web)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install ${missing[*]} (apt-get); run as root or install them first" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
