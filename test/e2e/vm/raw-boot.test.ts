/**
 * The guest image boots under plain qemu (TCG, no libvirt, no NIC) and writes
 * its login banner to the serial console within a bounded time.
 */
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { GUEST_BANNER_MARKER } from '../../../src/guest-image/guest-files.ts'
import {
  BANNER_TIMEOUT_MS,
  createOverlay,
  guestImage,
  IMAGE_BUILD_TIMEOUT_MS,
  readText,
  startQemu,
  stopProcess,
  tempDir,
  waitFor,
} from './support.ts'

describe(
  'guest image: raw qemu boot (TCG, serial console only)',
  { timeout: IMAGE_BUILD_TIMEOUT_MS + BANNER_TIMEOUT_MS * 2 },
  () => {
    let image = ''
    const dir = tempDir('nimbus-raw-boot-')

    before(async () => {
      image = await guestImage()
    })
    after(() => rmSync(dir, { recursive: true, force: true }))

    it('shows the banner and SSH host key fingerprints on ttyS0', async () => {
      const disk = join(dir, 'disk.qcow2')
      const serial = join(dir, 'serial.log')
      await createOverlay(image, disk)
      const qemu = startQemu({ disk, serialLog: serial })
      try {
        const text = await waitFor('the serial banner', BANNER_TIMEOUT_MS, () => {
          const t = readText(serial)
          return t.includes(GUEST_BANNER_MARKER) ? t : undefined
        }).catch((err: Error) => {
          throw new Error(`${err.message}; serial console:\n${readText(serial).slice(-2000)}`)
        })
        assert.match(text, /SYSLINUX/, 'booted through the bootloader in the image')
        assert.match(text, /BEGIN SSH HOST KEY FINGERPRINTS[\s\S]*Fingerprint: SHA256:/)
        assert.match(text, new RegExp(`${GUEST_BANNER_MARKER}: hostname nimbus-guest address none`))
      } finally {
        await stopProcess(qemu)
      }
      assert.ok(qemu.exitCode !== null || qemu.signalCode !== null, 'qemu stopped')
    })
  },
)
