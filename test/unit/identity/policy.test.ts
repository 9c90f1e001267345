import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { RequestContext } from '../../../src/common/context.ts'
import { Forbidden } from '../../../src/common/errors.ts'
import {
  credentialsFromContext,
  parseRule,
  PolicyEngine,
  PolicySyntaxError,
  type PolicyCredentials,
} from '../../../src/common/policy.ts'
import { IDENTITY_POLICY_DEFAULTS } from '../../../src/identity/policy.ts'

function creds(over: Partial<RequestContext> = {}): PolicyCredentials {
  return credentialsFromContext({ requestId: 'req-1', roles: [], isAdmin: false, ...over })
}

const member = creds({
  userId: 'u1',
  userDomainId: 'default',
  projectId: 'p1',
  projectDomainId: 'default',
  roles: ['member', 'reader'],
})
const admin = creds({
  userId: 'a',
  projectId: 'p0',
  projectDomainId: 'default',
  roles: ['admin', 'member', 'reader'],
})
const systemReader = creds({ userId: 'r', system: true, roles: ['reader'] })

describe('policy rule language', () => {
  const engine = new PolicyEngine({
    admin_required: 'role:admin or is_admin:1',
    owner: 'user_id:%(user_id)s',
    admin_or_owner: 'rule:admin_required or rule:owner',
    project_member: 'role:member and project_id:%(target.project.id)s',
    not_reader: 'not role:reader',
    grouped: '(role:admin or role:member) and not (system_scope:all)',
    literal: "'member':%(target.role.name)s or None:%(target.domain_id)s",
    system: 'role:reader and system_scope:all',
    always: '',
    at: '@',
    never: '!',
    loop: 'rule:loop',
  })

  it('role checks are case-insensitive', () => {
    assert.equal(engine.check('admin_required', creds({ roles: ['Admin'] })), true)
    assert.equal(engine.check('admin_required', member), false)
  })

  it('compares credentials with target values, including path parameters and dotted paths', () => {
    assert.equal(engine.check('owner', member, { user_id: 'u1' }), true)
    assert.equal(engine.check('owner', member, { user_id: 'u2' }), false)
    assert.equal(engine.check('admin_or_owner', admin, { user_id: 'u2' }), true)
    assert.equal(engine.check('project_member', member, { target: { project: { id: 'p1' } } }), true)
    assert.equal(engine.check('project_member', member, { 'target.project.id': 'p1' }), true)
    assert.equal(engine.check('project_member', member, { target: { project: { id: 'p2' } } }), false)
  })

  it('a missing target value makes the check false, never an error', () => {
    assert.equal(engine.check('project_member', member, {}), false)
    assert.equal(engine.check('owner', member), false)
  })

  it('evaluates not, and, or and parentheses with oslo precedence', () => {
    assert.equal(engine.check('not_reader', member), false)
    assert.equal(engine.check('not_reader', creds({ roles: ['member'] })), true)
    assert.equal(engine.check('grouped', member), true)
    assert.equal(engine.check('grouped', creds({ roles: ['admin'], system: true })), false)
    assert.equal(engine.check('system', systemReader), true)
    assert.equal(engine.check('system', member), false)
    assert.equal(
      parseRule('role:a or role:b and role:c').eval(
        { creds: creds({ roles: ['a'] }), target: {}, engine },
        0,
      ),
      true,
    )
    assert.equal(
      parseRule('role:b and role:c or role:a').eval(
        { creds: creds({ roles: ['b'] }), target: {}, engine },
        0,
      ),
      false,
    )
  })

  it('supports Python literals as the kind (None, quoted strings)', () => {
    assert.equal(engine.check('literal', member, { target: { role: { name: 'member' } } }), true)
    assert.equal(
      engine.check('literal', member, { target: { role: { name: 'admin' }, domain_id: null } }),
      true,
    )
    assert.equal(
      engine.check('literal', member, { target: { role: { name: 'admin' }, domain_id: 'd' } }),
      false,
    )
  })

  it('handles @, ! and the empty rule; denies unknown rules and reference loops', () => {
    assert.equal(engine.check('always', member), true)
    assert.equal(engine.check('at', member), true)
    assert.equal(engine.check('never', admin), false)
    assert.equal(engine.check('no-such-rule', admin), false)
    assert.equal(engine.check('loop', admin), false)
  })

  it('enforce throws Forbidden with the service wording', () => {
    assert.throws(
      () => engine.enforce('never', admin),
      (err: unknown) => {
        assert.ok(err instanceof Forbidden)
        assert.equal(err.message, 'You are not authorized to perform the requested action: never.')
        return true
      },
    )
    const nova = new PolicyEngine(
      { x: '!' },
      { forbiddenMessage: (r) => `Policy doesn't allow ${r} to be performed.` },
    )
    assert.throws(() => nova.enforce('x', admin), /Policy doesn't allow x to be performed\./)
  })

  it('rejects syntax errors naming the rule', () => {
    assert.throws(() => new PolicyEngine({ bad: 'role:admin or' }), PolicySyntaxError)
    assert.throws(() => new PolicyEngine({ bad: '(role:admin' }), /bad/)
    assert.throws(() => new PolicyEngine({ bad: 'justaword' }), /not a check/)
  })
})

describe('policy files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-policy-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('a YAML file overrides defaults and a JSON file works too', () => {
    const yamlFile = join(dir, 'policy.yaml')
    writeFileSync(yamlFile, '"identity:list_projects": "role:reader"\n')
    const engine = PolicyEngine.fromFile(IDENTITY_POLICY_DEFAULTS, yamlFile)
    assert.equal(engine.check('identity:list_projects', member), true)
    assert.equal(engine.check('identity:create_project', member), false)
    const jsonFile = join(dir, 'policy.json')
    writeFileSync(jsonFile, JSON.stringify({ 'identity:create_project': '@' }))
    assert.equal(
      PolicyEngine.fromFile(IDENTITY_POLICY_DEFAULTS, jsonFile).check('identity:create_project', member),
      true,
    )
  })

  it('refuses a file that is not a mapping of strings', () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, '- a\n- b\n')
    assert.throws(() => PolicyEngine.fromFile({}, file), PolicySyntaxError)
    writeFileSync(file, 'rule: 3\n')
    assert.throws(() => PolicyEngine.fromFile({}, file), /not a string/)
  })
})

describe('identity default policy', () => {
  const engine = new PolicyEngine(IDENTITY_POLICY_DEFAULTS)

  it('admin may list projects; a member may not, but may list their own', () => {
    assert.equal(engine.check('identity:list_projects', admin), true)
    assert.equal(engine.check('identity:list_projects', member), false)
    assert.equal(
      engine.check('identity:list_user_projects', member, { target: { user: { id: 'u1' } } }),
      true,
    )
    assert.equal(
      engine.check('identity:list_user_projects', member, { target: { user: { id: 'u2' } } }),
      false,
    )
  })

  it('a project member may get their project, not another', () => {
    const target = (id: string) => ({ target: { project: { id, domain_id: 'default' } } })
    assert.equal(engine.check('identity:get_project', member, target('p1')), true)
    assert.equal(engine.check('identity:get_project', member, target('p2')), false)
    assert.equal(engine.check('identity:get_project', systemReader, target('p2')), true)
  })

  it('readers and members cannot create; a system reader can read but not write', () => {
    for (const rule of ['identity:create_project', 'identity:create_user', 'identity:create_role']) {
      assert.equal(engine.check(rule, member, { target: { project: { domain_id: 'default' } } }), false)
      assert.equal(engine.check(rule, admin, { target: {} }), true)
    }
    assert.equal(engine.check('identity:list_users', systemReader), true)
    assert.equal(engine.check('identity:create_user', systemReader), false)
  })

  it('token subject rules: anyone may validate and revoke their own token', () => {
    const target = { target: { token: { user_id: 'u1' } } }
    assert.equal(engine.check('identity:validate_token', member, target), true)
    assert.equal(engine.check('identity:revoke_token', member, target), true)
    assert.equal(
      engine.check('identity:revoke_token', member, { target: { token: { user_id: 'u2' } } }),
      false,
    )
  })
})
