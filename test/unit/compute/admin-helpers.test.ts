import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { legacyView, standardView } from '../../../src/compute/api/routes/diagnostics.ts'
import { parseUsageTime } from '../../../src/compute/api/routes/usage.ts'
import {
  diagnosticsFromStats,
  parseDomiflist,
  parseDomstats,
} from '../../../src/compute/virt/libvirt/diagnostics.ts'

const DOMSTATS = `Domain: 'instance-0000000a'
  state.state=1
  state.reason=1
  cpu.time=9876543210
  balloon.current=262144
  balloon.maximum=262144
  balloon.rss=120000
  vcpu.current=2
  vcpu.maximum=2
  vcpu.0.state=1
  vcpu.0.time=4000000000
  vcpu.1.state=1
  vcpu.1.time=3000000000
  net.count=1
  net.0.name=tap5b1c
  net.0.rx.bytes=1500
  net.0.rx.pkts=10
  net.0.rx.errs=1
  net.0.rx.drop=2
  net.0.tx.bytes=900
  net.0.tx.pkts=8
  net.0.tx.errs=0
  net.0.tx.drop=0
  block.count=2
  block.0.name=vda
  block.0.rd.reqs=112
  block.0.rd.bytes=262144
  block.0.wr.reqs=488
  block.0.wr.bytes=5778432
  block.1.name=vdb
  block.1.rd.reqs=1
  block.1.rd.bytes=512
  block.1.wr.reqs=0
  block.1.wr.bytes=0
`
const DOMIFLIST = ' tap5b1c   bridge   brq1   virtio   fa:16:3e:00:00:01\n'

describe('libvirt diagnostics from virsh domstats and domiflist', () => {
  it('maps vCPUs, memory, disks and NICs', () => {
    const d = diagnosticsFromStats(parseDomstats(DOMSTATS), parseDomiflist(DOMIFLIST), 'qemu')
    assert.equal(d.driver, 'libvirt')
    assert.equal(d.hypervisor, 'qemu')
    assert.deepEqual(d.cpus, [
      { id: 0, timeNs: 4_000_000_000 },
      { id: 1, timeNs: 3_000_000_000 },
    ])
    assert.deepEqual(d.memory, { maximumMb: 256, usedMb: 117 })
    assert.deepEqual(
      d.disks.map((k) => [k.name, k.readBytes, k.writeRequests]),
      [
        ['vda', 262_144, 488],
        ['vdb', 512, 0],
      ],
    )
    assert.equal(d.nics[0]!.macAddress, 'fa:16:3e:00:00:01')
    assert.equal(d.nics[0]!.rxDrop, 2)
    const std = standardView({ ...d, state: 'running', uptimeS: 5, configDrive: true })
    assert.equal(std.num_cpus, 2)
    assert.equal(std.num_disks, 2)
    assert.deepEqual(std.memory_details, { maximum: 256, used: 117 })
    const legacy = legacyView({ ...d, state: 'running', uptimeS: 5, configDrive: true })
    assert.equal(legacy.cpu1_time, 3_000_000_000)
    assert.equal(legacy.memory, 256 * 1024)
    assert.equal(legacy.vda_read_req, 112)
    assert.equal(legacy.tap5b1c_rx_errors, 1)
  })
})

describe('usage period parsing', () => {
  it("accepts Nova's three formats as UTC and refuses others", () => {
    assert.equal(parseUsageTime('2020-01-02T03:04:05', 0), Date.UTC(2020, 0, 2, 3, 4, 5))
    assert.equal(parseUsageTime('2020-01-02T03:04:05.25', 0), Date.UTC(2020, 0, 2, 3, 4, 5, 250))
    assert.equal(parseUsageTime('2020-01-02 03:04:05.000001', 0), Date.UTC(2020, 0, 2, 3, 4, 5))
    assert.equal(parseUsageTime(undefined, 42), 42)
    for (const bad of ['2020-01-02', '2020-13-01T00:00:00', '2020-01-02 03:04:05', '2020-01-02T03:04:05Z']) {
      assert.throws(
        () => parseUsageTime(bad, 0),
        /Invalid datetime string: Datetime is in invalid format/,
        bad,
      )
    }
  })
})
