/**
 * Real-VM figures under TCG (issue #8's bench:vm):
 *   - the cloud: `POST /servers` (m1.tiny, nimbus-tiny, net1) -> SSH login
 *     answers from a namespace on net1, against plain qemu-system-x86_64 of
 *     the same image with the same memory and vCPUs -> SSH login (tap in a
 *     namespace with dnsmasq + metadata), interleaved run by run in one
 *     process; the control-plane overhead in s and %;
 *   - qcow2 overlay creation on a 20 MB and a 2 GB base (should be equal:
 *     an overlay costs the same whatever the image size).
 * With --all also:
 *   - plain qemu-system-x86_64: qemu start -> serial banner, without a NIC;
 *   - plain qemu: start -> banner -> SSH port open -> SSH login with the metadata key,
 *     with a tap in a network namespace (dnsmasq + metadata server there);
 *   - the libvirt driver: spawn -> banner -> SSH login, and destroy;
 *   - qcow2 overlay creation on a 20 MB and a 2 GB base (should be equal:
 *     an overlay costs the same whatever the image size).
 * Usage: npm run bench:vm [-- --runs N] [-- --all]   (root; builds the guest image if missing)
 */
import { createReadStream, rmSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { LibvirtDriver } from '../src/compute/virt/libvirt/driver.ts'
import { createOverlay, inspect } from '../src/compute/virt/libvirt/image-cache.ts'
import { run } from '../src/guest-image/exec.ts'
import { GUEST_BANNER_MARKER, GUEST_DEFAULT_USER } from '../src/guest-image/guest-files.ts'
import { GUEST_FLAVOR } from '../src/cmd/guest-assets.ts'
import { VmCloud } from '../test/e2e/cloud-vm/cloud.ts'
import {
  BANNER_TIMEOUT_MS,
  createOverlay as createPlainOverlay,
  createTestBridge,
  deleteLink,
  GUEST_MAC,
  GUEST_NET,
  GuestNetwork,
  guestImage,
  makeKeyPair,
  readText,
  startQemu,
  stopProcess,
  tempDir,
  waitFor,
} from '../test/e2e/vm/support.ts'

const SSH_TIMEOUT_MS = 90_000
const BASE_CREATE_TIMEOUT_MS = 300_000
const MIB = 1024 * 1024
/** Root disk of the flavor the driver would create (1 GB, like m1.tiny). */
const ROOT_DISK_BYTES = 1024 * MIB
const OVERLAY_RUNS = 50
const BASE_SIZES = [
  { label: '20 MB', bytes: 20 * 1024 * 1024 },
  { label: '2 GB', bytes: 2 * 1024 * 1024 * 1024 },
] as const

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3) || 3
const all = process.argv.includes('--all')
const SERVER_GONE_TIMEOUT_MS = 60_000

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`

async function bootToBanner(image: string, dir: string): Promise<number> {
  const disk = join(dir, 'raw.qcow2')
  const serial = join(dir, 'raw.serial')
  await createPlainOverlay(image, disk)
  const started = Date.now()
  const qemu = startQemu({ disk, serialLog: serial })
  try {
    await waitFor('banner', BANNER_TIMEOUT_MS, () =>
      readText(serial).includes(GUEST_BANNER_MARKER) ? true : undefined,
    )
    return Date.now() - started
  } finally {
    await stopProcess(qemu)
    rmSync(disk, { force: true })
    rmSync(serial, { force: true })
  }
}

async function bootToSsh(
  image: string,
  dir: string,
  size: { memoryMb?: number; vcpus?: number } = {},
): Promise<{ banner: number; port: number; login: number }> {
  const keys = await makeKeyPair(dir)
  const net = await GuestNetwork.create({ hostname: 'bench-vm', publicKey: keys.publicKey })
  const disk = join(dir, 'net.qcow2')
  const serial = join(dir, 'net.serial')
  await createPlainOverlay(image, disk)
  const started = Date.now()
  const qemu = startQemu({ disk, serialLog: serial, netns: net, ...size })
  try {
    const port = await waitFor('ssh port', SSH_TIMEOUT_MS, async () =>
      (await net.tcpOpen(GUEST_NET.guest, 22)) ? Date.now() - started : undefined,
    )
    const banner = await waitFor('banner', BANNER_TIMEOUT_MS, () =>
      readText(serial).includes(GUEST_BANNER_MARKER) ? Date.now() - started : undefined,
    )
    const out = await net.ssh(keys.privateKey, GUEST_DEFAULT_USER, 'hostname')
    if (out.trim() !== 'bench-vm') throw new Error(`ssh hostname: ${out}`)
    return { banner, port, login: Date.now() - started }
  } catch (err) {
    throw new Error(`${(err as Error).message}\nserial console:\n${readText(serial).slice(-3000)}`)
  } finally {
    await stopProcess(qemu)
    await net.destroy()
    rmSync(disk, { force: true })
    rmSync(serial, { force: true })
    rmSync(join(dir, 'id_ed25519'), { force: true })
    rmSync(join(dir, 'id_ed25519.pub'), { force: true })
  }
}

/** Wall time of one call, in ms. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t) / 1e6
}

/** A qcow2 base holding `bytes` of real data (random bytes, converted), not just a virtual size. */
async function makeBase(dir: string, bytes: number): Promise<string> {
  const path = join(dir, `base-${bytes}.qcow2`)
  const raw = join(dir, 'base.raw')
  await run(['dd', 'if=/dev/urandom', `of=${raw}`, 'bs=1M', `count=${bytes / MIB}`, 'status=none'], {
    timeoutMs: BASE_CREATE_TIMEOUT_MS,
  })
  await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, path], {
    timeoutMs: BASE_CREATE_TIMEOUT_MS,
  })
  rmSync(raw)
  return path
}

/**
 * Overlay creation on each base, the sizes interleaved run by run so load on
 * a shared machine hits both alike: the driver's way (`-u` with the size
 * known from the cache, the base never opened) and plain `qemu-img create -b`.
 */
async function overlayTimes(dir: string): Promise<string[]> {
  const bases = []
  for (const size of BASE_SIZES) {
    const path = await makeBase(dir, size.bytes)
    bases.push({
      label: size.label,
      path,
      info: { path, ...(await inspect(path)) },
      driver: [] as number[],
      plain: [] as number[],
    })
  }
  const overlay = join(dir, 'overlay.qcow2')
  for (let i = 0; i < OVERLAY_RUNS; i++) {
    for (const b of bases) {
      b.driver.push(await timed(() => createOverlay(b.info, overlay, ROOT_DISK_BYTES)))
      rmSync(overlay)
      b.plain.push(await timed(() => createPlainOverlay(b.path, overlay)))
      rmSync(overlay)
    }
  }
  for (const b of bases) rmSync(b.path)
  const [small, large] = bases.map((b) => median(b.driver))
  const spread = (Math.abs(large! - small!) / Math.min(small!, large!)) * 100
  const verdict = `disk creation, driver: 20 MB vs 2 GB base differ by ${spread.toFixed(1)} % (target: equal within 10 %)`
  return [
    verdict,
    ...bases.map(
      (b) =>
        `overlay on ${b.label} base: driver ${median(b.driver).toFixed(1)} ms, plain qemu-img ${median(b.plain).toFixed(1)} ms (median of ${OVERLAY_RUNS})`,
    ),
  ]
}

interface LibvirtTimes {
  readonly spawn: number
  readonly banner: number
  readonly port: number
  readonly login: number
  readonly destroy: number
}

/** The libvirt driver end to end: spawn (define + start + RUNNING) -> banner -> SSH, then destroy. */
async function libvirtBoot(image: string, dir: string): Promise<LibvirtTimes> {
  const bridge = `nbb${process.pid % 100_000}`
  const instancesPath = `/var/lib/nimbus/bench-instances-${process.pid}`
  const keys = await makeKeyPair(dir)
  await createTestBridge(bridge)
  const net = await GuestNetwork.create({
    hostname: 'bench-vm',
    publicKey: keys.publicKey,
    uplinkBridge: bridge,
  })
  const driver = new LibvirtDriver({
    uri: 'qemu:///system',
    virtType: 'auto',
    instancesPath,
    images: { open: async () => ({ stream: createReadStream(image), checksum: null }) },
    bridgeFor: () => bridge,
  })
  const inst = {
    uuid: randomUUID(),
    name: 'bench',
    hostname: 'bench-vm',
    memoryMb: 256,
    vcpus: 1,
    rootGb: 1,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: 'nimbus-guest',
  }
  try {
    await driver.initHost('bench')
    const started = Date.now()
    await driver.spawn({
      instance: inst,
      image: { id: `bench-${process.pid}`, sizeBytes: 0, properties: {} },
      nics: [
        {
          networkId: 'bench',
          networkLabel: 'bench',
          macAddress: GUEST_MAC,
          address: GUEST_NET.guest,
          version: 4,
        },
      ],
      configDrive: false,
    })
    const spawn = Date.now() - started
    const banner = await waitFor('banner', BANNER_TIMEOUT_MS * 2, async () =>
      (await driver.getConsoleOutput(inst)).includes(GUEST_BANNER_MARKER) ? Date.now() - started : undefined,
    )
    const port = await waitFor('ssh port', SSH_TIMEOUT_MS, async () =>
      (await net.tcpOpen(GUEST_NET.guest, 22)) ? Date.now() - started : undefined,
    )
    const out = await net.ssh(keys.privateKey, GUEST_DEFAULT_USER, 'hostname')
    if (out.trim() !== 'bench-vm') throw new Error(`ssh hostname: ${out}`)
    const login = Date.now() - started
    const destroy = await timed(() => driver.destroy(inst))
    return { spawn, banner, port, login, destroy }
  } finally {
    await driver.destroy(inst)
    await net.destroy()
    await deleteLink(bridge)
    rmSync(instancesPath, { recursive: true, force: true })
    rmSync(join(dir, 'id_ed25519'), { force: true })
    rmSync(join(dir, 'id_ed25519.pub'), { force: true })
  }
}

/** One server through the API: POST /servers -> SSH `hostname` answers from the probe namespace; then deleted. */
async function apiBoot(c: VmCloud, i: number): Promise<{ active: number; login: number }> {
  const name = `bench-${i}`
  const started = Date.now()
  const created = await c.compute('POST', '/servers', {
    server: {
      name,
      imageRef: c.ids.imageId,
      flavorRef: c.ids.flavorId,
      key_name: 'k',
      networks: [{ uuid: c.ids.net.id }],
    },
  })
  if (created.status !== 202)
    throw new Error(`POST /servers: ${created.status} ${JSON.stringify(created.body)}`)
  const id = created.body.server.id as string
  try {
    const active = await waitFor('ACTIVE', SSH_TIMEOUT_MS, async () => {
      const s = (await c.compute('GET', `/servers/${id}`)).body.server
      if (s.status === 'ERROR') throw new Error(`server ${id} ERROR: ${JSON.stringify(s.fault)}`)
      return s.status === 'ACTIVE' ? Date.now() - started : undefined
    })
    const ports = (await c.api.ok('GET', `/v2.0/ports?device_id=${id}`, undefined, 200)).ports
    const ip = ports[0].fixed_ips[0].ip_address as string
    await c.waitForSsh(c.probe, ip, name, id)
    return { active, login: Date.now() - started }
  } finally {
    await c.compute('DELETE', `/servers/${id}`)
    await waitFor('server gone', SERVER_GONE_TIMEOUT_MS, async () =>
      (await c.compute('GET', `/servers/${id}`)).status === 404 ? true : undefined,
    )
  }
}

/** The cloud against plain qemu (same image, memory and vCPUs as m1.tiny), interleaved. */
async function cloudVsRaw(image: string, dir: string): Promise<string[]> {
  const c = new VmCloud()
  try {
    await c.start()
    await c.cli(['keypair', 'create', '--public-key', `${c.keys.privateKey}.pub`, 'k'])
    const api: { active: number; login: number }[] = []
    const raw: number[] = []
    for (let i = 0; i < runs; i++) {
      api.push(await apiBoot(c, i))
      raw.push(
        (await bootToSsh(image, dir, { memoryMb: GUEST_FLAVOR.memoryMb, vcpus: GUEST_FLAVOR.vcpus })).login,
      )
    }
    const apiLogin = median(api.map((a) => a.login))
    const rawLogin = median(raw)
    const overhead = apiLogin - rawLogin
    return [
      `cloud: POST /servers -> ACTIVE ${fmt(median(api.map((a) => a.active)))}, -> SSH login ${fmt(apiLogin)} (runs: ${api.map((a) => fmt(a.login)).join(', ')})`,
      `raw qemu, same image, -m ${GUEST_FLAVOR.memoryMb} -smp ${GUEST_FLAVOR.vcpus}, NIC: start -> SSH login ${fmt(rawLogin)} (runs: ${raw.map(fmt).join(', ')})`,
      `control-plane overhead (median): ${(overhead / 1000).toFixed(2)} s, ${((overhead / rawLogin) * 100).toFixed(1)} % (target <= 1 s and <= 15 %)`,
    ]
  } finally {
    await c.stop()
  }
}

async function main(): Promise<void> {
  const image = await guestImage()
  const dir = tempDir('nimbus-bench-vm-')
  try {
    const load = (await import('node:os')).loadavg()[0]!.toFixed(1)
    const lines = [`guest image ${image}, TCG, ${runs} runs each (median), load average at start ${load}`]
    lines.push(...(await cloudVsRaw(image, dir)))
    if (all) {
      const raw: number[] = []
      for (let i = 0; i < runs; i++) raw.push(await bootToBanner(image, dir))
      const net: { banner: number; port: number; login: number }[] = []
      for (let i = 0; i < runs; i++) net.push(await bootToSsh(image, dir))
      const lv: LibvirtTimes[] = []
      for (let i = 0; i < runs; i++) lv.push(await libvirtBoot(image, dir))
      const m = (k: keyof LibvirtTimes) => fmt(median(lv.map((t) => t[k])))
      lines.push(
        `raw boot, -m 256, no NIC: qemu start -> banner ${fmt(median(raw))} (runs: ${raw.map(fmt).join(', ')})`,
        `raw, -m 256, with NIC (DHCP + metadata): -> banner ${fmt(median(net.map((n) => n.banner)))}, -> SSH port open ${fmt(median(net.map((n) => n.port)))}, -> SSH login done ${fmt(median(net.map((n) => n.login)))}`,
        `libvirt driver alone (NIC on a bridge): spawn returns ${m('spawn')}, -> banner ${m('banner')}, -> SSH port open ${m('port')}, -> SSH login done ${m('login')}; destroy ${m('destroy')}`,
      )
    }
    lines.push(...(await overlayTimes(dir)))
    lines.push(`load average at end ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`)
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
