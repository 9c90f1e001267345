import { join } from 'node:path'
import type { Config } from '../common/config.ts'
import { PolicyEngine } from '../common/policy.ts'
import type { Database } from '../db/index.ts'
import { AssignmentManager } from './assignment.ts'
import { Authenticator } from './auth.ts'
import { CatalogManager } from './catalog.ts'
import { ChangeClock } from './common.ts'
import { ApplicationCredentialManager, CredentialManager } from './credentials.ts'
import { DomainConfigManager } from './domain-config.ts'
import { EndpointFilterManager } from './endpoint-filter.ts'
import { ConsumerManager } from './oauth1.ts'
import { TrustManager } from './trusts.ts'
import { PolicyBlobManager } from './policies.ts'
import { IDENTITY_POLICY_DEFAULTS } from './policy.ts'
import { ResourceManager } from './resource.ts'
import { Revocations } from './revocation.ts'
import { FernetKeyRepository } from './token/key-repository.ts'
import { TokenProvider } from './token/provider.ts'
import { UserManager } from './users.ts'

/** Where the Fernet keys live: `<state_dir>/fernet-keys`. */
export function fernetKeyDir(config: Config): string {
  return join(config.stateDir, 'fernet-keys')
}

export function fernetKeyRepository(config: Config): FernetKeyRepository {
  return new FernetKeyRepository(fernetKeyDir(config), config.identity.maxActiveKeys)
}

/**
 * The identity service's parts, wired together over one database: what the
 * API routes, the bootstrap and the CLI call into. `open` creates the key
 * repository on first use and loads the revocation events.
 */
export class Identity {
  readonly clock: ChangeClock
  readonly revocations: Revocations
  readonly resources: ResourceManager
  readonly domainConfigs: DomainConfigManager
  readonly users: UserManager
  readonly assignments: AssignmentManager
  readonly catalog: CatalogManager
  readonly endpointFilter: EndpointFilterManager
  readonly credentials: CredentialManager
  readonly appCreds: ApplicationCredentialManager
  readonly policies: PolicyBlobManager
  readonly consumers: ConsumerManager
  readonly trusts: TrustManager
  readonly tokens: TokenProvider
  readonly authenticator: Authenticator
  readonly policy: PolicyEngine

  /** Builds the parts (creating the key repository if needed); call `load()` before serving. */
  constructor(config: Config, db: Database) {
    const hashCost = config.identity.passwordHashCost
    this.clock = new ChangeClock()
    this.revocations = new Revocations(db, this.clock, config.identity.tokenExpirationS)
    this.resources = new ResourceManager(db, this.clock, this.revocations)
    this.domainConfigs = new DomainConfigManager(db, this.resources)
    this.users = new UserManager(
      db,
      this.clock,
      this.revocations,
      this.resources,
      hashCost,
      config.securityCompliance,
    )
    this.assignments = new AssignmentManager(db, this.clock, this.revocations, this.resources, this.users)
    this.catalog = new CatalogManager(db)
    this.endpointFilter = new EndpointFilterManager(db, this.catalog, this.resources)
    this.credentials = new CredentialManager(db, this.users, this.resources)
    this.appCreds = new ApplicationCredentialManager(db, this.clock, this.assignments, this.users, hashCost)
    this.policies = new PolicyBlobManager(db)
    this.consumers = new ConsumerManager(db)
    this.trusts = new TrustManager(db, this.clock, this.users, this.resources, this.assignments)
    const keys = fernetKeyRepository(config)
    keys.ensure()
    this.tokens = new TokenProvider({
      keys,
      expirationS: config.identity.tokenExpirationS,
      clock: this.clock,
      revocations: this.revocations,
      users: this.users,
      resources: this.resources,
      assignments: this.assignments,
      appCreds: this.appCreds,
      trusts: this.trusts,
    })
    this.authenticator = new Authenticator({
      users: this.users,
      resources: this.resources,
      assignments: this.assignments,
      appCreds: this.appCreds,
      tokens: this.tokens,
      trusts: this.trusts,
    })
    this.policy = PolicyEngine.fromFile(IDENTITY_POLICY_DEFAULTS, config.identity.policyFile || undefined)
  }

  /** Loads what the parts need from the database (the revocation events). */
  async load(): Promise<void> {
    await this.revocations.load()
  }

  /** Builds the parts and loads them. */
  static async open(config: Config, db: Database): Promise<Identity> {
    const identity = new Identity(config, db)
    await identity.load()
    return identity
  }
}
