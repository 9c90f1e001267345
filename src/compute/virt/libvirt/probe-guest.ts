/**
 * The guest the KVM probe boots: the real guest kernel with a tiny
 * initramfs whose /init is a 64-bit static program. Two markers on the
 * serial console tell how far the guest got:
 *
 * - REAL_MODE_MARKER: the kernel's own setup code (arch/x86/boot/main.c)
 *   prints it in real mode when the command line has `debug` and an early
 *   serial console, before it leaves real mode;
 * - LONG_MODE_MARKER: /init prints it; an x86-64 ELF running as PID 1 is
 *   proof that the CPU is in long mode and the kernel runs userspace.
 *
 * Everything here is pure: the bytes are built in memory, nothing runs.
 */

/** Printed by the kernel's real-mode setup code (with `debug` and `earlyprintk=serial`). */
export const REAL_MODE_MARKER = 'early console in setup code'
/** Printed by the probe's /init, which runs only in long mode. */
export const LONG_MODE_MARKER = 'NIMBUS-KVM-PROBE: init runs in long mode'

/**
 * The probe kernel's command line: the early serial console and `debug`
 * make the setup code print REAL_MODE_MARKER; `loglevel=1` (after `debug`,
 * so it wins) keeps the kernel's own messages off the slow serial line;
 * `no_timer_check` as the guest image passes it.
 */
export const PROBE_KERNEL_CMDLINE =
  'console=ttyS0,115200n8 earlyprintk=serial,ttyS0,115200 debug loglevel=1 no_timer_check panic=-1'

const ELF_BASE_ADDRESS = 0x40_0000
const ELF_HEADER_BYTES = 64
const PROGRAM_HEADER_BYTES = 56
const PT_LOAD = 1
const PF_R_X = 5
const PAGE_BYTES = 0x1000
const EM_X86_64 = 0x3e
const ET_EXEC = 2
const SYS_WRITE = 1
const SYS_PAUSE = 34
const STDOUT_FD = 1

/**
 * x86-64 machine code of /init: write(1, message, length), then pause()
 * forever (PID 1 must not exit, or the kernel panics; the probe destroys
 * the domain once it has seen the marker). It never calls reboot(), so
 * running it by mistake on a host does nothing worse than print and wait.
 *
 *    0: b8 01 00 00 00        mov  eax, SYS_WRITE
 *    5: bf 01 00 00 00        mov  edi, 1
 *   10: 48 8d 35 10 00 00 00  lea  rsi, [rip + 16]     ; -> message at 33
 *   17: ba LL LL LL LL        mov  edx, length
 *   22: 0f 05                 syscall
 *   24: b8 22 00 00 00        mov  eax, SYS_PAUSE      ; loop:
 *   29: 0f 05                 syscall
 *   31: eb f7                 jmp  loop                ; 33 - 9 = 24
 *   33: message
 */
function initCode(message: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32LE(message.length)
  const code = Buffer.from([
    0xb8, SYS_WRITE, 0, 0, 0,
    0xbf, STDOUT_FD, 0, 0, 0,
    0x48, 0x8d, 0x35, 0x10, 0, 0, 0,
    0xba, ...length,
    0x0f, 0x05,
    0xb8, SYS_PAUSE, 0, 0, 0,
    0x0f, 0x05,
    0xeb, 0xf7,
  ]) // prettier-ignore
  return Buffer.concat([code, message])
}

/** A static x86-64 ELF executable (one PT_LOAD segment, no sections) that prints `message` and waits. */
export function probeInitElf(message: string = `\n${LONG_MODE_MARKER}\n`): Buffer {
  const body = initCode(Buffer.from(message, 'ascii'))
  const size = ELF_HEADER_BYTES + PROGRAM_HEADER_BYTES + body.length
  const elf = Buffer.alloc(size)
  // e_ident: magic, ELFCLASS64, little-endian, version 1, System V ABI.
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(elf, 0)
  elf.writeUInt16LE(ET_EXEC, 16)
  elf.writeUInt16LE(EM_X86_64, 18)
  elf.writeUInt32LE(1, 20) // e_version
  elf.writeBigUInt64LE(BigInt(ELF_BASE_ADDRESS + ELF_HEADER_BYTES + PROGRAM_HEADER_BYTES), 24) // e_entry
  elf.writeBigUInt64LE(BigInt(ELF_HEADER_BYTES), 32) // e_phoff
  elf.writeBigUInt64LE(0n, 40) // e_shoff
  elf.writeUInt32LE(0, 48) // e_flags
  elf.writeUInt16LE(ELF_HEADER_BYTES, 52)
  elf.writeUInt16LE(PROGRAM_HEADER_BYTES, 54)
  elf.writeUInt16LE(1, 56) // e_phnum
  // e_shentsize, e_shnum, e_shstrndx stay 0.
  const ph = ELF_HEADER_BYTES
  elf.writeUInt32LE(PT_LOAD, ph)
  elf.writeUInt32LE(PF_R_X, ph + 4)
  elf.writeBigUInt64LE(0n, ph + 8) // p_offset: the whole file is the segment
  elf.writeBigUInt64LE(BigInt(ELF_BASE_ADDRESS), ph + 16) // p_vaddr
  elf.writeBigUInt64LE(BigInt(ELF_BASE_ADDRESS), ph + 24) // p_paddr
  elf.writeBigUInt64LE(BigInt(size), ph + 32) // p_filesz
  elf.writeBigUInt64LE(BigInt(size), ph + 40) // p_memsz
  elf.writeBigUInt64LE(BigInt(PAGE_BYTES), ph + 48) // p_align
  body.copy(elf, ELF_HEADER_BYTES + PROGRAM_HEADER_BYTES)
  return elf
}

interface CpioEntry {
  readonly name: string
  readonly mode: number
  readonly data?: Buffer
  readonly rdevMajor?: number
  readonly rdevMinor?: number
}

const S_IFDIR = 0o040000
const S_IFCHR = 0o020000
const S_IFREG = 0o100000
const CPIO_NEWC_MAGIC = '070701'
const CPIO_ALIGN_BYTES = 4
const CPIO_TRAILER = 'TRAILER!!!'
/** /dev/console is character device 5:1: the kernel opens it as init's stdin/stdout/stderr. */
const CONSOLE_MAJOR = 5
const CONSOLE_MINOR = 1

function pad(length: number): Buffer {
  return Buffer.alloc((CPIO_ALIGN_BYTES - (length % CPIO_ALIGN_BYTES)) % CPIO_ALIGN_BYTES)
}

function cpioRecord(entry: CpioEntry, ino: number): Buffer {
  const data = entry.data ?? Buffer.alloc(0)
  const name = Buffer.from(`${entry.name}\0`, 'ascii')
  const hex = (n: number) => n.toString(16).padStart(8, '0')
  const header = Buffer.from(
    CPIO_NEWC_MAGIC +
      [
        ino,
        entry.mode,
        0, // uid: root
        0, // gid: root
        entry.mode & S_IFDIR ? 2 : 1, // nlink
        0, // mtime
        data.length,
        0, // devmajor
        0, // devminor
        entry.rdevMajor ?? 0,
        entry.rdevMinor ?? 0,
        name.length,
        0, // check
      ]
        .map(hex)
        .join(''),
    'ascii',
  )
  const head = Buffer.concat([header, name])
  return Buffer.concat([head, pad(head.length), data, pad(data.length)])
}

/** An uncompressed newc cpio archive (the initramfs format the kernel unpacks), owned by root. */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const records = entries.map((e, i) => cpioRecord(e, i + 1))
  records.push(cpioRecord({ name: CPIO_TRAILER, mode: 0 }, 0))
  return Buffer.concat(records)
}

/** The probe's initramfs: /dev/console and /init (probeInitElf). */
export function probeInitramfs(): Buffer {
  return cpioNewc([
    { name: 'dev', mode: S_IFDIR | 0o755 },
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: CONSOLE_MAJOR, rdevMinor: CONSOLE_MINOR },
    { name: 'init', mode: S_IFREG | 0o755, data: probeInitElf() },
  ])
}
