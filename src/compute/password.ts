/**
 * The password a guest posts to the metadata service (`POST
 * /openstack/<version>/password`, as cloudbase-init and Windows images do),
 * kept in the instance's system metadata in four 255-character chunks
 * (`password_0` .. `password_3`), as Nova's nova/api/metadata/password.py
 * stores it. `GET /servers/{id}/os-server-password` joins the chunks;
 * `DELETE` empties them.
 */
import { Conflict } from '../common/errors.ts'
import type { Database } from '../db/index.ts'
import { getInstance, updateInstance } from './db/instances.ts'

/** System metadata keys a guest's posted password is split over (`password_0` ..), as in Nova. */
export const PASSWORD_CHUNKS = 4
/** Characters per chunk: a system metadata value is at most 255 characters in Nova. */
export const PASSWORD_CHUNK_CHARS = 255

/** The stored password: the chunks joined ('' when none was posted or it was cleared). */
export function instancePassword(systemMetadata: Readonly<Record<string, string>>): string {
  let password = ''
  for (let i = 0; i < PASSWORD_CHUNKS; i++) password += systemMetadata[`password_${i}`] ?? ''
  return password
}

/** `password` as the system metadata chunks (Nova's convert_password); '' clears. */
export function passwordChunks(password: string): Record<string, string> {
  const chunks: Record<string, string> = {}
  let rest = password
  for (let i = 0; i < PASSWORD_CHUNKS; i++) {
    chunks[`password_${i}`] = rest.slice(0, PASSWORD_CHUNK_CHARS)
    rest = rest.slice(PASSWORD_CHUNK_CHARS)
  }
  return chunks
}

/** webob's HTTPConflict explanation, which Nova's bare `raise HTTPConflict()` answers with. */
export const CONFLICT_MESSAGE = 'There was a conflict when trying to complete your request.'

/** A password is already stored: the guest must not overwrite it (Nova's 409). */
export class PasswordAlreadySet extends Conflict {
  override readonly name = 'PasswordAlreadySet'
}

/**
 * Stores the password a guest posted, in one transaction: refused with
 * PasswordAlreadySet when one is stored (only the os-server-password DELETE
 * clears it), InstanceNotFound when the instance is gone. The other system
 * metadata keys are kept.
 */
export async function storeGuestPassword(db: Database, uuid: string, password: string): Promise<void> {
  await db.transaction(async (trx) => {
    const instance = await getInstance(trx, uuid)
    if (instancePassword(instance.systemMetadata) !== '') {
      throw new PasswordAlreadySet(CONFLICT_MESSAGE)
    }
    const systemMetadata = { ...instance.systemMetadata, ...passwordChunks(password) }
    await updateInstance(trx, uuid, { systemMetadata })
  })
}

/** Empties the stored password (the os-server-password DELETE). */
export async function clearGuestPassword(db: Database, uuid: string): Promise<void> {
  await db.transaction(async (trx) => {
    const instance = await getInstance(trx, uuid)
    await updateInstance(trx, uuid, { systemMetadata: { ...instance.systemMetadata, ...passwordChunks('') } })
  })
}
