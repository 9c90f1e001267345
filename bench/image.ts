/**
 * `npm run bench:image -- [--size-mib N] [--runs N]`
 *
 * Image upload and download throughput through loopback HTTP, against `cp`
 * of the same file on the same disk. The server (identity + image) runs in a
 * process of its own, as it would for a real client; the client (curl, so
 * the client is not what is measured; Node's http when curl is missing)
 * sends the file from disk and writes the download back to disk, like
 * `openstack image create --file` and `openstack image save`. Every timed
 * step starts after a `sync`, so writeback of the previous one does not
 * count. Prints MB/s and the ratio to cp (target: at least 0.5), best of
 * `--runs`.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { request, type IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { startServerProcess, type ServerProcess } from '../test/functional/image/server-process.ts'

const DEFAULT_SIZE_MIB = 1024
const DEFAULT_RUNS = 2
const CHUNK_BYTES = 1024 * 1024
const MB = 1e6
const TARGET_RATIO = 0.5

const HAVE_CURL = spawnSync('curl', ['--version']).status === 0

const { values } = parseArgs({
  options: { 'size-mib': { type: 'string' }, runs: { type: 'string' } },
})
const sizeMib = Number(values['size-mib'] ?? process.env.NIMBUS_BENCH_IMAGE_MIB ?? DEFAULT_SIZE_MIB)
const runs = Number(values.runs ?? DEFAULT_RUNS)
const sizeBytes = sizeMib * 1024 * 1024

async function writeSource(path: string): Promise<void> {
  const block = randomBytes(CHUNK_BYTES)
  let written = 0
  await pipeline(
    (async function* () {
      for (; written < sizeBytes; written += CHUNK_BYTES) {
        const chunk = Buffer.from(block)
        chunk.writeUInt32BE(written / CHUNK_BYTES, 0)
        yield chunk
      }
    })(),
    createWriteStream(path),
  )
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9
}

/** Runs a command; resolves with its stdout. */
function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c))
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}`)),
    )
  })
}

/** cp of the file, and cp until the copy is on disk (what a disk-bound transfer costs). */
async function timeCp(from: string, to: string): Promise<{ cp: number; cpSync: number }> {
  await run('sync', [])
  const start = process.hrtime.bigint()
  await run('cp', [from, to])
  const cp = seconds(start)
  await run('sync', [])
  const cpSync = seconds(start)
  rmSync(to)
  return { cp, cpSync }
}

/** curl's transfer of `args`, checking the HTTP status. */
async function curl(server: ServerProcess, expect: number, args: readonly string[]): Promise<void> {
  const status = await run('curl', [
    '-s',
    '-w',
    '%{http_code}',
    '-H',
    `x-auth-token: ${server.token}`,
    ...args,
  ])
  if (Number(status) !== expect) throw new Error(`curl ${args.join(' ')}: HTTP ${status}`)
}

function call(server: ServerProcess, method: string, path: string, headers: Record<string, string> = {}) {
  return request(`${server.imageUrl}${path}`, {
    method,
    headers: { 'x-auth-token': server.token, ...headers },
  })
}

function responseOf(req: ReturnType<typeof request>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
  })
}

async function readText(res: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of res) text += chunk
  return text
}

async function createImage(server: ServerProcess): Promise<string> {
  const req = call(server, 'POST', '/v2/images', { 'content-type': 'application/json' })
  req.end(JSON.stringify({ name: 'bench', disk_format: 'raw', container_format: 'bare' }))
  const res = await responseOf(req)
  const text = await readText(res)
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${text}`)
  return (JSON.parse(text) as { id: string }).id
}

async function timeUpload(server: ServerProcess, id: string, file: string): Promise<number> {
  await run('sync', [])
  const start = process.hrtime.bigint()
  if (HAVE_CURL) {
    const url = `${server.imageUrl}/v2/images/${id}/file`
    await curl(server, 204, [
      '-o',
      '/dev/null',
      '-X',
      'PUT',
      '-H',
      'content-type: application/octet-stream',
      '-T',
      file,
      url,
    ])
    return seconds(start)
  }
  const req = call(server, 'PUT', `/v2/images/${id}/file`, {
    'content-type': 'application/octet-stream',
    'content-length': String(sizeBytes),
  })
  const answered = responseOf(req)
  await pipeline(createReadStream(file, { highWaterMark: CHUNK_BYTES }), req)
  const res = await answered
  const text = await readText(res)
  if (res.statusCode !== 204) throw new Error(`upload: ${res.statusCode} ${text}`)
  return seconds(start)
}

async function timeDownload(server: ServerProcess, id: string, file: string): Promise<number> {
  await run('sync', [])
  const start = process.hrtime.bigint()
  if (HAVE_CURL) {
    await curl(server, 200, ['-o', file, `${server.imageUrl}/v2/images/${id}/file`])
    const took = seconds(start)
    if (statSync(file).size !== sizeBytes) throw new Error('download: wrong size')
    return took
  }
  const req = call(server, 'GET', `/v2/images/${id}/file`)
  req.end()
  const res = await responseOf(req)
  if (res.statusCode !== 200) throw new Error(`download: ${res.statusCode} ${await readText(res)}`)
  await pipeline(res, createWriteStream(file, { highWaterMark: CHUNK_BYTES }))
  const took = seconds(start)
  if (statSync(file).size !== sizeBytes) throw new Error('download: wrong size')
  return took
}

async function md5Of(file: string): Promise<string> {
  const hash = createHash('md5')
  await pipeline(createReadStream(file, { highWaterMark: CHUNK_BYTES }), hash)
  return hash.digest('hex')
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'nimbus-bench-image-'))
  const source = join(work, 'source.img')
  const copy = join(work, 'copy.img')
  let server: ServerProcess | undefined
  try {
    console.log(
      `bench:image: ${sizeMib} MiB, best of ${runs}, client ${HAVE_CURL ? 'curl' : 'node http'}, in ${work}`,
    )
    await writeSource(source)
    server = await startServerProcess(sizeBytes + 1)
    const best = { cp: Infinity, cpSync: Infinity, upload: Infinity, download: Infinity }
    for (let run = 0; run < runs; run++) {
      const cp = await timeCp(source, copy)
      best.cp = Math.min(best.cp, cp.cp)
      best.cpSync = Math.min(best.cpSync, cp.cpSync)
      const id = await createImage(server)
      best.upload = Math.min(best.upload, await timeUpload(server, id, source))
      best.download = Math.min(best.download, await timeDownload(server, id, copy))
      if (run === 0 && (await md5Of(copy)) !== (await md5Of(source)))
        throw new Error('download differs from upload')
      rmSync(copy)
      const del = call(server, 'DELETE', `/v2/images/${id}`)
      del.end()
      await readText(await responseOf(del))
    }
    report(best)
  } finally {
    await server?.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

function report(best: { cp: number; cpSync: number; upload: number; download: number }): void {
  const rate = (s: number) => sizeBytes / MB / s
  const cp = rate(best.cp)
  const cpSync = rate(best.cpSync)
  const rows = [
    ['cp', cp],
    ['cp + sync', cpSync],
    ['upload (PUT /file)', rate(best.upload)],
    ['download (GET /file)', rate(best.download)],
  ] as const
  console.log('| what | MB/s | ratio to cp | ratio to cp + sync |\n|---|---|---|---|')
  for (const [what, mbs] of rows) {
    console.log(`| ${what} | ${mbs.toFixed(0)} | ${(mbs / cp).toFixed(2)} | ${(mbs / cpSync).toFixed(2)} |`)
  }
  const below = rows.slice(2).filter(([, mbs]) => mbs / cp < TARGET_RATIO)
  console.log(
    below.length
      ? `below ${TARGET_RATIO} of cp: ${below.map(([what]) => what).join(', ')}`
      : `all at or above ${TARGET_RATIO} of cp`,
  )
}

await main()
