import { Invalid } from '../../../common/errors.ts'

/** The accelerator libvirt uses: `kvm` when the start-up probe proved it works, else `qemu` (TCG). */
export type VirtType = 'kvm' | 'qemu'

/** Namespace of Nimbus's element in the domain's <metadata> (as Nova writes nova:instance). */
export const NIMBUS_XML_NS = 'https://nimbus.invalid/xmlns/libvirt/instance/1.0'

/** Machine type of a domain whose image names none. */
export const DEFAULT_MACHINE_TYPE = 'pc'
const DISK_BUSES = ['virtio', 'ide', 'scsi', 'sata'] as const
const VIF_MODELS = ['virtio', 'e1000', 'rtl8139', 'ne2k_pci', 'pcnet'] as const
const MACHINE_TYPE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/
const IFNAME_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/

export interface DomainDisk {
  readonly path: string
  /** Guest device name: vda, vdb ... (sda ... for non-virtio buses). */
  readonly target: string
}

export interface DomainNic {
  readonly macAddress: string
  /** Linux bridge the tap is attached to (the port's network). */
  readonly bridge: string
  /** Host-side tap name (<= 15 chars). */
  readonly tap: string
}

export interface DomainSpec {
  readonly name: string
  readonly uuid: string
  readonly title: string
  readonly virtType: VirtType
  readonly memoryMb: number
  readonly vcpus: number
  /** Root disk first, then ephemeral and swap. */
  readonly disks: readonly DomainDisk[]
  readonly nics: readonly DomainNic[]
  /** Serial console log written by virtlogd; `get console output` reads it. */
  readonly consoleLog: string
  /** Image properties Nimbus honours: hw_disk_bus, hw_vif_model, hw_machine_type. */
  readonly imageProperties: Readonly<Record<string, string>>
  /** Recorded in <metadata> so an operator can see what a domain is. */
  readonly imageId: string
  readonly flavorSummary: string
  /** ISO 9660 config drive attached as a read-only cdrom (Nova's disk.config). */
  readonly configDrive?: string | undefined
  /** Direct kernel boot (the KVM probe's guest) instead of booting the first disk. */
  readonly directBoot?: DirectBoot | undefined
}

/** A kernel and initramfs QEMU loads itself, with their command line (libvirt's <kernel>, <initrd>, <cmdline>). */
export interface DirectBoot {
  readonly kernel: string
  readonly initrd: string
  readonly cmdline: string
}

/** Escapes text for XML content and attribute values. */
export function xmlEscape(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined || value === '') return fallback
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Invalid(`image property ${name}=${value} is not supported; allowed: ${allowed.join(', ')}`)
  }
  return value as T
}

/** Disk bus from `hw_disk_bus` (default virtio), and the target prefix it uses. */
export function diskBus(props: Readonly<Record<string, string>>): { bus: string; prefix: string } {
  const bus = oneOf('hw_disk_bus', props.hw_disk_bus, DISK_BUSES, 'virtio')
  return { bus, prefix: bus === 'virtio' ? 'vd' : bus === 'ide' ? 'hd' : 'sd' }
}

/** The domain XML libvirt defines for one instance. Pure: every value is checked or escaped. */
export function buildDomainXml(spec: DomainSpec): string {
  const props = spec.imageProperties
  const machine = machineType(props)
  if (!MACHINE_TYPE_PATTERN.test(machine))
    throw new Invalid(`image property hw_machine_type=${machine} is not valid`)
  const vifModel = oneOf('hw_vif_model', props.hw_vif_model, VIF_MODELS, 'virtio')
  const { bus } = diskBus(props)
  const e = xmlEscape
  return `<domain type='${spec.virtType}'>
  <name>${e(spec.name)}</name>
  <uuid>${e(spec.uuid)}</uuid>
  <title>${e(spec.title)}</title>
  <metadata>
    <nimbus:instance xmlns:nimbus='${NIMBUS_XML_NS}'>
      <nimbus:image id='${e(spec.imageId)}'/>
      <nimbus:flavor>${e(spec.flavorSummary)}</nimbus:flavor>
    </nimbus:instance>
  </metadata>
  <memory unit='MiB'>${positive('memory', spec.memoryMb)}</memory>
  <vcpu>${positive('vcpus', spec.vcpus)}</vcpu>
  <os>
    <type arch='x86_64' machine='${machine}'>hvm</type>
${spec.directBoot ? directBootXml(spec.directBoot) : "    <boot dev='hd'/>"}
  </os>
  <features><acpi/><apic/></features>
${cpuXml(spec.virtType)}
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
${spec.disks.map((d) => diskXml(d, bus)).join('\n')}
${spec.configDrive ? cdromXml(spec.configDrive, machine) : ''}
${spec.nics.map((n) => nicXml(n, vifModel)).join('\n')}
    <serial type='pty'>
      <log file='${e(spec.consoleLog)}' append='off'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
  </devices>
</domain>
`
}

function directBootXml(boot: DirectBoot): string {
  const e = xmlEscape
  return `    <kernel>${e(boot.kernel)}</kernel>
    <initrd>${e(boot.initrd)}</initrd>
    <cmdline>${e(boot.cmdline)}</cmdline>`
}

/** The machine type a domain gets: the image's `hw_machine_type`, else i440fx (`pc`), as Nova's default on x86. */
export function machineType(props: Readonly<Record<string, string>>): string {
  return props.hw_machine_type || DEFAULT_MACHINE_TYPE
}

/**
 * KVM: the host's CPU. TCG: 'maximum' (every feature QEMU emulates), which
 * includes RDRAND, so a guest's RNG is ready at once instead of waiting for
 * entropy (seconds under TCG).
 */
export function cpuXml(virtType: VirtType): string {
  return virtType === 'kvm' ? "  <cpu mode='host-passthrough'/>" : "  <cpu mode='maximum'/>"
}

/** The config drive: IDE on i440fx (`pc`), SATA on q35, which has no IDE (Nova's cdrom bus choice). */
function cdromXml(path: string, machine: string): string {
  const sata = machine.startsWith('q35') || machine.includes('-q35')
  return `    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='${xmlEscape(path)}'/>
      <target dev='${sata ? 'sdz' : 'hdd'}' bus='${sata ? 'sata' : 'ide'}'/>
      <readonly/>
    </disk>`
}

function diskXml(disk: DomainDisk, bus: string): string {
  // writeback, not none: cache='none' needs O_DIRECT, which tmpfs and some overlay file systems lack.
  return `    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback'/>
      <source file='${xmlEscape(disk.path)}'/>
      <target dev='${xmlEscape(disk.target)}' bus='${bus}'/>
    </disk>`
}

/** One `<interface>` element: the domain's NICs at spawn and a hot-plugged one (attach-device). */
export function nicXml(nic: DomainNic, model: string): string {
  const mac = nic.macAddress.toLowerCase()
  if (!MAC_PATTERN.test(mac)) throw new Invalid(`MAC address ${nic.macAddress} is not valid`)
  if (!IFNAME_PATTERN.test(nic.bridge)) throw new Invalid(`bridge name ${nic.bridge} is not valid`)
  if (!IFNAME_PATTERN.test(nic.tap)) throw new Invalid(`tap name ${nic.tap} is not valid`)
  return `    <interface type='bridge'>
      <mac address='${mac}'/>
      <source bridge='${nic.bridge}'/>
      <target dev='${nic.tap}'/>
      <model type='${model}'/>
    </interface>`
}

function positive(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new Invalid(`${what} must be a positive integer, got ${n}`)
  return n
}
