// The metadata proxy of one router namespace (Neutron's haproxy in qrouter-*):
// started by the data plane agent as `ip netns exec <router ns> node metadata-proxy.mjs
// PORT SOCKET ROUTER_ID PIDFILE`. Guests' requests to 169.254.169.254:80 are
// redirected here by the router's nft table; each is relayed over the agent's
// unix socket with the guest's address and the router id, which is all the
// agent needs to know which instance is asking. Plain JS: it runs without tsx.
import { writeFileSync } from 'node:fs'
import http from 'node:http'

const [port, socketPath, routerId, pidFile] = process.argv.slice(2)
/** A guest request may take this long end to end. */
const RELAY_TIMEOUT_MS = 30_000

const server = http.createServer((req, res) => {
  const headers = { ...req.headers }
  headers['x-forwarded-for'] = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? ''
  headers['x-neutron-router-id'] = routerId
  const relay = http.request(
    { socketPath, path: req.url, method: req.method, headers, timeout: RELAY_TIMEOUT_MS },
    (upstream) => {
      res.writeHead(upstream.statusCode ?? 502, upstream.headers)
      upstream.pipe(res)
    },
  )
  relay.on('timeout', () => relay.destroy(new Error('timeout')))
  relay.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
    res.end('metadata service unavailable\n')
  })
  req.pipe(relay)
})
server.listen(Number(port), '0.0.0.0', () => writeFileSync(pidFile, `${process.pid}\n`))
process.on('SIGTERM', () => process.exit(0))
