#!/usr/bin/env node
// Runs the test suites with node's own test runner and tsx's loader.
// Usage: node scripts/run-tests.js [dir-or-file ...]   (default: test/)
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const TEST_FILE_SUFFIX = '.test.ts'
// Two cores: suites run one file at a time so timing-sensitive RPC and
// database tests do not starve each other.
const TEST_CONCURRENCY = Number(process.env.NIMBUS_TEST_CONCURRENCY ?? 1)

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out)
  } else if (path.endsWith(TEST_FILE_SUFFIX)) {
    out.push(path)
  }
  return out
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'))
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []))
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${TEST_CONCURRENCY}`, ...flags, ...files],
  // Quiet logs unless asked: failures print their own diagnostics.
  { stdio: 'inherit', env: { NIMBUS_LOG_LEVEL: 'silent', ...process.env } },
)
process.exit(result.status ?? 1)
