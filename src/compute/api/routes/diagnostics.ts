import { Conflict } from '../../../common/errors.ts'
import { limits } from '../../../common/limits.ts'
import type { Route } from '../../../service/http.ts'
import type { InstanceDiagnostics } from '../../diagnostics.ts'
import { versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'

/**
 * `GET /servers/{id}/diagnostics` (admin): the host's numbers for a running
 * guest, in Nova's standard form from 2.48 and as the driver-specific flat
 * dictionary (libvirt's key names) before.
 */
export function diagnosticsRoutes(deps: ApiDeps): Route[] {
  return [
    versionedRoute({
      method: 'GET',
      path: '/v2.1/servers/:server_id/diagnostics',
      handler: (req) => diagnostics(deps, req),
    }),
  ]
}

const KIB_PER_MIB = 1024

async function diagnostics(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-server-diagnostics', { project_id: instance.projectId })
  // Nova's check_instance_host: a server not (yet) on a host has nothing to report.
  if (!instance.host) throw new Conflict(`Instance ${instance.uuid} is not ready`)
  const diag = await deps.computeRpc.getInstanceDiagnostics(ctx, instance, limits.computeDiagnosticsTimeoutMs)
  return req.mv.atLeast('2.48') ? standardView(diag) : legacyView(diag)
}

/** Nova's `ViewBuilder.instance_diagnostics` (2.48). */
export function standardView(d: InstanceDiagnostics): Record<string, unknown> {
  return {
    state: d.state,
    driver: d.driver,
    hypervisor: d.hypervisor,
    hypervisor_os: d.hypervisorOs,
    uptime: d.uptimeS,
    config_drive: d.configDrive,
    num_cpus: d.cpus.length,
    num_nics: d.nics.length,
    num_disks: d.disks.length,
    disk_details: d.disks.map((k) => ({
      read_bytes: k.readBytes,
      read_requests: k.readRequests,
      write_bytes: k.writeBytes,
      write_requests: k.writeRequests,
      errors_count: k.errorsCount,
    })),
    cpu_details: d.cpus.map((c) => ({ id: c.id, time: c.timeNs, utilisation: null })),
    nic_details: d.nics.map((n) => ({
      mac_address: n.macAddress,
      rx_octets: n.rxOctets,
      rx_errors: n.rxErrors,
      rx_drop: n.rxDrop,
      rx_packets: n.rxPackets,
      rx_rate: null,
      tx_octets: n.txOctets,
      tx_errors: n.txErrors,
      tx_drop: n.txDrop,
      tx_packets: n.txPackets,
      tx_rate: null,
    })),
    memory_details: { maximum: d.memory.maximumMb, used: d.memory.usedMb },
  }
}

/** Before 2.48: the libvirt driver's flat `get_diagnostics` keys (memory in KiB, times in ns). */
export function legacyView(d: InstanceDiagnostics): Record<string, number> {
  const out: Record<string, number> = {}
  for (const c of d.cpus) if (c.timeNs !== null) out[`cpu${c.id}_time`] = c.timeNs
  out.memory = d.memory.maximumMb * KIB_PER_MIB
  if (d.memory.usedMb !== null) out['memory-rss'] = d.memory.usedMb * KIB_PER_MIB
  for (const k of d.disks) {
    out[`${k.name}_read`] = k.readBytes
    out[`${k.name}_read_req`] = k.readRequests
    out[`${k.name}_write`] = k.writeBytes
    out[`${k.name}_write_req`] = k.writeRequests
    out[`${k.name}_errors`] = k.errorsCount
  }
  for (const n of d.nics) {
    out[`${n.name}_rx`] = n.rxOctets
    out[`${n.name}_rx_drop`] = n.rxDrop
    out[`${n.name}_rx_errors`] = n.rxErrors
    out[`${n.name}_rx_packets`] = n.rxPackets
    out[`${n.name}_tx`] = n.txOctets
    out[`${n.name}_tx_drop`] = n.txDrop
    out[`${n.name}_tx_errors`] = n.txErrors
    out[`${n.name}_tx_packets`] = n.txPackets
  }
  return out
}
