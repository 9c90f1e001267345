import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  decideAccelerator,
  kvmFailureLine,
  lastStartOf,
  type ProbeObservation,
} from '../../../src/compute/virt/libvirt/accel.ts'
import { buildDomainXml } from '../../../src/compute/virt/libvirt/domain-xml.ts'
import { acceleratorView } from '../../../src/compute/virt/libvirt/driver.ts'
import {
  LONG_MODE_MARKER,
  PROBE_KERNEL_CMDLINE,
  probeInitElf,
  probeInitramfs,
  REAL_MODE_MARKER,
} from '../../../src/compute/virt/libvirt/probe-guest.ts'

/** How long the host run of the probe's /init may take to print (it then waits in pause() until killed). */
const INIT_RUN_TIMEOUT_MS = 5_000

const KERNEL = 'linux-image-6.1.0-57-cloud-amd64'
const observed = (o: Partial<ProbeObservation>): ProbeObservation => ({
  kernel: KERNEL,
  elapsedMs: 1234,
  realModeMarker: false,
  longModeMarker: false,
  timedOut: false,
  ...o,
})

/** A QEMU log as libvirt writes it for a guest that KVM cannot run (the 2026-12-07 host). */
const EMULATION_FAILURE_LOG = [
  '2026-12-07 10:00:00.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.22',
  '/usr/bin/qemu-system-x86_64 -name guest=nimbus-x -accel kvm -cpu host,migratable=on',
  'char device redirected to /dev/pts/3 (label charserial0)',
  'KVM internal error. Suberror: 1',
  'emulation failure',
  'RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000663',
  '',
].join('\n')

describe('KVM probe: the decision', () => {
  it('a half-working KVM (marker in real mode, none in long mode) is TCG', () => {
    const d = decideAccelerator(observed({ realModeMarker: true, timedOut: true, elapsedMs: 15_000 }))
    assert.equal(d.virtType, 'qemu')
    assert.match(d.reason, /printed in real mode but never reached long mode/)
    assert.match(d.reason, /still running after 15000 ms/)
    assert.match(d.reason, new RegExp(KERNEL))
  })

  it('the reverse (long mode without the real-mode marker) is not trusted either: TCG', () => {
    const d = decideAccelerator(observed({ longModeMarker: true }))
    assert.equal(d.virtType, 'qemu')
    assert.match(d.reason, /long mode without its real-mode marker/)
  })

  it('only both markers choose KVM, and the reason says the kernel and the time', () => {
    const d = decideAccelerator(observed({ realModeMarker: true, longModeMarker: true, elapsedMs: 812 }))
    assert.equal(d.virtType, 'kvm')
    assert.equal(d.reason, `guest kernel ${KERNEL} reached userspace in long mode under KVM in 812 ms`)
  })

  it('a KVM error from QEMU is TCG even if markers were seen before it', () => {
    const d = decideAccelerator(
      observed({ realModeMarker: true, longModeMarker: true, kvmError: 'KVM internal error. Suberror: 1' }),
    )
    assert.equal(d.virtType, 'qemu')
    assert.match(d.reason, /failed under KVM after 1234 ms: KVM internal error\. Suberror: 1/)
  })

  it('no output at all, or a probe that could not run, is TCG', () => {
    assert.equal(decideAccelerator(observed({ timedOut: true })).virtType, 'qemu')
    const d = decideAccelerator(observed({ unavailable: '/dev/kvm is missing or not usable' }))
    assert.equal(d.virtType, 'qemu')
    assert.match(d.reason, /could not run: \/dev\/kvm is missing/)
  })
})

describe('KVM probe: reading QEMU', () => {
  it('finds the KVM failure line in a QEMU log', () => {
    assert.equal(kvmFailureLine(EMULATION_FAILURE_LOG), 'KVM internal error. Suberror: 1')
  })

  it('finds it in a failed virsh command (stderr lines joined by " | ")', () => {
    const message =
      'virsh -q -c qemu:///system create /x/domain.xml: exit 1: error: Failed to create domain from /x/domain.xml | error: internal error: qemu unexpectedly closed the monitor: 2026-12-08T01:23:14.277666Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69 | qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion failed.'
    assert.equal(
      kvmFailureLine(message),
      'error: internal error: qemu unexpectedly closed the monitor: 2026-12-08T01:23:14.277666Z qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69',
    )
  })

  it('a guest that merely stopped, or a clean log, is no KVM failure', () => {
    assert.equal(kvmFailureLine('2026-12-08 01:00:00.000+0000: shutting down, reason=destroyed\n'), undefined)
    assert.equal(kvmFailureLine(''), undefined)
  })

  it('only the last start of a domain counts (its log keeps earlier starts)', () => {
    const restarted = `${EMULATION_FAILURE_LOG}2026-12-07 10:05:00.000+0000: starting up libvirt version: 9.0.0\n/usr/bin/qemu-system-x86_64 -accel tcg\n`
    assert.equal(kvmFailureLine(lastStartOf(restarted)), undefined)
    assert.equal(kvmFailureLine(lastStartOf(EMULATION_FAILURE_LOG)), 'KVM internal error. Suberror: 1')
  })
})

describe('KVM probe: the guest', () => {
  it("boots the kernel directly, with the markers on its command line, from the guests' own domain XML", () => {
    const xml = buildDomainXml({
      name: 'nimbus_kvm_probe_1_abc',
      uuid: '6f1c1f5e-0000-4000-8000-000000000009',
      title: 'Nimbus KVM probe',
      virtType: 'kvm',
      memoryMb: 256,
      vcpus: 1,
      disks: [],
      nics: [],
      consoleLog: '/p/console.log',
      imageProperties: {},
      imageId: 'kvm-probe',
      flavorSummary: 'probe',
      directBoot: { kernel: '/p/vmlinuz', initrd: '/p/initrd', cmdline: PROBE_KERNEL_CMDLINE },
    })
    assert.match(xml, /^<domain type='kvm'>/)
    assert.match(xml, /<cpu mode='host-passthrough'\/>/)
    assert.match(xml, /machine='pc'/)
    assert.match(
      xml,
      /<kernel>\/p\/vmlinuz<\/kernel>\s*<initrd>\/p\/initrd<\/initrd>\s*<cmdline>console=ttyS0/,
    )
    assert.doesNotMatch(xml, /<boot dev='hd'\/>/)
    assert.match(
      PROBE_KERNEL_CMDLINE,
      /\bdebug\b.*\bloglevel=1\b/,
      'debug makes the setup code print; loglevel after it wins',
    )
    assert.match(PROBE_KERNEL_CMDLINE, /earlyprintk=serial/)
  })

  it('/init is a static x86-64 ELF that prints the long-mode marker and then waits (run here for real)', () => {
    const elf = probeInitElf()
    assert.deepEqual([...elf.subarray(0, 5)], [0x7f, 0x45, 0x4c, 0x46, 2], 'ELF, 64-bit')
    assert.equal(elf.readUInt16LE(18), 0x3e, 'x86-64')
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-probe-init-'))
    try {
      const path = join(dir, 'init')
      writeFileSync(path, elf)
      chmodSync(path, 0o755)
      // It pauses forever after printing (as PID 1 must not exit): the timeout ends it.
      const r = spawnSync(path, { timeout: INIT_RUN_TIMEOUT_MS, encoding: 'utf8' })
      assert.equal(r.stdout, `\n${LONG_MODE_MARKER}\n`)
      assert.equal(r.signal, 'SIGTERM', 'still waiting when the timeout ended it')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the initramfs is a newc cpio with /dev/console and /init', () => {
    const cpio = probeInitramfs()
    const entries: { name: string; mode: number; rdev: string; data: Buffer }[] = []
    let at = 0
    for (;;) {
      assert.equal(cpio.toString('ascii', at, at + 6), '070701')
      const field = (i: number) => parseInt(cpio.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16)
      const nameSize = field(11)
      const name = cpio.toString('ascii', at + 110, at + 110 + nameSize - 1)
      const dataAt = Math.ceil((at + 110 + nameSize) / 4) * 4
      const data = cpio.subarray(dataAt, dataAt + field(6))
      const entry = { name, mode: field(1), rdev: `${field(9)}:${field(10)}`, data }
      at = Math.ceil((dataAt + data.length) / 4) * 4
      if (name === 'TRAILER!!!') break
      entries.push(entry)
    }
    assert.equal(at, cpio.length)
    assert.deepEqual(
      entries.map((e) => [e.name, e.mode.toString(8)]),
      [
        ['dev', '40755'],
        ['dev/console', '20600'],
        ['init', '100755'],
      ],
    )
    assert.equal(entries[1]!.rdev, '5:1')
    assert.deepEqual(entries[2]!.data, probeInitElf())
  })

  it('the markers are the strings the kernel and /init print', () => {
    assert.equal(REAL_MODE_MARKER, 'early console in setup code')
    assert.ok(probeInitElf().includes(Buffer.from(LONG_MODE_MARKER)))
  })
})

describe('KVM probe: what os-hypervisors shows', () => {
  it('the accelerator view names the source, reason, kernel and time', () => {
    const probe = observed({ realModeMarker: true, timedOut: true })
    const view = acceleratorView({
      ...decideAccelerator(probe),
      source: 'probe',
      cpuMode: 'host-passthrough',
      machineType: 'pc',
      probe,
      decidedAt: '2026-12-08T01:00:00.000Z',
    })
    assert.equal(view.virt_type, 'qemu')
    assert.equal(view.source, 'probe')
    assert.equal(view.cpu_mode, 'maximum', 'the CPU model guests get now (TCG)')
    assert.deepEqual(view.probe, {
      kernel: KERNEL,
      elapsed_ms: 1234,
      real_mode_marker: true,
      long_mode_marker: false,
      timed_out: true,
      kvm_error: null,
      unavailable: null,
    })
  })
})
