import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { connect } from '../lib/testing/index.js'

// The README's quick start, as written, runs: it is extracted, pointed at this checkout and port 0, and driven.
const root = resolve(import.meta.dirname, '..')

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
  const res = await app.inject({ method: 'POST', url: '/notify', payload: { headline: 'up' } })
  t.same(res.json(), { delivered: 1 })
  t.same((await client.nextEvent('com.example.news')).args, [{ headline: 'up' }])
  await client.close()
})
