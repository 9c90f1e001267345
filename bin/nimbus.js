#!/usr/bin/env node
// The `nimbus` command. Sources are TypeScript run through tsx's loader, so
// there is no build step between a checkout and a running cloud.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cmd/main.ts')
await main(process.argv)
