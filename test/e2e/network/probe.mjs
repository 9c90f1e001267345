// A TCP listener and a TCP/UDP-free connect probe run inside test namespaces
// (`ip netns exec NS node probe.mjs ...`). Plain JS so it runs without tsx.
//   listen <port>                       prints "ready", answers "ok\n" to each connection
//   connect <host> <port> <timeoutMs> [sourceIp]   exit 0 if it got "ok", 1 otherwise
//   get <url> <timeoutMs>               prints "<status> <body>"
import http from 'node:http'
import net from 'node:net'

const [mode, ...args] = process.argv.slice(2)
if (mode === 'listen') {
  const server = net.createServer((s) => s.end('ok\n'))
  server.listen(Number(args[0]), '0.0.0.0', () => console.log('ready'))
} else if (mode === 'connect') {
  const [host, port, timeoutMs, localAddress] = args
  const socket = net.connect({ host, port: Number(port), ...(localAddress ? { localAddress } : {}) })
  const fail = (why) => {
    console.log(why)
    process.exit(1)
  }
  setTimeout(() => fail('timeout'), Number(timeoutMs)).unref()
  socket.on('data', (d) => {
    if (String(d).startsWith('ok')) process.exit(0)
  })
  socket.on('error', (e) => fail(e.code))
} else if (mode === 'get') {
  // get URL TIMEOUT_MS: prints the status and body, exit 0 on any answer.
  const [url, timeoutMs] = args
  const req = http.get(url, { timeout: Number(timeoutMs) }, (res) => {
    let body = ''
    res.on('data', (d) => (body += d))
    res.on('end', () => {
      console.log(`${res.statusCode} ${body}`)
      process.exit(0)
    })
  })
  req.on('timeout', () => req.destroy(new Error('timeout')))
  req.on('error', (e) => {
    console.log(e.message)
    process.exit(1)
  })
} else {
  console.error('usage: probe.mjs listen PORT | connect HOST PORT TIMEOUT_MS [SOURCE_IP]')
  process.exit(2)
}
