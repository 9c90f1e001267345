/**
 * Runs inside the Tempest namespace (`ip netns exec NS node --import tsx
 * ns-forward.ts SOCKDIR PORT...`): listens on 127.0.0.1:PORT for each port
 * and relays every connection to the unix socket SOCKDIR/PORT.sock, which
 * the runner serves from the root namespace by connecting to the cloud's
 * API on 127.0.0.1:PORT there. Unix sockets live in the filesystem, not in
 * a network namespace, so Tempest reaches the APIs at the catalog's URLs
 * without any address or route added to the root namespace. Prints
 * `ready` once every port listens; exits on SIGTERM.
 */
import net from 'node:net'
import { join } from 'node:path'
import { relay } from './relay.ts'

const [sockDir, ...ports] = process.argv.slice(2)
if (!sockDir || ports.length === 0) {
  process.stderr.write('usage: ns-forward.ts SOCKDIR PORT...\n')
  process.exit(2)
}

let listening = 0
for (const port of ports) {
  const server = net.createServer((client) => relay(client, net.connect(join(sockDir, `${port}.sock`))))
  server.on('error', (err) => {
    process.stderr.write(`ns-forward: 127.0.0.1:${port}: ${err.message}\n`)
    process.exit(1)
  })
  server.listen(Number(port), '127.0.0.1', () => {
    if (++listening === ports.length) process.stdout.write('ready\n')
  })
}
process.on('SIGTERM', () => process.exit(0))
