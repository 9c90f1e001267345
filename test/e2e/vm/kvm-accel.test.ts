/**
 * The accelerator on this host, for real (issue #14):
 *
 * - the probe guest (the guest image's kernel, the probe initramfs, a
 *   transient domain from the guests' own domain XML) prints both markers
 *   under TCG, so a probe under KVM that misses one is KVM's fault;
 * - the `auto` decision on this host, with what it saw and how long it took;
 * - a guest started under KVM that fails with KVM's own error (for real on
 *   a host whose QEMU refuses KVM; simulated, as libvirt shows it, on a host
 *   where KVM starts: the guest paused with "paused (unknown)" and "KVM
 *   internal error" in its QEMU log) makes the host switch to TCG, and the
 *   same spawn succeeds under TCG: the guest boots to its banner.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../../src/guest-image/exec.ts'
import { GUEST_BANNER_MARKER } from '../../../src/guest-image/guest-files.ts'
import { debCacheDir } from '../../../src/guest-image/command.ts'
import { DEFAULT_STATE_DIR } from '../../../src/common/config.ts'
import type { VirtImage } from '../../../src/compute/virt/driver.ts'
import {
  chooseAccelerator,
  QEMU_LOG_DIR,
  runKvmProbe,
  stageProbeKernel,
} from '../../../src/compute/virt/libvirt/accel.ts'
import { LibvirtDriver } from '../../../src/compute/virt/libvirt/driver.ts'
import { Virsh } from '../../../src/compute/virt/libvirt/virsh.ts'
import { createReadStream } from 'node:fs'
import {
  BANNER_TIMEOUT_MS,
  consoleOnlyInstance,
  guestImage,
  IMAGE_BUILD_TIMEOUT_MS,
  simulateKvmEmulationFailure,
  waitFor,
} from './support.ts'

const URI = 'qemu:///system'
/** The probe guest under TCG on a loaded 2-core host: about 5-15 s to its /init; generous. */
const TCG_PROBE_TIMEOUT_MS = 120_000
const SUITE_TIMEOUT_MS = IMAGE_BUILD_TIMEOUT_MS + 10 * 60_000

const stateDir = process.env.NIMBUS_DEFAULT__STATE_DIR ?? DEFAULT_STATE_DIR

describe('KVM probe and fallback on real domains', { timeout: SUITE_TIMEOUT_MS }, () => {
  const instancesPath = `/var/lib/nimbus/test-kvm-${process.pid}`
  const virsh = new Virsh(URI)

  before(() => mkdirSync(instancesPath, { recursive: true, mode: 0o755 }))
  after(() => rmSync(instancesPath, { recursive: true, force: true }))

  it('the probe guest prints its real-mode and long-mode markers under TCG', async () => {
    const kernel = await stageProbeKernel(debCacheDir(stateDir))
    const obs = await runKvmProbe({
      virsh,
      dir: join(instancesPath, '_kvm_probe'),
      kernel,
      virtType: 'qemu',
      timeoutMs: TCG_PROBE_TIMEOUT_MS,
    })
    process.stdout.write(`# probe guest under TCG: ${JSON.stringify(obs)}\n`)
    assert.equal(obs.unavailable, undefined)
    assert.equal(obs.kvmError, undefined)
    assert.equal(obs.realModeMarker, true, 'real-mode marker')
    assert.equal(obs.longModeMarker, true, 'long-mode marker')
    assert.ok(!existsSync(join(instancesPath, '_kvm_probe')), 'the probe leaves no files')
    const names = await virsh.listAll()
    assert.ok(!names.some((n) => n.startsWith(`nimbus_kvm_probe_${process.pid}_`)), 'no probe domain left')
  })

  it('auto: the probe decides, says why, and what it saw', async () => {
    const started = Date.now()
    const choice = await chooseAccelerator({
      wanted: 'auto',
      virsh,
      debCacheDir: debCacheDir(stateDir),
      probeDir: join(instancesPath, '_kvm_probe'),
      hypervisorVersion: 0,
    })
    process.stdout.write(
      `# accelerator on this host: ${choice.virtType} (${choice.source}) in ${Date.now() - started} ms: ${choice.reason}\n`,
    )
    assert.ok(choice.source === 'probe' || choice.source === 'cache')
    assert.ok(choice.probe, 'the probe observation is kept')
    assert.match(choice.probe.kernel, /^linux-image-.*-cloud-amd64$/)
    assert.match(choice.reason, /guest kernel|could not run/)
    if (choice.virtType === 'kvm') assert.ok(choice.probe.realModeMarker && choice.probe.longModeMarker)
  })

  describe('a guest that fails under KVM', () => {
    let driver: LibvirtDriver
    let image: VirtImage
    let sabotage: { stop: () => Promise<string> } | undefined

    before(async () => {
      const path = await guestImage()
      image = { id: 'nimbus-guest-kvm-test', diskFormat: 'qcow2', sizeBytes: 0, properties: {} }
      driver = new LibvirtDriver({
        uri: URI,
        virtType: 'kvm',
        instancesPath,
        images: { open: async () => ({ stream: createReadStream(path), checksum: null }) },
        debCacheDir: debCacheDir(stateDir),
      })
      await driver.initHost('kvm-test-host')
    })

    after(async () => {
      await sabotage?.stop()
      for (const uuid of await driver.listInstances().catch(() => [])) {
        if (existsSync(driver.instanceDir(uuid))) await driver.destroy({ ...consoleOnlyInstance('x'), uuid })
      }
    })

    it('switches the host to TCG for good and builds the same guest again under TCG', async () => {
      assert.equal(driver.virtType, 'kvm', 'forced to KVM to begin with')
      const inst = consoleOnlyInstance('vm-kvm-fallback')
      const domain = driver.domainName(inst.uuid)
      sabotage = simulateKvmEmulationFailure((name) => name === domain)
      const started = Date.now()
      await driver.spawn({ instance: inst, image, nics: [], configDrive: false })
      const how = await sabotage.stop()
      process.stdout.write(`# KVM failure was ${how}; spawn done under TCG in ${Date.now() - started} ms\n`)

      assert.equal(driver.virtType, 'qemu')
      const accel = driver.accelerator!
      assert.equal(accel.source, 'fallback')
      assert.match(accel.reason, /failed under KVM: .*(KVM internal error|failed to set MSR|kvm)/i)
      const xml = (await run(['virsh', '-c', URI, 'dumpxml', domain], { timeoutMs: 30_000 })).stdout
      assert.match(xml, /<domain type='qemu'/, 'the guest runs under TCG now')
      await waitFor('banner on the console', BANNER_TIMEOUT_MS * 2, async () =>
        (await driver.getConsoleOutput(inst)).includes(GUEST_BANNER_MARKER) ? true : undefined,
      )
      const res = await driver.getAvailableResource('kvm-test-host')
      assert.equal(res.hypervisorType, 'QEMU')
      assert.equal(res.cpuInfo.virt_type, 'qemu')
      assert.equal((res.cpuInfo['nimbus:accelerator'] as { source: string }).source, 'fallback')

      // The next guest goes straight to TCG: its QEMU log has one start, under TCG.
      const second = consoleOnlyInstance('vm-after-fallback')
      await driver.spawn({ instance: second, image, nics: [], configDrive: false })
      const log = readFileSync(join(QEMU_LOG_DIR, `${driver.domainName(second.uuid)}.log`), 'utf8')
      assert.equal(log.match(/starting up libvirt/g)?.length, 1)
      assert.match(log, /-accel tcg/)
      await driver.destroy(second)
      await driver.destroy(inst)
      assert.deepEqual(
        readdirSync(instancesPath).filter((f) => f !== '_base'),
        [],
        'nothing of either guest is left',
      )
    })
  })
})
