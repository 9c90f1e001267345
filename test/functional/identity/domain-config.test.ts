import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

const CONFIG = {
  identity: { driver: 'ldap' },
  ldap: { url: 'ldap://myldap.example:389/', user_tree_dn: 'ou=Users,dc=example,dc=org' },
}

describe('identity domain configuration', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string
  let n = 0

  const newDomain = async (): Promise<string> =>
    (await ks.ok('POST', '/v3/domains', { domain: { name: `cfg-${++n}` } }, 201)).domain.id

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  it('PUT creates (201) then replaces (200); GET the config, a group, an option; sensitive options hidden', async () => {
    const id = await newDomain()
    const put = (config: unknown) =>
      ks.req('PUT', `/v3/domains/${id}/config`, { token: admin, body: { config } })
    const first = await put({ ...CONFIG, ldap: { ...CONFIG.ldap, password: 's3cret' } })
    assert.equal(first.status, 201, JSON.stringify(first.body))
    assert.deepEqual(first.body.config, CONFIG, 'ldap.password is stored but not returned')
    assert.deepEqual((await ks.ok('GET', `/v3/domains/${id}/config`)).config, CONFIG)
    assert.deepEqual((await ks.ok('GET', `/v3/domains/${id}/config/ldap`)).config, { ldap: CONFIG.ldap })
    assert.deepEqual((await ks.ok('GET', `/v3/domains/${id}/config/ldap/url`)).config, {
      url: CONFIG.ldap.url,
    })
    assertError(
      await ks.req('GET', `/v3/domains/${id}/config/ldap/password`, { token: admin }),
      404,
      `Could not find option password in group ldap in domain configuration for domain ${id}.`,
    )

    const second = await put({ identity: { driver: 'sql', list_limit: 7 } })
    assert.equal(second.status, 200)
    assert.deepEqual(
      second.body.config,
      { identity: { driver: 'sql', list_limit: 7 } },
      'the old config is replaced',
    )
    assertError(await ks.req('GET', `/v3/domains/${id}/config/ldap`, { token: admin }), 404)
  })

  it('PATCH merges the config, a group or one option; DELETE an option, a group, everything', async () => {
    const id = await newDomain()
    await ks.ok('PUT', `/v3/domains/${id}/config`, { config: CONFIG }, 201)
    const merged = await ks.ok('PATCH', `/v3/domains/${id}/config`, {
      config: { ldap: { url: 'ldap://b/' } },
    })
    assert.deepEqual(merged.config, { ...CONFIG, ldap: { ...CONFIG.ldap, url: 'ldap://b/' } })

    const byGroup = await ks.ok('PATCH', `/v3/domains/${id}/config/identity`, {
      config: { identity: { driver: 'd2', list_limit: 5 } },
    })
    assert.deepEqual(byGroup.config.identity, { driver: 'd2', list_limit: 5 })
    const byOption = await ks.ok('PATCH', `/v3/domains/${id}/config/identity/driver`, {
      config: { driver: 'd3' },
    })
    assert.equal(byOption.config.identity.driver, 'd3')
    assert.equal(byOption.config.ldap.url, 'ldap://b/')

    // A group or option in the path must be the only one in the body, and must exist already.
    const patch = (path: string, config: unknown) =>
      ks.req('PATCH', `/v3/domains/${id}/config${path}`, { token: admin, body: { config } })
    assertError(
      await patch('/identity', { identity: { driver: 'x' }, ldap: { url: 'y' } }),
      403,
      /and only that, group/,
    )
    assertError(await patch('/identity', { ldap: { url: 'y' } }), 403, /contains group ldap instead/)
    assertError(await patch('/ldap/user', { user: 'cn=x' }), 404, /option user in group ldap/)

    assert.equal(
      (await ks.req('DELETE', `/v3/domains/${id}/config/identity/driver`, { token: admin })).status,
      204,
    )
    assertError(await ks.req('GET', `/v3/domains/${id}/config/identity/driver`, { token: admin }), 404)
    assertError(await ks.req('DELETE', `/v3/domains/${id}/config/identity/driver`, { token: admin }), 404)
    assert.equal((await ks.req('DELETE', `/v3/domains/${id}/config/identity`, { token: admin })).status, 204)
    assertError(await ks.req('GET', `/v3/domains/${id}/config/identity`, { token: admin }), 404)
    assert.equal((await ks.req('DELETE', `/v3/domains/${id}/config`, { token: admin })).status, 204)
    assertError(
      await ks.req('GET', `/v3/domains/${id}/config`, { token: admin }),
      404,
      `Could not find any options in domain configuration for domain ${id}.`,
    )
  })

  it('403 for unsupported groups, options and empty configs; 404 for an unknown domain; 403 for a member', async () => {
    const id = await newDomain()
    const put = (config: unknown) =>
      ks.req('PUT', `/v3/domains/${id}/config`, { token: admin, body: { config } })
    assertError(await put({}), 403, 'Invalid domain specific configuration: No options specified.')
    assertError(await put({ identity: {} }), 403, /should be a dictionary of options/)
    assertError(
      await put({ assignment: { driver: 'sql' } }),
      403,
      'Invalid domain specific configuration: Group assignment is not supported for domain specific configurations.',
    )
    assertError(await put({ ldap: { nope: 1 } }), 403, /Option nope in group ldap is not supported/)
    assertError(await ks.req('GET', `/v3/domains/${id}/config/assignment`, { token: admin }), 403)
    assertError(
      await ks.req('PUT', '/v3/domains/nope/config', { token: admin, body: { config: CONFIG } }),
      404,
    )
    const member = await ks.userWithRole('cfg-member', 'member')
    assertError(await ks.req('GET', `/v3/domains/${id}/config`, { token: member.token }), 403)
    assertError(
      await ks.req('PUT', `/v3/domains/${id}/config`, { token: member.token, body: { config: CONFIG } }),
      403,
    )
  })

  it('defaults: all whitelisted options, a group, an option; never the sensitive password', async () => {
    const all = (await ks.ok('GET', '/v3/domains/config/default')).config
    assert.deepEqual(Object.keys(all).sort(), ['identity', 'ldap'])
    assert.equal(all.identity.driver, 'sql')
    assert.equal(typeof all.identity.list_limit, 'number')
    assert.equal(all.ldap.url, 'ldap://localhost')
    assert.ok(!('password' in all.ldap))
    assert.deepEqual((await ks.ok('GET', '/v3/domains/config/identity/default')).config, {
      identity: all.identity,
    })
    assert.deepEqual((await ks.ok('GET', '/v3/domains/config/ldap/user_tree_dn/default')).config, {
      user_tree_dn: null,
    })
    assertError(
      await ks.req('GET', '/v3/domains/config/ldap/password/default', { token: admin }),
      403,
      /password/,
    )
    assertError(await ks.req('GET', '/v3/domains/config/nope/default', { token: admin }), 403)
  })

  it('security_compliance of the default domain is readable by any user', async () => {
    const member = await ks.userWithRole('cfg-reader', 'member')
    const r = await ks.req('GET', '/v3/domains/default/config/security_compliance', { token: member.token })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(r.body.config, {
      security_compliance: { password_regex: null, password_regex_description: null },
    })
    const other = await newDomain()
    assertError(
      await ks.req('GET', `/v3/domains/${other}/config/security_compliance`, { token: member.token }),
      403,
    )
  })
})
