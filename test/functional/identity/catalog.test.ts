import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { IdentityService } from '../../../src/identity/service.ts'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'
import { assertError, Keystone, projectScope } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity catalog', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  it('regions: create (POST and PUT), get, update, 409, delete refused while in use', async () => {
    const east = (
      await ks.ok('POST', '/v3/regions', { region: { id: 'RegionEast', description: 'East' } }, 201)
    ).region
    assert.deepEqual(east, {
      id: 'RegionEast',
      description: 'East',
      parent_region_id: null,
      links: { self: `${ks.base}/v3/regions/RegionEast` },
    })
    const sub = (
      await ks.ok('PUT', '/v3/regions/RegionEast-1', { region: { parent_region_id: 'RegionEast' } }, 201)
    ).region
    assert.equal(sub.parent_region_id, 'RegionEast')
    assertError(
      await ks.req('POST', '/v3/regions', { token: admin, body: { region: { id: 'RegionEast' } } }),
      409,
      'Conflict occurred attempting to store region - Duplicate ID, RegionEast.',
    )
    assert.equal(
      (await ks.ok('PATCH', '/v3/regions/RegionEast-1', { region: { description: 'sub' } })).region
        .description,
      'sub',
    )
    assertError(
      await ks.req('DELETE', '/v3/regions/RegionOne', { token: admin }),
      403,
      /associated endpoints/,
    )
    await ks.ok('DELETE', '/v3/regions/RegionEast-1', undefined, 204)
    await ks.ok('DELETE', '/v3/regions/RegionEast', undefined, 204)
    assertError(
      await ks.req('GET', '/v3/regions/RegionEast', { token: admin }),
      404,
      'Could not find region: RegionEast.',
    )
  })

  it('services and endpoints: a new service appears in new tokens, with $(project_id)s filled in', async () => {
    const svc = (
      await ks.ok(
        'POST',
        '/v3/services',
        { service: { type: 'volumev3', name: 'cinderv3', description: 'Block' } },
        201,
      )
    ).service
    assert.equal(svc.enabled, true)
    assert.deepEqual(
      (await ks.ok('GET', '/v3/services?type=volumev3')).services.map((s: any) => s.id),
      [svc.id],
    )
    const ep = (
      await ks.ok(
        'POST',
        '/v3/endpoints',
        {
          endpoint: {
            service_id: svc.id,
            interface: 'public',
            url: 'http://198.51.100.7:8776/v3/$(project_id)s',
            region_id: 'RegionOne',
          },
        },
        201,
      )
    ).endpoint
    assert.equal(ep.region, 'RegionOne')
    assert.equal(ep.enabled, true)
    assert.deepEqual(
      (await ks.ok('GET', `/v3/endpoints?service_id=${svc.id}`)).endpoints.map((e: any) => e.id),
      [ep.id],
    )
    assert.equal((await ks.ok('GET', '/v3/endpoints?interface=public')).endpoints.length, 5)

    const { body } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    const volume = body.token.catalog.find((s: any) => s.type === 'volumev3')
    assert.equal(volume.endpoints[0].url, `http://198.51.100.7:8776/v3/${body.token.project.id}`)
    const auth = await ks.ok('GET', '/v3/auth/catalog')
    assert.ok(auth.catalog.some((s: any) => s.type === 'volumev3'))

    await ks.ok('PATCH', `/v3/endpoints/${ep.id}`, { endpoint: { enabled: false } })
    const after = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    assert.deepEqual(after.body.token.catalog.find((s: any) => s.type === 'volumev3').endpoints, [])
    await ks.ok('PATCH', `/v3/services/${svc.id}`, { service: { enabled: false } })
    const disabled = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    assert.equal(
      disabled.body.token.catalog.find((s: any) => s.type === 'volumev3'),
      undefined,
    )

    await ks.ok('DELETE', `/v3/services/${svc.id}`, undefined, 204)
    assertError(
      await ks.req('GET', `/v3/endpoints/${ep.id}`, { token: admin }),
      404,
      `Could not find endpoint: ${ep.id}.`,
    )
  })

  it('endpoint validation: bad interface, missing service, unknown region', async () => {
    const svc = (await ks.ok('GET', '/v3/services?type=identity')).services[0]
    const bad = (endpoint: Record<string, unknown>) =>
      ks.req('POST', '/v3/endpoints', { token: admin, body: { endpoint } })
    assertError(
      await bad({ service_id: svc.id, interface: 'private', url: 'http://x' }),
      400,
      /is not one of/,
    )
    assertError(
      await bad({ service_id: 'nope', interface: 'public', url: 'http://x' }),
      400,
      'Could not find service: nope.',
    )
    assertError(
      await bad({ service_id: svc.id, interface: 'public', url: 'http://x', region_id: 'Mars' }),
      400,
    )
    assertError(
      await bad({ interface: 'public', url: 'http://x' }),
      400,
      "'service_id' is a required property",
    )
  })

  it('endpoint create with the legacy `region` creates a region that does not exist yet (as Keystone)', async () => {
    const svc = (await ks.ok('GET', '/v3/services?type=identity')).services[0]
    const ep = (
      await ks.ok(
        'POST',
        '/v3/endpoints',
        { endpoint: { service_id: svc.id, interface: 'public', url: 'http://legacy', region: 'Venus' } },
        201,
      )
    ).endpoint
    assert.equal(ep.region_id, 'Venus')
    assert.equal(ep.region, 'Venus')
    assert.equal((await ks.ok('GET', '/v3/regions/Venus')).region.id, 'Venus')
    // An existing region is reused.
    const ep2 = (
      await ks.ok(
        'POST',
        '/v3/endpoints',
        { endpoint: { service_id: svc.id, interface: 'internal', url: 'http://legacy', region: 'Venus' } },
        201,
      )
    ).endpoint
    assert.equal(ep2.region_id, 'Venus')
    await ks.ok('DELETE', `/v3/endpoints/${ep.id}`, undefined, 204)
    await ks.ok('DELETE', `/v3/endpoints/${ep2.id}`, undefined, 204)
    await ks.ok('DELETE', '/v3/regions/Venus', undefined, 204)
  })

  it('re-running the bootstrap with other ports updates the endpoints in place', async () => {
    const identity = tc.cloud.service<IdentityService>('identity')
    const before = (await ks.ok('GET', '/v3/endpoints')).endpoints
    const moved = tc.cloud
      .endpoints()
      .map((e) => (e.type === 'image' ? { ...e, url: 'http://127.0.0.1:19292' } : e))
    await identity.bootstrap(tc.cloud.config, TEST_ADMIN_PASSWORD, moved)
    const after = (await ks.ok('GET', '/v3/endpoints')).endpoints
    assert.equal(after.length, before.length)
    const imageService = (await ks.ok('GET', '/v3/services?type=image')).services
    assert.equal(imageService.length, 1)
    const imageUrls = after.filter((e: any) => e.service_id === imageService[0].id).map((e: any) => e.url)
    assert.deepEqual(imageUrls, [
      'http://127.0.0.1:19292',
      'http://127.0.0.1:19292',
      'http://127.0.0.1:19292',
    ])
    await tc.cloud.bootstrapIdentity(TEST_ADMIN_PASSWORD)
    const restored = (await ks.ok('GET', '/v3/endpoints')).endpoints.filter(
      (e: any) => e.service_id === imageService[0].id,
    )
    assert.ok(restored.every((e: any) => e.url === tc.endpoint('image').url))
  })

  it('/v3/auth/projects, /v3/auth/domains, /v3/auth/system and /v3/auth/catalog for a member', async () => {
    const { project, token, user } = await ks.userWithRole('auth-lists', 'member')
    const off = await ks.createProject('auth-lists-off')
    await ks.grant(off.id, user.id, 'member')
    await ks.ok('PATCH', `/v3/projects/${off.id}`, { project: { enabled: false } })
    const projects = await ks.req('GET', '/v3/auth/projects', { token })
    assert.deepEqual(
      projects.body.projects.map((p: any) => p.id),
      [project.id],
    )
    assert.equal(projects.body.links.self, `${ks.base}/v3/auth/projects`)
    assert.deepEqual((await ks.req('GET', '/v3/auth/domains', { token })).body.domains, [])
    assert.deepEqual((await ks.req('GET', '/v3/auth/system', { token })).body.system, [])
    const catalog = await ks.req('GET', '/v3/auth/catalog', { token })
    assert.equal(catalog.status, 200)
    assert.deepEqual(catalog.body.catalog.map((s: any) => s.type).sort(), [
      'compute',
      'identity',
      'image',
      'network',
    ])
    const unscoped = (await ks.login('auth-lists', 'auth-lists-password', 'unscoped')).token
    assertError(
      await ks.req('GET', '/v3/auth/catalog', { token: unscoped }),
      403,
      'A project-scoped token is required to produce a service catalog.',
    )
  })
})
