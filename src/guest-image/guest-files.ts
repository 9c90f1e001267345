/**
 * The files the guest image carries besides Debian's binaries: the initramfs
 * init (loads virtio modules, mounts the ext4 root by label, switches root)
 * and the root's boot scripts (DHCP, metadata, SSH keys, user data, dropbear,
 * serial banner). Plain busybox sh so the guest needs nothing else.
 */

/** Printed on the serial console when the guest is up; tests and the driver look for it. */
export const GUEST_BANNER_MARKER = 'Nimbus guest ready'
/** The user whose authorized_keys gets the instance's key pair. */
export const GUEST_DEFAULT_USER = 'nimbus'
export const GUEST_DEFAULT_UID = 1000
/**
 * The default user's login shell, which runs every command given over SSH:
 * Debian's dynamic busybox `sh`, which looks commands up on PATH (the static
 * one's shell prefers its own applets, so `ping` would not be iputils').
 */
export const GUEST_LOGIN_SHELL = 'usr/bin/sh'
/** File-system label the initramfs looks for to find the root. */
export const ROOT_FS_LABEL = 'nimbus-root'
/** Modules the cloud kernel builds as =m that the guest needs, in load order. */
export const GUEST_MODULES = [
  // virtio_ring exports what virtio.ko needs (virtio_break_device), so it goes first.
  'kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
  'kernel/drivers/virtio/virtio_pci.ko',
  'kernel/drivers/block/virtio_blk.ko',
  'kernel/net/core/failover.ko',
  'kernel/drivers/net/net_failover.ko',
  'kernel/drivers/net/virtio_net.ko',
  // Entropy for dropbear's host key on first boot when the host offers virtio-rng.
  'kernel/drivers/char/hw_random/virtio-rng.ko',
  // ACPI power button as an input event, so a soft reboot / power off from the host reaches acpid.
  'kernel/drivers/acpi/button.ko',
  'kernel/drivers/input/evdev.ko',
] as const

/**
 * The config drive's cdrom (an IDE cdrom on i440fx, which is what the libvirt
 * driver attaches it as; the cloud kernel has no AHCI, so q35's SATA cdrom is
 * not readable) and ISO 9660, in load order. They live in the root, not the
 * initramfs, and load in the background while DHCP runs: probing the IDE
 * ports is the slow part and nothing before SSH needs it.
 */
export const GUEST_CDROM_MODULES = [
  'kernel/drivers/scsi/scsi_common.ko',
  'kernel/drivers/scsi/scsi_mod.ko',
  'kernel/drivers/cdrom/cdrom.ko',
  'kernel/drivers/scsi/sr_mod.ko',
  'kernel/drivers/ata/libata.ko',
  'kernel/drivers/ata/ata_piix.ko',
  'kernel/fs/isofs/isofs.ko',
] as const
/** Group that may read the cdrom (Debian's `cdrom`, gid 24, as udev's rules make /dev/sr* 0660 root:cdrom). */
export const GUEST_CDROM_GROUP = 'cdrom'
export const GUEST_CDROM_GID = 24
/** The pid file Tempest reads to renew the lease (`kill -USR1`, `[scenario] dhcp_client = udhcpc`). */
export const UDHCPC_PID_FILE_PREFIX = '/var/run/udhcpc.'

export interface GuestFile {
  readonly path: string
  readonly content: string
  readonly mode: number
}

// Seconds the initramfs waits for the root disk to appear (virtio probing under TCG).
const ROOT_WAIT_S = 30
// udhcpc: discover attempts and seconds between them; without a DHCP server boot goes on after ~6 s.
const DHCP_TRIES = 3
const DHCP_TIMEOUT_S = 2
// Metadata fetch attempts, one second apart, and per-request timeout.
const METADATA_TRIES = 10
const METADATA_REQUEST_TIMEOUT_S = 3

/** /init of the initramfs. */
export function initramfsInit(): string {
  return `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do /bin/busybox insmod "/lib/modules/$m" 2>/dev/null; done
i=0
while [ $i -lt ${ROOT_WAIT_S * 10} ]; do
  root=$(/bin/busybox findfs LABEL=${ROOT_FS_LABEL} 2>/dev/null)
  [ -n "$root" ] && break
  /bin/busybox usleep 100000
  i=$((i + 1))
done
if [ -z "$root" ] || ! /bin/busybox mount -t ext4 "$root" /newroot; then
  echo "nimbus initramfs: no root file system labelled ${ROOT_FS_LABEL}" > /dev/console
  exec /bin/busybox sh
fi
/bin/busybox umount /proc /sys
/bin/busybox umount /dev
exec /bin/busybox switch_root /newroot /sbin/init
`
}

/** Sourced by every boot script: `say` prints one progress line on the serial console, as cloud-init does. */
function bootLib(): string {
  return `say() { echo "nimbus-init[$(cut -d' ' -f1 /proc/uptime)s]: $*" > /dev/ttyS0; }
`
}

function inittab(): string {
  return `::sysinit:/etc/init.d/rcS
ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
`
}

/** Boot script: the guest's cloud-init. */
function rcS(): string {
  return `#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /run /tmp /var/log /var/lib/nimbus
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -o remount,rw /
hostname nimbus-guest
ip link set lo up
# Unprivileged ICMP echo sockets for every group (what Debian's default sysctl.d sets), so
# ping works as ${GUEST_DEFAULT_USER} without a setuid binary.
echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range
/etc/nimbus/cdrom &
# busybox acpid runs /etc/acpi/PWRF/00000080 on the ACPI power button (libvirt shutdown/reboot).
acpid
chown -R ${GUEST_DEFAULT_USER}:${GUEST_DEFAULT_USER} /home/${GUEST_DEFAULT_USER}
/etc/nimbus/network
/etc/nimbus/metadata
/etc/nimbus/ssh
/etc/nimbus/banner > /dev/ttyS0
/etc/nimbus/user-data &
`
}

function networkScript(): string {
  return `#!/bin/sh
# First NIC by DHCP; a guest without one (serial-only boot) goes on at once.
. /etc/nimbus/lib
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
[ -n "$nic" ] || exit 0
ip link set "$nic" up
say "dhcp on $nic"
# udhcpc stays as the lease's daemon (renewals; SIGUSR1 renews at once): it returns once bound,
# or after the tries goes on in the background (-b) so a late DHCP server still gives the lease.
udhcpc -i "$nic" -s /etc/nimbus/udhcpc -p ${UDHCPC_PID_FILE_PREFIX}"$nic".pid -b -t ${DHCP_TRIES} -T ${DHCP_TIMEOUT_S} -O staticroutes >>/var/log/udhcpc.log 2>&1
if [ -s /run/nimbus-ip ]; then
  say "dhcp: $nic $(cat /run/nimbus-ip) via $(ip route | sed -n 's/^default via \\([^ ]*\\).*/\\1/p')"
else
  say "dhcp: no lease on $nic yet"
fi
exit 0
`
}

/** udhcpc event script: applies the lease (address, router, DHCP option 121 routes, DNS). */
function udhcpcScript(): string {
  return `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    # A renewal that keeps the address keeps it on the link (open connections survive).
    [ "$(cat /run/nimbus-ip 2>/dev/null)" = "$ip" ] || ip addr flush dev "$interface"
    ip addr replace "$ip/\${mask:-24}" \${broadcast:+broadcast $broadcast} dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"; else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    fi
    for r in $router; do ip route replace default via "$r" dev "$interface" 2>/dev/null; break; done
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    [ -n "$domain" ] && echo "search $domain" >> /etc/resolv.conf
    echo "$ip" > /run/nimbus-ip
    ;;
esac
exit 0
`
}

/** Metadata: OpenStack tree first, EC2 tree as fallback (169.254.169.254). */
function metadataScript(): string {
  return `#!/bin/sh
. /etc/nimbus/lib
MD=http://169.254.169.254
D=/var/lib/nimbus
src=none
[ -s /run/nimbus-ip ] || exit 0
# Debian's busybox 1.35 is built without wget -T (it segfaults), so timeout(1) bounds each request.
get() { timeout ${METADATA_REQUEST_TIMEOUT_S} wget -q -O "$2" "$MD$1" 2>/run/wget.err; }
i=0
while [ $i -lt ${METADATA_TRIES} ]; do
  if get /openstack/latest/meta_data.json $D/meta_data.json; then
    h=$(sed -n 's/.*"hostname": *"\\([^"]*\\)".*/\\1/p' $D/meta_data.json | head -n 1)
    grep -o '"\\(ssh-\\|ecdsa-\\|sk-\\)[^"]*"' $D/meta_data.json | tr -d '"' | sed 's/\\\\n$//' > $D/keys
    get /openstack/latest/user_data $D/user_data || rm -f $D/user_data
    src=openstack
    break
  fi
  if get /latest/meta-data/hostname $D/hostname; then
    h=$(cat $D/hostname)
    get /latest/meta-data/public-keys/0/openssh-key $D/keys || : > $D/keys
    get /latest/user-data $D/user_data || rm -f $D/user_data
    src=ec2
    break
  fi
  i=$((i + 1))
  sleep 1
done
[ $src = none ] && say "metadata: unreachable: $(tail -n 1 /run/wget.err)"
say "metadata: $src\${h:+, hostname $h}, $(grep -c . $D/keys 2>/dev/null || echo 0) key(s)"
if [ -n "$h" ]; then
  h=\${h%%.*}
  hostname "$h"
  echo "$h" > /etc/hostname
  # The name resolves locally (Debian's 127.0.1.1 line): sudo looks it up, and must not wait on DNS.
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$h" > /etc/hosts
fi
if [ -s $D/keys ]; then
  mkdir -p /home/${GUEST_DEFAULT_USER}/.ssh
  cat $D/keys > /home/${GUEST_DEFAULT_USER}/.ssh/authorized_keys
  chown -R ${GUEST_DEFAULT_USER}:${GUEST_DEFAULT_USER} /home/${GUEST_DEFAULT_USER}/.ssh
  chmod 700 /home/${GUEST_DEFAULT_USER}/.ssh
  chmod 600 /home/${GUEST_DEFAULT_USER}/.ssh/authorized_keys
fi
exit 0
`
}

/** Background boot step: the config drive's modules, then /dev/sr* readable by group cdrom (as udev's rules make it). */
function cdromScript(): string {
  return `#!/bin/sh
. /etc/nimbus/lib
M=/lib/modules/$(uname -r)
# insmod returns once the module's probing is done (the kernel waits for the async ATA port
# probe it started), so a cdrom present at boot is /dev/sr* by then: no polling.
for m in ${GUEST_CDROM_MODULES.join(' ')}; do insmod "$M/$m" 2>/dev/null; done
for d in /dev/sr*; do
  [ -b "$d" ] || continue
  chgrp ${GUEST_CDROM_GROUP} "$d"
  chmod 660 "$d"
  say "cdrom: $d"
done
exit 0
`
}

/** sudo's policy: the default user may run anything without a password, as on a cloud image. */
function sudoers(): string {
  return `Defaults env_reset
Defaults secure_path="/usr/sbin:/usr/bin:/sbin:/bin"
root ALL=(ALL:ALL) ALL
${GUEST_DEFAULT_USER} ALL=(ALL:ALL) NOPASSWD: ALL
`
}

/** PAM for sudo: Debian's common-auth/account/session reduced to pam_unix (accounts are in /etc/passwd). */
function pamSudo(): string {
  return `auth     required pam_unix.so
account  required pam_unix.so
session  required pam_permit.so
`
}

function sshScript(): string {
  return `#!/bin/sh
K=/etc/dropbear/dropbear_ed25519_host_key
mkdir -p /etc/dropbear
[ -s $K ] || dropbearkey -t ed25519 -f $K > /dev/null 2>&1
# -s: keys only; -w: no root logins.
dropbear -r $K -p 22 -s -w
`
}

function bannerScript(): string {
  return `#!/bin/sh
ip=$(cat /run/nimbus-ip 2>/dev/null)
echo
echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
dropbearkey -y -f /etc/dropbear/dropbear_ed25519_host_key 2>/dev/null | grep -i fingerprint
echo "-----END SSH HOST KEY FINGERPRINTS-----"
echo "${GUEST_BANNER_MARKER}: hostname $(hostname) address \${ip:-none} ssh ${GUEST_DEFAULT_USER}@\${ip:-none} uptime $(cut -d' ' -f1 /proc/uptime)s"
`
}

function userDataScript(): string {
  return `#!/bin/sh
U=/var/lib/nimbus/user_data
[ -s $U ] || exit 0
head -c 2 $U | grep -q '^#!' || exit 0
chmod 700 $U
$U > /var/log/user-data.log 2>&1
echo "nimbus: user_data exited $?" > /dev/ttyS0
`
}

/** Every file of the root file system that is not from a Debian package. */
export function rootFiles(): readonly GuestFile[] {
  const u = GUEST_DEFAULT_USER
  const id = GUEST_DEFAULT_UID
  return [
    { path: 'etc/inittab', content: inittab(), mode: 0o644 },
    { path: 'etc/acpi/PWRF/00000080', content: '#!/bin/sh\npoweroff\n', mode: 0o755 },
    { path: 'etc/init.d/rcS', content: rcS(), mode: 0o755 },
    { path: 'etc/nimbus/lib', content: bootLib(), mode: 0o644 },
    { path: 'etc/nimbus/network', content: networkScript(), mode: 0o755 },
    { path: 'etc/nimbus/udhcpc', content: udhcpcScript(), mode: 0o755 },
    { path: 'etc/nimbus/metadata', content: metadataScript(), mode: 0o755 },
    { path: 'etc/nimbus/ssh', content: sshScript(), mode: 0o755 },
    { path: 'etc/nimbus/cdrom', content: cdromScript(), mode: 0o755 },
    { path: 'etc/sudoers', content: sudoers(), mode: 0o440 },
    { path: 'etc/pam.d/sudo', content: pamSudo(), mode: 0o644 },
    // Any other PAM service is refused.
    {
      path: 'etc/pam.d/other',
      content:
        'auth required pam_deny.so\naccount required pam_deny.so\npassword required pam_deny.so\nsession required pam_deny.so\n',
      mode: 0o644,
    },
    { path: 'etc/nimbus/banner', content: bannerScript(), mode: 0o755 },
    { path: 'etc/nimbus/user-data', content: userDataScript(), mode: 0o755 },
    // '*' (not '!'): dropbear refuses accounts whose password field marks them locked.
    {
      path: 'etc/passwd',
      content: `root:*:0:0:root:/root:/bin/sh\n${u}:*:${id}:${id}:${u}:/home/${u}:/${GUEST_LOGIN_SHELL}\n`,
      mode: 0o644,
    },
    {
      path: 'etc/group',
      content: `root:x:0:\n${GUEST_CDROM_GROUP}:x:${GUEST_CDROM_GID}:${u}\n${u}:x:${id}:\n`,
      mode: 0o644,
    },
    { path: 'etc/shells', content: `/bin/sh\n/${GUEST_LOGIN_SHELL}\n`, mode: 0o644 },
    {
      path: 'etc/nsswitch.conf',
      content: 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n',
      mode: 0o644,
    },
    { path: 'etc/hostname', content: 'nimbus-guest\n', mode: 0o644 },
    { path: 'etc/hosts', content: '127.0.0.1 localhost\n127.0.1.1 nimbus-guest\n', mode: 0o644 },
    { path: 'etc/profile', content: 'PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n', mode: 0o644 },
    { path: 'etc/issue', content: 'Nimbus guest (busybox + dropbear) \\n \\l\n\n', mode: 0o644 },
  ]
}
