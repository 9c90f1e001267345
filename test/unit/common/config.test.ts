import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, redactUrl, sampleConfig } from '../../../src/common/config.ts'
import { LIMIT_DEFAULTS } from '../../../src/common/limits.ts'

describe('config', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-config-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  function file(text: string): string {
    const path = join(dir, `c-${Math.random().toString(36).slice(2)}.conf`)
    writeFileSync(path, text)
    return path
  }

  it('gives OpenStack defaults with no file', () => {
    const c = loadConfig({ env: {} })
    assert.equal(c.identity.port, 5000)
    assert.equal(c.compute.port, 8774)
    assert.equal(c.image.port, 9292)
    assert.equal(c.network.port, 9696)
    assert.equal(c.transportUrl, 'inproc://')
    assert.match(c.databaseUrl, /^sqlite:\/\/\/.*nimbus\.db$/)
    assert.deepEqual(c.limits, {})
  })

  it('reads an INI file and lets the environment win over it', () => {
    const path = file(
      '[DEFAULT]\nstate_dir = /tmp/x\ntransport_url = amqp://guest:guest@127.0.0.1:5672/\n[identity]\nport = 5001\n',
    )
    const c = loadConfig({ file: path, env: { NIMBUS_IDENTITY__PORT: '5002' } })
    assert.equal(c.stateDir, '/tmp/x')
    assert.equal(c.transportUrl, 'amqp://guest:guest@127.0.0.1:5672/')
    assert.equal(c.identity.port, 5002)
    assert.equal(c.sources['identity.port'], 'env')
    assert.equal(c.sources['DEFAULT.state_dir'], 'file')
    assert.equal(c.databaseUrl, 'sqlite:///tmp/x/nimbus.db')
  })

  it('names the key and the allowed values for a bad enum', () => {
    const path = file('[DEFAULT]\nlog_level = loud\n')
    assert.throws(
      () => loadConfig({ file: path, env: {} }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /DEFAULT\.log_level/)
        assert.match(err.message, /allowed values are fatal, error, warn, info, debug, trace, silent/)
        return true
      },
    )
  })

  it('names the key and the range for an out-of-range port', () => {
    assert.throws(
      () => loadConfig({ env: { NIMBUS_COMPUTE__PORT: '70000' } }),
      /compute\.port = 70000: allowed range is 0\.\.65535/,
    )
    assert.throws(
      () => loadConfig({ env: { NIMBUS_COMPUTE__PORT: 'eighty' } }),
      /compute\.port .*expected an integer/,
    )
  })

  it('refuses unknown sections and options, listing the known ones', () => {
    assert.throws(() => loadConfig({ file: file('[nova]\nx = 1\n'), env: {} }), /unknown section \[nova\]/)
    assert.throws(
      () => loadConfig({ file: file('[identity]\nprot = 1\n'), env: {} }),
      /unknown option identity\.prot; options of \[identity\]: port/,
    )
  })

  it('refuses a transport URL with the wrong scheme without printing its password', () => {
    assert.throws(
      () => loadConfig({ env: { NIMBUS_DEFAULT__TRANSPORT_URL: 'kafka://u:secret@h/' } }),
      (err: Error) => {
        assert.match(err.message, /DEFAULT\.transport_url/)
        assert.match(err.message, /inproc:\/\/ or amqp:\/\//)
        assert.doesNotMatch(err.message, /secret/)
        return true
      },
    )
  })

  it('fails for an explicit config file that does not exist', () => {
    assert.throws(() => loadConfig({ file: join(dir, 'missing.conf'), env: {} }), /does not exist/)
  })

  it('overrides limits by their snake_case names', () => {
    const c = loadConfig({ file: file('[limits]\nrpc_call_timeout_ms = 1234\n'), env: {} })
    assert.deepEqual(c.limits, { rpcCallTimeoutMs: 1234 })
    assert.throws(
      () => loadConfig({ env: { NIMBUS_LIMITS__MAX_PAGE_SIZE: '0' } }),
      /limits\.max_page_size = 0/,
    )
  })

  it('writes a sample with every section and limit', () => {
    const sample = sampleConfig()
    for (const section of [
      'DEFAULT',
      'database',
      'identity',
      'compute',
      'image',
      'network',
      'metadata',
      'limits',
    ]) {
      assert.ok(sample.includes(`[${section}]`), section)
    }
    assert.ok(sample.includes(`#max_request_body_bytes = ${LIMIT_DEFAULTS.maxRequestBodyBytes}`))
  })

  it('redacts passwords in URLs', () => {
    assert.equal(
      redactUrl('postgresql://nimbus:s3cret@db:5432/nimbus'),
      'postgresql://nimbus:***@db:5432/nimbus',
    )
    assert.equal(redactUrl('sqlite:///x/nimbus.db'), 'sqlite:///x/nimbus.db')
  })
})
