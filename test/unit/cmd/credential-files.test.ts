import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { writeCloudsYaml, writeOpenrc, type AdminCredentials } from '../../../src/cmd/credentials.ts'

/** Issue 17 finding 9: files holding the admin password are 0600, also when they existed before. */
describe('cmd: credential files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-cred-files-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const mode = (path: string) => statSync(path).mode & 0o777
  const creds: AdminCredentials = {
    authUrl: 'http://127.0.0.1:5000/v3',
    username: 'admin',
    password: 's3cret',
    projectName: 'admin',
    userDomainName: 'Default',
    projectDomainName: 'Default',
    regionName: 'RegionOne',
  }

  it('tightens an existing world-readable clouds.yaml and keeps its other clouds', () => {
    const path = join(dir, 'clouds.yaml')
    writeFileSync(path, 'clouds:\n  other:\n    region_name: X\n', { mode: 0o644 })
    writeCloudsYaml(path, creds)
    assert.equal(mode(path), 0o600)
    const text = readFileSync(path, 'utf8')
    assert.match(text, /other:/)
    assert.match(text, /password: s3cret/)
  })

  it('tightens an existing world-readable openrc', () => {
    const path = join(dir, 'openrc')
    writeFileSync(path, '# old\n', { mode: 0o644 })
    writeOpenrc(path, creds)
    assert.equal(mode(path), 0o600)
    assert.match(readFileSync(path, 'utf8'), /OS_PASSWORD='s3cret'/)
  })

  it('creates both 0600', () => {
    writeCloudsYaml(join(dir, 'new', 'clouds.yaml'), creds)
    writeOpenrc(join(dir, 'new', 'openrc'), creds)
    assert.equal(mode(join(dir, 'new', 'clouds.yaml')), 0o600)
    assert.equal(mode(join(dir, 'new', 'openrc')), 0o600)
  })
})
