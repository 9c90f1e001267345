import { loadConfig, type Config } from '../../../src/common/config.ts'
import { insertInstance } from '../../../src/compute/db/instances.ts'
import { openDatabase, type Database } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { createMetadataService } from '../../../src/metadata/service.ts'
import { Store } from '../../../src/network/store.ts'
import type { HttpService } from '../../../src/service/service.ts'
import { KEY } from './fixtures.ts'

export const SECRET = 'metadata-test-secret'

export interface MetadataWorld {
  readonly db: Database
  readonly url: string
  /** Instance a (project p1, 192.0.2.10, key k) and b (project p2, 192.0.2.11, no key), router r1 on n1. */
  readonly a: string
  readonly b: string
  stop(): Promise<void>
}

const FLAVOR = {
  id: 1,
  flavorid: '1',
  name: 'm1.tiny',
  memoryMb: 256,
  vcpus: 1,
  rootGb: 1,
  ephemeralGb: 0,
  swapMb: 0,
  rxtxFactor: 1,
  isPublic: true,
  disabled: false,
  description: null,
  extraSpecs: {},
}

async function addInstance(db: Database, uuid: string, name: string, projectId: string, key: boolean) {
  await insertInstance(db.kysely, {
    uuid,
    displayName: name,
    displayDescription: null,
    hostname: name,
    projectId,
    userId: 'u1',
    imageRef: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    flavor: FLAVOR,
    vmState: 'active',
    taskState: null,
    powerState: 1,
    availabilityZone: 'nova',
    keyName: key ? 'k' : null,
    keyData: key ? KEY : null,
    userData: key ? Buffer.from('#!/bin/sh\necho hi\n').toString('base64') : null,
    metadata: {},
    systemMetadata: {},
    configDrive: '',
    reservationId: 'r-00000001',
    launchIndex: 0,
    accessIpV4: null,
    accessIpV6: null,
    autoDiskConfig: false,
    rootDeviceName: '/dev/vda',
    kernelId: '',
    ramdiskId: '',
    securityGroups: ['default'],
    requestedNetworks: 'auto',
    createdAt: new Date().toISOString(),
  })
}

/** A metadata service over an in-memory database holding two instances on one network. */
export async function startMetadataWorld(overrides: Record<string, string> = {}): Promise<MetadataWorld> {
  const config: Config = loadConfig({
    env: {},
    overrides: {
      'DEFAULT.log_level': 'silent',
      'metadata.metadata_proxy_shared_secret': SECRET,
      ...overrides,
    },
  })
  const db = await openDatabase('sqlite://:memory:')
  await migrateToLatest(db)
  const a = '11111111-1111-4111-8111-111111111111'
  const b = '22222222-2222-4222-8222-222222222222'
  await addInstance(db, a, 'vm-a', 'p1', true)
  await addInstance(db, b, 'vm-b', 'p2', false)
  const store = Store.of(db)
  await store.insert('networks', { id: 'n1', project_id: 'p1', name: 'net1', mtu: 1450 })
  await store.insert('subnets', {
    id: 's1',
    project_id: 'p1',
    network_id: 'n1',
    cidr: '192.0.2.0/24',
    gateway_ip: '192.0.2.1',
    enable_dhcp: true,
    dns_nameservers: [],
    host_routes: [],
  })
  await store.insert('security_groups', { id: 'sg1', project_id: 'p1', name: 'default' })
  const port = (id: string, device: string, owner: string, ip: string, project = 'p1') => ({
    id,
    project_id: project,
    network_id: 'n1',
    device_id: device,
    device_owner: owner,
    mac_address: `fa:16:3e:00:00:${ip.split('.')[3]!.padStart(2, '0').slice(-2)}`,
    fixed_ips: [{ subnet_id: 's1', ip_address: ip }],
    security_groups: owner.startsWith('compute:') ? ['sg1'] : [],
  })
  await store.insert('ports', port('pr', 'r1', 'network:router_interface', '192.0.2.1'))
  await store.insert('ports', port('pa-000000000000', a, 'compute:nova', '192.0.2.10'))
  await store.insert('ports', port('pb-000000000000', b, 'compute:nova', '192.0.2.11', 'p2'))
  await store.insert('floating_ips', {
    id: 'f1',
    project_id: 'p1',
    floating_network_id: 'ext',
    port_id: 'pa-000000000000',
    floating_ip_address: '203.0.113.20',
  })
  const service: HttpService = createMetadataService({
    config,
    db,
    transport: undefined as never,
    options: { ephemeralPorts: true },
  })
  await service.start()
  return {
    db,
    url: `http://127.0.0.1:${service.port}`,
    a,
    b,
    async stop() {
      await service.stop()
      await db.close()
    },
  }
}
