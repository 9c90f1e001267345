import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ImagePropertiesFilter } from '../../../src/scheduler/filters/image-properties-filter.ts'
import type { FilterVerdict, HostFilter } from '../../../src/scheduler/types.ts'
import { host, spec } from './fixtures.ts'

function withProps(properties: Record<string, string>) {
  return spec({ image: { id: 'image-1', properties, minRamMb: 0, minDiskGb: 0, sizeBytes: 1 } })
}

function reasonOf(verdict: FilterVerdict): string {
  return verdict.pass ? '' : verdict.reason
}

describe('ImagePropertiesFilter', () => {
  const filter: HostFilter = new ImagePropertiesFilter()

  it('passes any host for an image that asks nothing', () => {
    const bare = host('a', { cpuArch: '', hypervisorType: '', supportedVmModes: [] })
    assert.deepEqual(filter.hostPasses(bare, withProps({})), { pass: true })
  })

  it('rejects a host of another architecture', () => {
    const verdict = filter.hostPasses(host('a'), withProps({ hw_architecture: 'aarch64' }))
    assert.deepEqual(verdict, { pass: false, reason: 'image needs architecture aarch64, host is x86_64' })
  })

  it('reads the legacy names and canonicalises aliases (amd64 is x86_64)', () => {
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ architecture: 'AMD64' })), { pass: true })
    assert.deepEqual(filter.hostPasses(host('a', { cpuArch: 'i686' }), withProps({ architecture: 'i386' })), {
      pass: true,
    })
  })

  it('prefers the current property name over the legacy one', () => {
    const props = withProps({ hw_architecture: 'x86_64', architecture: 'aarch64' })
    assert.deepEqual(filter.hostPasses(host('a'), props), { pass: true })
  })

  it('matches the hypervisor type; a kvm host also runs qemu images', () => {
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ img_hv_type: 'qemu' })), { pass: true })
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ hypervisor_type: 'KVM' })), { pass: true })
    assert.equal(
      reasonOf(filter.hostPasses(host('a'), withProps({ img_hv_type: 'xen' }))),
      'image needs hypervisor type xen, host offers kvm, qemu',
    )
    const tcg = host('a', { hypervisorType: 'qemu' })
    assert.equal(
      reasonOf(filter.hostPasses(tcg, withProps({ img_hv_type: 'kvm' }))),
      'image needs hypervisor type kvm, host offers qemu',
    )
  })

  it('matches the vm mode, with the pre-Folsom aliases', () => {
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ hw_vm_mode: 'hv' })), { pass: true })
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ vm_mode: 'HVM' })), { pass: true })
    assert.equal(
      reasonOf(filter.hostPasses(host('a'), withProps({ hw_vm_mode: 'pv' }))),
      'image needs vm mode xen, host offers hvm',
    )
  })

  it('checks img_hv_requested_version against the hypervisor version', () => {
    const passes = withProps({ hw_architecture: 'x86_64', img_hv_requested_version: '>=8.0,<9' })
    assert.deepEqual(filter.hostPasses(host('a'), passes), { pass: true })
    const fails = withProps({ hw_architecture: 'x86_64', img_hv_requested_version: '>=9.0' })
    assert.equal(
      reasonOf(filter.hostPasses(host('a'), fails)),
      'image needs hypervisor version >=9.0, host has 8.2.0',
    )
    const garbage = withProps({ hw_architecture: 'x86_64', img_hv_requested_version: 'new please' })
    assert.equal(
      reasonOf(filter.hostPasses(host('a'), garbage)),
      "img_hv_requested_version 'new please' is not a version predicate",
    )
  })

  it('ignores a version request alone, and a host that reports no version, as Nova does', () => {
    assert.deepEqual(filter.hostPasses(host('a'), withProps({ img_hv_requested_version: '>=99' })), {
      pass: true,
    })
    const unknown = host('a', { hypervisorVersion: 0 })
    const props = withProps({ hw_architecture: 'x86_64', img_hv_requested_version: '>=99' })
    assert.deepEqual(filter.hostPasses(unknown, props), { pass: true })
  })

  it('lists every mismatch', () => {
    const verdict = filter.hostPasses(host('a'), withProps({ hw_architecture: 'ppc64le', hw_vm_mode: 'xen' }))
    assert.equal(
      reasonOf(verdict),
      'image needs architecture ppc64le, host is x86_64; image needs vm mode xen, host offers hvm',
    )
  })

  it('rejects a host that advertises nothing when the image asks something', () => {
    const bare = host('a', { cpuArch: '', hypervisorType: '', supportedVmModes: [] })
    assert.equal(
      reasonOf(filter.hostPasses(bare, withProps({ hw_vm_mode: 'hvm' }))),
      'host advertises no supported instance types',
    )
  })

  it('assumes image_properties_default_architecture for an image that names none', () => {
    const armOnly = new ImagePropertiesFilter('aarch64')
    assert.equal(
      reasonOf(armOnly.hostPasses(host('a'), withProps({}))),
      'image needs architecture aarch64, host is x86_64',
    )
    assert.deepEqual(armOnly.hostPasses(host('a', { cpuArch: 'aarch64' }), withProps({})), { pass: true })
  })

  it('summarises what the image needs and what the hosts offer', () => {
    const rejected = [host('a'), host('b'), host('c', { hypervisorType: 'qemu' })]
    assert.equal(
      filter.summarize(rejected, 3, withProps({ hw_architecture: 'aarch64' })),
      'ImagePropertiesFilter rejected 3 of 3 hosts: image needs architecture aarch64; hosts offer x86_64/kvm/hvm, x86_64/qemu/hvm',
    )
  })
})
