#!/usr/bin/env node
// The long fuzz run: the same suite as `npm test` runs (test/functional/fuzz),
// with every count multiplied and a seed of your choice.
// Usage: node scripts/fuzz.js [scale=20] [seed=random]   (npm run fuzz -- 50 1234)
import { spawnSync } from 'node:child_process'

const DEFAULT_SCALE = 20
const scale = Number(process.argv[2] ?? DEFAULT_SCALE)
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31))
if (!Number.isInteger(scale) || scale < 1 || !Number.isInteger(seed)) {
  console.error('usage: node scripts/fuzz.js [scale>=1] [integer seed]')
  process.exit(2)
}
console.log(`fuzz: scale ${scale}, seed ${seed} (repeat with: npm run fuzz -- ${scale} ${seed})`)
const result = spawnSync(process.execPath, ['scripts/run-tests.js', 'test/functional/fuzz'], {
  stdio: 'inherit',
  env: { ...process.env, NIMBUS_FUZZ_SCALE: String(scale), NIMBUS_FUZZ_SEED: String(seed) },
})
process.exit(result.status ?? 1)
