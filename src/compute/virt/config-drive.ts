/**
 * Config drives (Nova's `nova/virt/configdrive.py`): an ISO 9660 image
 * labelled `config-2` holding the instance's metadata trees as files
 * (`openstack/<version>/meta_data.json`, `ec2/<version>/meta-data.json`,
 * ...), built from the same code as the metadata service (src/metadata),
 * for guests that cannot or should not reach 169.254.169.254. Built with
 * xorriso (Debian's `xorriso`, installed by scripts/setup-libvirt.sh) in
 * its mkisofs mode with Nova's genisoimage options.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { limits } from '../../common/limits.ts'
import { run } from '../../guest-image/exec.ts'
import { metadataVifs, sourceOf } from '../../metadata/instance-source.ts'
import { InstanceMetadata, type MetadataSource } from '../../metadata/tree.ts'
import type { SpawnRequest } from './driver.ts'
import { VirtDriverError } from './driver.ts'

/** The volume label cloud-init's ConfigDrive datasource looks for. */
export const CONFIG_DRIVE_LABEL = 'config-2'
/** The file name Nova's libvirt driver gives it in the instance directory. */
export const CONFIG_DRIVE_FILE = 'disk.config'

export interface ConfigDriveFile {
  readonly path: string
  readonly content: string | Buffer
}

/** Nova's `required_by`: the server asked for one, or the host forces them. */
export function configDriveRequired(request: SpawnRequest, force: boolean): boolean {
  return request.configDrive || force
}

/** The files of the instance's config drive, from the request's metadata (or what the driver knows). */
export function configDriveFiles(request: SpawnRequest): ConfigDriveFile[] {
  const files = new InstanceMetadata(request.metadata ?? fallbackSource(request)).configDriveFiles()
  const total = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0)
  if (total > limits.configDriveMaxBytes) {
    throw new VirtDriverError(
      `config drive content is ${total} bytes, more than ${limits.configDriveMaxBytes}`,
      {
        step: 'spawn:config_drive',
      },
    )
  }
  return files
}

/**
 * Writes `files` into a scratch directory beside `isoPath` and makes the
 * ISO (Rock Ridge + Joliet, label config-2). The scratch directory is
 * removed whatever happens; on failure no ISO is left either.
 */
export async function buildConfigDriveIso(files: readonly ConfigDriveFile[], isoPath: string): Promise<void> {
  const scratch = mkdtempSync(join(dirname(isoPath), '.config-drive-'))
  try {
    for (const f of files) {
      const target = join(scratch, f.path)
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, f.content)
    }
    // Nova: genisoimage -o <iso> -ldots -allow-lowercase -allow-multidot -l -publisher ... -quiet -J -r -V config-2
    await run(
      [
        'xorriso',
        '-as',
        'mkisofs',
        '-o',
        isoPath,
        '-ldots',
        '-allow-lowercase',
        '-allow-multidot',
        '-l',
        '-publisher',
        'Nimbus',
        '-quiet',
        '-J',
        '-r',
        '-V',
        CONFIG_DRIVE_LABEL,
        scratch,
      ],
      { timeoutMs: limits.configDriveBuildTimeoutMs },
    )
  } catch (err) {
    rmSync(isoPath, { force: true })
    throw new VirtDriverError(`config drive build failed: ${(err as Error).message}`, {
      step: 'spawn:config_drive',
    })
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
}

/**
 * A source from what every spawn request carries, for callers that do not
 * pass `metadata`: no key name (so no public_keys), no project or zone.
 */
function fallbackSource(request: SpawnRequest): MetadataSource {
  const i = request.instance
  return sourceOf(
    {
      uuid: i.uuid,
      displayName: i.hostname,
      hostname: i.hostname,
      projectId: '',
      availabilityZone: null,
      launchIndex: 0,
      reservationId: '',
      keyName: null,
      keyData: i.keyData ?? null,
      userData: i.userData ?? null,
      metadata: i.metadata ?? {},
      flavor: { name: '', ephemeralGb: i.ephemeralGb, swapMb: i.swapMb },
      imageRef: request.image.id,
      kernelId: '',
      ramdiskId: '',
      securityGroups: [],
      rootDeviceName: '/dev/vda',
    },
    { vifs: metadataVifs(request.nics) },
  )
}
