import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DataplaneAgent } from '../../../src/network/dataplane/agent.ts'
import { AgentNotifier } from '../../../src/network/notifier.ts'
import { createTransport } from '../../../src/rpc/index.ts'

const WAIT_MS = 2_000

describe('agent notifier', () => {
  it('fans a change out to the agent of every host', async () => {
    const transport = createTransport('inproc://')
    const heard: string[] = []
    const agentOf = (host: string) => ({ changed: () => heard.push(host) }) as unknown as DataplaneAgent
    const hosts = [
      new AgentNotifier(transport, 'h1', agentOf('h1')),
      new AgentNotifier(transport, 'h2', agentOf('h2')),
    ]
    const api = new AgentNotifier(transport, 'api', undefined)
    try {
      for (const n of [...hosts, api]) await n.start()
      api.notify('port')
      const deadline = Date.now() + WAIT_MS
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(heard.sort(), ['h1', 'h2'])
    } finally {
      for (const n of [...hosts, api]) await n.stop()
      await transport.close()
    }
  })
})
