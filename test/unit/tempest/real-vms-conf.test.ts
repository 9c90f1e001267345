import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { tempestConf, type TempestTarget } from '../../tempest/conf.ts'
import { REAL_VM_FLAGS } from '../../tempest/features.ts'

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
  publicNetworkId: 'pub',
  publicNetworkName: 'public',
  lockPath: '/tmp/l',
  logFile: '/tmp/t.log',
}

/** The value of `key` in `[section]` of an INI text (the last one set). */
function valueOf(conf: string, section: string, key: string): string | undefined {
  const start = conf.indexOf(`[${section}]\n`)
  if (start < 0) return undefined
  const body = conf.slice(start + section.length + 3).split('\n[')[0]!
  const line = body.split('\n').find((l) => l.startsWith(`${key} = `))
  return line?.slice(key.length + 3)
}

describe('tempest.conf for real VMs', () => {
  it('a fake-driver run leaves SSH validation off', () => {
    const conf = tempestConf(TARGET)
    assert.equal(valueOf(conf, 'validation', 'run_validation'), 'False')
    assert.equal(valueOf(conf, 'validation', 'image_ssh_user'), undefined)
  })

  it('a --real-vms run turns on validation through floating IPs as the guest user, with TCG timeouts', () => {
    const conf = tempestConf({ ...TARGET, realVms: { sshUser: 'nimbus' } })
    assert.equal(valueOf(conf, 'validation', 'run_validation'), 'True')
    assert.equal(valueOf(conf, 'validation', 'connect_method'), 'floating')
    assert.equal(valueOf(conf, 'validation', 'auth_method'), 'keypair')
    assert.equal(valueOf(conf, 'validation', 'image_ssh_user'), 'nimbus')
    assert.equal(valueOf(conf, 'validation', 'ssh_key_type'), 'rsa')
    assert.equal(valueOf(conf, 'scenario', 'dhcp_client'), 'udhcpc')
    assert.equal(valueOf(conf, 'compute', 'build_timeout'), '300')
    assert.equal(valueOf(conf, 'network', 'public_network_id'), 'pub')
    for (const f of REAL_VM_FLAGS) assert.equal(valueOf(conf, f.section, f.key), f.value, `${f.section}.${f.key}`)
  })
})
