import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Debian packages that make cloud-init's datasource helpers importable, unpacked (never installed). */
const DEBS = ['cloud-init', 'python3-configobj'] as const
const CACHE = join(tmpdir(), 'nimbus-cloud-init')
const SCRIPT = fileURLToPath(new URL('./cloud-init-read.py', import.meta.url))
const COMMAND_TIMEOUT_MS = 120_000

/**
 * Downloads (once) and unpacks Debian's cloud-init; returns its PYTHONPATH.
 * Test files run in parallel processes: each works in a scratch directory
 * of its own and renames the result into place (the first one wins).
 */
export function cloudInitPythonPath(): string {
  const root = join(CACHE, 'root')
  const dist = join(root, 'usr/lib/python3/dist-packages')
  if (existsSync(join(dist, 'cloudinit/sources/helpers/openstack.py'))) return dist
  mkdirSync(CACHE, { recursive: true })
  const scratch = mkdtempSync(join(CACHE, 'work-'))
  try {
    for (const pkg of DEBS) {
      execFileSync('apt-get', ['download', pkg], { cwd: scratch, stdio: 'pipe', timeout: COMMAND_TIMEOUT_MS })
      const deb = readdirSync(scratch).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))!
      execFileSync('dpkg-deb', ['-x', join(scratch, deb), join(scratch, 'root')], {
        stdio: 'pipe',
        timeout: COMMAND_TIMEOUT_MS,
      })
    }
    try {
      renameSync(join(scratch, 'root'), root)
    } catch {
      // Another process put its copy in place first.
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
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
