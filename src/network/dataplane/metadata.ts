import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { logger } from '../../common/log.ts'
import { signInstanceId } from '../../metadata/signature.ts'
import type { Store } from '../store.ts'
import { isAlive, readPid } from './dnsmasq.ts'
import { routerNetns } from './names.ts'

const log = logger('network.metadata')

/** Where guests' metadata requests land inside each router namespace (Neutron's 9697). */
export const METADATA_PROXY_PORT = 9697
export const METADATA_ADDRESS = '169.254.169.254'
const PROXY_SCRIPT = fileURLToPath(new URL('./metadata-proxy.mjs', import.meta.url))
const RELAY_TIMEOUT_MS = 30_000

/**
 * The host side of the metadata path (Neutron's metadata agent): a unix
 * socket the per-router proxies relay guests' requests to. It finds the
 * instance by the guest's address on the router's networks and forwards to
 * the metadata service with `X-Instance-ID`, `X-Tenant-ID`,
 * `X-Forwarded-For` and `X-Neutron-Router-ID`, as Neutron does.
 */
export class MetadataRelay {
  readonly socketPath: string
  readonly #store: Store
  #target: string
  readonly #secret: string
  #server: http.Server | undefined

  /** `secret`: `[metadata] metadata_proxy_shared_secret`, which signs X-Instance-ID as Neutron's agent does. */
  constructor(store: Store, stateDir: string, target: string, secret = '') {
    this.#store = store
    this.socketPath = join(stateDir, 'metadata.sock')
    this.#target = target
    this.#secret = secret
  }

  /** The metadata service base URL (tests learn it after the service is listening). */
  set target(url: string) {
    this.#target = url
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true })
    this.#server = http.createServer((req, res) => void this.#relay(req, res))
    await new Promise<void>((resolve) => this.#server!.listen(this.socketPath, resolve))
  }

  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
    rmSync(this.socketPath, { force: true })
  }

  async #relay(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const guestIp = String(req.headers['x-forwarded-for'] ?? '')
      const routerId = String(req.headers['x-neutron-router-id'] ?? '')
      const port = await this.#portOf(routerId, guestIp)
      const headers: Record<string, string> = {
        'x-forwarded-for': guestIp,
        'x-neutron-router-id': routerId,
      }
      if (port) {
        headers['x-instance-id'] = port.device_id as string
        headers['x-tenant-id'] = port.project_id
        headers['x-instance-id-signature'] = signInstanceId(this.#secret, port.device_id as string)
      }
      const url = new URL(req.url ?? '/', this.#target)
      // One connection per request: a guest's requests are few, and a kept-alive
      // socket reused across relays answered the next request with a 400.
      const upstream = http.request(
        url,
        { method: req.method, headers, timeout: RELAY_TIMEOUT_MS, agent: false },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      upstream.on('timeout', () => upstream.destroy(new Error('timeout')))
      upstream.on('error', (err) => {
        log.warn({ err: err.message }, 'metadata service unreachable')
        if (!res.headersSent) res.writeHead(502)
        res.end()
      })
      // The port lookup above awaited: the (empty) request body may have ended meanwhile.
      if (req.readableEnded) upstream.end()
      else req.pipe(upstream)
    } catch (err) {
      log.error({ err }, 'metadata relay failed')
      res.writeHead(500)
      res.end()
    }
  }

  /** The guest port with this address on one of the router's networks. */
  async #portOf(routerId: string, ip: string) {
    const routerPorts = (await this.#store.list('ports', { device_id: routerId })).map(
      (p) => p.network_id as string,
    )
    const ports = await this.#store.list('ports', { network_id: [...new Set(routerPorts)] })
    return ports.find(
      (p) =>
        p.device_id &&
        !String(p.device_owner).startsWith('network:') &&
        (p.fixed_ips as { ip_address: string }[]).some((f) => f.ip_address === ip),
    )
  }
}

/** Proxies this process started and that have not exited, by pid file: spawn once, even before the pid file exists. */
const STARTED = new Map<string, ChildProcess>()

/**
 * Starts the router's proxy unless it runs; its pid file lives in `dir`.
 * Does not wait for it to listen: a sync must not stall on a process start.
 */
export function ensureMetadataProxy(routerId: string, dir: string, socketPath: string): void {
  const pidFile = join(dir, 'metadata-proxy.pid')
  const started = STARTED.get(pidFile)
  if (started && started.exitCode === null && started.signalCode === null) return
  const pid = readPid(pidFile)
  if (pid !== undefined && isAlive(pid)) return
  rmSync(pidFile, { force: true })
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      routerNetns(routerId),
      process.execPath,
      PROXY_SCRIPT,
      String(METADATA_PROXY_PORT),
      socketPath,
      routerId,
      pidFile,
    ],
    { detached: true, stdio: 'ignore' },
  )
  child.on('exit', () => STARTED.delete(pidFile))
  child.unref()
  STARTED.set(pidFile, child)
}

/** Stops the router's proxy (by its pid file only). */
export function stopMetadataProxy(dir: string): void {
  const pidFile = join(dir, 'metadata-proxy.pid')
  const pid = readPid(pidFile) ?? STARTED.get(pidFile)?.pid
  if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGTERM')
  STARTED.delete(pidFile)
}
