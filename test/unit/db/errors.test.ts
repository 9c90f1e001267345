import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  Conflict,
  DatabaseUnavailable,
  NotFound,
  ServiceUnavailable,
  fromWire,
} from '../../../src/common/errors.ts'
import { limits } from '../../../src/common/limits.ts'
import { MarkerNotFound, markerNotFound, translateDbError, type DbFailure } from '../../../src/db/errors.ts'
import { safeToRetry } from '../../../src/db/retry.ts'

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

  it('types database failures as DatabaseUnavailable with their kind and a Retry-After', () => {
    const cases: readonly (readonly [string | undefined, string, DbFailure])[] = [
      ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432', 'unreachable'],
      [undefined, 'Client has encountered a connection error and is not queryable', 'unreachable'],
      [undefined, 'timeout exceeded when trying to connect', 'unreachable'],
      ['57P03', 'the database system is starting up', 'busy'],
      ['53300', 'sorry, too many clients already', 'busy'],
      ['SQLITE_BUSY', 'database is locked', 'busy'],
      ['SQLITE_BUSY_SNAPSHOT', 'database is locked', 'busy'],
      ['SQLITE_LOCKED', 'database table is locked', 'busy'],
      ['57P01', 'terminating connection due to administrator command', 'lost'],
      ['08006', 'connection failure', 'lost'],
      [undefined, 'Connection terminated unexpectedly', 'lost'],
      ['ECONNRESET', 'read ECONNRESET', 'lost'],
      ['SQLITE_IOERR_WRITE', 'disk I/O error', 'lost'],
      ['SQLITE_IOERR', 'disk I/O error', 'lost'],
      ['3D000', 'database "nimbus" does not exist', 'refused'],
      ['57014', 'canceling statement due to statement timeout', 'refused'],
      ['SQLITE_FULL', 'database or disk is full', 'refused'],
    ]
    for (const [code, message, failure] of cases) {
      const e = translated(driverError(code, message))
      assert.ok(e instanceof DatabaseUnavailable, message)
      assert.equal(e.status, 503)
      assert.equal(e.detail.dbFailure, failure, message)
      assert.equal(e.detail.retryAfterS, limits.dbRetryAfterS)
      // The class survives an RPC hop, so the API in front of a conductor answers 503 too.
      const back = fromWire(e.toWire())
      assert.ok(back instanceof DatabaseUnavailable)
      assert.equal(back.detail.dbFailure, failure)
    }
  })

  it('retries only what certainly did not take effect', () => {
    // Nothing was sent, or nothing was run: safe anywhere.
    for (const phase of ['connect', 'read', 'write', 'in_transaction', 'commit'] as const) {
      assert.equal(safeToRetry('unreachable', phase), true, phase)
      assert.equal(safeToRetry('busy', phase), true, phase)
      assert.equal(safeToRetry('refused', phase), false, phase)
    }
    // Lost mid-statement: a read, or a transaction the server rolled back, may run again;
    // an autocommit write or a COMMIT in flight may have been applied.
    assert.equal(safeToRetry('lost', 'read'), true)
    assert.equal(safeToRetry('lost', 'in_transaction'), true)
    assert.equal(safeToRetry('lost', 'write'), false)
    assert.equal(safeToRetry('lost', 'commit'), false)
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
