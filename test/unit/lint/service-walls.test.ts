import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ESLint, Linter, RuleTester, type Rule } from 'eslint'
import tsParser from '@typescript-eslint/parser'

/**
 * The service walls (docs/architecture.md): the lint rule catches an import
 * around a service's door, lets doors, objects and the foundation through,
 * runs on every file of src/ in `npm run lint`, and its allow-list holds
 * nothing that is no longer needed (so it only shrinks).
 */

const ROOT = resolve(import.meta.dirname, '../../..')
// Plain JS modules of the lint config (no type declarations): imported by URL.
const walls = (await import(pathToFileURL(join(ROOT, 'eslint/service-walls.js')).href)) as {
  serviceWallsRule: Rule.RuleModule
}
const { SERVICE_WALL_ALLOW } = (await import(
  pathToFileURL(join(ROOT, 'eslint/service-walls-allow.js')).href
)) as {
  SERVICE_WALL_ALLOW: readonly { from: string; to: string; why: string }[]
}

const RULE = 'nimbus/service-walls'
const file = (path: string): string => join(ROOT, 'src', path)

RuleTester.describe = describe
RuleTester.it = it
RuleTester.itOnly = it.only
const tester = new RuleTester({ languageOptions: { parser: tsParser } })

tester.run('service-walls', walls.serviceWallsRule, {
  valid: [
    { filename: file('compute/manager.ts'), code: "import { x } from './image.ts'" },
    { filename: file('compute/api/routes/images.ts'), code: "import { x } from '../../db/instances.ts'" },
    { filename: file('compute/service.ts'), code: "import { imageClientFor } from '../image/client.ts'" },
    { filename: file('compute/service.ts'), code: "import { NetworkRpcApi } from '../network/rpcapi.ts'" },
    { filename: file('conductor/service.ts'), code: "import { M } from '../compute/move-rpcapi.ts'" },
    { filename: file('compute/manager.ts'), code: "import type { ImageMeta } from '../objects/image.ts'" },
    { filename: file('compute/manager.ts'), code: "import { limits } from '../common/limits.ts'" },
    { filename: file('compute/manager.ts'), code: "import { sql } from 'kysely'" },
    // The composition root and the foundation are not services (the foundation has its own rule).
    { filename: file('cmd/cloud.ts'), code: "import { ImageManager } from '../image/manager.ts'" },
    {
      filename: file('network/manager.ts'),
      code: "import { x } from '../compute/db/info-caches.ts'",
      options: [{ allow: [{ from: 'network', to: 'compute/db/info-caches.ts', why: 'test' }] }],
    },
  ],
  invalid: [
    {
      filename: file('compute/image.ts'),
      code: "import { findImage } from '../image/repository.ts'",
      errors: [
        {
          message:
            "src/compute may not import src/image/repository.ts: go through src/image's door (client.ts, rpcapi.ts) or src/objects/ (docs/architecture.md)",
        },
      ],
    },
    {
      filename: file('compute/api/routes/images.ts'),
      code: "import type { Image } from '../../../image/model.ts'",
      errors: [{ messageId: 'wall' }],
    },
    {
      filename: file('scheduler/x.ts'),
      code: "export * from '../compute/db/aggregates.ts'",
      errors: [{ messageId: 'wall' }],
    },
    {
      filename: file('metadata/x.ts'),
      code: "export { keypairs } from '../compute/db/keypairs.ts'",
      errors: [{ messageId: 'wall' }],
    },
    {
      filename: file('network/x.ts'),
      code: "const m = await import('../compute/objects.ts')",
      errors: [{ messageId: 'wall' }],
    },
    {
      filename: file('image/x.ts'),
      code: "let t: import('../network/store.ts').Doc",
      errors: [{ messageId: 'wall' }],
    },
    // An allow-list entry opens exactly one file, not the folder.
    {
      filename: file('network/manager.ts'),
      code: "import { y } from '../compute/db/instances.ts'",
      options: [{ allow: [{ from: 'network', to: 'compute/db/info-caches.ts', why: 'test' }] }],
      errors: [{ messageId: 'wall' }],
    },
  ],
})

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) sourceFiles(path, out)
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

describe('service walls over src/', () => {
  it('runs in `npm run lint` on every source file', async () => {
    const eslint = new ESLint({ cwd: ROOT })
    for (const path of ['src/compute/manager.ts', 'src/network/manager.ts', 'src/image/client.ts']) {
      const config = (await eslint.calculateConfigForFile(join(ROOT, path))) as {
        rules: Record<string, unknown>
      }
      const setting = config.rules[RULE] as [number | string, { allow: unknown[] }] | undefined
      assert.ok(setting, `${RULE} is not on for ${path}`)
      assert.ok(setting[0] === 2 || setting[0] === 'error', `${RULE} is not an error for ${path}`)
    }
  })

  it('has an allow-list of exactly the imports around doors that remain (it only shrinks)', () => {
    const linter = new Linter({ configType: 'flat' })
    const found = new Map<string, string[]>()
    for (const path of sourceFiles(join(ROOT, 'src'))) {
      const messages = linter.verify(
        readFileSync(path, 'utf8'),
        [
          {
            files: ['**/*.ts'],
            languageOptions: { parser: tsParser },
            plugins: { nimbus: { rules: { 'service-walls': walls.serviceWallsRule } } },
            rules: { [RULE]: 'error' },
            // Other rules' disable comments in src/ are not this test's business.
            linterOptions: { reportUnusedDisableDirectives: 'off' },
          },
        ],
        path,
      )
      for (const m of messages) {
        assert.equal(m.ruleId, RULE, `${path}: ${m.message}`)
        const [, from, to] = /^src\/(\w[\w-]*) may not import src\/(\S+):/.exec(m.message)!
        const key = `${from} -> ${to}`
        found.set(key, [...(found.get(key) ?? []), path.slice(ROOT.length + 1)])
      }
    }
    const allowed = new Set(SERVICE_WALL_ALLOW.map((a) => `${a.from} -> ${a.to}`))
    const stale = [...allowed].filter((k) => !found.has(k))
    assert.deepEqual(stale, [], 'no import needs these allow-list entries any more: remove them')
    const unlisted = [...found.keys()].filter((k) => !allowed.has(k))
    assert.deepEqual(unlisted, [], 'imports around a door that the allow-list does not name')
    assert.equal(SERVICE_WALL_ALLOW.length, allowed.size, 'an allow-list entry is repeated')
  })
})
