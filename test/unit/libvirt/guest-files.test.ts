import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import {
  GUEST_BANNER_MARKER,
  GUEST_CDROM_GROUP,
  GUEST_CDROM_MODULES,
  GUEST_DEFAULT_USER,
  GUEST_LOGIN_SHELL,
  GUEST_MODULES,
  UDHCPC_PID_FILE_PREFIX,
  initramfsInit,
  rootFiles,
} from '../../../src/guest-image/guest-files.ts'

/** `sh -n`: the guest's scripts must at least parse (they only run inside the guest). */
function shParses(script: string): string {
  const r = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' })
  return r.status === 0 ? '' : r.stderr
}

describe('guest image files', () => {
  it('every shell script parses', () => {
    assert.equal(shParses(initramfsInit()), '')
    for (const f of rootFiles()) {
      if (f.content.startsWith('#!/bin/sh')) assert.equal(shParses(f.content), '', f.path)
    }
  })

  it('loads virtio_ring before virtio (it exports what virtio needs)', () => {
    const ring = GUEST_MODULES.indexOf('kernel/drivers/virtio/virtio_ring.ko')
    const virtio = GUEST_MODULES.indexOf('kernel/drivers/virtio/virtio.ko')
    assert.ok(ring >= 0 && ring < virtio)
  })

  it('has the default user, no password logins, the banner and the ACPI power button handler', () => {
    const files = new Map(rootFiles().map((f) => [f.path, f]))
    assert.match(files.get('etc/passwd')!.content, new RegExp(`^${GUEST_DEFAULT_USER}:\\*:1000:1000:`, 'm'))
    assert.match(files.get('etc/nimbus/ssh')!.content, /dropbear .* -s -w/)
    assert.match(files.get('etc/nimbus/banner')!.content, new RegExp(GUEST_BANNER_MARKER))
    assert.equal(files.get('etc/acpi/PWRF/00000080')!.mode, 0o755)
    // Debian's busybox wget segfaults with -T: requests are bounded by timeout(1) instead.
    assert.doesNotMatch(files.get('etc/nimbus/metadata')!.content, /^[^#\n]*wget[^\n]* -T/m)
  })

  it('what Tempest runs as the default user: sudo without a password, unprivileged ping, the cdrom readable', () => {
    const files = new Map(rootFiles().map((f) => [f.path, f]))
    const sudoers = files.get('etc/sudoers')!
    assert.equal(sudoers.mode, 0o440)
    assert.match(sudoers.content, new RegExp(`^${GUEST_DEFAULT_USER} ALL=\\(ALL:ALL\\) NOPASSWD: ALL$`, 'm'))
    assert.match(files.get('etc/pam.d/sudo')!.content, /^account\s+required\s+pam_unix\.so$/m)
    assert.match(
      files.get('etc/init.d/rcS')!.content,
      /"0 2147483647" > \/proc\/sys\/net\/ipv4\/ping_group_range/,
    )
    assert.match(
      files.get('etc/group')!.content,
      new RegExp(`^${GUEST_CDROM_GROUP}:x:24:${GUEST_DEFAULT_USER}$`, 'm'),
    )
    assert.match(files.get('etc/nimbus/cdrom')!.content, new RegExp(`chgrp ${GUEST_CDROM_GROUP}`))
    // Commands over SSH run in a shell that looks them up on PATH (iputils' ping, not an applet).
    assert.match(
      files.get('etc/passwd')!.content,
      new RegExp(`^${GUEST_DEFAULT_USER}:.*:/${GUEST_LOGIN_SHELL}$`, 'm'),
    )
    assert.match(files.get('etc/shells')!.content, new RegExp(`^/${GUEST_LOGIN_SHELL}$`, 'm'))
  })

  it('udhcpc stays as a daemon with the pid file Tempest signals to renew the lease', () => {
    const network = rootFiles().find((f) => f.path === 'etc/nimbus/network')!.content
    assert.match(
      network,
      new RegExp(`udhcpc .*-p ${UDHCPC_PID_FILE_PREFIX.replace(/\./g, '\\.')}"\\$nic"\\.pid`),
    )
    assert.doesNotMatch(network, /udhcpc [^\n]* -q/)
  })

  it('loads the cdrom modules after what they need (scsi before sr_mod, libata before ata_piix)', () => {
    const at = (m: string) => GUEST_CDROM_MODULES.findIndex((p) => p.endsWith(`/${m}.ko`))
    for (const [dep, mod] of [
      ['scsi_common', 'scsi_mod'],
      ['scsi_mod', 'sr_mod'],
      ['cdrom', 'sr_mod'],
      ['scsi_mod', 'libata'],
      ['libata', 'ata_piix'],
    ] as const) {
      assert.ok(at(dep) >= 0 && at(dep) < at(mod), `${dep} before ${mod}`)
    }
    assert.ok(at('isofs') >= 0)
  })
})
