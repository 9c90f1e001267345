import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

describe('compute: flavors and key pairs', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud()
    admin = cloud.admin
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  describe('flavors', () => {
    it('lists the default flavors and shows one with the fields of each microversion', async () => {
      const list = await member.nova('GET', '/flavors')
      assert.ok(list.body.flavors.some((f: { name: string }) => f.name === 'm1.tiny'))
      const v21 = (await member.nova('GET', '/flavors/1')).body.flavor
      assert.equal(v21.ram, 512)
      assert.equal(v21.swap, '')
      assert.equal(v21['os-flavor-access:is_public'], true)
      assert.equal(v21.description, undefined)
      const latest = (await member.nova('GET', '/flavors/1', undefined, '2.75')).body.flavor
      assert.equal(latest.swap, 0)
      assert.equal(latest.description, null)
      assert.deepEqual(latest.extra_specs, {})
      assert.equal((await member.nova('GET', '/flavors/nope')).status, 404)
      const paged = await member.nova('GET', '/flavors?limit=2')
      assert.equal(paged.body.flavors.length, 2)
      assert.ok(paged.body.flavors_links[0].href.includes(`marker=${paged.body.flavors[1].id}`))
      const small = await member.nova('GET', '/flavors/detail?minRam=4096')
      assert.ok(small.body.flavors.every((f: { ram: number }) => f.ram >= 4096))
    })

    it('creates, describes and deletes flavors (admin only), refusing duplicates', async () => {
      const body = { flavor: { name: 'f.custom', ram: 1024, vcpus: 2, disk: 10, id: 'custom-1' } }
      assert.equal((await member.nova('POST', '/flavors', body)).status, 403)
      const created = await admin.nova('POST', '/flavors', body, '2.55')
      assert.equal(created.status, 200)
      assert.equal(created.body.flavor.id, 'custom-1')
      assert.equal(created.body.flavor.description, null)
      const dup = await admin.nova('POST', '/flavors', body)
      assert.equal(dup.status, 409)
      assert.equal(dup.body.conflictingRequest.message, 'Flavor with name f.custom already exists.')
      const auto = await admin.nova('POST', '/flavors', {
        flavor: { name: 'f.auto', ram: 64, vcpus: 1, disk: 0 },
      })
      assert.match(auto.body.flavor.id, /^[0-9a-f-]{36}$/)
      const bad = await admin.nova('POST', '/flavors', {
        flavor: { name: 'f.bad', ram: 0, vcpus: 1, disk: 0 },
      })
      assert.equal(bad.status, 400)
      assert.match(bad.body.badRequest.message, /Invalid input for field\/attribute ram/)
      assert.equal(
        (await admin.nova('PUT', '/flavors/custom-1', { flavor: { description: 'd' } }, '2.54')).status,
        404,
      )
      const described = await admin.nova('PUT', '/flavors/custom-1', { flavor: { description: 'd' } }, '2.55')
      assert.equal(described.body.flavor.description, 'd')
      assert.equal((await admin.nova('DELETE', '/flavors/custom-1')).status, 202)
      assert.equal((await admin.nova('GET', '/flavors/custom-1')).status, 404)
      await admin.nova('DELETE', `/flavors/${auto.body.flavor.id}`)
    })

    it('manages extra specs, validated from 2.86', async () => {
      await admin.nova('POST', '/flavors', {
        flavor: { name: 'f.specs', ram: 64, vcpus: 1, disk: 1, id: 'specs' },
      })
      const set = await admin.nova('POST', '/flavors/specs/os-extra_specs', {
        extra_specs: { 'hw:cpu_policy': 'dedicated', n: 1 },
      })
      assert.equal(set.status, 200)
      assert.deepEqual(set.body, { extra_specs: { 'hw:cpu_policy': 'dedicated', n: 1 } })
      assert.deepEqual((await member.nova('GET', '/flavors/specs/os-extra_specs')).body, {
        extra_specs: { 'hw:cpu_policy': 'dedicated', n: '1' },
      })
      assert.deepEqual((await member.nova('GET', '/flavors/specs/os-extra_specs/n')).body, { n: '1' })
      const invalid = await admin.nova(
        'POST',
        '/flavors/specs/os-extra_specs',
        { extra_specs: { 'hw:cpu_policy': 'bogus' } },
        '2.86',
      )
      assert.equal(invalid.status, 400)
      assert.equal(
        invalid.body.badRequest.message,
        "Validation failed; 'bogus' is not one of: dedicated, shared, mixed.",
      )
      const unknown = await admin.nova(
        'POST',
        '/flavors/specs/os-extra_specs',
        { extra_specs: { 'hw:nope': '1' } },
        '2.86',
      )
      assert.equal(unknown.status, 400)
      assert.equal(
        (
          await admin.nova(
            'POST',
            '/flavors/specs/os-extra_specs',
            { extra_specs: { 'hw:nope': '1' } },
            '2.85',
          )
        ).status,
        200,
      )
      const mismatch = await admin.nova('PUT', '/flavors/specs/os-extra_specs/n', { m: '2' })
      assert.equal(mismatch.status, 400)
      assert.equal(mismatch.body.badRequest.message, 'Request body and URI mismatch')
      assert.equal((await admin.nova('DELETE', '/flavors/specs/os-extra_specs/n')).status, 200)
      const missing = await admin.nova('GET', '/flavors/specs/os-extra_specs/n')
      assert.equal(missing.status, 404)
      assert.equal(missing.body.itemNotFound.message, 'Flavor specs has no extra specs with key n.')
      const shown = await member.nova('GET', '/flavors/specs', undefined, '2.61')
      assert.equal(shown.body.flavor.extra_specs['hw:cpu_policy'], 'dedicated')
    })

    it('shares private flavors with projects', async () => {
      await admin.nova('POST', '/flavors', {
        flavor: {
          name: 'f.private',
          ram: 64,
          vcpus: 1,
          disk: 1,
          id: 'private',
          'os-flavor-access:is_public': false,
        },
      })
      assert.equal((await member.nova('GET', '/flavors/private')).status, 404)
      const publicAccess = await admin.nova('GET', '/flavors/1/os-flavor-access')
      assert.equal(publicAccess.status, 404)
      const added = await admin.nova('POST', '/flavors/private/action', {
        addTenantAccess: { tenant: member.projectId },
      })
      assert.deepEqual(added.body, { flavor_access: [{ flavor_id: 'private', tenant_id: member.projectId }] })
      const again = await admin.nova('POST', '/flavors/private/action', {
        addTenantAccess: { tenant: member.projectId },
      })
      assert.equal(again.status, 409)
      assert.equal((await member.nova('GET', '/flavors/private')).status, 200)
      assert.ok(
        (await member.nova('GET', '/flavors')).body.flavors.some((f: { id: string }) => f.id === 'private'),
      )
      const onPublic = await admin.nova(
        'POST',
        '/flavors/1/action',
        { addTenantAccess: { tenant: member.projectId } },
        '2.7',
      )
      assert.equal(onPublic.status, 409)
      assert.equal(onPublic.body.conflictingRequest.message, 'Can not add access to a public flavor.')
      const removed = await admin.nova('POST', '/flavors/private/action', {
        removeTenantAccess: { tenant: member.projectId },
      })
      assert.deepEqual(removed.body, { flavor_access: [] })
      assert.equal((await member.nova('GET', '/flavors/private')).status, 404)
    })
  })

  describe('key pairs', () => {
    it('generates a key pair with a usable private key (before 2.92), with the status codes of each version', async () => {
      const v21 = await member.nova('POST', '/os-keypairs', { keypair: { name: 'gen21' } })
      assert.equal(v21.status, 200)
      assert.equal(v21.body.keypair.type, undefined)
      const created = await member.nova('POST', '/os-keypairs', { keypair: { name: 'gen' } }, '2.2')
      assert.equal(created.status, 201)
      const kp = created.body.keypair
      assert.equal(kp.type, 'ssh')
      assert.match(kp.public_key, /^ssh-rsa \S+ Generated-by-Nova$/)
      assert.match(kp.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
      const dir = mkdtempSync(join(tmpdir(), 'kp-'))
      try {
        const file = join(dir, 'id')
        execFileSync('sh', ['-c', `umask 077; cat > ${file}`], { input: kp.private_key })
        const derived = execFileSync('ssh-keygen', ['-y', '-f', file])
          .toString()
          .trim()
          .split(' ')
          .slice(0, 2)
          .join(' ')
        assert.equal(derived, kp.public_key.split(' ').slice(0, 2).join(' '))
        assert.ok(readFileSync(file, 'utf8').startsWith('-----BEGIN RSA PRIVATE KEY-----'))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
      const refused = await member.nova('POST', '/os-keypairs', { keypair: { name: 'gen292' } }, '2.92')
      assert.equal(refused.status, 400)
      assert.match(refused.body.badRequest.message, /'public_key' is a required property/)
      assert.equal((await member.nova('DELETE', '/os-keypairs/gen', undefined, '2.2')).status, 204)
      assert.equal((await member.nova('DELETE', '/os-keypairs/gen21')).status, 202)
    })

    it('imports, shows, lists with pagination (2.35) and refuses duplicates and bad keys', async () => {
      const generated = (await member.nova('POST', '/os-keypairs', { keypair: { name: 'source' } }, '2.2'))
        .body.keypair
      await member.nova('DELETE', '/os-keypairs/source', undefined, '2.2')
      for (const name of ['k1', 'k2', 'k3']) {
        const res = await member.nova(
          'POST',
          '/os-keypairs',
          { keypair: { name, public_key: generated.public_key } },
          '2.92',
        )
        assert.equal(res.status, 201)
        assert.equal(res.body.keypair.fingerprint, generated.fingerprint)
        assert.equal(res.body.keypair.private_key, undefined)
      }
      const dup = await member.nova('POST', '/os-keypairs', {
        keypair: { name: 'k1', public_key: generated.public_key },
      })
      assert.equal(dup.status, 409)
      assert.equal(dup.body.conflictingRequest.message, "Key pair 'k1' already exists.")
      const bad = await member.nova('POST', '/os-keypairs', {
        keypair: { name: 'bad', public_key: 'ssh-rsa nope' },
      })
      assert.equal(bad.status, 400)
      assert.equal(bad.body.badRequest.message, 'Keypair data is invalid: failed to generate fingerprint')
      const badName = await member.nova(
        'POST',
        '/os-keypairs',
        { keypair: { name: 'a@b', public_key: generated.public_key } },
        '2.91',
      )
      assert.equal(badName.status, 400)
      assert.equal(
        (
          await member.nova(
            'POST',
            '/os-keypairs',
            { keypair: { name: 'a@b', public_key: generated.public_key } },
            '2.92',
          )
        ).status,
        201,
      )
      const shown = await member.nova('GET', '/os-keypairs/k1', undefined, '2.10')
      assert.equal(shown.body.keypair.user_id, member.userId)
      assert.equal(shown.body.keypair.deleted, false)
      const page = await member.nova('GET', '/os-keypairs?limit=2', undefined, '2.35')
      assert.deepEqual(
        page.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
        ['a@b', 'k1'],
      )
      assert.ok(page.body.keypairs_links[0].href.includes('marker=k1'))
      const rest = await member.nova('GET', '/os-keypairs?marker=k1', undefined, '2.35')
      assert.deepEqual(
        rest.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
        ['k2', 'k3'],
      )
      const missing = await member.nova('GET', '/os-keypairs/nope')
      assert.equal(missing.status, 404)
      assert.equal(missing.body.itemNotFound.message, `Keypair nope not found for user ${member.userId}`)
      // another user's key pairs: admins only (2.10)
      assert.equal(
        (await member.nova('GET', `/os-keypairs?user_id=${admin.userId}`, undefined, '2.10')).status,
        403,
      )
      const asAdmin = await admin.nova('GET', `/os-keypairs/k1?user_id=${member.userId}`, undefined, '2.10')
      assert.equal(asAdmin.status, 200)
    })

    it('injects the key into servers booted with key_name', async () => {
      const kp = (await member.nova('POST', '/os-keypairs', { keypair: { name: 'boot-key' } }, '2.2')).body
        .keypair
      const id = await member.createServer({
        name: 'keyed',
        imageRef: cloud.imageId,
        flavorRef: '1',
        key_name: 'boot-key',
      })
      const server = await member.waitStatus(id)
      assert.equal(server.key_name, 'boot-key')
      assert.ok(kp.public_key)
      await member.deleteServer(id)
    })
  })
})
