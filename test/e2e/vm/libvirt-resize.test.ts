/**
 * The libvirt driver's resize on one host, on a real domain (qemu:///system,
 * TCG here): migrate_disk_and_power_off keeps the original beside the
 * instance, finish_migration grows the root disk and redefines the domain
 * with the new memory and vCPUs and boots it; a revert puts the original
 * (old flavor, old disk) back; a confirm drops the kept original; destroy
 * leaves nothing. No NICs: boots are seen on the serial console.
 */
import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../../src/guest-image/exec.ts'
import { GUEST_BANNER_MARKER } from '../../../src/guest-image/guest-files.ts'
import { PowerState } from '../../../src/compute/states.ts'
import type { VirtImage, VirtInstance } from '../../../src/compute/virt/driver.ts'
import type { LibvirtDriver } from '../../../src/compute/virt/libvirt/driver.ts'
import {
  BANNER_TIMEOUT_MS,
  consoleOnlyInstance,
  guestImageDriver,
  IMAGE_BUILD_TIMEOUT_MS,
  waitFor,
} from './support.ts'

const SUITE_TIMEOUT_MS = IMAGE_BUILD_TIMEOUT_MS + 10 * 60_000
const URI = 'qemu:///system'
const HOST = 'test-host'
const GIB = 1024 ** 3
const COMMAND_TIMEOUT_MS = 30_000

describe('libvirt driver: resize on one host, on a real domain', { timeout: SUITE_TIMEOUT_MS }, () => {
  const instancesPath = `/var/lib/nimbus/test-resize-${process.pid}`
  let driver: LibvirtDriver
  let image: VirtImage
  const small = consoleOnlyInstance('vm-resize')
  const uuid = small.uuid
  const big: VirtInstance = { ...small, memoryMb: 384, vcpus: 2, rootGb: 2 }

  async function banners(): Promise<number> {
    return (await driver.getConsoleOutput(small)).split(GUEST_BANNER_MARKER).length - 1
  }

  async function booted(what: string): Promise<void> {
    await waitFor(what, BANNER_TIMEOUT_MS * 2, async () => ((await banners()) >= 1 ? true : undefined))
  }

  /** Memory (MiB) and vCPUs of the persistent definition, and the root disk's virtual size. */
  async function shape(): Promise<{ memoryMb: number; vcpus: number; diskBytes: number }> {
    const xml = (
      await run(['virsh', '-c', URI, 'dumpxml', '--inactive', driver.domainName(uuid)], {
        timeoutMs: COMMAND_TIMEOUT_MS,
      })
    ).stdout
    const kib = Number(/<memory unit='KiB'>(\d+)<\/memory>/.exec(xml)?.[1])
    const vcpus = Number(/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1])
    const info = JSON.parse(
      (
        await run(['qemu-img', 'info', '-U', '--output=json', join(driver.instanceDir(uuid), 'disk')], {
          timeoutMs: COMMAND_TIMEOUT_MS,
        })
      ).stdout,
    ) as { 'virtual-size': number }
    return { memoryMb: kib / 1024, vcpus, diskBytes: info['virtual-size'] }
  }

  before(async () => {
    ;({ driver, image } = await guestImageDriver(instancesPath, HOST, 'nimbus-guest-resize-test'))
  })

  after(async () => {
    await driver.destroy(small).catch(() => undefined)
    rmSync(instancesPath, { recursive: true, force: true })
  })

  it('grows disk, memory and vCPUs; a revert restores the old flavor; a confirm drops the original', async () => {
    const dir = driver.instanceDir(uuid)
    await driver.spawn({ instance: small, image, nics: [], configDrive: false })
    await booted('first boot')
    const before = await shape()
    assert.deepEqual([before.memoryMb, before.vcpus], [256, 1])

    // Resize up, then revert.
    await driver.migrateDiskAndPowerOff(small, HOST)
    assert.equal((await driver.getInfo(small)).powerState, PowerState.SHUTDOWN)
    assert.ok(existsSync(`${dir}_resize`), 'the original is kept beside the instance')
    await driver.finishMigration({ instance: big, image, sourceHost: HOST, powerOn: true })
    assert.equal((await driver.getInfo(small)).powerState, PowerState.RUNNING)
    assert.deepEqual(await shape(), { memoryMb: 384, vcpus: 2, diskBytes: 2 * GIB })
    await booted('boot with the new flavor')
    await driver.finishRevertMigration(small, true)
    assert.deepEqual(await shape(), before)
    assert.ok(!existsSync(`${dir}_resize`), 'the original is the instance again')
    await booted('boot after the revert')

    // Resize up, then confirm.
    await driver.migrateDiskAndPowerOff(small, HOST)
    await driver.finishMigration({ instance: big, image, sourceHost: HOST, powerOn: true })
    await driver.confirmMigration(big)
    assert.ok(!existsSync(`${dir}_resize`), 'no original left after the confirm')
    assert.deepEqual(await shape(), { memoryMb: 384, vcpus: 2, diskBytes: 2 * GIB })
    await booted('boot after the confirm')

    await driver.destroy(big)
    assert.ok(!existsSync(dir), 'no instance dir')
    assert.ok(!(await driver.listInstances()).includes(uuid), 'no domain')
  })
})
