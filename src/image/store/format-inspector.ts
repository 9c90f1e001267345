/**
 * In-flight disk format inspection, as Glance does while data streams to the
 * store: it reads only the first bytes of the image and, when the header
 * matches the declared `disk_format`, gives the disk's virtual size. Only for
 * `container_format` bare (Glance's rule). vhdx and vmdk keep their sizes
 * far from the start, so Nimbus leaves `virtual_size` null for them.
 */

/** Bytes of the image's start every supported header fits in. */
export const INSPECT_HEADER_BYTES = 512

interface HeaderFormat {
  readonly matches: (header: Buffer) => boolean
  readonly virtualSize: (header: Buffer) => bigint
}

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb])
const VHD_COOKIE = Buffer.from('conectix', 'latin1')
const VDI_SIGNATURE = 0xbeda107f

const HEADER_FORMATS: Readonly<Record<string, HeaderFormat>> = {
  // qemu's block/qcow2.h: magic at 0, big-endian virtual size at 24.
  qcow2: { matches: (h) => h.subarray(0, 4).equals(QCOW2_MAGIC), virtualSize: (h) => h.readBigUInt64BE(24) },
  // The footer copy a dynamic VHD starts with: cookie at 0, "current size" at 40.
  vhd: { matches: (h) => h.subarray(0, 8).equals(VHD_COOKIE), virtualSize: (h) => h.readBigUInt64BE(40) },
  // qemu's block/vdi.c: signature at 0x40, little-endian disk size at 0x170.
  vdi: {
    matches: (h) => h.readUInt32LE(0x40) === VDI_SIGNATURE,
    virtualSize: (h) => h.readBigUInt64LE(0x170),
  },
}

/** Whether Glance would inspect data of this format and container. */
export function isInspectable(diskFormat: string | null, containerFormat: string | null): boolean {
  return containerFormat === 'bare' && (diskFormat === 'raw' || (diskFormat ?? '') in HEADER_FORMATS)
}

/**
 * The virtual size of an image of `diskFormat` whose first bytes are
 * `header` and whose total length is `size`; null when the header does not
 * match the format or the size is unknown (Glance then leaves it unset).
 */
export function virtualSizeOf(diskFormat: string | null, header: Buffer, size: number): number | null {
  if (diskFormat === 'raw') return size > 0 ? size : null
  const format = HEADER_FORMATS[diskFormat ?? '']
  if (!format || header.length < INSPECT_HEADER_BYTES || !format.matches(header)) return null
  const virtual = format.virtualSize(header)
  if (virtual === 0n || virtual > BigInt(Number.MAX_SAFE_INTEGER)) return null
  return Number(virtual)
}
