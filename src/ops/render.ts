/** Plain-text tables for the operator commands; colour only when asked (a TTY). */

const ANSI = {
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  dim: '\x1b[2m',
  reset: '\x1b[0m',
} as const

export type Colour = keyof Omit<typeof ANSI, 'reset'>

export interface Painter {
  paint(text: string, colour: Colour): string
}

export function painter(colours: boolean): Painter {
  return { paint: (text, colour) => (colours ? `${ANSI[colour]}${text}${ANSI.reset}` : text) }
}

/** Visible width: without ANSI escapes. */
function width(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, '').length
}

/** Columns padded to their widest cell, separated by two spaces; no trailing blanks. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ''))))
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** `3d4h`, `5h2m`, `4m10s`, `12s`; '-' when unknown. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined) return '-'
  const s = Math.round(seconds)
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d) return `${d}d${h}h`
  if (h) return `${h}h${m}m`
  if (m) return `${m}m${s % 60}s`
  return `${s}s`
}

/** Milliseconds for a step: `850 ms`, `2.4 s`. */
export function millis(ms: number | undefined): string {
  if (ms === undefined) return '-'
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}
