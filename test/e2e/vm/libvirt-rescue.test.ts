/**
 * The libvirt driver's rescue on a real domain (qemu:///system, TCG here):
 * the guest boots again from a rescue disk (an overlay on the rescue image)
 * with its own disk as the second disk, unrescue boots its own disk again
 * and removes the rescue disk, and destroy leaves nothing. No NICs: the
 * boots are seen on the serial console (virtlogd starts the log afresh at
 * each domain start).
 */
import assert from 'node:assert/strict'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { run } from '../../../src/guest-image/exec.ts'
import { GUEST_BANNER_MARKER } from '../../../src/guest-image/guest-files.ts'
import { PowerState } from '../../../src/compute/states.ts'
import type { VirtImage } from '../../../src/compute/virt/driver.ts'
import { VirtInvalidState, VirtNotSupported } from '../../../src/compute/virt/driver.ts'
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

describe('libvirt driver: rescue on a real domain', { timeout: SUITE_TIMEOUT_MS }, () => {
  const instancesPath = `/var/lib/nimbus/test-rescue-${process.pid}`
  let driver: LibvirtDriver
  let image: VirtImage
  const inst = consoleOnlyInstance('vm-rescue')
  const uuid = inst.uuid

  async function banners(): Promise<number> {
    return (await driver.getConsoleOutput(inst)).split(GUEST_BANNER_MARKER).length - 1
  }

  async function dumpxml(): Promise<string> {
    return (await run(['virsh', '-c', URI, 'dumpxml', driver.domainName(uuid)], { timeoutMs: 30_000 })).stdout
  }

  before(async () => {
    ;({ driver, image } = await guestImageDriver(instancesPath, 'test-host', 'nimbus-guest-rescue-test'))
  })

  after(async () => {
    await driver.destroy(inst).catch(() => undefined)
    rmSync(instancesPath, { recursive: true, force: true })
  })

  it('rescues from the rescue disk with the own disk second, unrescues, destroys without leftovers', async () => {
    await driver.spawn({ instance: inst, image, nics: [], configDrive: false })
    await waitFor('first boot', BANNER_TIMEOUT_MS * 2, async () =>
      (await banners()) >= 1 ? true : undefined,
    )
    await assert.rejects(driver.unrescue(inst), VirtInvalidState)
    await assert.rejects(driver.setAdminPassword(inst, 'pw'), VirtNotSupported)

    const dir = driver.instanceDir(uuid)
    await driver.rescue({ instance: inst, image: { ...image, id: 'rescue-image' }, nics: [] })
    assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
    const rescueXml = await dumpxml()
    const rescueDisk = rescueXml.indexOf(join(dir, 'disk.rescue'))
    const ownDisk = rescueXml.indexOf(`${join(dir, 'disk')}'`)
    assert.ok(rescueDisk > 0 && ownDisk > rescueDisk, 'the rescue disk first, the own disk second')
    assert.match(rescueXml, /<target dev='vdb'/)
    await waitFor('rescue boot', BANNER_TIMEOUT_MS * 2, async () =>
      (await banners()) >= 1 ? true : undefined,
    )

    await driver.unrescue(inst)
    assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
    const xml = await dumpxml()
    assert.ok(!xml.includes('disk.rescue'), 'the own disk only')
    assert.ok(!existsSync(join(dir, 'disk.rescue')) && !existsSync(join(dir, 'unrescue.xml')))
    await waitFor('boot after unrescue', BANNER_TIMEOUT_MS * 2, async () =>
      (await banners()) >= 1 ? true : undefined,
    )

    await driver.destroy(inst)
    assert.ok(!existsSync(dir), 'no instance dir')
    assert.ok(!(await driver.listInstances()).includes(uuid), 'no domain')
  })
})
