import { join, resolve } from 'node:path'
import type { Config } from '../common/config.ts'
import { setLimits } from '../common/limits.ts'
import { setLogLevel } from '../common/log.ts'
import { buildGuestImage } from './build.ts'
import { GUEST_BANNER_MARKER, GUEST_DEFAULT_USER } from './guest-files.ts'

/** Where `nimbus image build` writes by default, and where tests and the bench look for the image. */
export function defaultGuestImagePath(stateDir: string): string {
  return join(stateDir, 'images', 'nimbus-guest.qcow2')
}

/** Downloaded .debs are kept here so rebuilds need no network. */
export function debCacheDir(stateDir: string): string {
  return join(stateDir, 'cache', 'debs')
}

/** `nimbus image build [--output FILE]`. */
export async function imageBuild(config: Config, opts: { output?: string }): Promise<void> {
  setLogLevel(config.logLevel)
  setLimits(config.limits)
  const output = resolve(opts.output ?? defaultGuestImagePath(config.stateDir))
  const result = await buildGuestImage({ output, cacheDir: debCacheDir(config.stateDir) })
  process.stdout.write(
    [
      `guest image ${result.output} (kernel ${result.kernelPackage}) built in ${(result.durationMs / 1000).toFixed(1)} s`,
      `default user ${GUEST_DEFAULT_USER} (key from metadata), serial banner "${GUEST_BANNER_MARKER}"`,
      `upload: openstack image create --disk-format qcow2 --container-format bare --file ${result.output} nimbus-guest`,
      '',
    ].join('\n'),
  )
}
