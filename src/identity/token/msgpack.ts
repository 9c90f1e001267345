/**
 * The subset of MessagePack that Keystone's Fernet payloads use (Python's
 * `msgpack.packb` with `use_bin_type=True`): nil, booleans, integers,
 * float64, str, bin and arrays (tuples and lists). Maps are decoded for
 * robustness but never written. Written here because no msgpack package is
 * installed; it keeps our token payloads byte-compatible with Keystone's.
 */
export type Packable = null | boolean | number | string | Uint8Array | Float64 | readonly Packable[]

/** A number always written as float64, as Python writes every float (even 1.0). */
export class Float64 {
  readonly value: number
  constructor(value: number) {
    this.value = value
  }
}

/** Largest nesting accepted when decoding: payloads are two levels deep. */
const MAX_DEPTH = 8

export class MsgpackError extends Error {
  override readonly name = 'MsgpackError'
}

/** Encodes a value; numbers that are not safe integers are written as float64. */
export function pack(value: Packable): Buffer {
  const out: Buffer[] = []
  write(value, out)
  return Buffer.concat(out)
}

function write(value: Packable, out: Buffer[]): void {
  if (value === null) return void out.push(Buffer.of(0xc0))
  if (value === true) return void out.push(Buffer.of(0xc3))
  if (value === false) return void out.push(Buffer.of(0xc2))
  if (typeof value === 'number') return writeNumber(value, out)
  if (typeof value === 'string') return writeStr(Buffer.from(value, 'utf8'), out)
  if (value instanceof Uint8Array) return writeBin(value, out)
  if (value instanceof Float64) return writeDouble(value.value, out)
  writeArray(value, out)
}

function writeDouble(n: number, out: Buffer[]): void {
  const b = Buffer.alloc(9)
  b[0] = 0xcb
  b.writeDoubleBE(n, 1)
  out.push(b)
}

function writeNumber(n: number, out: Buffer[]): void {
  if (!Number.isSafeInteger(n)) return writeDouble(n, out)
  if (n >= 0) {
    if (n < 0x80) return void out.push(Buffer.of(n))
    if (n <= 0xff) return void out.push(Buffer.of(0xcc, n))
    if (n <= 0xffff) return void out.push(header(0xcd, 2, n))
    if (n <= 0xffffffff) return void out.push(header(0xce, 4, n))
    const b = Buffer.alloc(9)
    b[0] = 0xcf
    b.writeBigUInt64BE(BigInt(n), 1)
    return void out.push(b)
  }
  if (n >= -32) return void out.push(Buffer.of(n & 0xff))
  if (n >= -0x80) return void out.push(Buffer.of(0xd0, n & 0xff))
  if (n >= -0x8000) {
    const b = Buffer.alloc(3)
    b[0] = 0xd1
    b.writeInt16BE(n, 1)
    return void out.push(b)
  }
  if (n >= -0x80000000) {
    const b = Buffer.alloc(5)
    b[0] = 0xd2
    b.writeInt32BE(n, 1)
    return void out.push(b)
  }
  const b = Buffer.alloc(9)
  b[0] = 0xd3
  b.writeBigInt64BE(BigInt(n), 1)
  out.push(b)
}

function header(tag: number, width: 1 | 2 | 4, length: number): Buffer {
  const b = Buffer.alloc(1 + width)
  b[0] = tag
  b.writeUIntBE(length, 1, width)
  return b
}

function writeStr(bytes: Buffer, out: Buffer[]): void {
  const n = bytes.length
  if (n < 32) out.push(Buffer.of(0xa0 | n))
  else if (n <= 0xff) out.push(header(0xd9, 1, n))
  else if (n <= 0xffff) out.push(header(0xda, 2, n))
  else out.push(header(0xdb, 4, n))
  out.push(bytes)
}

function writeBin(bytes: Uint8Array, out: Buffer[]): void {
  const n = bytes.length
  if (n <= 0xff) out.push(header(0xc4, 1, n))
  else if (n <= 0xffff) out.push(header(0xc5, 2, n))
  else out.push(header(0xc6, 4, n))
  out.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
}

function writeArray(items: readonly Packable[], out: Buffer[]): void {
  const n = items.length
  if (n < 16) out.push(Buffer.of(0x90 | n))
  else if (n <= 0xffff) out.push(header(0xdc, 2, n))
  else out.push(header(0xdd, 4, n))
  for (const item of items) write(item, out)
}

/** A decoded value: bin comes back as a Buffer, maps as plain objects. */
export type Unpacked = null | boolean | number | string | Buffer | Unpacked[] | { [key: string]: Unpacked }

/** Decodes exactly one value filling all of `data`; throws MsgpackError otherwise. */
export function unpack(data: Buffer): Unpacked {
  const reader = new Reader(data)
  const value = reader.read(0)
  if (reader.offset !== data.length) throw new MsgpackError('trailing bytes after the value')
  return value
}

class Reader {
  offset = 0
  readonly #data: Buffer

  constructor(data: Buffer) {
    this.#data = data
  }

  #need(n: number): void {
    if (this.offset + n > this.#data.length) throw new MsgpackError('truncated value')
  }

  #uint(width: 1 | 2 | 4): number {
    this.#need(width)
    const v = this.#data.readUIntBE(this.offset, width)
    this.offset += width
    return v
  }

  #bytes(n: number): Buffer {
    this.#need(n)
    const b = this.#data.subarray(this.offset, this.offset + n)
    this.offset += n
    return b
  }

  read(depth: number): Unpacked {
    if (depth > MAX_DEPTH) throw new MsgpackError('value nested too deeply')
    const tag = this.#uint(1)
    if (tag < 0x80) return tag
    if (tag >= 0xe0) return tag - 0x100
    if ((tag & 0xf0) === 0x90) return this.#array(tag & 0x0f, depth)
    if ((tag & 0xf0) === 0x80) return this.#map(tag & 0x0f, depth)
    if ((tag & 0xe0) === 0xa0) return this.#bytes(tag & 0x1f).toString('utf8')
    return this.#tagged(tag, depth)
  }

  #tagged(tag: number, depth: number): Unpacked {
    switch (tag) {
      case 0xc0:
        return null
      case 0xc2:
        return false
      case 0xc3:
        return true
      case 0xc4:
        return Buffer.from(this.#bytes(this.#uint(1)))
      case 0xc5:
        return Buffer.from(this.#bytes(this.#uint(2)))
      case 0xc6:
        return Buffer.from(this.#bytes(this.#uint(4)))
      case 0xca:
        return this.#bytes(4).readFloatBE(0)
      case 0xcb:
        return this.#bytes(8).readDoubleBE(0)
      case 0xcc:
        return this.#uint(1)
      case 0xcd:
        return this.#uint(2)
      case 0xce:
        return this.#uint(4)
      case 0xcf:
        return Number(this.#bytes(8).readBigUInt64BE(0))
      case 0xd0:
        return this.#bytes(1).readInt8(0)
      case 0xd1:
        return this.#bytes(2).readInt16BE(0)
      case 0xd2:
        return this.#bytes(4).readInt32BE(0)
      case 0xd3:
        return Number(this.#bytes(8).readBigInt64BE(0))
      case 0xd9:
        return this.#bytes(this.#uint(1)).toString('utf8')
      case 0xda:
        return this.#bytes(this.#uint(2)).toString('utf8')
      case 0xdb:
        return this.#bytes(this.#uint(4)).toString('utf8')
      case 0xdc:
        return this.#array(this.#uint(2), depth)
      case 0xdd:
        return this.#array(this.#uint(4), depth)
      case 0xde:
        return this.#map(this.#uint(2), depth)
      case 0xdf:
        return this.#map(this.#uint(4), depth)
      default:
        throw new MsgpackError(`unsupported type 0x${tag.toString(16)}`)
    }
  }

  #array(n: number, depth: number): Unpacked[] {
    // Every element takes at least one byte: refuse lengths the data cannot hold.
    this.#need(n)
    const items: Unpacked[] = []
    for (let i = 0; i < n; i++) items.push(this.read(depth + 1))
    return items
  }

  #map(n: number, depth: number): { [key: string]: Unpacked } {
    this.#need(2 * n)
    const obj: { [key: string]: Unpacked } = {}
    for (let i = 0; i < n; i++) {
      const key = this.read(depth + 1)
      obj[String(key)] = this.read(depth + 1)
    }
    return obj
  }
}
