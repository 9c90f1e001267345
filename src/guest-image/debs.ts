import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { run } from './exec.ts'

const log = logger('guest-image.debs')

/** The meta package whose dependency names the current cloud kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64'

/**
 * Debian packages fetched into a cache directory (`apt-get download`, never
 * installed) and unpacked with `dpkg -x`. A cached .deb is reused, so a
 * rebuild works offline once the cache is warm.
 */
export class DebCache {
  readonly #dir: string

  constructor(dir: string) {
    this.#dir = dir
    mkdirSync(dir, { recursive: true })
  }

  /** The versioned kernel package the meta package depends on now (or the cached one when apt cannot say). */
  async kernelPackage(): Promise<string> {
    try {
      const { stdout } = await run(['apt-cache', 'depends', KERNEL_META_PACKAGE], {
        timeoutMs: limits.guestImageCommandTimeoutMs,
      })
      const name = /Depends:\s*(linux-image-\S+)/.exec(stdout)?.[1]
      if (name) return name
    } catch (err) {
      log.warn({ err }, 'apt-cache could not resolve the kernel package; trying the cache')
    }
    const cached = readdirSync(this.#dir).find((f) => /^linux-image-\d.*-cloud-amd64_.*\.deb$/.test(f))
    if (!cached) throw new Error(`cannot resolve ${KERNEL_META_PACKAGE} (run apt-get update)`)
    return cached.split('_')[0] as string
  }

  /** Paths of the .deb files of `packages`, downloading the ones not cached yet. */
  async fetch(packages: readonly string[]): Promise<Map<string, string>> {
    const missing = packages.filter((p) => !this.#cached(p))
    if (missing.length > 0) {
      log.info({ packages: missing }, 'downloading Debian packages')
      await run(['apt-get', 'download', '-q', ...missing], {
        cwd: this.#dir,
        timeoutMs: limits.guestImageDownloadTimeoutMs,
      })
    }
    const out = new Map<string, string>()
    for (const p of packages) {
      const file = this.#cached(p)
      if (!file) throw new Error(`apt-get download did not produce ${p}`)
      out.set(p, join(this.#dir, file))
    }
    return out
  }

  #cached(pkg: string): string | undefined {
    return readdirSync(this.#dir)
      .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
      .sort()
      .at(-1)
  }
}

/** Unpacks one .deb into `dir` (created) without running its scripts. */
export async function extractDeb(deb: string, dir: string): Promise<void> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true })
  await run(['dpkg-deb', '-x', deb, dir], { timeoutMs: limits.guestImageCommandTimeoutMs })
}
