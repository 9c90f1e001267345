import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { makeGuestDir, qemuGroupId } from '../../../src/compute/virt/libvirt/guest-dirs.ts'

/** Issue 17 finding 9: guest data directories are not world-readable (they were 0755). */
describe('libvirt: guest data directories', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-guest-dirs-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const mode = (path: string) => statSync(path).mode & 0o777

  it("finds QEMU's group: the libvirt-qemu group, else libvirt-qemu's primary group, else none", () => {
    const group = join(dir, 'group')
    const passwd = join(dir, 'passwd')
    writeFileSync(group, 'root:x:0:\nkvm:x:995:libvirt-qemu\nlibvirt-qemu:x:994:libvirt-qemu\n')
    writeFileSync(
      passwd,
      'root:x:0:0::/root:/bin/sh\nlibvirt-qemu:x:995:995::/var/lib/libvirt:/usr/sbin/nologin\n',
    )
    assert.equal(qemuGroupId(group, passwd), 994)
    writeFileSync(group, 'root:x:0:\nkvm:x:995:\n')
    assert.equal(qemuGroupId(group, passwd), 995)
    writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\n')
    assert.equal(qemuGroupId(group, passwd), undefined)
    assert.equal(qemuGroupId(join(dir, 'missing'), join(dir, 'missing')), undefined)
  })

  it('makes a directory 0750 with the given group, or 0700 without one, tightening an old 0755', () => {
    const gid = process.getgid!()
    const withGroup = join(dir, 'instances', 'uuid-1')
    makeGuestDir(withGroup, gid)
    assert.equal(mode(withGroup), 0o750)
    // The parent it made (instances_path) stays traversable for QEMU (a 0700 parent broke every real guest).
    assert.equal(mode(join(dir, 'instances')), 0o755)
    assert.equal(statSync(withGroup).gid, gid)
    const old = join(dir, 'instances', 'uuid-2')
    mkdirSync(old, { mode: 0o755 })
    makeGuestDir(old, undefined)
    assert.equal(mode(old), 0o700)
  })
})
