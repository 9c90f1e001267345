import { isIPv4, isIPv6 } from 'node:net'

/**
 * Address arithmetic for IPAM: CIDRs, pools and addresses as bigints so
 * IPv4 and IPv6 share one code path. Pure functions; the allocator that
 * touches the database is in `plugin/ports.ts`.
 */
export type IpVersion = 4 | 6

export interface Cidr {
  readonly version: IpVersion
  /** Network address (host bits zero). */
  readonly network: bigint
  readonly prefixLen: number
}

export interface Pool {
  readonly start: string
  readonly end: string
}

const BITS: Readonly<Record<IpVersion, number>> = { 4: 32, 6: 128 }

export function ipVersionOf(ip: string): IpVersion | undefined {
  if (isIPv4(ip)) return 4
  if (isIPv6(ip)) return 6
  return undefined
}

export function ipToBigInt(ip: string): bigint {
  if (isIPv4(ip)) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n)
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`)
  let text = ip
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4Tail) {
    const n = ipToBigInt(v4Tail[1]!)
    text = `${text.slice(0, -v4Tail[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const h = head ? head.split(':') : []
  const t = tail !== undefined && tail !== '' ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
}

export function bigIntToIp(n: bigint, version: IpVersion): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.')
  const groups: string[] = []
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16))
  return compressV6(groups)
}

/** RFC 5952 form: the longest run (length > 1) of zero groups becomes `::`. */
function compressV6(groups: readonly string[]): string {
  let best = -1
  let bestLen = 1
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++
      continue
    }
    let j = i
    while (j < groups.length && groups[j] === '0') j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j
  }
  if (best < 0) return groups.join(':')
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`
}

/** Canonical text of an address (`::0001` -> `::1`); undefined if not an address. */
export function canonicalIp(ip: string): string | undefined {
  const v = ipVersionOf(ip)
  return v ? bigIntToIp(ipToBigInt(ip), v) : undefined
}

/**
 * Parses `a.b.c.d/n`. `strict` refuses host bits (Neutron refuses
 * `192.0.2.1/24` for a subnet); otherwise they are cleared.
 */
export function parseCidr(text: string, strict = false): Cidr | undefined {
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  const version = ipVersionOf(addr)
  if (!version) return undefined
  const lenText = slash < 0 ? String(BITS[version]) : text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(lenText)) return undefined
  const prefixLen = Number(lenText)
  if (prefixLen > BITS[version]) return undefined
  const value = ipToBigInt(addr)
  const network = value & mask(version, prefixLen)
  if (strict && network !== value) return undefined
  return { version, network, prefixLen }
}

export function formatCidr(c: Cidr): string {
  return `${bigIntToIp(c.network, c.version)}/${c.prefixLen}`
}

function mask(version: IpVersion, prefixLen: number): bigint {
  const bits = BigInt(BITS[version])
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefixLen))) - 1n)
}

export function broadcast(c: Cidr): bigint {
  return c.network | (((1n << BigInt(BITS[c.version])) - 1n) ^ mask(c.version, c.prefixLen))
}

export function cidrContains(c: Cidr, ip: string): boolean {
  if (ipVersionOf(ip) !== c.version) return false
  const n = ipToBigInt(ip)
  return n >= c.network && n <= broadcast(c)
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.version !== b.version) return false
  return a.network <= broadcast(b) && b.network <= broadcast(a)
}

/** First and last usable addresses: IPv4 skips network and broadcast; IPv6 skips the subnet-router anycast. */
export function usableRange(c: Cidr): { first: bigint; last: bigint } {
  const hostBits = BITS[c.version] - c.prefixLen
  if (c.version === 4 && hostBits <= 1) return { first: c.network, last: broadcast(c) }
  if (c.version === 4) return { first: c.network + 1n, last: broadcast(c) - 1n }
  return { first: c.network + 1n, last: broadcast(c) }
}

/**
 * Neutron's default pools: the usable range minus the gateway, split
 * around it (so a gateway in the middle yields two pools).
 */
export function defaultPools(c: Cidr, gateway: string | null): Pool[] {
  const { first, last } = usableRange(c)
  if (first > last) return []
  const gw = gateway ? ipToBigInt(gateway) : undefined
  const ranges: [bigint, bigint][] = []
  if (gw === undefined || gw < first || gw > last) ranges.push([first, last])
  else {
    if (gw > first) ranges.push([first, gw - 1n])
    if (gw < last) ranges.push([gw + 1n, last])
  }
  return ranges.map(([s, e]) => ({ start: bigIntToIp(s, c.version), end: bigIntToIp(e, c.version) }))
}

/** Number of addresses in the pools. */
export function poolSize(pools: readonly Pool[]): bigint {
  return pools.reduce((n, p) => n + ipToBigInt(p.end) - ipToBigInt(p.start) + 1n, 0n)
}

/**
 * The first address of `pools` not in `used` (Neutron picks from the
 * start of the pool too), or undefined when the pools are exhausted.
 */
export function firstFree(
  pools: readonly Pool[],
  used: ReadonlySet<string>,
  version: IpVersion,
): string | undefined {
  const usedNums = new Set([...used].filter((ip) => ipVersionOf(ip) === version).map((ip) => ipToBigInt(ip)))
  for (const p of pools) {
    for (let n = ipToBigInt(p.start); n <= ipToBigInt(p.end); n++) {
      if (!usedNums.has(n)) return bigIntToIp(n, version)
    }
  }
  return undefined
}

export function inPools(pools: readonly Pool[], ip: string): boolean {
  const n = ipToBigInt(ip)
  return pools.some((p) => n >= ipToBigInt(p.start) && n <= ipToBigInt(p.end))
}

/** A random locally administered unicast MAC with Neutron's default base `fa:16:3e`. */
export function randomMac(random: () => number = Math.random): string {
  const tail = [0, 1, 2].map(() =>
    Math.floor(random() * 256)
      .toString(16)
      .padStart(2, '0'),
  )
  return ['fa', '16', '3e', ...tail].join(':')
}

const MAC_PATTERN = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/

export function isValidMac(mac: string): boolean {
  if (!MAC_PATTERN.test(mac.toLowerCase())) return false
  // Neutron refuses multicast and all-zero addresses for a port.
  const first = parseInt(mac.slice(0, 2), 16)
  return (first & 1) === 0 && mac !== '00:00:00:00:00:00'
}
