import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tempestConf, type TempestTarget } from '../../tempest/conf.ts'
import { pluginNamed } from '../../tempest/plugins.ts'
import {
  parseSubunitCsv,
  pluginSections,
  renderPluginSection,
  spliceSection,
  summarize,
} from '../../tempest/results.ts'

const TARGET: TempestTarget = {
  authUrl: 'http://127.0.0.1:5000/v3',
  region: 'RegionOne',
  adminUser: 'admin',
  adminPassword: 'pw',
  adminProject: 'admin',
  domain: 'Default',
  imageRef: 'i1',
  imageRefAlt: 'i1',
  flavorRef: 'f1',
  flavorRefAlt: 'f2',
  minMicroversion: '2.1',
  maxMicroversion: '2.93',
  lockPath: '/tmp/l',
  logFile: '/tmp/t.log',
}

const CSV = [
  'test,status,start_time,stop_time',
  'neutron_tempest_plugin.api.test_networks.NetworksTestJSON.test_show_network[id-1],success,x,y',
  'neutron_tempest_plugin.api.test_ports.PortsTestJSON.test_add_ips_to_port[id-2],fail,x,y',
].join('\n')

describe('Tempest plugins', () => {
  it('knows neutron, and refuses a name it does not know', () => {
    const neutron = pluginNamed('neutron')
    assert.equal(neutron.debianPackage, 'neutron-tempest-plugin')
    assert.match('neutron_tempest_plugin.api.test_networks.X.test_y', new RegExp(neutron.regex))
    assert.throws(() => pluginNamed('nope'), /unknown Tempest plugin nope/)
  })

  it("writes the plugin's options into tempest.conf", () => {
    const conf = tempestConf({ ...TARGET, extraFlags: pluginNamed('neutron').flags })
    assert.match(conf, /\[neutron_plugin_options\]\n(.*\n)*available_type_drivers = flat,vlan\n/)
  })

  it("replaces only the plugin's own section of the conformance document", () => {
    const results = parseSubunitCsv(CSV)
    const meta = {
      date: '2026-12-08',
      commit: 'abc1234',
      regex: '^neutron_tempest_plugin\\.api\\.',
      durationS: 90,
    }
    const section = renderPluginSection(
      'neutron',
      'neutron-tempest-plugin (API)',
      summarize(results),
      results,
      meta,
      [],
    )
    assert.match(section, /1 passed, 1 failed, 0 skipped \(50\.0% of the tests that ran passed\)/)
    assert.match(section, /- duration: 90 s/)
    assert.match(section, /test_add_ips_to_port/)
    const doc = spliceSection('# Tempest conformance\n\nbody\n', 'neutron', section)
    assert.ok(doc.startsWith('# Tempest conformance\n\nbody\n'))
    assert.deepEqual(pluginSections(doc), [section])
    const again = spliceSection(doc, 'neutron', section.replace('1 passed', '2 passed'))
    assert.equal(pluginSections(again).length, 1)
    assert.match(again, /2 passed, 1 failed/)
    assert.ok(again.startsWith('# Tempest conformance\n\nbody\n'))
  })
})
