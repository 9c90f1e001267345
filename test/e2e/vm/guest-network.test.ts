/**
 * The guest image on a network: DHCP on its NIC, hostname and SSH key from
 * the OpenStack metadata tree on 169.254.169.254, `#!` user data run, and an
 * SSH login as the default user with that key. Everything lives in a network
 * namespace the test creates (192.0.2.0/24) and removes.
 */
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { GUEST_BANNER_MARKER, GUEST_DEFAULT_USER } from '../../../src/guest-image/guest-files.ts'
import {
  BANNER_TIMEOUT_MS,
  createOverlay,
  GUEST_NET,
  GuestNetwork,
  guestImage,
  IMAGE_BUILD_TIMEOUT_MS,
  makeKeyPair,
  readText,
  startQemu,
  stopProcess,
  tempDir,
  waitFor,
} from './support.ts'

const SSH_TIMEOUT_MS = 90_000

describe(
  'guest image: network, metadata and SSH (TCG, namespace)',
  { timeout: IMAGE_BUILD_TIMEOUT_MS + SSH_TIMEOUT_MS * 2 },
  () => {
    let image = ''
    const dir = tempDir('nimbus-guest-net-')

    before(async () => {
      image = await guestImage()
    })
    after(() => rmSync(dir, { recursive: true, force: true }))

    it('gets its address by DHCP, its key and hostname from metadata, runs user data, and accepts SSH', async () => {
      const keys = await makeKeyPair(dir)
      const net = await GuestNetwork.create({
        hostname: 'vm-one',
        publicKey: keys.publicKey,
        userData: '#!/bin/sh\necho user-data-ran > /dev/ttyS0\ntouch /tmp/user-data-ran\n',
      })
      const disk = join(dir, 'disk.qcow2')
      const serial = join(dir, 'serial.log')
      const qemu = await createOverlay(image, disk).then(() =>
        startQemu({ disk, serialLog: serial, netns: net }),
      )
      try {
        await waitFor('SSH port 22', SSH_TIMEOUT_MS, async () =>
          (await net.tcpOpen(GUEST_NET.guest, 22)) ? true : undefined,
        )
        await waitFor('banner', BANNER_TIMEOUT_MS, () =>
          readText(serial).includes(GUEST_BANNER_MARKER) ? true : undefined,
        )
        const out = await net.ssh(keys.privateKey, GUEST_DEFAULT_USER, 'hostname; id -un; ls /tmp')
        assert.deepEqual(out.trim().split('\n').slice(0, 2), ['vm-one', GUEST_DEFAULT_USER])
        await waitFor('user data', BANNER_TIMEOUT_MS, () =>
          readText(serial).includes('user-data-ran') ? true : undefined,
        )
        const text = readText(serial)
        assert.match(
          text,
          new RegExp(
            `dhcp: eth0 ${GUEST_NET.guest.replaceAll('.', '\\.')} via ${GUEST_NET.gateway.replaceAll('.', '\\.')}`,
          ),
        )
        assert.match(text, /metadata: openstack, hostname vm-one\.novalocal, 1 key\(s\)/)
      } catch (err) {
        throw new Error(`${(err as Error).message}; serial console:\n${readText(serial).slice(-2500)}`)
      } finally {
        await stopProcess(qemu)
        await net.destroy()
      }
    })
  },
)
