#!/usr/bin/env node
// Counts imports between service folders of src/ (for issue #15's closing
// note): all of them, and those that go around a door as the lint rule
// nimbus/service-walls sees them (same resolution, eslint/service-walls.js).
// Usage: node scripts/count-service-imports.js [repo-root]   (default: this checkout)
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { placeOf, ROOT, wallCrossed } from '../eslint/service-walls.js'

const root = resolve(process.argv[2] ?? ROOT)
// Static and type imports, re-exports, dynamic imports and import() types.
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm

function files(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files(path, out)
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

let cross = 0
const around = new Map()
for (const path of files(join(root, 'src'))) {
  const from = placeOf(path, root)
  if (!from) continue
  for (const m of readFileSync(path, 'utf8').matchAll(IMPORT)) {
    const source = m[1] ?? m[2]
    if (!source.startsWith('.')) continue
    const target = placeOf(resolve(dirname(path), source), root)
    if (!target || target.service === from.service) continue
    cross++
    const crossed = wallCrossed(path, source, root)
    if (crossed)
      around.set(
        `${crossed.from} -> ${crossed.to}`,
        (around.get(`${crossed.from} -> ${crossed.to}`) ?? 0) + 1,
      )
  }
}
const aroundTotal = [...around.values()].reduce((a, b) => a + b, 0)
console.log(
  `cross-service imports: ${cross}; through a door: ${cross - aroundTotal}; around a door: ${aroundTotal} (${around.size} service -> file pairs)`,
)
for (const [pair, n] of [...around].sort()) console.log(`  ${pair}  ${n}`)
