import t from 'tap'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { apiDocs } from '../scripts/api-docs.js'

// A TypeScript program over the public entry points: slow when tap starts it beside the other compiling files.
t.setTimeout(300_000)

// issue 19: docs/api.md was stale. It is generated from the types; this fails until `npm run docs:api` is rerun.
t.test('issue 19: docs/api.md is what npm run docs:api generates', async (t) => {
  const current = readFileSync(join(resolve(import.meta.dirname, '..'), 'docs', 'api.md'), 'utf8')
  t.ok(current === apiDocs(), 'docs/api.md is current (run `npm run docs:api` to regenerate it)')
})
