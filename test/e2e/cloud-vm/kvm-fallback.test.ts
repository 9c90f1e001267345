import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { simulateKvmEmulationFailure, waitFor } from '../vm/support.ts'
import { VM_HOST, VmCloud } from './cloud.ts'

/**
 * Issue #14's defence in depth through the whole cloud: the compute host is
 * forced to KVM (`[libvirt] virt_type = kvm`, no probe) and its first guest
 * fails under KVM (for real where QEMU refuses KVM, as on the machines this
 * was written on; simulated as libvirt shows an emulation failure where KVM
 * starts). `server create --wait` still reaches ACTIVE on the same host, in
 * one attempt, under TCG; the console reaches the login prompt; and
 * os-hypervisors says the host fell back, and why.
 */
const SUITE_TIMEOUT_MS = 480_000
/** The resource tracker reports the node every update_resources_interval_s (set to 1 s here). */
const REPORT_TIMEOUT_MS = 30_000
/** ACTIVE -> getty's login prompt on the serial console under TCG on a loaded host. */
const LOGIN_PROMPT_TIMEOUT_MS = 120_000

const isRoot = process.getuid?.() === 0

describe(
  'a guest that fails under KVM is built again under TCG (root, libvirt, data plane)',
  { skip: isRoot ? false : 'needs root', timeout: SUITE_TIMEOUT_MS },
  () => {
    const c = new VmCloud({ 'libvirt.virt_type': 'kvm', 'compute.update_resources_interval_s': '1' })
    const servers: string[] = []
    let sabotage: { stop: () => Promise<string> } | undefined

    before(async () => {
      await c.start()
      await c.cli(['keypair', 'create', '--public-key', `${c.keys.privateKey}.pub`, 'k'])
    })

    after(async () => {
      await sabotage?.stop()
      await c.stop(servers)
    })

    it('server create --wait reaches ACTIVE on the same host in one attempt; the console shows the login prompt', async () => {
      sabotage = simulateKvmEmulationFailure((_name, xml) => xml.includes(c.instancesPath))
      const started = Date.now()
      const server = await c.createServer('vm-kvm')
      servers.push(server.id)
      const how = await sabotage.stop()
      process.stdout.write(`# KVM failure was ${how}; ACTIVE after ${Date.now() - started} ms\n`)
      assert.equal(server.status, 'ACTIVE')
      assert.equal(server['OS-EXT-SRV-ATTR:host'], VM_HOST)
      const actions = (await c.compute('GET', `/servers/${server.id}/os-instance-actions`)).body
        .instanceActions as { action: string }[]
      assert.deepEqual(
        actions.map((a) => a.action),
        ['create'],
      )
      const detail = (await c.compute('GET', `/servers/${server.id}`)).body.server
      assert.equal(detail.fault, undefined, 'no fault recorded')
      await waitFor('login prompt on the console', LOGIN_PROMPT_TIMEOUT_MS, async () =>
        /login:/.test(c.consoleTail(server.id)) ? true : undefined,
      )
      process.stdout.write(`# login prompt ${Date.now() - started} ms after create\n`)
    })

    it('os-hypervisors shows the fallback: hypervisor_type QEMU, nimbus:accelerator with the reason', async () => {
      const accel = await waitFor('the fallback in os-hypervisors', REPORT_TIMEOUT_MS, async () => {
        const res = await fetch(`${c.tc.url('compute')}/v2.1/os-hypervisors/detail`, {
          headers: { 'x-auth-token': c.token, 'openstack-api-version': 'compute 2.88' },
        })
        const h = (await res.json()).hypervisors[0]
        assert.equal(h.hypervisor_type, 'QEMU')
        return h['nimbus:accelerator']?.source === 'fallback' ? h['nimbus:accelerator'] : undefined
      })
      assert.equal(accel.virt_type, 'qemu')
      assert.equal(accel.cpu_mode, 'maximum')
      assert.match(accel.reason, /failed under KVM: /)
      // Below 2.88 the same field is inside cpu_info (Tempest's schemas allow no new top-level field there).
      const old = (await c.compute('GET', '/os-hypervisors/detail')).body.hypervisors[0]
      assert.equal(old['nimbus:accelerator'], undefined)
      assert.equal(JSON.parse(old.cpu_info)['nimbus:accelerator'].source, 'fallback')
    })
  },
)
