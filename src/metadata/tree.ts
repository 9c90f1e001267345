/**
 * The metadata trees of one instance (Nova's `nova/api/metadata/base.py`
 * InstanceMetadata): the EC2 tree (`/<version>/meta-data/...`,
 * `/<version>/user-data`) and the OpenStack tree
 * (`/openstack/<version>/meta_data.json`, `user_data`, `network_data.json`,
 * `vendor_data.json`, `vendor_data2.json`). Pure: built from a
 * `MetadataSource`, so the metadata service and the config drive serve the
 * same bytes. Paths resolve as Nova resolves them (normalised, a path that
 * is not under `/openstack` or `/ec2` is an EC2 path).
 */
import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import { buildNetworkData, type MetadataVif, type NetworkData } from './network-data.ts'

export type { MetadataVif } from './network-data.ts'

/** EC2 metadata versions, oldest first (Nova's VERSIONS). */
export const EC2_VERSIONS = [
  '1.0',
  '2007-01-19',
  '2007-03-01',
  '2007-08-29',
  '2007-10-10',
  '2007-12-15',
  '2008-02-01',
  '2008-09-01',
  '2009-04-04',
] as const

const GRIZZLY = '2013-04-04'
const HAVANA = '2013-10-17'
const LIBERTY = '2015-10-15'
const NEWTON_ONE = '2016-06-30'
const NEWTON_TWO = '2016-10-06'
const VICTORIA = '2020-10-14'

/** OpenStack metadata versions, oldest first (Nova's OPENSTACK_VERSIONS). */
export const OPENSTACK_VERSIONS = [
  '2012-08-10',
  GRIZZLY,
  HAVANA,
  LIBERTY,
  NEWTON_ONE,
  NEWTON_TWO,
  '2017-02-22',
  '2018-08-27',
  VICTORIA,
  '2025-04-04',
] as const

export const MIME_TEXT = 'text/plain'
export const MIME_JSON = 'application/json'
/** Bytes of `random_seed` in meta_data.json (Nova: 512). */
const RANDOM_SEED_BYTES = 512

/** What the trees are built from: the instance, its key, its NICs (Nova's instance + network_info). */
export interface MetadataSource {
  readonly uuid: string
  /** Database row id: EC2 `instance-id` is `i-%08x` of it (Nova's ec2_ids). */
  readonly ec2Id: number
  readonly displayName: string
  readonly hostname: string
  readonly projectId: string
  readonly availabilityZone: string | null
  readonly launchIndex: number
  readonly reservationId: string
  readonly keyName: string | null
  readonly keyData: string | null
  readonly keyType: string
  /** Base64, as the compute API stored it; null when the server has none. */
  readonly userData: string | null
  readonly meta: Readonly<Record<string, string>>
  readonly flavorName: string
  readonly imageRef: string
  readonly kernelId: string
  readonly ramdiskId: string
  readonly securityGroups: readonly string[]
  readonly rootDeviceName: string | null
  readonly ephemeralGb: number
  readonly swapMb: number
  readonly vifs: readonly MetadataVif[]
  /** The requester's address, used for `local-ipv4` when the instance has no fixed IP. */
  readonly address?: string | undefined
  /** The password the guest posted ('' or absent when none), served at `openstack/<version>/password`. */
  readonly password?: string | undefined
}

/** vendor_data.json content and the providers vendor_data2.json lists (`static` only). */
export interface VendorData {
  readonly static: Readonly<Record<string, unknown>>
}

/** A path the trees do not hold (Nova's InvalidMetadataPath: 404). */
export class MetadataPathNotFound extends Error {}

/** One answer: the body and its content type. */
export interface MetadataItem {
  readonly body: string | Buffer
  readonly contentType: string
  /** True for `openstack/<version>/password`, the one path a guest may POST to. */
  readonly password?: boolean
}

type Tree = { [key: string]: TreeValue }
type TreeValue = string | number | readonly string[] | Tree | Buffer

/** `ec2_md_print` of a tree node: a listing for a dict/list, the value itself for a leaf. */
export function ec2Print(data: TreeValue): string | Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return data.join('\n')
  if (typeof data === 'object' && data !== null) {
    const tree = data as Tree
    return Object.keys(tree)
      .filter((k) => k !== '_name')
      .sort()
      .map((k) => {
        const v = tree[k]
        if (typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v)) {
          const named = (v as Tree)._name
          return named !== undefined ? String(named) : `${k}/`
        }
        return k
      })
      .join('\n')
  }
  return String(data)
}

/** EC2 id of an image uuid: `ami-` + 8 hex digits (Nova maps uuids through a table; Nimbus uses the uuid's head). */
export function ec2ImageId(prefix: 'ami' | 'aki' | 'ari', imageUuid: string): string {
  const hex = imageUuid.replaceAll('-', '').slice(0, 8).padStart(8, '0')
  return `${prefix}-${/^[0-9a-f]{8}$/i.test(hex) ? hex.toLowerCase() : '00000000'}`
}

export function ec2InstanceId(id: number): string {
  return `i-${id.toString(16).padStart(8, '0')}`
}

export class InstanceMetadata {
  readonly source: MetadataSource
  readonly networkData: NetworkData
  readonly #vendor: VendorData
  readonly #userData: Buffer | null

  constructor(source: MetadataSource, vendor: VendorData = { static: {} }) {
    this.source = source
    this.#vendor = vendor
    this.#userData = source.userData === null ? null : Buffer.from(source.userData, 'base64')
    this.networkData = buildNetworkData(source.vifs)
  }

  /** The EC2 tree of one version (Nova's get_ec2_metadata). */
  ec2Metadata(version: string): { 'meta-data': Tree; 'user-data'?: Buffer } {
    const v = version === 'latest' ? EC2_VERSIONS.at(-1)! : version
    if (!(EC2_VERSIONS as readonly string[]).includes(v)) throw new MetadataPathNotFound(version)
    const s = this.source
    const fixed = s.vifs.flatMap((vif) =>
      vif.fixedIps.filter((ip) => ip.version === 4).map((ip) => ip.address),
    )
    const floating = s.vifs.flatMap((vif) => vif.floatingIps)
    const hostname = s.hostname
    const md: Tree = {
      'ami-id': ec2ImageId('ami', s.imageRef),
      'ami-launch-index': s.launchIndex,
      'ami-manifest-path': 'FIXME',
      'instance-id': ec2InstanceId(s.ec2Id),
      hostname,
      'local-ipv4': fixed[0] ?? s.address ?? '',
      'reservation-id': s.reservationId,
      'security-groups': [...s.securityGroups],
    }
    if (s.keyName) {
      md['public-keys'] = { '0': { _name: `0=${s.keyName}`, 'openssh-key': s.keyData ?? '' } }
    }
    const atLeast = (required: string) =>
      EC2_VERSIONS.indexOf(v as never) >= EC2_VERSIONS.indexOf(required as never)
    if (atLeast('2007-01-19')) {
      md['local-hostname'] = hostname
      md['public-hostname'] = hostname
      md['public-ipv4'] = floating[0] ?? ''
    }
    if (atLeast('2007-08-29')) md['instance-type'] = s.flavorName
    if (atLeast('2007-12-15')) {
      md['block-device-mapping'] = this.#blockDeviceMapping()
      if (s.kernelId) md['kernel-id'] = ec2ImageId('aki', s.kernelId)
      if (s.ramdiskId) md['ramdisk-id'] = ec2ImageId('ari', s.ramdiskId)
    }
    if (atLeast('2008-02-01')) md.placement = { 'availability-zone': s.availabilityZone ?? '' }
    if (atLeast('2008-09-01')) md['instance-action'] = 'none'
    return this.#userData === null ? { 'meta-data': md } : { 'meta-data': md, 'user-data': this.#userData }
  }

  /** meta_data.json of one OpenStack version, as an object. */
  metaDataJson(version: string): Record<string, unknown> {
    const s = this.source
    const md: Record<string, unknown> = { uuid: s.uuid }
    if (Object.keys(s.meta).length > 0) md.meta = { ...s.meta }
    if (s.keyName && s.keyData) {
      md.public_keys = { [s.keyName]: s.keyData }
      md.keys = [{ name: s.keyName, type: s.keyType, data: s.keyData }]
    }
    md.hostname = s.hostname
    md.name = s.displayName
    md.launch_index = s.launchIndex
    md.availability_zone = s.availabilityZone
    if (osAtLeast(GRIZZLY, version)) md.random_seed = randomBytes(RANDOM_SEED_BYTES).toString('base64')
    if (osAtLeast(LIBERTY, version)) md.project_id = s.projectId
    if (osAtLeast(NEWTON_ONE, version)) md.devices = []
    if (osAtLeast(VICTORIA, version)) md.dedicated_cpus = []
    return md
  }

  /** The files of an OpenStack version directory (Nova's _handle_version). */
  openstackListing(version: string): string[] {
    const out = ['meta_data.json']
    if (this.#userData !== null) out.push('user_data')
    if (osAtLeast(GRIZZLY, version)) out.push('password')
    if (osAtLeast(HAVANA, version)) out.push('vendor_data.json')
    if (osAtLeast(LIBERTY, version)) out.push('network_data.json')
    if (osAtLeast(NEWTON_TWO, version)) out.push('vendor_data2.json')
    return out
  }

  /**
   * Resolves a request path (Nova's `lookup`). Throws MetadataPathNotFound
   * for anything the trees do not hold. `password` answers the password the
   * guest posted ('' when none).
   */
  lookup(rawPath: string, today: string = new Date().toISOString().slice(0, 10)): MetadataItem {
    let tokens = posix.normalize(`/${rawPath}`).split('/').slice(1)
    if (tokens.at(-1) === '') tokens = tokens.slice(0, -1)
    if (tokens[0] !== 'ec2' && tokens[0] !== 'openstack') tokens = ['ec2', ...tokens]
    const text = (body: string | Buffer): MetadataItem => ({ body, contentType: MIME_TEXT })
    if (tokens.length === 1) {
      const versions =
        tokens[0] === 'openstack' ? OPENSTACK_VERSIONS.filter((v) => v <= today) : [...EC2_VERSIONS]
      return text([...versions, 'latest'].join('\n'))
    }
    if (tokens[0] === 'openstack') return this.#openstackItem(tokens.slice(1))
    const tree = this.ec2Metadata(tokens[1]!) as unknown as Tree
    return text(ec2Print(findPath(tree, tokens.slice(2))))
  }

  /**
   * Every file of a config drive, as Nova's metadata_for_config_drive lays
   * them out: `ec2/<version>/meta-data.json` (+ `user-data`) and
   * `openstack/<version>/...` for every version and `latest`.
   */
  configDriveFiles(): { path: string; content: string | Buffer }[] {
    const files: { path: string; content: string | Buffer }[] = []
    for (const version of [...EC2_VERSIONS, 'latest']) {
      const data = this.ec2Metadata(version)
      if (data['user-data']) files.push({ path: `ec2/${version}/user-data`, content: data['user-data'] })
      const md = structuredClone(data['meta-data']) as Tree
      const keys = md['public-keys'] as Tree | undefined
      if (keys?.['0']) delete (keys['0'] as Tree)._name
      files.push({ path: `ec2/${version}/meta-data.json`, content: JSON.stringify(md) })
    }
    for (const version of [...OPENSTACK_VERSIONS, 'latest']) {
      const item = (name: string) => this.lookup(`/openstack/${version}/${name}`).body
      files.push({ path: `openstack/${version}/meta_data.json`, content: item('meta_data.json') })
      if (this.#userData !== null)
        files.push({ path: `openstack/${version}/user_data`, content: item('user_data') })
      if (osAtLeast(HAVANA, version))
        files.push({ path: `openstack/${version}/vendor_data.json`, content: item('vendor_data.json') })
      if (osAtLeast(LIBERTY, version))
        files.push({ path: `openstack/${version}/network_data.json`, content: item('network_data.json') })
      if (osAtLeast(NEWTON_TWO, version))
        files.push({ path: `openstack/${version}/vendor_data2.json`, content: item('vendor_data2.json') })
    }
    return files
  }

  #openstackItem(tokens: readonly string[]): MetadataItem {
    const requested = tokens[0]!
    const version = requested === 'latest' ? OPENSTACK_VERSIONS.at(-1)! : requested
    if (!(OPENSTACK_VERSIONS as readonly string[]).includes(version))
      throw new MetadataPathNotFound(requested)
    const json = (value: unknown): MetadataItem => ({ body: JSON.stringify(value), contentType: MIME_JSON })
    if (tokens.length === 1)
      return { body: this.openstackListing(version).join('\n'), contentType: MIME_TEXT }
    const name = tokens.slice(1).join('/')
    switch (name) {
      case 'meta_data.json':
        return json(this.metaDataJson(version))
      case 'user_data':
        if (this.#userData === null) throw new MetadataPathNotFound(name)
        return { body: this.#userData, contentType: MIME_TEXT }
      case 'password':
        if (!osAtLeast(GRIZZLY, version)) throw new MetadataPathNotFound(name)
        return { body: this.source.password ?? '', contentType: MIME_TEXT, password: true }
      case 'vendor_data.json':
        if (!osAtLeast(HAVANA, version)) throw new MetadataPathNotFound(name)
        return json(this.#vendor.static)
      case 'vendor_data2.json':
        if (!osAtLeast(NEWTON_TWO, version)) throw new MetadataPathNotFound(name)
        return json({ static: this.#vendor.static })
      case 'network_data.json':
        if (!osAtLeast(LIBERTY, version)) throw new MetadataPathNotFound(name)
        return json(this.networkData)
      default:
        throw new MetadataPathNotFound(name)
    }
  }

  /** Nova's instance_block_mapping for an image-booted instance: ami/root, then ephemeral0 and swap. */
  #blockDeviceMapping(): Tree {
    const root = this.source.rootDeviceName ?? '/dev/vda'
    const out: Tree = { ami: root.replace(/^\/dev\//, ''), root }
    const prefix = root.replace(/[a-z]$/, '')
    let next = root.charCodeAt(root.length - 1) + 1
    if (this.source.ephemeralGb > 0) out.ephemeral0 = `${prefix}${String.fromCharCode(next++)}`
    if (this.source.swapMb > 0) out.swap = `${prefix}${String.fromCharCode(next++)}`
    return out
  }
}

function osAtLeast(required: string, requested: string): boolean {
  const all: readonly string[] = [...OPENSTACK_VERSIONS, 'latest']
  return all.indexOf(requested) >= all.indexOf(required)
}

/** Nova's find_path_in_tree: walk dict keys (and list indexes). */
function findPath(data: TreeValue, tokens: readonly string[]): TreeValue {
  let node: TreeValue = data
  for (const token of tokens) {
    if (typeof node === 'object' && node !== null && !Buffer.isBuffer(node) && !Array.isArray(node)) {
      const next: TreeValue | undefined = (node as Tree)[token]
      if (next === undefined) throw new MetadataPathNotFound(tokens.join('/'))
      node = next
    } else if (Array.isArray(node)) {
      const i = Number(token)
      if (!Number.isInteger(i) || i < 0 || i >= node.length) throw new MetadataPathNotFound(tokens.join('/'))
      node = node[i] as string
    } else {
      throw new MetadataPathNotFound(tokens.join('/'))
    }
  }
  return node
}
