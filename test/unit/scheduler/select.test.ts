import { afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fromWire, Invalid, NoValidHost } from '../../../src/common/errors.ts'
import { LIMIT_DEFAULTS, setLimits } from '../../../src/common/limits.ts'
import { decisionRecordOf, selectDestinations, type SelectOptions } from '../../../src/scheduler/select.ts'
import type { DecisionRecord, HostState, RequestSpec } from '../../../src/scheduler/types.ts'
import { flavor, group, host, spec, uuids } from './fixtures.ts'

/** Runs selectDestinations expecting NoValidHost; returns its message and record. */
function noValidHost(
  s: RequestSpec,
  hosts: readonly HostState[],
  opts?: SelectOptions,
): { message: string; record: DecisionRecord } {
  try {
    selectDestinations(s, hosts, opts)
  } catch (err) {
    assert.ok(err instanceof NoValidHost, `expected NoValidHost, got ${String(err)}`)
    const record = decisionRecordOf(err)
    assert.ok(record)
    return { message: err.message, record }
  }
  assert.fail('expected NoValidHost')
}

const needs4096 = (over: Partial<RequestSpec> = {}) => spec({ flavor: flavor({ memoryMb: 4096 }), ...over })

/** RAM each host took, from the chosen list. */
function placements(chosen: readonly HostState[]): Record<string, number> {
  const count: Record<string, number> = {}
  for (const h of chosen) count[h.host] = (count[h.host] ?? 0) + 1
  return count
}

describe('selectDestinations', () => {
  afterEach(() => setLimits({}))

  it('picks the host with the most free resources by default (spread)', () => {
    const hosts = [
      host('busy', { usedMemoryMb: 6144, usedVcpus: 6 }),
      host('idle'),
      host('half', { usedMemoryMb: 4096 }),
    ]
    const { hosts: chosen, record } = selectDestinations(spec(), hosts, { requestId: 'req-1' })
    assert.deepEqual(
      chosen.map((h) => h.host),
      ['idle'],
    )
    assert.equal(record.requestId, 'req-1')
    assert.deepEqual(record.chosen, ['idle'])
    assert.equal(record.failure, undefined)
  })

  it('stacks with negative multipliers', () => {
    const hosts = [host('idle'), host('busy', { usedMemoryMb: 6144, usedVcpus: 6, usedDiskGb: 60 })]
    const opts = { ramWeightMultiplier: -1, cpuWeightMultiplier: -1, diskWeightMultiplier: -1 }
    assert.equal(selectDestinations(spec(), hosts, opts).hosts[0]!.host, 'busy')
  })

  it('returns the caller’s own HostState objects and leaves the inputs untouched', () => {
    const hosts = [host('a'), host('b')].map((h) => Object.freeze(h))
    const s = Object.freeze(
      spec({ instanceUuids: uuids(2), instanceGroup: group({ policy: 'anti-affinity' }) }),
    )
    const before = JSON.stringify({ hosts, s })
    const { hosts: chosen } = selectDestinations(s, hosts)
    assert.equal(chosen[0], hosts[0])
    assert.equal(chosen[1], hosts[1])
    assert.equal(JSON.stringify({ hosts, s }), before)
  })

  describe('the decision record', () => {
    it('lists every filter run with hosts in and out and the reasons, and the weighed order', () => {
      const hosts = [
        host('down', { serviceUp: false }),
        host('full', { usedMemoryMb: 8192 }),
        host('a'),
        host('b'),
      ]
      const { record } = selectDestinations(needs4096(), hosts, {
        requestId: 'req-2',
        enabledFilters: ['ComputeFilter', 'RamFilter'],
        enabledWeighers: ['RAMWeigher'],
      })
      assert.deepEqual(record.instanceUuids, ['inst-1'])
      assert.deepEqual(record.hostsConsidered, ['down', 'full', 'a', 'b'])
      assert.equal(record.hostsConsideredCount, 4)
      assert.deepEqual(record.filters, [
        {
          name: 'ComputeFilter',
          instanceIndex: 0,
          hostsIn: ['down', 'full', 'a', 'b'],
          hostsOut: ['down'],
          hostsInCount: 4,
          hostsOutCount: 1,
          reasons: { down: 'compute service down: no heartbeat within service_down_time, or forced down' },
        },
        {
          name: 'RamFilter',
          instanceIndex: 0,
          hostsIn: ['full', 'a', 'b'],
          hostsOut: ['full'],
          hostsInCount: 3,
          hostsOutCount: 1,
          reasons: { full: 'needs 4096 MB, 0 MB free (8192 MB x 1.0 - 8192 MB used - 0 MB reserved)' },
        },
      ])
      assert.deepEqual(record.weighed, [
        // RAMWeigher normalises against 0 (Nova's minval): equal free RAM weighs 1 each.
        { host: 'a', instanceIndex: 0, total: 1, weights: { RAMWeigher: 1 } },
        { host: 'b', instanceIndex: 0, total: 1, weights: { RAMWeigher: 1 } },
      ])
      assert.deepEqual(record.chosen, ['a'])
      // Plain data: survives the RPC hop unchanged.
      assert.deepEqual(JSON.parse(JSON.stringify(record)), record)
    })

    it('keeps at most schedulerRecordMaxHosts names per list, with exact counts', () => {
      setLimits({ schedulerRecordMaxHosts: 2 })
      const hosts = ['a', 'b', 'c', 'd', 'e'].map((n) => host(n, { usedMemoryMb: 8192 }))
      const { record } = noValidHost(needs4096(), hosts, { enabledFilters: ['RamFilter'] })
      assert.deepEqual(record.hostsConsidered, ['a', 'b'])
      assert.equal(record.hostsConsideredCount, 5)
      const ram = record.filters[0]!
      assert.deepEqual(
        [ram.hostsIn, ram.hostsOut, Object.keys(ram.reasons)],
        [
          ['a', 'b'],
          ['a', 'b'],
          ['a', 'b'],
        ],
      )
      assert.deepEqual([ram.hostsInCount, ram.hostsOutCount], [5, 5])
    })
  })

  describe('NoValidHost', () => {
    it('says which filter rejected how many hosts, with the numbers', () => {
      const hosts = [
        host('a', { usedMemoryMb: 7168 }),
        host('b', { usedMemoryMb: 6144 }),
        host('c', { usedMemoryMb: 8192 }),
      ]
      const { message, record } = noValidHost(needs4096(), hosts)
      assert.equal(
        message,
        'No valid host was found. RamFilter rejected 3 of 3 hosts: needs 4096 MB, most free 2048 MB',
      )
      assert.equal(record.failure, 'RamFilter rejected 3 of 3 hosts: needs 4096 MB, most free 2048 MB')
      assert.deepEqual(record.chosen, [])
      assert.deepEqual(record.weighed, [])
    })

    it('lists each rejecting filter in order and stops at the one that left no host', () => {
      const hosts = [
        host('down', { serviceUp: false }),
        host('off', { serviceDisabled: true, serviceDisabledReason: 'broken disk' }),
        host('a', { usedMemoryMb: 6144 }),
        host('b', { usedMemoryMb: 7168 }),
      ]
      const { message, record } = noValidHost(needs4096(), hosts)
      assert.equal(
        message,
        'No valid host was found. ComputeFilter rejected 2 of 4 hosts: 1 disabled, 1 down; ' +
          'RamFilter rejected 2 of 2 hosts: needs 4096 MB, most free 2048 MB',
      )
      assert.deepEqual(
        record.filters.map((f) => f.name),
        // AvailabilityZoneFilter ran and rejected none; nothing ran after RamFilter.
        ['ComputeFilter', 'AvailabilityZoneFilter', 'RamFilter'],
      )
      assert.deepEqual(record.filters[1]!.hostsOut, [])
      assert.equal(record.filters[0]!.reasons['off'], 'compute service disabled: broken disk')
    })

    it('survives an RPC hop with its record', () => {
      try {
        selectDestinations(needs4096(), [host('a', { totalMemoryMb: 2048 })])
        assert.fail('expected NoValidHost')
      } catch (err) {
        const copy = fromWire(JSON.parse(JSON.stringify((err as NoValidHost).toWire())))
        assert.ok(copy instanceof NoValidHost)
        assert.equal(
          copy.message,
          'No valid host was found. RamFilter rejected 1 of 1 host: needs 4096 MB, most free 2048 MB',
        )
        assert.deepEqual(
          decisionRecordOf(copy)?.failure,
          'RamFilter rejected 1 of 1 host: needs 4096 MB, most free 2048 MB',
        )
      }
    })

    it('says so when there are no hosts at all', () => {
      assert.equal(noValidHost(spec(), []).message, 'No valid host was found. There are no compute hosts')
    })
  })

  describe('multi-instance requests', () => {
    // Two 8 GB hosts, 4 GB instances: four slots.
    const twoHosts = () => [host('a'), host('b')]

    it('consumes RAM between picks so no host is over-committed', () => {
      const { hosts: chosen, record } = selectDestinations(needs4096({ instanceUuids: uuids(4) }), twoHosts())
      assert.deepEqual(placements(chosen), { a: 2, b: 2 })
      assert.equal(record.chosen.length, 4)
      // Spread: the second instance goes to the other host.
      assert.deepEqual(record.chosen.slice(0, 2), ['a', 'b'])
      assert.deepEqual([...new Set(record.weighed.map((w) => w.instanceIndex))], [0, 1, 2, 3])
    })

    it('fails with NoValidHost when N instances need more than the M slots', () => {
      const { message, record } = noValidHost(needs4096({ instanceUuids: uuids(5) }), twoHosts())
      assert.equal(
        message,
        'No valid host was found. RamFilter rejected 2 of 2 hosts: needs 4096 MB, most free 0 MB; 4 of 5 instances fit',
      )
      assert.equal(record.chosen.length, 4)
    })

    it('consumes vCPUs and disk too', () => {
      const cores = noValidHost(spec({ instanceUuids: uuids(3) }), [host('a', { totalVcpus: 2 })])
      assert.equal(
        cores.message,
        'No valid host was found. CoreFilter rejected 1 of 1 host: needs 1 vCPU, most free 0 vCPUs; 2 of 3 instances fit',
      )
      const disk = noValidHost(spec({ instanceUuids: uuids(6), flavor: flavor({ memoryMb: 512 }) }), [
        host('a'),
      ])
      assert.equal(
        disk.message,
        'No valid host was found. DiskFilter rejected 1 of 1 host: needs 20 GB disk, most free 0 GB; 5 of 6 instances fit',
      )
    })

    it('runs once-per-request filters for the first pick only', () => {
      const { record } = selectDestinations(spec({ instanceUuids: uuids(2) }), twoHosts())
      const second = record.filters.filter((f) => f.instanceIndex === 1).map((f) => f.name)
      assert.deepEqual(second, [
        'RamFilter',
        'CoreFilter',
        'DiskFilter',
        'ServerGroupAntiAffinityFilter',
        'ServerGroupAffinityFilter',
      ])
    })
  })

  describe('server groups', () => {
    it('affinity: later picks follow the first one', () => {
      const s = spec({ instanceUuids: uuids(3), instanceGroup: group({ policy: 'affinity' }) })
      const { hosts: chosen } = selectDestinations(s, [host('a'), host('b'), host('c')])
      assert.deepEqual(
        chosen.map((h) => h.host),
        ['a', 'a', 'a'],
      )
    })

    it("affinity: goes to the group's existing host, and fails when it is full", () => {
      const existing = spec({ instanceGroup: group({ hosts: ['b'], members: ['old'] }) })
      const hosts = [host('a'), host('b', { instanceUuids: ['old'] })]
      assert.equal(selectDestinations(existing, hosts).hosts[0]!.host, 'b')
      const { message } = noValidHost(needs4096({ instanceUuids: uuids(3), instanceGroup: group() }), [
        host('a'),
        host('b'),
      ])
      assert.equal(
        message,
        'No valid host was found. RamFilter rejected 1 of 2 hosts: needs 4096 MB, most free 0 MB; ' +
          'ServerGroupAffinityFilter rejected 1 of 2 hosts: affinity group members already run on 1 other host; ' +
          '2 of 3 instances fit',
      )
    })

    it('anti-affinity: one member per host, NoValidHost beyond the host count', () => {
      const anti = group({ policy: 'anti-affinity' })
      const hosts = [host('a'), host('b'), host('c')]
      const { hosts: chosen } = selectDestinations(
        spec({ instanceUuids: uuids(3), instanceGroup: anti }),
        hosts,
      )
      assert.deepEqual(placements(chosen), { a: 1, b: 1, c: 1 })
      const { message } = noValidHost(spec({ instanceUuids: uuids(4), instanceGroup: anti }), hosts)
      assert.equal(
        message,
        'No valid host was found. ServerGroupAntiAffinityFilter rejected 3 of 3 hosts: each already runs 1 or more ' +
          'members of the anti-affinity group (max_server_per_host 1); 3 of 4 instances fit',
      )
    })

    it('anti-affinity: max_server_per_host allows that many per host', () => {
      const anti = group({ policy: 'anti-affinity', maxServerPerHost: 2 })
      const { hosts: chosen } = selectDestinations(spec({ instanceUuids: uuids(4), instanceGroup: anti }), [
        host('a'),
        host('b'),
      ])
      assert.deepEqual(placements(chosen), { a: 2, b: 2 })
    })

    it('anti-affinity: counts members already running', () => {
      const anti = group({ policy: 'anti-affinity', members: ['old'], hosts: ['a'] })
      const hosts = [host('a', { instanceUuids: ['old'] }), host('b', { usedMemoryMb: 6000 })]
      assert.equal(selectDestinations(spec({ instanceGroup: anti }), hosts).hosts[0]!.host, 'b')
    })

    it('soft-affinity stacks the group and soft-anti-affinity spreads it, resources aside', () => {
      const only = {
        enabledWeighers: ['ServerGroupSoftAffinityWeigher', 'ServerGroupSoftAntiAffinityWeigher'],
      }
      const hosts = [host('a'), host('b'), host('c')]
      const soft = selectDestinations(
        spec({ instanceUuids: uuids(3), instanceGroup: group({ policy: 'soft-affinity' }) }),
        hosts,
        only,
      )
      assert.deepEqual(placements(soft.hosts), { a: 3 })
      const softAnti = selectDestinations(
        spec({ instanceUuids: uuids(3), instanceGroup: group({ policy: 'soft-anti-affinity' }) }),
        hosts,
        { ...only, ramWeightMultiplier: -1 },
      )
      assert.deepEqual(placements(softAnti.hosts), { a: 1, b: 1, c: 1 })
    })
  })

  describe('retries and forced hosts', () => {
    it('leaves out hosts in ignoreHosts and records them under RetryFilter', () => {
      const s = spec({ ignoreHosts: ['A'] })
      const { hosts: chosen, record } = selectDestinations(s, [host('a'), host('b', { usedMemoryMb: 4096 })])
      assert.equal(chosen[0]!.host, 'b')
      assert.deepEqual(record.filters[0], {
        name: 'RetryFilter',
        instanceIndex: 0,
        hostsIn: ['a', 'b'],
        hostsOut: ['a'],
        hostsInCount: 2,
        hostsOutCount: 1,
        reasons: { a: 'an earlier attempt of this build failed here' },
      })
    })

    it('fails when every host was already tried', () => {
      const { message } = noValidHost(spec({ ignoreHosts: ['a', 'b'] }), [host('a'), host('b')])
      assert.equal(
        message,
        'No valid host was found. RetryFilter rejected 2 of 2 hosts: an earlier attempt of this build failed on each',
      )
    })

    it('names the reason of an excluded host (the own host of a move), not an earlier attempt', () => {
      const reason =
        "the server's own host; a resize may stay on its host only with [compute] allow_resize_to_same_host = true"
      const { message, record } = noValidHost(spec({ excludedHosts: [{ host: 'A', reason }] }), [host('a')])
      assert.equal(message, `No valid host was found. ExcludedHost rejected 1 of 1 host: ${reason}`)
      assert.deepEqual(record.filters[0]!.reasons, { a: reason })
      assert.ok(!record.filters.some((f) => f.name === 'RetryFilter'))
    })

    it('records an excluded host and a failed attempt each under its own name', () => {
      const s = spec({
        ignoreHosts: ['b'],
        excludedHosts: [{ host: 'a', reason: 'the host being evacuated' }],
      })
      const { message } = noValidHost(s, [host('a'), host('b'), host('c', { usedMemoryMb: 8192 })])
      assert.match(
        message,
        /^No valid host was found\. ExcludedHost rejected 1 of 3 hosts: the host being evacuated/,
      )
      assert.match(
        message,
        /RetryFilter rejected 1 of 2 hosts: an earlier attempt of this build failed on each/,
      )
    })

    it('does not record RetryFilter when nothing is ignored', () => {
      const { record } = selectDestinations(spec(), [host('a')])
      assert.ok(!record.filters.some((f) => f.name === 'RetryFilter'))
    })

    it('places on a forced host without running the filters, as Nova does', () => {
      const disabled = host('b', { serviceDisabled: true, usedMemoryMb: 8192 })
      const { hosts: chosen, record } = selectDestinations(
        spec({ instanceUuids: uuids(2), forceHost: 'B' }),
        [host('a'), disabled],
      )
      assert.deepEqual(
        chosen.map((h) => h.host),
        ['b', 'b'],
      )
      assert.equal(record.forcedHost, 'B')
      assert.deepEqual(
        record.filters.map((f) => f.name),
        ['ForcedHost'],
      )
    })

    it('fails when the forced host is not a candidate', () => {
      const { message } = noValidHost(spec({ forceHost: 'nope' }), [host('a'), host('b')])
      assert.equal(
        message,
        "No valid host was found. ForcedHost rejected 2 of 2 hosts: forced host 'nope' is not among the candidate hosts",
      )
    })
  })

  describe('options', () => {
    it('picks at random among the best host_subset_size hosts', () => {
      const hosts = [
        host('best'),
        host('second', { usedMemoryMb: 1024 }),
        host('third', { usedMemoryMb: 2048 }),
      ]
      const last = () => 0.999
      assert.equal(
        selectDestinations(spec(), hosts, { hostSubsetSize: 2, random: last }).hosts[0]!.host,
        'second',
      )
      assert.equal(
        selectDestinations(spec(), hosts, { hostSubsetSize: 1, random: last }).hosts[0]!.host,
        'best',
      )
    })

    it('shuffles hosts tied for best when asked', () => {
      const hosts = [host('a'), host('b'), host('c', { usedMemoryMb: 4096 })]
      // Fisher-Yates with random() = 0 swaps the two tied hosts.
      const shuffled = selectDestinations(spec(), hosts, {
        shuffleBestSameWeighedHosts: true,
        random: () => 0,
      })
      assert.equal(shuffled.hosts[0]!.host, 'b')
      assert.equal(selectDestinations(spec(), hosts, { random: () => 0 }).hosts[0]!.host, 'a')
    })

    it('uses the initial allocation ratios for hosts that report none', () => {
      // 2 cores x 4.0 (initial_cpu_allocation_ratio) - 7 used = 1 free
      const unreported = host('a', { totalVcpus: 2, usedVcpus: 7, cpuAllocationRatio: 0 })
      assert.equal(selectDestinations(spec(), [unreported]).hosts[0]!.host, 'a')
      const { message } = noValidHost(spec(), [unreported], { initialCpuAllocationRatio: 1.0 })
      assert.match(message, /CoreFilter rejected 1 of 1 host: needs 1 vCPU, most free 0 vCPUs/)
    })

    it('keeps a default when an option is present but undefined', () => {
      const { record } = selectDestinations(spec(), [host('a'), host('b')], { enabledWeighers: undefined })
      assert.ok('RAMWeigher' in record.weighed[0]!.weights)
    })

    it('takes filter and weigher instances directly', () => {
      const { record } = selectDestinations(spec(), [host('a'), host('b')], {
        filters: [
          {
            name: 'OnlyB',
            hostPasses: (h) => (h.host === 'b' ? { pass: true } : { pass: false, reason: 'not b' }),
            summarize: () => '',
          },
        ],
        weighers: [],
      })
      assert.deepEqual(record.chosen, ['b'])
      assert.deepEqual(record.filters[0]!.reasons, { a: 'not b' })
    })

    it('refuses requests it cannot serve as Invalid', () => {
      assert.throws(() => selectDestinations(spec({ instanceUuids: [] }), [host('a')]), Invalid)
      setLimits({ schedulerMaxInstancesPerRequest: 2 })
      assert.throws(
        () => selectDestinations(spec({ instanceUuids: uuids(3) }), [host('a')]),
        /exceeds scheduler_max_instances_per_request \(2\)/,
      )
      assert.throws(() => selectDestinations(spec(), [host('a')], { hostSubsetSize: 0 }), /host_subset_size/)
      assert.throws(() => selectDestinations(spec(), [host('a')], { enabledFilters: ['Nope'] }), Invalid)
    })

    it('has the documented limits', () => {
      assert.equal(LIMIT_DEFAULTS.schedulerMaxInstancesPerRequest, 1_000)
      assert.equal(LIMIT_DEFAULTS.schedulerRecordMaxHosts, 100)
    })
  })
})
