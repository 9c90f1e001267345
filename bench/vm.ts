/**
 * Real-VM figures under TCG (plain qemu-system-x86_64, no libvirt):
 *   - qemu start -> serial banner, without a NIC;
 *   - qemu start -> banner -> SSH port open -> SSH login with the metadata key,
 *     with a tap in a network namespace (dnsmasq + metadata server there);
 *   - qcow2 overlay creation on a 20 MB and a 2 GB base (should be equal:
 *     an overlay costs the same whatever the image size).
 * Usage: node --import tsx bench/vm.ts [--runs N]   (root; needs the guest image)
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createOverlay, inspect } from '../src/compute/virt/libvirt/image-cache.ts'
import { run } from '../src/guest-image/exec.ts'
import { GUEST_BANNER_MARKER, GUEST_DEFAULT_USER } from '../src/guest-image/guest-files.ts'
import {
  BANNER_TIMEOUT_MS,
  createOverlay as createPlainOverlay,
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
const OVERLAY_RUNS = 20
const BASE_SIZES = [
  { label: '20 MB', bytes: 20 * 1024 * 1024 },
  { label: '2 GB', bytes: 2 * 1024 * 1024 * 1024 },
] as const

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3) || 3

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
  }
}

async function bootToSsh(
  image: string,
  dir: string,
): Promise<{ banner: number; port: number; login: number }> {
  const keys = await makeKeyPair(dir)
  const net = await GuestNetwork.create({ hostname: 'bench-vm', publicKey: keys.publicKey })
  const disk = join(dir, 'net.qcow2')
  const serial = join(dir, 'net.serial')
  await createPlainOverlay(image, disk)
  const started = Date.now()
  const qemu = startQemu({ disk, serialLog: serial, netns: net })
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
    rmSync(join(dir, 'id_ed25519'), { force: true })
    rmSync(join(dir, 'id_ed25519.pub'), { force: true })
  }
}

/** Median wall time of `create` over OVERLAY_RUNS runs, in ms. */
async function timeOverlays(dir: string, create: (overlay: string) => Promise<void>): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < OVERLAY_RUNS; i++) {
    const overlay = join(dir, `overlay-${i}.qcow2`)
    const t = process.hrtime.bigint()
    await create(overlay)
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
    rmSync(overlay)
  }
  return median(times)
}

async function overlayTimes(dir: string): Promise<string[]> {
  const lines: string[] = []
  for (const size of BASE_SIZES) {
    const path = join(dir, `base-${size.bytes}.qcow2`)
    // A base with real data (not just a virtual size): random bytes, converted to qcow2.
    const raw = join(dir, 'base.raw')
    await run(['dd', 'if=/dev/urandom', `of=${raw}`, 'bs=1M', `count=${size.bytes / MIB}`, 'status=none'], {
      timeoutMs: BASE_CREATE_TIMEOUT_MS,
    })
    await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, path], {
      timeoutMs: BASE_CREATE_TIMEOUT_MS,
    })
    rmSync(raw)
    const base = { path, ...(await inspect(path)) }
    // The driver's way: -u with the size known from the cache, so the base is never opened.
    const driverMs = await timeOverlays(dir, (o) => createOverlay(base, o, ROOT_DISK_BYTES))
    // Plain `qemu-img create -b` (opens the base to read its size), for comparison.
    const plainMs = await timeOverlays(dir, (o) => createPlainOverlay(path, o))
    rmSync(path)
    lines.push(
      `overlay on ${size.label} base: driver ${driverMs.toFixed(1)} ms, plain qemu-img ${plainMs.toFixed(1)} ms (median of ${OVERLAY_RUNS})`,
    )
  }
  return lines
}

async function main(): Promise<void> {
  const image = await guestImage()
  const dir = tempDir('nimbus-bench-vm-')
  try {
    const raw: number[] = []
    for (let i = 0; i < runs; i++) raw.push(await bootToBanner(image, dir))
    const net: { banner: number; port: number; login: number }[] = []
    for (let i = 0; i < runs; i++) net.push(await bootToSsh(image, dir))
    const lines = [
      `guest image ${image}, TCG, -m 256, ${runs} runs each (median)`,
      `raw boot, no NIC: qemu start -> banner ${fmt(median(raw))} (runs: ${raw.map(fmt).join(', ')})`,
      `with NIC (DHCP + metadata): -> banner ${fmt(median(net.map((n) => n.banner)))}, -> SSH port open ${fmt(median(net.map((n) => n.port)))}, -> SSH login done ${fmt(median(net.map((n) => n.login)))}`,
      ...(await overlayTimes(dir)),
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
