import type { FeatureFlag } from './features.ts'

/**
 * Tempest plugins `npm run tempest -- --plugin NAME` runs: the upstream
 * project's own API tests, installed from Debian, against a fresh cloud
 * configured as for Tempest (external network, `api_extensions` from the
 * cloud). Their results go into their own section of docs/conformance.md.
 */
export interface TempestPlugin {
  /** `--plugin` value. */
  readonly name: string
  /** Debian package that installs it (`tempest list-plugins` lists it then). */
  readonly debianPackage: string
  /** Python module Tempest imports it as. */
  readonly module: string
  /** The default selection. */
  readonly regex: string
  /** Heading of its section in docs/conformance.md. */
  readonly title: string
  /** tempest.conf options of the plugin itself, on top of FEATURE_FLAGS. */
  readonly flags: readonly FeatureFlag[]
}

export const TEMPEST_PLUGINS: readonly TempestPlugin[] = [
  {
    name: 'neutron',
    debianPackage: 'neutron-tempest-plugin',
    module: 'neutron_tempest_plugin',
    regex: '^neutron_tempest_plugin\\.api\\.',
    title: 'neutron-tempest-plugin (API)',
    flags: [
      // The provider network types Nimbus accepts (src/network/core.ts NETWORK_TYPES).
      { section: 'neutron_plugin_options', key: 'available_type_drivers', value: 'flat,vlan' },
      { section: 'neutron_plugin_options', key: 'specify_floating_ip_address_available', value: 'True' },
      { section: 'neutron_plugin_options', key: 'max_mtu', value: '1500' },
    ],
  },
]

export function pluginNamed(name: string): TempestPlugin {
  const found = TEMPEST_PLUGINS.find((p) => p.name === name)
  if (!found)
    throw new Error(
      `unknown Tempest plugin ${name} (known: ${TEMPEST_PLUGINS.map((p) => p.name).join(', ')})`,
    )
  return found
}
