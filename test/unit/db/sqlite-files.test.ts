import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { openSqlite } from '../../../src/db/sqlite.ts'

/** Issue 17 finding 9: the database (password hashes, credentials) and its WAL are the owner's alone. */
describe('db: SQLite file modes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-sqlite-modes-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const mode = (path: string) => statSync(path).mode & 0o777

  it('creates the database, its WAL and shared memory 0600 whatever the umask', () => {
    const saved = process.umask(0o022)
    try {
      const path = join(dir, 'new', 'nimbus.db')
      const db = openSqlite(path)
      try {
        db.exec('create table t (x integer)')
        db.prepare('insert into t values (1)').run()
        assert.equal(mode(path), 0o600)
        assert.equal(mode(`${path}-wal`), 0o600)
        assert.equal(mode(`${path}-shm`), 0o600)
      } finally {
        db.close()
      }
    } finally {
      process.umask(saved)
    }
  })

  it('tightens an existing world-readable database, WAL and shared memory', () => {
    const path = join(dir, 'old.db')
    const first = openSqlite(path)
    try {
      first.exec('create table t (x integer)')
      for (const file of [path, `${path}-wal`, `${path}-shm`]) chmodSync(file, 0o644)
      const second = openSqlite(path)
      second.close()
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(file), 0o600, file)
    } finally {
      first.close()
    }
  })
})
