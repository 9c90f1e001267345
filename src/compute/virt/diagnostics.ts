/**
 * A guest's diagnostics as a virt driver reports them: Nova's standard
 * diagnostics (microversion 2.48, `nova/objects/diagnostics.py`) minus what
 * the compute manager adds from the instance record (uptime, config drive).
 * Plain data: it crosses RPC as JSON.
 */
export interface GuestDiagnostics {
  /** `libvirt`, `fake`. */
  readonly driver: string
  /** `qemu`, `kvm`, `fake`. */
  readonly hypervisor: string
  readonly hypervisorOs: string
  readonly cpus: readonly { readonly id: number; readonly timeNs: number | null }[]
  readonly memory: { readonly maximumMb: number; readonly usedMb: number | null }
  readonly disks: readonly {
    /** Target device, e.g. `vda` (names the legacy keys before 2.48). */
    readonly name: string
    readonly readBytes: number
    readonly readRequests: number
    readonly writeBytes: number
    readonly writeRequests: number
    readonly errorsCount: number
  }[]
  readonly nics: readonly {
    /** Host-side device, e.g. `tap1234` (names the legacy keys before 2.48). */
    readonly name: string
    readonly macAddress: string
    readonly rxOctets: number
    readonly rxErrors: number
    readonly rxDrop: number
    readonly rxPackets: number
    readonly txOctets: number
    readonly txErrors: number
    readonly txDrop: number
    readonly txPackets: number
  }[]
}
