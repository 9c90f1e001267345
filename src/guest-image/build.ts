import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { DebCache, extractDeb } from './debs.ts'
import { run } from './exec.ts'
import {
  GUEST_CDROM_MODULES,
  GUEST_DEFAULT_USER,
  GUEST_LOGIN_SHELL,
  GUEST_MODULES,
  initramfsInit,
  ROOT_FS_LABEL,
  rootFiles,
} from './guest-files.ts'

const log = logger('guest-image')

/** dropbear-bin's shared libraries (its Depends, and libtomcrypt1's libgmp10), unpacked into the root. */
const DROPBEAR_LIBRARY_PACKAGES = [
  'libc6',
  'libcrypt1',
  'libtomcrypt1',
  'libtommath1',
  'libgmp10',
  'zlib1g',
] as const

/**
 * Debian's own tools for what a cloud image's user (and Tempest's scenario
 * tests) run over SSH where busybox falls short: `curl`, `sudo` (with PAM),
 * util-linux's `blkid` (`-L LABEL`) and `lsblk` (Tempest counts disks with it), iputils' `ping` (unprivileged ICMP
 * sockets). Only the files named are taken, so the rest of each package
 * (other programs, documentation) stays out of the image.
 */
const GUEST_TOOLS: readonly { readonly pkg: string; readonly files: readonly string[] }[] = [
  { pkg: 'curl', files: ['usr/bin/curl'] },
  {
    pkg: 'sudo',
    files: [
      'usr/bin/sudo',
      'usr/libexec/sudo/sudoers.so',
      'usr/libexec/sudo/libsudo_util.so.0',
      'usr/libexec/sudo/libsudo_util.so.0.0.0',
    ],
  },
  {
    pkg: 'libpam-modules',
    files: ['pam_unix.so', 'pam_permit.so', 'pam_deny.so'].map((m) => `lib/x86_64-linux-gnu/security/${m}`),
  },
  { pkg: 'util-linux', files: ['sbin/blkid', 'bin/lsblk'] },
  { pkg: 'iputils-ping', files: ['bin/ping'] },
]

/**
 * The shared libraries of GUEST_TOOLS, whole (apt-get download resolves no
 * dependencies, so this is the closure of their DT_NEEDED entries, checked
 * with readelf). curl's libcurl4 brings most of them (TLS, Kerberos, LDAP,
 * SSH, HTTP/2, IDN, PSL, brotli, zstd).
 */
const GUEST_TOOL_LIBRARY_PACKAGES = [
  'libcurl4',
  'libbrotli1',
  'libcom-err2',
  'libffi8',
  'libgnutls30',
  'libgssapi-krb5-2',
  'libhogweed6',
  'libidn2-0',
  'libk5crypto3',
  'libkeyutils1',
  'libkrb5-3',
  'libkrb5support0',
  'libldap-2.5-0',
  'libnettle8',
  'libnghttp2-14',
  'libp11-kit0',
  'libpsl5',
  'librtmp1',
  'libsasl2-2',
  'libssh2-1',
  'libssl3',
  'libtasn1-6',
  'libunistring2',
  'libzstd1',
  // sudo and PAM
  'libpam0g',
  'libaudit1',
  'libcap-ng0',
  'libselinux1',
  'libpcre2-8-0',
  // blkid, lsblk, ping
  'libblkid1',
  'libmount1',
  'libsmartcols1',
  'libudev1',
  'libcap2',
] as const
const LIBRARY_PACKAGES = [...DROPBEAR_LIBRARY_PACKAGES, ...GUEST_TOOL_LIBRARY_PACKAGES] as const
/**
 * Debian's dynamic `busybox`, installed as the login shell only (GUEST_LOGIN_SHELL):
 * busybox-static's shell runs its own applets before anything on PATH, so in
 * it `ping` would be busybox's, not iputils'. The boot scripts keep
 * busybox-static: every exec of the dynamic one pays the dynamic loader, which
 * under TCG added ~1.5 s to a boot.
 */
const LOGIN_SHELL_PACKAGE = 'busybox'
const USERLAND_PACKAGES = [
  'busybox-static',
  LOGIN_SHELL_PACKAGE,
  'dropbear-bin',
  ...LIBRARY_PACKAGES,
  ...GUEST_TOOLS.map((t) => t.pkg),
] as const

/**
 * Files sudo refuses to use unless root owns them, with their modes: set in
 * the finished file system (debugfs), so an image built by a user without
 * root still has a working, setuid sudo.
 */
const ROOT_OWNED_FILES: readonly { readonly path: string; readonly mode: number }[] = [
  { path: '/usr/bin/sudo', mode: 0o4755 },
  { path: '/usr/libexec/sudo/sudoers.so', mode: 0o644 },
  { path: '/usr/libexec/sudo/libsudo_util.so.0.0.0', mode: 0o644 },
  { path: '/etc/sudoers', mode: 0o440 },
]
/** st_mode's file-type bits of a regular file (debugfs sets the whole i_mode). */
const S_IFREG = 0o100000

/** syslinux's MBR boot code (package syslinux-common). */
const SYSLINUX_MBR = '/usr/lib/syslinux/mbr/mbr.bin'
const MBR_CODE_BYTES = 440
const SECTOR_BYTES = 512
const MIB = 1024 * 1024
/** First partition starts at 1 MiB, as fdisk aligns. */
const PARTITION_START_SECTORS = 2048
/** FAT boot partition: kernel (~8 MiB), initramfs (~1.5 MiB), syslinux. */
const BOOT_PARTITION_MIB = 48
/** ext4 root: busybox, dropbear, libc, curl, sudo and their libraries (~40 MiB) and room for the guest to write. */
const ROOT_PARTITION_MIB = 208
const DISK_MIB = 1 + BOOT_PARTITION_MIB + ROOT_PARTITION_MIB

/** Kernel command line: serial console last so /dev/console is ttyS0; quiet, because a serial byte costs time under TCG. */
// no_timer_check: under TCG on a loaded host the IO-APIC timer check can fail and panic the
// kernel ("IO-APIC + timer doesn't work"); cloud images pass it for the same reason.
export const GUEST_KERNEL_CMDLINE = 'console=tty0 console=ttyS0,115200n8 quiet loglevel=3 no_timer_check'

export interface BuildOptions {
  /** Where the qcow2 goes. */
  readonly output: string
  /** Cache of downloaded .debs (kept across builds). */
  readonly cacheDir: string
  /** Scratch space; removed at the end. */
  readonly workDir?: string
}

export interface BuildResult {
  readonly output: string
  readonly kernelPackage: string
  readonly durationMs: number
}

/**
 * Builds a one-file bootable qcow2 from Debian packages only: MBR + syslinux,
 * a FAT boot partition (kernel, initramfs) and an ext4 root made with
 * `mkfs.ext4 -d` (no loop mounts, so no privileges beyond apt's).
 */
export async function buildGuestImage(opts: BuildOptions): Promise<BuildResult> {
  const started = Date.now()
  mkdirSync(dirname(opts.output), { recursive: true })
  const work = opts.workDir ?? mkdtempSync(join(dirname(opts.output), '.nimbus-image-'))
  try {
    const debs = new DebCache(opts.cacheDir)
    const kernelPackage = await debs.kernelPackage()
    const files = await debs.fetch([kernelPackage, ...USERLAND_PACKAGES])
    const unpacked = join(work, 'debs')
    for (const [name, deb] of files) await extractDeb(deb, join(unpacked, name))
    const kernel = join(unpacked, kernelPackage)
    const rootDir = join(work, 'root')
    await makeRoot(rootDir, unpacked, kernel)
    const initrd = join(work, 'initrd.img')
    await makeInitramfs(join(work, 'initramfs'), kernel, join(unpacked, 'busybox-static'), initrd)
    const raw = join(work, 'disk.raw')
    await makeDisk(raw, { kernel: findVmlinuz(kernel), initrd, rootDir, work })
    // Written beside, then renamed: a reader (or a second build) never sees half an image.
    const partial = join(work, 'image.qcow2')
    await run(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, partial], {
      timeoutMs: limits.guestImageCommandTimeoutMs,
    })
    renameSync(partial, opts.output)
    writeFileSync(
      recipeFile(opts.output),
      `${JSON.stringify({ recipe: guestImageRecipe(), kernelPackage })}\n`,
    )
    const durationMs = Date.now() - started
    log.info({ output: opts.output, kernelPackage, durationMs }, 'guest image built')
    return { output: opts.output, kernelPackage, durationMs }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * A digest of everything that shapes the image except the package versions:
 * a cached image whose recipe differs is stale (tests rebuild it).
 */
export function guestImageRecipe(): string {
  const parts = [
    rootFiles(),
    initramfsInit(),
    GUEST_MODULES,
    GUEST_CDROM_MODULES,
    USERLAND_PACKAGES,
    GUEST_TOOLS,
    ROOT_OWNED_FILES,
    GUEST_KERNEL_CMDLINE,
    DISK_MIB,
  ]
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16)
}

/** The sidecar recording which recipe built an image. */
export function recipeFile(image: string): string {
  return `${image}.recipe.json`
}

/** True when `image` exists and was built by this recipe. */
export function guestImageCurrent(image: string): boolean {
  try {
    const { recipe } = JSON.parse(readFileSync(recipeFile(image), 'utf8')) as { recipe?: string }
    return existsSync(image) && recipe === guestImageRecipe()
  } catch {
    return false
  }
}

function findVmlinuz(kernelDir: string): string {
  const name = readdirSync(join(kernelDir, 'boot')).find((f) => f.startsWith('vmlinuz-'))
  if (!name) throw new Error(`no boot/vmlinuz-* in ${kernelDir}`)
  return join(kernelDir, 'boot', name)
}

function kernelVersion(kernelDir: string): string {
  const version = readdirSync(join(kernelDir, 'lib', 'modules'))[0]
  if (!version) throw new Error(`no lib/modules/<version> in ${kernelDir}`)
  return version
}

/** Applet names of the static busybox (it runs on the build host too). */
async function busyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await run([busybox, '--list'], { timeoutMs: limits.guestImageCommandTimeoutMs })
  return stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox')
}

async function installBusybox(rootDir: string, busyboxDeb: string): Promise<void> {
  const busybox = join(busyboxDeb, 'bin', 'busybox')
  mkdirSync(join(rootDir, 'bin'), { recursive: true })
  cpSync(busybox, join(rootDir, 'bin', 'busybox'))
  for (const applet of await busyboxApplets(busybox)) {
    const link = join(rootDir, 'bin', applet)
    if (!existsSync(link)) symlinkSync('busybox', link)
  }
}

/**
 * Copies one file or symlink from an unpacked package to the same path in the
 * root, replacing what is there: a busybox applet link is removed first, so
 * the copy never writes through it into busybox.
 */
function installFile(pkgDir: string, rootDir: string, path: string, destDir?: string): void {
  const src = join(pkgDir, path)
  const dest = destDir ? join(rootDir, destDir, basename(path)) : join(rootDir, path)
  mkdirSync(dirname(dest), { recursive: true })
  rmSync(dest, { force: true })
  const st = lstatSync(src)
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dest)
  } else {
    copyFileSync(src, dest)
    chmodSync(dest, st.mode & 0o7777)
  }
}

async function makeRoot(rootDir: string, unpacked: string, kernelDir: string): Promise<void> {
  for (const d of [
    'dev',
    'proc',
    'sys',
    'run',
    'tmp',
    'mnt',
    'root',
    'var/log',
    'var/lib/nimbus',
    'etc/dropbear',
    'usr/sbin',
    'usr/bin',
  ]) {
    mkdirSync(join(rootDir, d), { recursive: true })
  }
  mkdirSync(join(rootDir, 'home', GUEST_DEFAULT_USER, '.ssh'), { recursive: true })
  // Busybox applets live in /bin; /sbin is the same directory (init, getty, reboot).
  symlinkSync('bin', join(rootDir, 'sbin'))
  // Debian's /var/run is /run.
  symlinkSync('../run', join(rootDir, 'var', 'run'))
  await installBusybox(rootDir, join(unpacked, 'busybox-static'))
  installFile(join(unpacked, LOGIN_SHELL_PACKAGE), rootDir, 'bin/busybox', dirname(GUEST_LOGIN_SHELL))
  symlinkSync('busybox', join(rootDir, GUEST_LOGIN_SHELL))
  for (const pkg of ['dropbear-bin', ...LIBRARY_PACKAGES]) {
    cpSync(join(unpacked, pkg), rootDir, { recursive: true, verbatimSymlinks: true, force: true })
  }
  for (const tool of GUEST_TOOLS) {
    for (const f of tool.files) installFile(join(unpacked, tool.pkg), rootDir, f)
  }
  const version = kernelVersion(kernelDir)
  for (const m of GUEST_CDROM_MODULES) {
    installFile(join(kernelDir, 'lib', 'modules', version), join(rootDir, 'lib', 'modules', version), m)
  }
  // Documentation and gconv are not needed by dropbear or busybox.
  for (const d of ['usr/share', 'usr/lib/x86_64-linux-gnu/gconv'])
    rmSync(join(rootDir, d), { recursive: true, force: true })
  chmodSync(join(rootDir, 'tmp'), 0o1777)
  for (const f of rootFiles()) {
    mkdirSync(dirname(join(rootDir, f.path)), { recursive: true })
    writeFileSync(join(rootDir, f.path), f.content, { mode: f.mode })
    chmodSync(join(rootDir, f.path), f.mode)
  }
  writeFileSync(join(rootDir, 'etc', 'ld.so.conf'), '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n')
  // The host's ldconfig writes the guest's ld.so.cache (-r: treat rootDir as /).
  await run(['ldconfig', '-r', rootDir], { timeoutMs: limits.guestImageCommandTimeoutMs })
}

async function makeInitramfs(dir: string, kernelDir: string, busyboxDeb: string, out: string): Promise<void> {
  for (const d of ['bin', 'dev', 'proc', 'sys', 'newroot']) mkdirSync(join(dir, d), { recursive: true })
  cpSync(join(busyboxDeb, 'bin', 'busybox'), join(dir, 'bin', 'busybox'))
  const version = kernelVersion(kernelDir)
  const modules = join(dir, 'lib', 'modules')
  for (const m of GUEST_MODULES) {
    mkdirSync(dirname(join(modules, m)), { recursive: true })
    cpSync(join(kernelDir, 'lib', 'modules', version, m), join(modules, m))
  }
  writeFileSync(join(dir, 'modules.order'), `${GUEST_MODULES.join('\n')}\n`)
  writeFileSync(join(dir, 'init'), initramfsInit(), { mode: 0o755 })
  // newc cpio owned by root, gzip (the kernel's built-in decompressor).
  await run(
    ['sh', '-c', 'find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -9 > "$1"', 'sh', out],
    {
      cwd: dir,
      timeoutMs: limits.guestImageCommandTimeoutMs,
    },
  )
}

interface DiskParts {
  readonly kernel: string
  readonly initrd: string
  readonly rootDir: string
  readonly work: string
}

async function makeDisk(raw: string, parts: DiskParts): Promise<void> {
  const t = { timeoutMs: limits.guestImageCommandTimeoutMs }
  const bootSectors = (BOOT_PARTITION_MIB * MIB) / SECTOR_BYTES
  const rootStart = PARTITION_START_SECTORS + bootSectors
  await run(['truncate', '-s', `${DISK_MIB}M`, raw], t)
  const table = `label: dos\nstart=${PARTITION_START_SECTORS}, size=${bootSectors}, type=c, bootable\nstart=${rootStart}, type=83\n`
  await run(['sfdisk', '--quiet', raw], { ...t, input: table })
  await run(
    [
      'dd',
      `if=${SYSLINUX_MBR}`,
      `of=${raw}`,
      `bs=${MBR_CODE_BYTES}`,
      'count=1',
      'conv=notrunc',
      'status=none',
    ],
    t,
  )
  await makeBootPartition(raw, parts)
  const rootFs = join(parts.work, 'root.ext4')
  await run(
    ['mkfs.ext4', '-q', '-F', '-L', ROOT_FS_LABEL, '-d', parts.rootDir, rootFs, `${ROOT_PARTITION_MIB - 1}M`],
    t,
  )
  const fixes = ROOT_OWNED_FILES.flatMap((f) => [
    `sif ${f.path} uid 0`,
    `sif ${f.path} gid 0`,
    `sif ${f.path} mode 0${(S_IFREG | f.mode).toString(8)}`,
  ])
  await run(['debugfs', '-w', '-f', '-', rootFs], { ...t, input: `${fixes.join('\n')}\n` })
  await run(
    [
      'dd',
      `if=${rootFs}`,
      `of=${raw}`,
      `bs=${SECTOR_BYTES}`,
      `seek=${rootStart}`,
      'conv=notrunc,sparse',
      'status=none',
    ],
    t,
  )
}

async function makeBootPartition(raw: string, parts: DiskParts): Promise<void> {
  const t = { timeoutMs: limits.guestImageCommandTimeoutMs }
  const offsetBytes = PARTITION_START_SECTORS * SECTOR_BYTES
  const image = `${raw}@@${offsetBytes}`
  await run(
    [
      'mkfs.fat',
      `--offset=${PARTITION_START_SECTORS}`,
      '-F',
      '16',
      '-n',
      'NIMBUSBOOT',
      raw,
      String(BOOT_PARTITION_MIB * 1024),
    ],
    t,
  )
  const cfg = join(parts.work, 'syslinux.cfg')
  writeFileSync(
    cfg,
    [
      'SERIAL 0 115200',
      'DEFAULT nimbus',
      'PROMPT 0',
      'TIMEOUT 0',
      'LABEL nimbus',
      '  LINUX /vmlinuz',
      '  INITRD /initrd.img',
      `  APPEND ${GUEST_KERNEL_CMDLINE}`,
      '',
    ].join('\n'),
  )
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' }
  await run(['mcopy', '-i', image, parts.kernel, '::/vmlinuz'], { ...t, env })
  await run(['mcopy', '-i', image, parts.initrd, '::/initrd.img'], { ...t, env })
  await run(['mcopy', '-i', image, cfg, '::/syslinux.cfg'], { ...t, env })
  await run(['syslinux', '--offset', String(offsetBytes), '--install', raw], { ...t, env })
}
