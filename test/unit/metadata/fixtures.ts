import type { MetadataSource } from '../../../src/metadata/tree.ts'

export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2l6ZzFha2VrZXlmb3J0ZXN0c29ubHkxMjM0NTY3 k@test'

/** One instance with a key, user data, metadata, one NIC with a floating IP. */
export function source(over: Partial<MetadataSource> = {}): MetadataSource {
  return {
    uuid: '6f1c2b8e-0d5a-4c3e-9b1a-2f4e6d8c0a11',
    ec2Id: 42,
    displayName: 'vm1',
    hostname: 'vm1',
    projectId: 'p1',
    availabilityZone: 'nova',
    launchIndex: 0,
    reservationId: 'r-abc123',
    keyName: 'k',
    keyData: KEY,
    keyType: 'ssh',
    userData: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'),
    meta: { role: 'web' },
    flavorName: 'm1.tiny',
    imageRef: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    kernelId: '',
    ramdiskId: '',
    securityGroups: ['default'],
    rootDeviceName: '/dev/vda',
    ephemeralGb: 0,
    swapMb: 0,
    vifs: [
      {
        portId: 'b1c2d3e4-0000-4000-8000-000000000001',
        devname: 'tapb1c2d3e4-00',
        macAddress: 'fa:16:3e:00:00:01',
        mtu: 1500,
        networkId: 'n1',
        fixedIps: [
          {
            address: '192.0.2.10',
            version: 4,
            subnet: {
              cidr: '192.0.2.0/24',
              gatewayIp: '192.0.2.1',
              enableDhcp: true,
              dnsNameservers: ['192.0.2.53'],
              hostRoutes: [],
            },
          },
        ],
        floatingIps: ['203.0.113.20'],
      },
    ],
    ...over,
  }
}
