import { chmodSync, chownSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * Directories holding guest data (instance dirs: disks, config drive with
 * user_data, console log; `_base`: cached images, private ones included).
 * QEMU runs as `libvirt-qemu` (group `libvirt-qemu`, also in `kvm`) and must
 * reach the files libvirt hands it, after libvirt's dynamic ownership has
 * made them its own; nobody else on the host needs to. So such a directory
 * is 0750, owned by us with QEMU's group, or 0700 where QEMU has no user of
 * its own (it then runs as root). 0700 alone would stop QEMU from opening
 * the disk; 0755 let every local user read every guest's disk.
 */
export const GUEST_DIR_MODE_WITH_QEMU_GROUP = 0o750
export const GUEST_DIR_MODE_OWNER_ONLY = 0o700
/** Parents of guest directories (instances_path): QEMU must traverse them to reach its disks. */
export const GUEST_PARENT_DIR_MODE = 0o755

/** The group QEMU runs with under libvirt (Debian's default `group` in qemu.conf). */
const QEMU_GROUP = 'libvirt-qemu'
/** The user QEMU runs as; its primary group stands in when the group above is missing. */
const QEMU_USER = 'libvirt-qemu'

/** The gid QEMU processes run with, read from the group and passwd files; undefined when QEMU has no user. */
export function qemuGroupId(groupFile = '/etc/group', passwdFile = '/etc/passwd'): number | undefined {
  const field = (file: string, name: string, index: number): number | undefined => {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return undefined
    }
    const line = text.split('\n').find((l) => l.split(':')[0] === name)
    const value = line?.split(':')[index]
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined
  }
  return field(groupFile, QEMU_GROUP, 2) ?? field(passwdFile, QEMU_USER, 3)
}

/** Creates (or tightens) a guest data directory: 0750 with group `gid` (`qemuGroupId()`), or 0700 without (see above). */
export function makeGuestDir(dir: string, gid: number | undefined): void {
  // Parents (instances_path itself) stay traversable: a recursive mkdir with the
  // owner-only mode would make them 0700 too, and QEMU could not reach any disk.
  mkdirSync(dirname(dir), { recursive: true, mode: GUEST_PARENT_DIR_MODE })
  mkdirSync(dir, { recursive: true, mode: GUEST_DIR_MODE_OWNER_ONLY })
  if (gid === undefined) {
    chmodSync(dir, GUEST_DIR_MODE_OWNER_ONLY)
    return
  }
  try {
    chownSync(dir, process.getuid?.() ?? 0, gid)
  } catch {
    // Not root and not in QEMU's group (a session libvirt runs QEMU as us): owner only.
    chmodSync(dir, GUEST_DIR_MODE_OWNER_ONLY)
    return
  }
  chmodSync(dir, GUEST_DIR_MODE_WITH_QEMU_GROUP)
}
