import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Conflict, NotFound, ServiceUnavailable, fromWire } from '../../../src/common/errors.ts'
import { MarkerNotFound, markerNotFound, translateDbError } from '../../../src/db/errors.ts'

function driverError(code: string | undefined, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra })
}

function translated(err: unknown): unknown {
  try {
    translateDbError(err, 'postgresql://u:***@db/nimbus', 'hunter2')
  } catch (e) {
    return e
  }
  assert.fail('translateDbError returned')
}

describe('translateDbError', () => {
  it('maps unique violations on both backends to Conflict', () => {
    for (const err of [
      driverError('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: services.host, services.binary'),
      driverError('SQLITE_CONSTRAINT_PRIMARYKEY', 'UNIQUE constraint failed: widgets.id'),
      driverError('23505', 'duplicate key', {
        detail: 'Key (host, binary)=(h, b) already exists.',
        table: 'services',
      }),
    ]) {
      const e = translated(err)
      assert.ok(e instanceof Conflict)
      assert.equal(e.detail.dbError, 'unique_violation')
      assert.equal(e.cause, err)
    }
  })

  it('maps foreign-key violations on both backends to Conflict', () => {
    for (const err of [
      driverError('SQLITE_CONSTRAINT_FOREIGNKEY', 'FOREIGN KEY constraint failed'),
      driverError('23503', 'violates foreign key constraint'),
    ]) {
      const e = translated(err)
      assert.ok(e instanceof Conflict)
      assert.equal(e.detail.dbError, 'foreign_key_violation')
    }
  })

  it('maps connection failures and timeouts to ServiceUnavailable, scrubbing the password', () => {
    for (const err of [
      driverError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      driverError('08006', 'connection failure'),
      driverError('57P01', 'terminating connection due to administrator command'),
      driverError('28P01', 'password authentication failed for hunter2'),
      driverError('57014', 'canceling statement due to statement timeout'),
      driverError(undefined, 'Connection terminated unexpectedly'),
      driverError('SQLITE_BUSY', 'database is locked'),
      driverError('SQLITE_CANTOPEN', 'unable to open database file'),
    ]) {
      const e = translated(err)
      assert.ok(e instanceof ServiceUnavailable, err.message)
      assert.match(e.message, /postgresql:\/\/u:\*\*\*@db\/nimbus/)
      assert.doesNotMatch(e.message, /hunter2/)
    }
  })

  it('rethrows everything else unchanged', () => {
    const notNull = driverError('23502', 'null value in column "host"')
    assert.equal(translated(notNull), notNull)
    const bug = new TypeError('x is not a function')
    assert.equal(translated(bug), bug)
    const typed = new NotFound('already typed')
    assert.equal(translated(typed), typed)
    assert.equal(translated('a string'), 'a string')
  })
})

describe('MarkerNotFound', () => {
  it('reads like Nova and survives an RPC hop', () => {
    const err = markerNotFound('abc')
    assert.ok(err instanceof NotFound)
    assert.equal(err.message, 'marker [abc] not found')
    const back = fromWire(JSON.parse(JSON.stringify(err.toWire())))
    assert.ok(back instanceof MarkerNotFound)
    assert.equal(back.message, 'marker [abc] not found')
  })
})
