import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Invalid } from '../../../src/common/errors.ts'
import { parseDatabaseUrl, redactUrl } from '../../../src/db/url.ts'

describe('database URLs', () => {
  it('parses SQLite file and memory URLs', () => {
    assert.deepEqual(parseDatabaseUrl('sqlite:///var/lib/nimbus/nimbus.db'), {
      dialect: 'sqlite',
      path: '/var/lib/nimbus/nimbus.db',
      safeUrl: 'sqlite:///var/lib/nimbus/nimbus.db',
    })
    assert.equal(parseDatabaseUrl('sqlite://:memory:').dialect, 'sqlite')
  })

  it('parses both PostgreSQL schemes and keeps the password out of safeUrl', () => {
    for (const scheme of ['postgresql', 'postgres']) {
      const target = parseDatabaseUrl(`${scheme}://nimbus:s3cret@db.example:5432/nimbus`)
      assert.equal(target.dialect, 'postgres')
      assert.equal(target.safeUrl, `${scheme}://nimbus:***@db.example:5432/nimbus`)
    }
  })

  it('refuses relative SQLite paths, other schemes and URLs without a database', () => {
    for (const url of [
      'sqlite://nimbus.db',
      'mysql://root@localhost/nimbus',
      'postgresql://root@localhost',
      'nope',
    ]) {
      assert.throws(() => parseDatabaseUrl(url), Invalid, url)
    }
  })

  it('redacts passwords in userinfo and in a password parameter', () => {
    assert.equal(redactUrl('postgresql://u:pw@h/d'), 'postgresql://u:***@h/d')
    assert.equal(redactUrl('postgresql://u@h/d?password=pw'), 'postgresql://u@h/d?password=***')
    assert.equal(redactUrl('postgresql://u@h/d'), 'postgresql://u@h/d')
  })
})
