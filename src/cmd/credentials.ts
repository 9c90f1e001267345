import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import yaml from 'js-yaml'
import type { Config } from '../common/config.ts'

/** The bootstrap admin's credentials, as `nimbus up` prints and writes them. */
export interface AdminCredentials {
  readonly authUrl: string
  readonly username: string
  readonly password: string
  readonly projectName: string
  readonly userDomainName: string
  readonly projectDomainName: string
  readonly regionName: string
}

export const ADMIN_USER = 'admin'
export const ADMIN_PROJECT = 'admin'
export const DEFAULT_DOMAIN = 'Default'
export const CLOUD_NAME = 'nimbus'
const ADMIN_PASSWORD_FILE = 'admin-password'
const GENERATED_PASSWORD_BYTES = 18
/** Files holding a password: readable by their owner only. */
const SECRET_FILE_MODE = 0o600

/**
 * Writes a file holding a secret, mode 0600. `writeFileSync`'s mode applies
 * only when it creates the file, so an existing one (a clouds.yaml made
 * 0644 by another tool) is tightened before the secret goes in.
 */
export function writeSecretFile(path: string, content: string): void {
  if (existsSync(path)) chmodSync(path, SECRET_FILE_MODE)
  writeFileSync(path, content, { mode: SECRET_FILE_MODE })
  chmodSync(path, SECRET_FILE_MODE)
}

/**
 * The admin password: the configured one, else one generated on first start
 * and kept (mode 0600) in the state directory so restarts keep it.
 */
export function adminPassword(config: Config): string {
  if (config.identity.adminPassword) return config.identity.adminPassword
  const file = join(config.stateDir, ADMIN_PASSWORD_FILE)
  if (existsSync(file)) {
    chmodSync(file, SECRET_FILE_MODE)
    return readFileSync(file, 'utf8').trim()
  }
  const password = randomBytes(GENERATED_PASSWORD_BYTES).toString('base64url')
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 })
  writeSecretFile(file, `${password}\n`)
  return password
}

/** Default clouds.yaml location of openstacksdk and the `openstack` CLI. */
export function defaultCloudsYamlPath(): string {
  return join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'openstack', 'clouds.yaml')
}

/** Adds or replaces the `nimbus` entry of a clouds.yaml, keeping the other clouds. */
export function writeCloudsYaml(path: string, creds: AdminCredentials, cloudName: string = CLOUD_NAME): void {
  let doc: { clouds?: Record<string, unknown> } = {}
  if (existsSync(path)) {
    const parsed = yaml.load(readFileSync(path, 'utf8'))
    if (parsed && typeof parsed === 'object') doc = parsed as typeof doc
  }
  doc.clouds = {
    ...(doc.clouds ?? {}),
    [cloudName]: {
      auth: {
        auth_url: creds.authUrl,
        username: creds.username,
        password: creds.password,
        project_name: creds.projectName,
        user_domain_name: creds.userDomainName,
        project_domain_name: creds.projectDomainName,
      },
      region_name: creds.regionName,
      identity_api_version: 3,
      interface: 'public',
    },
  }
  mkdirSync(dirname(path), { recursive: true })
  writeSecretFile(path, yaml.dump(doc))
}

/** An openrc for `source`, with the OS_* variables the clients read. */
export function writeOpenrc(path: string, creds: AdminCredentials): void {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`
  const lines = [
    `export OS_AUTH_URL=${q(creds.authUrl)}`,
    `export OS_USERNAME=${q(creds.username)}`,
    `export OS_PASSWORD=${q(creds.password)}`,
    `export OS_PROJECT_NAME=${q(creds.projectName)}`,
    `export OS_USER_DOMAIN_NAME=${q(creds.userDomainName)}`,
    `export OS_PROJECT_DOMAIN_NAME=${q(creds.projectDomainName)}`,
    `export OS_REGION_NAME=${q(creds.regionName)}`,
    `export OS_IDENTITY_API_VERSION=3`,
    `export OS_INTERFACE=public`,
  ]
  writeSecretFile(path, `${lines.join('\n')}\n`)
}
