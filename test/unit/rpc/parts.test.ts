import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Invalid } from '../../../src/common/errors.ts'
import { parseAmqpUrl } from '../../../src/rpc/amqp-url.ts'
import { Fifo } from '../../../src/rpc/fifo.ts'
import { createTransport } from '../../../src/rpc/index.ts'

describe('amqp transport URL', () => {
  it('reads login, host, port and vhost, with oslo defaults', () => {
    const s = parseAmqpUrl('amqp://nova:s%40cret@rabbit.example:5673/openstack?exchange=nova')
    assert.equal(s.connect.hostname, 'rabbit.example')
    assert.equal(s.connect.port, 5673)
    assert.equal(s.connect.username, 'nova')
    assert.equal(s.connect.password, 's@cret')
    assert.equal(s.connect.vhost, 'openstack')
    assert.equal(s.exchange, 'nova')
    assert.equal(s.expiresMs, undefined)
    assert.equal(s.redactedUrl, 'amqp://nova:***@rabbit.example:5673/openstack?exchange=nova')
  })

  it("treats an empty path as the default vhost '/' and %2F as '/'", () => {
    assert.equal(parseAmqpUrl('amqp://guest:guest@127.0.0.1:5672/').connect.vhost, '/')
    assert.equal(parseAmqpUrl('amqp://guest:guest@127.0.0.1').connect.vhost, '/')
    assert.equal(parseAmqpUrl('amqp://h/%2F').connect.vhost, '/')
    assert.equal(parseAmqpUrl('amqp://h/').exchange, 'nimbus')
    assert.equal(parseAmqpUrl('amqp://h/').connect.port, 5672)
    assert.equal(parseAmqpUrl('amqps://h/').connect.port, 5671)
  })

  it('takes expires_ms and refuses unknown or bad parameters', () => {
    assert.equal(parseAmqpUrl('amqp://h/?expires_ms=1000').expiresMs, 1000)
    assert.throws(() => parseAmqpUrl('amqp://h/?expires_ms=-1'), Invalid)
    assert.throws(() => parseAmqpUrl('amqp://h/?exchange=a*b'), Invalid)
    assert.throws(
      () => parseAmqpUrl('amqp://h/?heartbeat=5'),
      /unknown AMQP transport URL parameter 'heartbeat'/,
    )
  })

  it('refuses an unknown transport scheme', () => {
    assert.throws(() => createTransport('kafka://h/'), /unsupported transport URL scheme 'kafka'/)
  })
})

describe('Fifo', () => {
  it('keeps order across compaction', () => {
    const q = new Fifo<number>()
    const total = 5_000
    for (let i = 0; i < total; i++) q.push(i)
    for (let i = 0; i < total - 10; i++) assert.equal(q.shift(), i)
    assert.equal(q.length, 10)
    q.push(total)
    assert.deepEqual(q.drain(), [4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999, 5000])
    assert.equal(q.shift(), undefined)
    assert.equal(q.length, 0)
  })
})
