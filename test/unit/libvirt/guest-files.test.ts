import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import {
  GUEST_BANNER_MARKER,
  GUEST_DEFAULT_USER,
  GUEST_MODULES,
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
})
