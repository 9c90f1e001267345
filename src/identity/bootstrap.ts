import type { Config } from '../common/config.ts'
import { logger } from '../common/log.ts'
import type { Endpoint as ServiceEndpoint } from '../service/service.ts'
import type { Role } from './assignment.ts'
import { INTERFACES } from './catalog.ts'
import type { Identity } from './identity.ts'
import { DEFAULT_DOMAIN_ID } from './resource.ts'
import type { User } from './users.ts'

const log = logger('identity.bootstrap')

export const DEFAULT_DOMAIN_NAME = 'Default'
export const ADMIN_PROJECT_NAME = 'admin'
export const SERVICE_PROJECT_NAME = 'service'
export const ADMIN_USER_NAME = 'admin'
/** The default roles, strongest first: each implies the next (Keystone's bootstrap). */
export const DEFAULT_ROLES = ['admin', 'member', 'reader'] as const

/** APIs clients never look up in the catalog: guests reach the metadata service at 169.254.169.254. */
const NOT_IN_CATALOG: readonly string[] = ['metadata']

export interface BootstrapOptions {
  readonly adminPassword: string
  readonly region: string
  /** The catalog: one service with public, internal and admin endpoints per entry. */
  readonly endpoints: readonly ServiceEndpoint[]
  /** A service user to create in the `service` project with the admin role (for `[keystone_authtoken]`). */
  readonly serviceUser?: { readonly name: string; readonly password: string } | undefined
}

/**
 * Keystone's `keystone-manage bootstrap`, plus the catalog of the running
 * services. Idempotent: run at every start; it creates what is missing,
 * resets the admin password to the configured one, and points existing
 * endpoints at the current URLs (so new ports take effect).
 */
export async function bootstrap(id: Identity, opts: BootstrapOptions): Promise<void> {
  await ensureDomain(id)
  const roles = await ensureRoles(id)
  const admin = roles.get('admin')!
  const adminProject = await ensureProject(
    id,
    ADMIN_PROJECT_NAME,
    'Bootstrap project for initializing the cloud.',
  )
  const serviceProject = await ensureProject(id, SERVICE_PROJECT_NAME, 'Project of the service users.')
  const adminUser = await ensureUser(id, ADMIN_USER_NAME, opts.adminPassword)
  await id.assignments.grant(
    { kind: 'user', id: adminUser.id },
    { kind: 'project', id: adminProject },
    admin.id,
  )
  await id.assignments.grant({ kind: 'user', id: adminUser.id }, { kind: 'system' }, admin.id)
  if (opts.serviceUser?.name) {
    const svc = await ensureUser(id, opts.serviceUser.name, opts.serviceUser.password)
    await id.assignments.grant(
      { kind: 'user', id: svc.id },
      { kind: 'project', id: serviceProject },
      admin.id,
    )
  }
  await ensureRegion(id, opts.region)
  for (const e of opts.endpoints) {
    if (!NOT_IN_CATALOG.includes(e.type)) await ensureCatalogEntry(id, e, opts.region)
  }
  log.info({ endpoints: opts.endpoints.length }, 'identity bootstrap done')
}

/** The catalog as the config describes it (for `nimbus identity bootstrap` outside a running cloud). */
export function configuredEndpoints(config: Config): ServiceEndpoint[] {
  const url = (port: number, path: string) => `http://${config.publicHost}:${port}${path}`
  return [
    { type: 'identity', catalogName: 'keystone', url: url(config.identity.port, '/v3') },
    { type: 'image', catalogName: 'glance', url: url(config.image.port, '') },
    { type: 'network', catalogName: 'neutron', url: url(config.network.port, '') },
    { type: 'compute', catalogName: 'nova', url: url(config.compute.port, '/v2.1') },
  ]
}

async function ensureDomain(id: Identity): Promise<void> {
  if (await id.resources.findDomain(DEFAULT_DOMAIN_ID)) return
  await id.resources.createDomain({
    id: DEFAULT_DOMAIN_ID,
    name: DEFAULT_DOMAIN_NAME,
    description: 'The default domain',
  })
}

async function ensureRoles(id: Identity): Promise<Map<string, Role>> {
  const out = new Map<string, Role>()
  for (const name of DEFAULT_ROLES)
    out.set(name, (await id.assignments.findRoleByName(name)) ?? (await id.assignments.createRole({ name })))
  for (let i = 0; i + 1 < DEFAULT_ROLES.length; i++) {
    await id.assignments.createImpliedRole(out.get(DEFAULT_ROLES[i]!)!.id, out.get(DEFAULT_ROLES[i + 1]!)!.id)
  }
  return out
}

async function ensureProject(id: Identity, name: string, description: string): Promise<string> {
  const found = await id.resources.getProjectByName(name, DEFAULT_DOMAIN_ID).catch(() => undefined)
  if (found) return found.id
  return (await id.resources.createProject({ name, domainId: DEFAULT_DOMAIN_ID, description })).id
}

async function ensureUser(id: Identity, name: string, password: string): Promise<User> {
  const found = await id.users.getUserByName(name, DEFAULT_DOMAIN_ID).catch(() => undefined)
  if (!found) return id.users.createUser({ name, domainId: DEFAULT_DOMAIN_ID, password })
  const works = await id.users.authenticate({ id: found.id }, password).then(
    () => true,
    () => false,
  )
  if (!works || !found.enabled) return id.users.updateUser(found.id, { password, enabled: true })
  return found
}

async function ensureRegion(id: Identity, region: string): Promise<void> {
  if (!(await id.catalog.findRegion(region))) await id.catalog.createRegion({ id: region })
}

/** One service of a type and its three endpoints in the region, pointed at `e.url`. */
async function ensureCatalogEntry(id: Identity, e: ServiceEndpoint, region: string): Promise<void> {
  const services = await id.catalog.listServices({ type: e.type })
  const service =
    services.find((s) => s.name === e.catalogName) ??
    services[0] ??
    (await id.catalog.createService({
      type: e.type,
      name: e.catalogName,
      description: `${e.catalogName} (Nimbus)`,
    }))
  const endpoints = await id.catalog.listEndpoints({ serviceId: service.id, regionId: region })
  for (const iface of INTERFACES) {
    const [first, ...duplicates] = endpoints.filter((x) => x.interface === iface)
    if (!first)
      await id.catalog.createEndpoint({
        serviceId: service.id,
        regionId: region,
        interface: iface,
        url: e.url,
      })
    else if (first.url !== e.url || !first.enabled)
      await id.catalog.updateEndpoint(first.id, { url: e.url, enabled: true })
    for (const dup of duplicates) await id.catalog.deleteEndpoint(dup.id)
  }
}
