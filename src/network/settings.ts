import type { Config } from '../common/config.ts'
import type { NetworkSettings } from './core.ts'

export function settingsFrom(config: Config): NetworkSettings {
  return {
    defaultPhysicalNetwork: config.network.defaultPhysicalNetwork,
    tenantVlanMin: config.network.tenantVlanMin,
    tenantVlanMax: config.network.tenantVlanMax,
    mtu: config.network.mtu,
  }
}
