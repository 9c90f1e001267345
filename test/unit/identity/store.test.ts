import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../src/common/config.ts'
import { Conflict, Forbidden, NotFound, Unauthorized } from '../../../src/common/errors.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { bootstrap } from '../../../src/identity/bootstrap.ts'
import { Identity } from '../../../src/identity/identity.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from '../db/backends.ts'

/** The identity managers and token provider over each database backend. */
const PASSWORD = 'store-test-password'
/** A low scrypt cost: these tests exercise storage, not the KDF. */
const TEST_HASH_COST = '10'

for (const dialect of DIALECTS) {
  describe(`identity storage on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      await migrateToLatest(d)
    })
    let stateDir: string
    let id: Identity

    before(async () => {
      stateDir = mkdtempSync(join(tmpdir(), 'nimbus-identity-store-'))
      const config = loadConfig({
        env: {},
        overrides: { 'DEFAULT.state_dir': stateDir, 'identity.password_hash_cost': TEST_HASH_COST },
      })
      id = await Identity.open(config, db())
      await bootstrap(id, {
        adminPassword: PASSWORD,
        region: 'RegionOne',
        endpoints: [{ type: 'compute', catalogName: 'nova', url: 'http://192.0.2.1:8774/v2.1' }],
      })
    })
    after(() => rmSync(stateDir, { recursive: true, force: true }))

    it('bootstrap is idempotent and its admin can log in on the admin project', async () => {
      await bootstrap(id, {
        adminPassword: PASSWORD,
        region: 'RegionOne',
        endpoints: [{ type: 'compute', catalogName: 'nova', url: 'http://192.0.2.1:8774/v2.1' }],
      })
      assert.equal((await id.catalog.listEndpoints()).length, 3)
      assert.equal((await id.assignments.listRoles()).length, 3)
      const token = await id.authenticator.authenticate({
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', password: PASSWORD, domain: { id: 'default' } } },
        },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      })
      assert.deepEqual(token.roles.map((r) => r.name).sort(), ['admin', 'member', 'reader'])
      assert.equal((await id.tokens.validate(token.id)).user.name, 'admin')
    })

    it('unique names are 409s with Keystone words; missing rows are 404s', async () => {
      await id.resources.createProject({ name: 'dup', domainId: 'default' })
      await assert.rejects(
        id.resources.createProject({ name: 'dup', domainId: 'default' }),
        (err: unknown) => {
          assert.ok(err instanceof Conflict)
          assert.match(err.message, /^Conflict occurred attempting to store project/)
          return true
        },
      )
      await id.users.createUser({ name: 'dup-user', domainId: 'default' })
      await assert.rejects(id.users.createUser({ name: 'dup-user', domainId: 'default' }), Conflict)
      await assert.rejects(id.assignments.createRole({ name: 'member' }), Conflict)
      await assert.rejects(
        id.users.getUser('nope'),
        (err: unknown) => err instanceof NotFound && err.message === 'Could not find user: nope.',
      )
    })

    it('effective roles: direct, through a group, and implied', async () => {
      const project = await id.resources.createProject({ name: 'eff', domainId: 'default' })
      const user = await id.users.createUser({ name: 'eff-user', domainId: 'default', password: PASSWORD })
      const group = await id.users.createGroup({ name: 'eff-group', domainId: 'default' })
      await id.users.addUserToGroup(user.id, group.id)
      const member = (await id.assignments.findRoleByName('member'))!
      await id.assignments.grant(
        { kind: 'group', id: group.id },
        { kind: 'project', id: project.id },
        member.id,
      )
      const roles = await id.assignments.effectiveRoles(user.id, { kind: 'project', id: project.id })
      assert.deepEqual(roles.map((r) => r.name).sort(), ['member', 'reader'])
      assert.deepEqual(
        (await id.assignments.projectsForUser(user.id)).map((p) => p.id),
        [project.id],
      )
      const listed = await id.assignments.listAssignments({ userId: user.id, effective: true })
      assert.equal(listed.length, 2)
      assert.ok(listed.every((a) => a.viaGroupId === group.id))
    })

    it('revocation events survive a restart of the identity service', async () => {
      const user = await id.users.createUser({ name: 'rev-user', domainId: 'default', password: PASSWORD })
      const project = await id.resources.createProject({ name: 'rev', domainId: 'default' })
      await id.assignments.grant(
        { kind: 'user', id: user.id },
        { kind: 'project', id: project.id },
        (await id.assignments.findRoleByName('reader'))!.id,
      )
      const token = await id.tokens.issue({
        userId: user.id,
        methods: ['password'],
        scope: { kind: 'project', projectId: project.id },
      })
      await id.tokens.revoke(token)
      await assert.rejects(id.tokens.validate(token.id), Unauthorized)
      const config = loadConfig({
        env: {},
        overrides: { 'DEFAULT.state_dir': stateDir, 'identity.password_hash_cost': TEST_HASH_COST },
      })
      const restarted = await Identity.open(config, db())
      await assert.rejects(restarted.tokens.validate(token.id), Unauthorized)
      const other = await restarted.tokens.issue({
        userId: user.id,
        methods: ['password'],
        scope: { kind: 'project', projectId: project.id },
      })
      assert.equal((await restarted.tokens.validate(other.id)).user.id, user.id)
    })

    it('an expired token is refused, a token within its lifetime is not', async () => {
      const admin = await id.users.getUserByName('admin', 'default')
      const project = await id.resources.getProjectByName('admin', 'default')
      const scope = { kind: 'project', projectId: project.id } as const
      const live = await id.tokens.issue({
        userId: admin.id,
        methods: ['password'],
        scope,
        expiresAtMs: Date.now() + 60_000,
      })
      const expired = await id.tokens.issue({
        userId: admin.id,
        methods: ['password'],
        scope,
        expiresAtMs: Date.now() - 1,
      })
      id.tokens.clearCache()
      assert.equal((await id.tokens.validate(live.id)).user.id, admin.id)
      await assert.rejects(id.tokens.validate(expired.id), /expired/)
    })

    it('a domain is deleted with its contents only once disabled', async () => {
      const domain = await id.resources.createDomain({ name: 'gone' })
      const parent = await id.resources.createProject({ name: 'p', domainId: domain.id })
      await id.resources.createProject({ name: 'c', domainId: domain.id, parentId: parent.id })
      await id.users.createUser({ name: 'u', domainId: domain.id })
      await assert.rejects(id.resources.deleteDomain(domain.id), Forbidden)
      await id.resources.updateDomain(domain.id, { enabled: false })
      await id.resources.deleteDomain(domain.id)
      assert.deepEqual(await id.resources.listProjects({ domainId: domain.id }), [])
      assert.deepEqual(await id.users.listUsers({ domainId: domain.id }), [])
    })
  })
}
