import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Debian packages that make cloud-init's datasource helpers importable, unpacked (never installed). */
const DEBS = ['cloud-init', 'python3-configobj'] as const
const CACHE = join(tmpdir(), 'nimbus-cloud-init')
const SCRIPT = fileURLToPath(new URL('./cloud-init-read.py', import.meta.url))
const COMMAND_TIMEOUT_MS = 120_000

/** Downloads (once) and unpacks Debian's cloud-init; returns its PYTHONPATH. */
export function cloudInitPythonPath(): string {
  const root = join(CACHE, 'root')
  const dist = join(root, 'usr/lib/python3/dist-packages')
  if (existsSync(join(dist, 'cloudinit/sources/helpers/openstack.py'))) return dist
  mkdirSync(CACHE, { recursive: true })
  for (const pkg of DEBS) {
    if (!readdirSync(CACHE).some((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))) {
      execFileSync('apt-get', ['download', pkg], { cwd: CACHE, stdio: 'pipe', timeout: COMMAND_TIMEOUT_MS })
    }
    const deb = readdirSync(CACHE).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))!
    execFileSync('dpkg-deb', ['-x', join(CACHE, deb), root], { stdio: 'pipe', timeout: COMMAND_TIMEOUT_MS })
  }
  return dist
}

/**
 * What cloud-init's OpenStack and EC2 readers make of a metadata URL ('-'
 * for none) and a config drive directory. Asynchronous: the service under
 * test answers from this process.
 */
export async function readWithCloudInit(url: string, configDriveDir?: string): Promise<Record<string, any>> {
  const { stdout } = await promisify(execFile)(
    'python3',
    [SCRIPT, url, ...(configDriveDir ? [configDriveDir] : [])],
    {
      env: { ...process.env, PYTHONPATH: cloudInitPythonPath() },
      encoding: 'utf8',
      timeout: COMMAND_TIMEOUT_MS,
    },
  )
  return JSON.parse(stdout) as Record<string, any>
}
