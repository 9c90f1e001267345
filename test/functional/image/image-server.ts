import { startImageCloud } from './support.ts'

/**
 * Identity and image in a process of their own, for measurements that must
 * see the server apart from the client (memory test, bench/image.ts).
 * Prints one JSON line (`imageUrl`, `identityUrl`, admin `token`,
 * `stateDir`, `pid`) once ready; stops when stdin closes or on SIGTERM.
 * Usage: node --import tsx test/functional/image/image-server.ts [max_image_size_bytes]
 */
const maxImageSizeBytes = process.argv[2]
const cloud = await startImageCloud({
  config: maxImageSizeBytes ? { 'image.max_image_size_bytes': maxImageSizeBytes } : {},
})
let stopping: Promise<void> | undefined
const stop = () => {
  stopping ??= cloud.stop().finally(() => process.exit(0))
  return stopping
}
process.on('SIGTERM', () => void stop())
process.stdin.on('end', () => void stop())
process.stdin.resume()
process.stdout.write(
  `${JSON.stringify({
    imageUrl: cloud.imageUrl,
    identityUrl: cloud.identityUrl,
    token: cloud.admin.token,
    stateDir: cloud.tc.stateDir,
    pid: process.pid,
  })}\n`,
)
