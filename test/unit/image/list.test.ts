import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RequestContext } from '../../../src/common/context.ts'
import { Forbidden, Invalid } from '../../../src/common/errors.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { parseListQuery } from '../../../src/image/list-query.ts'
import { ImageManager } from '../../../src/image/manager.ts'
import type { Image } from '../../../src/image/model.ts'
import { ImagePolicy } from '../../../src/image/policy.ts'
import * as repo from '../../../src/image/repository.ts'
import { FileStore } from '../../../src/image/store/file-store.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from '../db/backends.ts'

/** Glance's list rules (visibility, member status, filters, sorting, paging) on every database. */

const ctxOf = (projectId: string, roles: string[] = ['member', 'reader']): RequestContext => ({
  requestId: 'req-test',
  projectId,
  roles,
  isAdmin: roles.includes('admin'),
})
const P1 = ctxOf('p1')
const P2 = ctxOf('p2')
const P3 = ctxOf('p3')
const ADMIN = ctxOf('adminproject', ['admin', 'member', 'reader'])

interface Seed {
  readonly name: string
  readonly owner: RequestContext
  readonly visibility: string
  readonly size?: number
  readonly status?: string
  readonly tags?: string[]
  readonly props?: Record<string, string>
  readonly hidden?: boolean
  readonly members?: Record<string, string>
}

const SEEDS: readonly Seed[] = [
  {
    name: 'p1-private',
    owner: P1,
    visibility: 'private',
    size: 300,
    tags: ['x', 'y'],
    props: { os_distro: 'debian' },
  },
  {
    name: 'p1-shared',
    owner: P1,
    visibility: 'shared',
    size: 100,
    members: { p2: 'accepted', p3: 'pending' },
  },
  { name: 'p1-community', owner: P1, visibility: 'community', size: 200, tags: ['x'] },
  { name: 'p2-public', owner: ADMIN, visibility: 'public', size: 500, props: { os_distro: 'cirros' } },
  { name: 'p2-private', owner: P2, visibility: 'private' },
  { name: 'p2-shared-rejected', owner: P2, visibility: 'shared', members: { p1: 'rejected' } },
  { name: 'p2-shared-pending', owner: P2, visibility: 'shared', members: { p1: 'pending' } },
  { name: 'p2-community', owner: P2, visibility: 'community', size: 50 },
  { name: 'p1-hidden', owner: P1, visibility: 'private', hidden: true },
  { name: 'p1-killed', owner: P1, visibility: 'private', status: 'killed' },
]

for (const dialect of DIALECTS) {
  describe(`image list on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'nimbus-image-list-'))
    let manager: ImageManager
    const ids = new Map<string, string>()
    useScratchDatabase(dialect, async (database) => {
      await migrateToLatest(database)
      manager = new ImageManager({
        db: database,
        store: new FileStore(storeDir),
        policy: ImagePolicy.fromFile(''),
        maxImageSizeBytes: 1024,
      })
      for (const seed of SEEDS) ids.set(seed.name, (await seedImage(database, manager, seed)).id)
    })
    after(() => rmSync(storeDir, { recursive: true, force: true }))

    const names = async (ctx: RequestContext, query = ''): Promise<string[]> =>
      (await manager.list(ctx, parseListQuery(new URLSearchParams(query)))).items.map((i) => i.name!).sort()

    it('shows a project its own, public and accepted shared images, not others community ones', async () => {
      assert.deepEqual(await names(P1), ['p1-community', 'p1-private', 'p1-shared', 'p2-public'])
      assert.deepEqual(await names(P2), [
        'p1-shared',
        'p2-community',
        'p2-private',
        'p2-public',
        'p2-shared-pending',
        'p2-shared-rejected',
      ])
      assert.deepEqual(await names(P3), ['p2-public'])
    })

    it('lists shared images by member status', async () => {
      // The project's own shared images are listed whatever their members say.
      assert.deepEqual(await names(P1, 'visibility=shared&member_status=pending'), [
        'p1-shared',
        'p2-shared-pending',
      ])
      assert.deepEqual(await names(P1, 'visibility=shared&member_status=all'), [
        'p1-shared',
        'p2-shared-pending',
        'p2-shared-rejected',
      ])
      assert.deepEqual(await names(P3, 'member_status=pending'), ['p1-shared', 'p2-public'])
    })

    it('lists community images when asked', async () => {
      assert.deepEqual(await names(P3, 'visibility=community'), ['p1-community', 'p2-community'])
      assert.deepEqual(await names(P3, 'visibility=all'), ['p1-community', 'p2-community', 'p2-public'])
    })

    it('shows an admin everything but other projects community images', async () => {
      assert.deepEqual(await names(ADMIN), [
        'p1-private',
        'p1-shared',
        'p2-private',
        'p2-public',
        'p2-shared-pending',
        'p2-shared-rejected',
      ])
      assert.equal((await names(ADMIN, 'visibility=all')).length, 8)
    })

    it('lists hidden images only when asked, and never killed ones', async () => {
      assert.deepEqual(await names(P1, 'os_hidden=true'), ['p1-hidden'])
      assert.deepEqual(await names(ADMIN, 'status=killed&visibility=all'), [])
    })

    it('filters by attributes, ranges, properties and tags', async () => {
      assert.deepEqual(await names(P1, 'name=in:p1-private,p2-public'), ['p1-private', 'p2-public'])
      assert.deepEqual(await names(P1, 'size_min=100&size_max=300'), [
        'p1-community',
        'p1-private',
        'p1-shared',
      ])
      assert.deepEqual(await names(P1, 'size=500'), ['p2-public'])
      assert.deepEqual(await names(P1, 'os_distro=debian'), ['p1-private'])
      assert.deepEqual(await names(P1, 'tag=x'), ['p1-community', 'p1-private'])
      assert.deepEqual(await names(P1, 'tag=x&tag=y'), ['p1-private'])
      assert.deepEqual(await names(P1, 'owner=p1&visibility=private'), ['p1-private'])
      assert.deepEqual(await names(P1, 'status=queued'), [
        'p1-community',
        'p1-private',
        'p1-shared',
        'p2-public',
      ])
      assert.deepEqual(await names(P1, 'protected=true'), [])
      assert.deepEqual(await names(P1, 'created_at=lt:2000-01-01T00:00:00Z'), [])
    })

    it('sorts, NULL sizes first going up', async () => {
      const order = async (query: string) =>
        (await manager.list(ADMIN, parseListQuery(new URLSearchParams(query)))).items.map((i) => i.size)
      assert.deepEqual(await order('sort=size:asc'), [null, null, null, 100, 300, 500])
      assert.deepEqual(await order('sort_key=size&sort_dir=desc'), [500, 300, 100, null, null, null])
      const byName = (await manager.list(ADMIN, parseListQuery(new URLSearchParams('sort=name:asc')))).items
      assert.deepEqual(
        byName.map((i) => i.name),
        [...byName.map((i) => i.name)].sort(),
      )
    })

    it('pages with a marker through the same images as one list, in every order', async () => {
      for (const sort of ['', 'sort=size:asc', 'sort=name:desc,size:asc', 'sort_key=status&sort_dir=asc']) {
        const all = await manager.list(ADMIN, parseListQuery(new URLSearchParams(sort)))
        const paged: Image[] = []
        let marker: string | undefined
        for (let page = 0; page < 10; page++) {
          const params = new URLSearchParams(sort)
          params.set('limit', '2')
          if (marker) params.set('marker', marker)
          const result = await manager.list(ADMIN, parseListQuery(params))
          paged.push(...result.items)
          if (!result.hasMore) break
          marker = result.items.at(-1)!.id
        }
        assert.deepEqual(
          paged.map((i) => i.id),
          all.items.map((i) => i.id),
          sort,
        )
      }
    })

    it('answers 400 for an unknown marker and 403 for one the caller cannot see', async () => {
      const query = (marker: string) => parseListQuery(new URLSearchParams({ marker }))
      await assert.rejects(manager.list(P1, query('00000000-0000-0000-0000-000000000000')), Invalid)
      await assert.rejects(manager.list(P3, query(ids.get('p2-private')!)), Forbidden)
    })

    it('answers an empty page for limit=0', async () => {
      const page = await manager.list(P1, parseListQuery(new URLSearchParams('limit=0')))
      assert.deepEqual(page, { items: [], hasMore: false })
    })
  })
}

async function seedImage(database: Parameters<typeof repo.findImage>[0], manager: ImageManager, seed: Seed) {
  const image = await manager.create(seed.owner, {
    name: seed.name,
    visibility: seed.visibility,
    disk_format: 'raw',
    container_format: 'bare',
    os_hidden: seed.hidden ?? false,
    tags: seed.tags ?? [],
    ...(seed.props ?? {}),
  })
  if (seed.size !== undefined || seed.status !== undefined) {
    await repo.updateImage(database, image.id, {
      fields: { size: seed.size ?? null, ...(seed.status ? { status: seed.status } : {}) },
    })
  }
  for (const [member, status] of Object.entries(seed.members ?? {})) {
    await repo.insertMember(database, image.id, member, 10)
    await repo.updateMemberStatus(database, image.id, member, status as 'pending')
  }
  return image
}
