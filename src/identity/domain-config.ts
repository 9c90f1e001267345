import { Forbidden, NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { ResourceManager } from './resource.ts'
import { DEFAULT_DOMAIN_ID } from './resource.ts'

/** A domain configuration: groups of options, `{"ldap": {"url": ...}}`. */
export type DomainConfig = Record<string, Record<string, unknown>>

/**
 * The options a domain may set, per group (Keystone's
 * DomainConfigManager.whitelisted_options: only what affects the identity
 * driver of a domain). Anything else is refused.
 */
const WHITELISTED: Readonly<Record<string, readonly string[]>> = {
  identity: ['driver', 'list_limit'],
  ldap: [
    'url',
    'user',
    'suffix',
    'query_scope',
    'page_size',
    'alias_dereferencing',
    'debug_level',
    'chase_referrals',
    'user_tree_dn',
    'user_filter',
    'user_objectclass',
    'user_id_attribute',
    'user_name_attribute',
    'user_mail_attribute',
    'user_description_attribute',
    'user_pass_attribute',
    'user_enabled_attribute',
    'user_enabled_invert',
    'user_enabled_mask',
    'user_enabled_default',
    'user_attribute_ignore',
    'user_default_project_id_attribute',
    'user_enabled_emulation',
    'user_enabled_emulation_dn',
    'user_enabled_emulation_use_group_config',
    'user_additional_attribute_mapping',
    'group_tree_dn',
    'group_filter',
    'group_objectclass',
    'group_id_attribute',
    'group_name_attribute',
    'group_members_are_ids',
    'group_member_attribute',
    'group_desc_attribute',
    'group_attribute_ignore',
    'group_additional_attribute_mapping',
    'tls_cacertfile',
    'tls_cacertdir',
    'use_tls',
    'tls_req_cert',
    'use_pool',
    'pool_size',
    'pool_retry_max',
    'pool_retry_delay',
    'pool_connection_timeout',
    'pool_connection_lifetime',
    'use_auth_pool',
    'auth_pool_size',
    'auth_pool_connection_lifetime',
  ],
}

/** Options stored but never returned (Keystone's sensitive_options). */
const SENSITIVE: Readonly<Record<string, readonly string[]>> = { identity: [], ldap: ['password'] }

/**
 * What `/v3/domains/config/default` shows: this server's values for the
 * whitelisted options. Nimbus keeps identities in its database (`sql`),
 * lists up to `identityMaxListEntries`, and has no LDAP driver, so the LDAP
 * options show Keystone's defaults.
 */
function defaults(): DomainConfig {
  return {
    identity: { driver: 'sql', list_limit: limits.identityMaxListEntries },
    ldap: {
      url: 'ldap://localhost',
      user: null,
      suffix: 'cn=example,cn=com',
      query_scope: 'one',
      page_size: 0,
      alias_dereferencing: 'default',
      debug_level: null,
      chase_referrals: null,
      user_tree_dn: null,
      user_filter: null,
      user_objectclass: 'inetOrgPerson',
      user_id_attribute: 'cn',
      user_name_attribute: 'sn',
      user_mail_attribute: 'mail',
      user_description_attribute: 'description',
      user_pass_attribute: 'userPassword',
      user_enabled_attribute: 'enabled',
      user_enabled_invert: false,
      user_enabled_mask: 0,
      user_enabled_default: 'True',
      user_attribute_ignore: ['default_project_id'],
      user_default_project_id_attribute: null,
      user_enabled_emulation: false,
      user_enabled_emulation_dn: null,
      user_enabled_emulation_use_group_config: false,
      user_additional_attribute_mapping: [],
      group_tree_dn: null,
      group_filter: null,
      group_objectclass: 'groupOfNames',
      group_id_attribute: 'cn',
      group_name_attribute: 'ou',
      group_members_are_ids: false,
      group_member_attribute: 'member',
      group_desc_attribute: 'description',
      group_attribute_ignore: [],
      group_additional_attribute_mapping: [],
      tls_cacertfile: null,
      tls_cacertdir: null,
      use_tls: false,
      tls_req_cert: 'demand',
      use_pool: true,
      pool_size: 10,
      pool_retry_max: 3,
      pool_retry_delay: 0.1,
      pool_connection_timeout: -1,
      pool_connection_lifetime: 600,
      use_auth_pool: true,
      auth_pool_size: 100,
      auth_pool_connection_lifetime: 60,
    },
  }
}

/** The only group readable through the security compliance route, and its readable options. */
export const SECURITY_COMPLIANCE_GROUP = 'security_compliance'
const SECURITY_COMPLIANCE_READABLE = ['password_regex', 'password_regex_description']

/** Keystone's InvalidDomainConfig: a 403 with its wording. */
function invalid(reason: string): Forbidden {
  return new Forbidden(`Invalid domain specific configuration: ${reason}.`)
}

/** Keystone's DomainConfigNotFound. */
function configNotFound(domainId: string, group?: string, option?: string): NotFound {
  const what = option ? `option ${option} in group ${group}` : group ? `group ${group}` : 'any options'
  return new NotFound(`Could not find ${what} in domain configuration for domain ${domainId}.`)
}

interface OptionRow {
  readonly group: string
  readonly option: string
  readonly value: unknown
}

/** Rows as a config, or `{option: value}` when one option was asked for (Keystone's _list_to_config). */
function toConfig(rows: readonly OptionRow[], option?: string): Record<string, unknown> {
  if (option) {
    const row = rows.find((r) => r.option === option)
    return row ? { [row.option]: row.value } : {}
  }
  const out: DomainConfig = {}
  for (const r of rows) (out[r.group] ??= {})[r.option] = r.value
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Keystone's domain configuration API (resource/core.py DomainConfigManager):
 * per-domain values for the identity driver options. Nimbus stores and
 * serves them; its identity driver is always its database, so they change
 * nothing at run time.
 */
export class DomainConfigManager {
  readonly #db: Database
  readonly #resources: ResourceManager

  constructor(db: Database, resources: ResourceManager) {
    this.#db = db
    this.#resources = resources
  }

  /** 403 unless `group` (and `option`) may be set per domain. */
  assertValidGroupAndOption(group?: string, option?: string): void {
    if (!group) return
    if (!(group in WHITELISTED) && !(group in SENSITIVE))
      throw invalid(`Group ${group} is not supported for domain specific configurations`)
    if (option && !WHITELISTED[group]?.includes(option) && !SENSITIVE[group]?.includes(option))
      throw invalid(`Option ${option} in group ${group} is not supported for domain specific configurations`)
  }

  #assertValidConfig(config: unknown): asserts config is DomainConfig {
    if (!isObject(config) || Object.keys(config).length === 0) throw invalid('No options specified')
    for (const [group, options] of Object.entries(config)) {
      if (!isObject(options) || Object.keys(options).length === 0)
        throw invalid(`The value of group ${group} specified in the config should be a dictionary of options`)
      for (const option of Object.keys(options)) this.assertValidGroupAndOption(group, option)
    }
  }

  async #rows(
    domainId: string,
    f: { group?: string | undefined; option?: string | undefined; sensitive?: boolean },
  ): Promise<OptionRow[]> {
    let q = this.#db.kysely
      .selectFrom('domain_config_options')
      .selectAll()
      .where('domain_id', '=', domainId)
      .orderBy('config_group')
      .orderBy('config_option')
    if (f.group) q = q.where('config_group', '=', f.group)
    if (f.option) q = q.where('config_option', '=', f.option)
    if (f.sensitive !== undefined) q = q.where('sensitive', '=', f.sensitive)
    return (await q.execute()).map((r) => ({
      group: r.config_group,
      option: r.config_option,
      value: JSON.parse(r.value) as unknown,
    }))
  }

  async #upsert(domainId: string, config: DomainConfig): Promise<void> {
    await this.#db.transaction(async (tx) => {
      for (const [group, options] of Object.entries(config)) {
        for (const [option, value] of Object.entries(options)) {
          await tx
            .deleteFrom('domain_config_options')
            .where('domain_id', '=', domainId)
            .where('config_group', '=', group)
            .where('config_option', '=', option)
            .execute()
          await tx
            .insertInto('domain_config_options')
            .values({
              domain_id: domainId,
              config_group: group,
              config_option: option,
              value: JSON.stringify(value),
              sensitive: SENSITIVE[group]?.includes(option) ?? false,
            })
            .execute()
        }
      }
    })
  }

  /**
   * Replaces the domain's whole config. Returns the new config without
   * sensitive options, and whether the domain had none before (201 vs 200).
   */
  async create(domainId: string, config: unknown): Promise<{ config: DomainConfig; created: boolean }> {
    await this.#resources.getDomain(domainId)
    this.#assertValidConfig(config)
    const created = (await this.#rows(domainId, {})).length === 0
    await this.#db.kysely.deleteFrom('domain_config_options').where('domain_id', '=', domainId).execute()
    await this.#upsert(domainId, config)
    return { config: toConfig(await this.#rows(domainId, { sensitive: false })) as DomainConfig, created }
  }

  /** The config, one group or one option (`{option: value}`); sensitive options are never shown. */
  async get(domainId: string, group?: string, option?: string): Promise<Record<string, unknown>> {
    this.assertValidGroupAndOption(group, option)
    await this.#resources.getDomain(domainId)
    const rows = await this.#rows(domainId, { group, option, sensitive: false })
    if (rows.length === 0) throw configNotFound(domainId, group, option)
    return toConfig(rows, option)
  }

  /**
   * Merges `config` into the domain's config. With a group (and option) in
   * the path, the body must hold exactly that group (option), which must
   * already exist. Returns the whole config.
   */
  async update(
    domainId: string,
    body: unknown,
    group?: string,
    option?: string,
  ): Promise<Record<string, unknown>> {
    await this.#resources.getDomain(domainId)
    const config = group && option ? { [group]: body } : body
    this.#assertValidConfig(config)
    this.assertValidGroupAndOption(group, option)
    if (group) {
      const groups = Object.keys(config)
      const options = Object.keys(config[group] ?? {})
      if (groups.length !== 1 || (option && options.length !== 1)) {
        throw invalid(
          option
            ? `Trying to update option ${option} in group ${group}, so that, and only that, option must be specified  in the config`
            : `Trying to update group ${group}, so that, and only that, group must be specified in the config`,
        )
      }
      if (!(group in config))
        throw invalid(
          `request to update group ${group}, but config provided contains group ${groups[0]} instead`,
        )
      if (option && !(option in config[group]!))
        throw invalid(
          `Trying to update option ${option} in group ${group}, but config provided contains option ${options[0]} instead`,
        )
      if ((await this.#rows(domainId, { group, option })).length === 0)
        throw configNotFound(domainId, group, option)
    }
    await this.#upsert(domainId, config)
    return this.get(domainId)
  }

  /** Deletes the whole config, a group or an option (404 when the group or option is not set). */
  async delete(domainId: string, group?: string, option?: string): Promise<void> {
    await this.#resources.getDomain(domainId)
    this.assertValidGroupAndOption(group, option)
    if (group && (await this.#rows(domainId, { group })).length === 0) throw configNotFound(domainId, group)
    if (option && (await this.#rows(domainId, { group, option })).length === 0)
      throw configNotFound(domainId, group, option)
    let q = this.#db.kysely.deleteFrom('domain_config_options').where('domain_id', '=', domainId)
    if (group) q = q.where('config_group', '=', group)
    if (option) q = q.where('config_option', '=', option)
    await q.execute()
  }

  /** The server's values of the whitelisted options (never sensitive ones). */
  defaults(group?: string, option?: string): Record<string, unknown> {
    this.assertValidGroupAndOption(group, option)
    const all = defaults()
    if (!group) return all
    const values = all[group] ?? {}
    if (!option) return { [group]: values }
    if (!WHITELISTED[group]?.includes(option))
      throw invalid(`Reading the default for option ${option} in group ${group} is not supported`)
    return { [option]: values[option] ?? null }
  }

  /**
   * `/v3/domains/{default}/config/security_compliance[/option]`: the password
   * rules users may read. Nimbus has no password regex, so both are null.
   */
  async securityCompliance(domainId: string, option?: string): Promise<Record<string, unknown>> {
    await this.#resources.getDomain(domainId)
    if (domainId !== DEFAULT_DOMAIN_ID)
      throw invalid(
        'Reading security compliance information for any domain other than the default domain is not allowed or supported',
      )
    if (option && !SECURITY_COMPLIANCE_READABLE.includes(option))
      throw invalid(
        'Reading security compliance values other than password_regex and password_regex_description is not allowed',
      )
    if (option) return { [option]: null }
    return { [SECURITY_COMPLIANCE_GROUP]: { password_regex: null, password_regex_description: null } }
  }
}
