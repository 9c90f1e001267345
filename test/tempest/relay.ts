import type { Socket } from 'node:net'

/** Pipes two sockets into each other; an error or close on either side ends both. */
export function relay(a: Socket, b: Socket): void {
  const end = () => {
    a.destroy()
    b.destroy()
  }
  a.on('error', end).on('close', end)
  b.on('error', end).on('close', end)
  a.pipe(b)
  b.pipe(a)
}
