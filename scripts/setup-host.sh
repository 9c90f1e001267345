#!/usr/bin/env bash
# Installs what Nimbus and its tests need on a Debian 12 machine, idempotently:
# Debian packages, the npm dependencies, and a check that PostgreSQL and
# RabbitMQ answer when the tests need them. Run as root (apt-get).
#   scripts/setup-host.sh            packages for the cloud and the tests
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MAJOR_MIN=20
# The real OpenStack clients the acceptance tests drive, Tempest, and what the
# network data plane and its namespace tests use (busybox-static: DHCP client in test guests;
# iputils-ping: Tempest pings floating IPs from its namespace).
DEBIAN_PACKAGES=(python3-openstackclient tempest neutron-tempest-plugin iproute2 nftables dnsmasq-base busybox-static iputils-ping)

need_node() {
  if ! command -v node >/dev/null; then
    echo "setup-host: Node.js >= ${NODE_MAJOR_MIN} is required (not found)" >&2
    exit 1
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
    echo "setup-host: Node.js >= ${NODE_MAJOR_MIN} is required (found $(node --version))" >&2
    exit 1
  fi
}

install_debian_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup-host: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_npm_packages() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup-host: installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

need_node
install_debian_packages
install_npm_packages
# Hypervisor host: QEMU + libvirt from Debian, daemons started without systemd (issue #8).
bash scripts/setup-libvirt.sh
