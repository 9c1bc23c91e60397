import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { connect } from '../lib/testing/index.js'

const root = resolve(import.meta.dirname, '..')
// tsc over the whole dependency graph is slow on a loaded 2-core machine (1–2 min); the file's own bound.
t.setTimeout(300_000)

// The README's quick start, as written, runs: it is extracted, pointed at this checkout and port 0, and driven.
t.test('the README quick start runs as written', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  t.ok(code, 'found the quick start code block')
  const runnable = (code as string)
    .replace("from 'fastify-wamp'", `from ${JSON.stringify(pathToFileURL(join(root, 'index.ts')).href)}`)
    .replace('await app.listen({ port: 3000 })', "await app.listen({ port: 0, host: '127.0.0.1' })")
    .replace('Fastify({ logger: true })', 'Fastify({ logger: false })') + '\nexport { app }\n'
  t.not(runnable, code, 'the port and import were rewritten')
  const dir = join(root, 'test', 'artifacts')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'readme-quickstart.ts')
  writeFileSync(file, runnable)
  const { app } = await import(pathToFileURL(file).href) as { app: FastifyInstance }
  t.teardown(() => app.close())

  const client = await connect(app)
  t.same((await client.call('com.example.add', [2, 3])).args, [5])
  await client.subscribe('com.example.news')
  const res = await app.inject({ method: 'POST', url: '/api/notify', payload: { text: 'up' } })
  t.same(res.json(), { delivered: 1 })
  t.same((await client.nextEvent('com.example.news')).args, ['up'])
  await client.close()
})

// Every ```ts block of README.md and docs/*.md type-checks (docs/api.md is generated; test/api-docs.test.ts keeps it
// current). A block is compiled as a module against this checkout's source; the names that prose snippets take for
// granted (`app`, `session`, `request`, …) are ambient globals below, and a block's own imports and declarations
// shadow them. Signatures that are not code are fenced as ```text.
const ambient = `import type { FastifyInstance, FastifyRequest } from 'fastify'
import type * as wamp from 'fastify-wamp'
import type TypeBox from 'typebox'
declare global {
  // The app's own objects that snippets take for granted.
  const buildApp: () => Promise<FastifyInstance>
  const pages: unknown[]
  const sessions: { valid (cookie: string | undefined): Promise<boolean> }
  const tokens: { check (authid: string | undefined, ticket: string): Promise<boolean> }
  const users: Map<string, wamp.WampCraUser>
  const devices: Map<string, wamp.AuthIdentity>
  const bans: { has (authid: string): Promise<boolean> }
  // What the plugin provides, as if imported.
  const app: FastifyInstance
  const request: FastifyRequest
  const session: wamp.WampSession
  const Type: typeof TypeBox
  const fastifyWamp: typeof wamp.default
  const WampError: typeof wamp.WampError
  const WampResult: typeof wamp.WampResult
  const RedisFanout: typeof wamp.RedisFanout
  const procedure: typeof wamp.procedure
  const topic: typeof wamp.topic
  const connect: typeof import('fastify-wamp/testing').connect
}
export {}
`

function tsBlocks (file: string): Array<{ line: number, code: string }> {
  const blocks: Array<{ line: number, code: string }> = []
  const lines = readFileSync(file, 'utf8').split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue
    const start = i + 1
    while (i + 1 < lines.length && lines[i + 1] !== '```') i++
    blocks.push({ line: start + 1, code: lines.slice(start, i + 1).join('\n') })
  }
  return blocks
}

// Docs another branch is rewriting; the lead drops an entry once that branch's fix is merged.
const PENDING = new Set(['docs/auth.md'])

t.test('issue 19: every ts block in README.md and docs/*.md type-checks', async (t) => {
  const dir = join(root, 'test', 'artifacts', 'snippets')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'api.md').map((f) => `docs/${f}`)]
    .filter((doc) => !PENDING.has(doc))
  const origin = new Map<string, string>()
  for (const doc of docs) {
    for (const { line, code } of tsBlocks(join(root, doc))) {
      const name = `${doc.replace(/[/.]/g, '_')}_L${line}.ts`
      origin.set(name, `${doc}:${line}`)
      writeFileSync(join(dir, name), `${code}\nexport {}\n`)
    }
  }
  t.ok(origin.size >= 20, `${origin.size} blocks found`)
  writeFileSync(join(dir, 'ambient.d.ts'), ambient)
  // `import { buildApp } from '../app.js'` in docs/testing.md: the example app plays "your app".
  writeFileSync(join(dir, '..', 'app.ts'), "export { buildApp } from '../../examples/app.js'\n")
  // `import { api } from './contract.js'` in docs/contracts.md: the contract its first block defines.
  writeFileSync(join(dir, 'contract.ts'), tsBlocks(join(root, 'docs/contracts.md'))[0].code)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../../../tsconfig.json',
    compilerOptions: {
      noEmit: true,
      rootDir: '../../..',
      noUnusedLocals: false,
      paths: { 'fastify-wamp': ['../../../index.ts'], 'fastify-wamp/testing': ['../../../lib/testing/index.ts'], 'fastify-wamp/client': ['../../../lib/client/index.ts'] }
    },
    include: ['*.ts', '../app.ts'],
    exclude: []
  }))
  let output = ''
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'pipe' })
  } catch (err) {
    output = (err as { stdout: Buffer }).stdout.toString()
  }
  // Report each error at its place in the markdown file.
  const errors = output.split('\n').filter((l) => l.includes('error TS')).map((l) => {
    const m = /([^/\s]+\.ts)\((\d+),\d+\): (.*)$/.exec(l)
    if (m === null || !origin.has(m[1])) return l
    const [doc, line] = (origin.get(m[1]) as string).split(':')
    return `${doc}:${Number(line) + Number(m[2]) - 1}: ${m[3]}`
  })
  t.same(errors, [], 'no type errors')
})
