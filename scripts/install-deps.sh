#!/usr/bin/env bash
# Installs what turtle6's build, lab and tests need on Debian 12, skipping what is present:
# the Debian peers and tools (as root, with apt-get), then the npm dependencies.
# Used by .ci/run and by `npm test`/`npm start` (through their pre-scripts), so the README's
# two commands work on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build: the io_uring helper and the ESP crypto helper (optional at run time; tests
  # require them when gcc is present)
  gcc make libc6-dev liburing-dev libssl-dev
  # the appliance, the lab and the namespaces the tests build
  iproute2 procps iputils-ping ndisc6 tcpdump tshark socat
  # interop peers and tools
  python3 python3-scapy python3-cryptography bird2 prometheus
  wide-dhcpv6-client wide-dhcpv6-server wide-dhcpv6-relay kea-dhcp6-server dnsmasq-base
  # examples/turtle6.service: systemd-analyze verify (the package only; systemd need not be
  # PID 1), setpriv to run turtle6 under the unit's capability bound
  systemd util-linux
  # DNS peers and tools (the resolver's interop tests and codec goldens)
  bind9 unbound dnsutils
  # a kernel multicast router beside turtle6 (test/interop/multicast-smcroute.test.ts)
  smcroute
  # the container tests (test/docker): a private dockerd, stand-in base images, compose
  docker.io debootstrap docker-compose
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-deps: missing Debian packages: ${missing[*]} (run as root on Debian, or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep apt from starting daemons (bird, prometheus, dockerd) in the root namespace.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 update
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
fi

# npm ci when node_modules is absent or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
