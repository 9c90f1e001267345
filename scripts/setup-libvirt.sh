#!/usr/bin/env bash
# Makes this Debian 12 machine a Nimbus hypervisor host, idempotently:
#   - installs QEMU, libvirt and the tools the guest-image builder needs from
#     Debian (--no-install-recommends, so nothing pulls in systemd units);
#   - creates what the packages' maintainer scripts skip without systemd
#     (users/groups libvirt-qemu and kvm, libvirt's run/log/lib dirs);
#   - starts virtlogd and libvirtd as daemons when they are not already up
#     (judged by their pid files and sockets, never by process names);
#   - checks `virsh -c qemu:///system version` answers.
# Run as root. Safe to run again: every step checks first.
set -euo pipefail

DEBIAN_PACKAGES=(
  qemu-system-x86 qemu-utils
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  dnsmasq-base nftables iproute2
  # guest-image builder (nimbus image build): file systems and bootloader without loop mounts
  e2fsprogs dosfstools mtools syslinux syslinux-common fdisk cpio
  # e2e VM tests: SSH into guests
  openssh-client
  # config drives (ISO 9660, label config-2)
  xorriso
)
LIBVIRT_URI=qemu:///system
# How long to wait for a daemon's socket after starting it.
DAEMON_START_WAIT_S=20
RUN_DIR=/var/run/libvirt

log() { echo "setup-libvirt: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_users() {
  getent group kvm >/dev/null || as_root groupadd --system kvm
  getent group libvirt-qemu >/dev/null || as_root groupadd --system libvirt-qemu
  getent group libvirt >/dev/null || as_root groupadd --system libvirt
  if ! getent passwd libvirt-qemu >/dev/null; then
    as_root useradd --system --gid kvm --groups kvm,libvirt-qemu --home-dir /var/lib/libvirt \
      --no-create-home --shell /usr/sbin/nologin libvirt-qemu
  fi
  # What Debian's udev rule would do (no udev here). libvirt checks /dev/kvm as
  # libvirt-qemu; if QEMU (probing as root) finds KVM but libvirt-qemu cannot
  # open it, libvirt re-probes QEMU's capabilities on every call (~5-50 s each).
  if [ -e /dev/kvm ]; then
    as_root chgrp kvm /dev/kvm || true
    as_root chmod 0660 /dev/kvm || true
  fi
}

ensure_dirs() {
  as_root mkdir -p /var/log/libvirt/qemu "$RUN_DIR" /var/lib/libvirt/qemu /var/lib/libvirt/images \
    /var/cache/libvirt/qemu
}

# A daemon is up when its pid file (/run/NAME.pid when run as root) names a live
# process and its socket exists.
daemon_up() {
  local pidfile=$1 socket=$2
  [ -S "$socket" ] || return 1
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start_daemon() {
  local name=$1 pidfile=$2 socket=$3
  if daemon_up "$pidfile" "$socket"; then return 0; fi
  log "starting $name"
  as_root "$name" -d
  local i
  for ((i = 0; i < DAEMON_START_WAIT_S * 10; i++)); do
    daemon_up "$pidfile" "$socket" && return 0
    sleep 0.1
  done
  log "$name did not come up within ${DAEMON_START_WAIT_S}s (see /var/log/libvirt)" >&2
  exit 1
}

# KVM is never assumed: /dev/kvm can answer ioctls while guests still fail.
# Nimbus probes KVM itself at start-up; this only reports what the device says.
report_accel() {
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    log "/dev/kvm present (Nimbus probes whether KVM really runs guests; TCG otherwise)"
  else
    log "/dev/kvm absent: guests run under TCG"
  fi
}

install_packages
ensure_users
ensure_dirs
start_daemon virtlogd /run/virtlogd.pid "$RUN_DIR/virtlogd-sock"
start_daemon libvirtd /run/libvirtd.pid "$RUN_DIR/libvirt-sock"
timeout 30 virsh -c "$LIBVIRT_URI" version >/dev/null
log "libvirt answers on $LIBVIRT_URI ($(virsh -c "$LIBVIRT_URI" version 2>/dev/null | grep -i 'running hypervisor' | sed 's/.*: //'))"
report_accel
