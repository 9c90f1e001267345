import type { GuestDiagnostics } from '../diagnostics.ts'

/**
 * A domain's diagnostics from `virsh domstats` (cpu, balloon, vcpu, net,
 * block groups) and `virsh domiflist` (the MAC of each interface), as
 * Nova's libvirt driver builds them from the same libvirt calls.
 */

const KIB_PER_MIB = 1024

/** `key=value` lines of `virsh domstats` (the `Domain: '...'` header and blanks skipped). */
export function parseDomstats(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\s*([\w.]+)=(.*)$/.exec(line)
    if (m) out.set(m[1]!, m[2]!.trim())
  }
  return out
}

/** Interface name -> MAC from `virsh -q domiflist` (Interface Type Source Model MAC). */
export function parseDomiflist(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/)
    if (cols.length >= 5 && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(cols.at(-1)!))
      out.set(cols[0]!, cols.at(-1)!)
  }
  return out
}

export function diagnosticsFromStats(
  stats: ReadonlyMap<string, string>,
  macs: ReadonlyMap<string, string>,
  virtType: string,
): GuestDiagnostics {
  const num = (key: string): number => Number(stats.get(key) ?? 0) || 0
  const opt = (key: string): number | null => (stats.has(key) ? Number(stats.get(key)) : null)
  const vcpus = num('vcpu.current') || num('vcpu.maximum')
  const maxKib = num('balloon.maximum')
  const rssKib = opt('balloon.rss')
  const disks = Array.from({ length: num('block.count') }, (_, i) => ({
    name: stats.get(`block.${i}.name`) ?? `disk${i}`,
    readBytes: num(`block.${i}.rd.bytes`),
    readRequests: num(`block.${i}.rd.reqs`),
    writeBytes: num(`block.${i}.wr.bytes`),
    writeRequests: num(`block.${i}.wr.reqs`),
    errorsCount: num(`block.${i}.errors`),
  }))
  const nics = Array.from({ length: num('net.count') }, (_, i) => {
    const name = stats.get(`net.${i}.name`) ?? `net${i}`
    return {
      name,
      macAddress: macs.get(name) ?? '',
      rxOctets: num(`net.${i}.rx.bytes`),
      rxErrors: num(`net.${i}.rx.errs`),
      rxDrop: num(`net.${i}.rx.drop`),
      rxPackets: num(`net.${i}.rx.pkts`),
      txOctets: num(`net.${i}.tx.bytes`),
      txErrors: num(`net.${i}.tx.errs`),
      txDrop: num(`net.${i}.tx.drop`),
      txPackets: num(`net.${i}.tx.pkts`),
    }
  })
  return {
    driver: 'libvirt',
    hypervisor: virtType,
    hypervisorOs: 'linux',
    cpus: Array.from({ length: vcpus }, (_, id) => ({ id, timeNs: opt(`vcpu.${id}.time`) })),
    memory: {
      maximumMb: Math.floor(maxKib / KIB_PER_MIB),
      usedMb: rssKib === null ? null : Math.floor(rssKib / KIB_PER_MIB),
    },
    disks,
    nics,
  }
}
