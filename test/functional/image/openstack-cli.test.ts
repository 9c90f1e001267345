import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ADMIN_PASSWORD, startImageCloud, type ImageCloud, type Session } from './support.ts'

/**
 * Debian's real `openstack` CLI (python3-openstackclient 6.0, through
 * openstacksdk) against the image API. It must be installed: a missing CLI
 * fails this test rather than skipping it.
 */

const TEST_TIMEOUT_MS = 240_000
/** One CLI run: Python start-up, Keystone auth and the call. */
const CLI_TIMEOUT_MS = 60_000
const CLI = 'openstack'

interface Credentials {
  readonly user: string
  readonly password: string
  readonly project: string
}

describe('openstack CLI against the image API', { timeout: TEST_TIMEOUT_MS }, () => {
  let cloud: ImageCloud
  let work: string
  let other: Session
  const otherCreds: Credentials = { user: 'cli-other', password: 'cli-other-password', project: 'cli-other' }
  const adminCreds: Credentials = { user: 'admin', password: ADMIN_PASSWORD, project: 'admin' }

  before(async () => {
    cloud = await startImageCloud()
    other = await cloud.newProject('cli-other')
    work = mkdtempSync(join(tmpdir(), 'nimbus-image-cli-'))
  })
  after(async () => {
    rmSync(work, { recursive: true, force: true })
    await cloud?.stop()
  })

  /** Runs `openstack args...` as `as`; resolves with stdout, rejects with stderr on failure. */
  function openstack(as: Credentials, ...args: string[]): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: work,
      LANG: 'C.UTF-8',
      OS_AUTH_URL: `${cloud.identityUrl}/v3`,
      OS_IDENTITY_API_VERSION: '3',
      OS_IMAGE_API_VERSION: '2',
      OS_USERNAME: as.user,
      OS_PASSWORD: as.password,
      OS_PROJECT_NAME: as.project,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    }
    return new Promise((resolve, reject) => {
      execFile(
        CLI,
        args,
        { env, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`openstack ${args.join(' ')} failed: ${err.message}\n${stderr}`))
          else resolve(stdout)
        },
      )
    })
  }
  const json = async (as: Credentials, ...args: string[]) =>
    JSON.parse(await openstack(as, ...args, '-f', 'json'))

  it('is installed', async () => {
    const version = await new Promise<string>((resolve, reject) =>
      execFile(CLI, ['--version'], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) =>
        err ? reject(new Error(`the openstack CLI is required: ${err.message}`)) : resolve(stdout + stderr),
      ),
    )
    assert.match(version, /openstack \d+\./)
  })

  it('creates, lists, shows, saves, sets properties on, shares and deletes an image', async () => {
    const file = join(work, 'disk.qcow2')
    const data = randomBytes(3 * 1024 * 1024 + 11)
    writeFileSync(file, data)
    const md5 = createHash('md5').update(data).digest('hex')

    const created = await json(
      adminCreds,
      'image',
      'create',
      '--file',
      file,
      '--disk-format',
      'qcow2',
      '--container-format',
      'bare',
      'cli-img',
    )
    assert.equal(created.name, 'cli-img')
    const id = created.id as string

    const list = await json(adminCreds, 'image', 'list')
    assert.ok(
      list.some((i: { ID: string; Name: string; Status: string }) => i.ID === id && i.Status === 'active'),
      JSON.stringify(list),
    )

    const shown = await json(adminCreds, 'image', 'show', 'cli-img')
    assert.equal(shown.id, id)
    assert.equal(shown.status, 'active')
    assert.equal(shown.checksum, md5)
    assert.equal(shown.size, data.length)
    assert.equal(shown.disk_format, 'qcow2')

    const saved = join(work, 'saved.qcow2')
    await openstack(adminCreds, 'image', 'save', '--file', saved, 'cli-img')
    assert.deepEqual(readFileSync(saved), data)

    await openstack(
      adminCreds,
      'image',
      'set',
      '--property',
      'k=v',
      '--property',
      'os_distro=cirros',
      'cli-img',
    )
    const props = (await json(adminCreds, 'image', 'show', id)).properties
    assert.equal(props.k, 'v')
    assert.equal(props.os_distro, 'cirros')

    // Share with another project; it sees the image in its list once it accepts.
    await openstack(adminCreds, 'image', 'add', 'project', id, other.projectId)
    const beforeAccept = await json(otherCreds, 'image', 'list')
    assert.ok(!beforeAccept.some((i: { ID: string }) => i.ID === id))
    await openstack(otherCreds, 'image', 'set', '--accept', id)
    const afterAccept = await json(otherCreds, 'image', 'list')
    assert.ok(
      afterAccept.some((i: { ID: string }) => i.ID === id),
      JSON.stringify(afterAccept),
    )
    const members = await json(adminCreds, 'image', 'member', 'list', id)
    assert.deepEqual(
      members.map((m: { 'Member ID': string; Status: string }) => [m['Member ID'], m.Status]),
      [[other.projectId, 'accepted']],
    )

    await openstack(adminCreds, 'image', 'delete', id)
    const afterDelete = await json(adminCreds, 'image', 'list')
    assert.ok(!afterDelete.some((i: { ID: string }) => i.ID === id))
  })
})
