import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

// The built package (dist/) as a user installs it: `import` from ESM, `require()` from CommonJS, with .d.ts.
const root = resolve(import.meta.dirname, '..')
// tsc over the whole dependency graph (skipLibCheck off) takes minutes on a loaded 2-core machine: the file's own bound.
t.setTimeout(600_000)

let built = false
/** dist/, built once per run (every test here uses it). */
function build (): void {
  if (built) return
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
  built = true
}

t.test('the built package loads from ESM and CommonJS and ships type declarations', async (t) => {
  build()
  t.ok(existsSync(join(root, 'dist/index.d.ts')), 'dist/index.d.ts')
  t.ok(existsSync(join(root, 'dist/lib/hub.d.ts')))

  const dir = mkdtempSync(join(tmpdir(), 'fastify-wamp-pkg-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'fastify-wamp'), 'dir')
  symlinkSync(join(root, 'node_modules', 'fastify'), join(dir, 'node_modules', 'fastify'), 'dir')
  const script = (load: string) => `${load}
    const app = Fastify()
    await app.register(plugin, { realm: 'realm1' })
    app.wamp.register('x', () => 1)
    await app.ready()
    console.log(JSON.stringify({ name: plugin[Symbol.for('plugin-meta')].name, wamp: typeof app.wamp.publishToAll, err: typeof WampError }))
    await app.close()`
  writeFileSync(join(dir, 'esm.mjs'), script(`import Fastify from 'fastify'
    import plugin, { WampError } from 'fastify-wamp'`))
  writeFileSync(join(dir, 'cjs.cjs'), `(async () => { ${script(`const Fastify = require('fastify')
    const { default: plugin, WampError } = require('fastify-wamp')`)} })()`)
  const expected = { name: 'fastify-wamp', wamp: 'function', err: 'function' }
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    const out = execFileSync(process.execPath, [join(dir, file)], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } }).toString()
    t.same(JSON.parse(out.trim().split('\n').pop() as string), expected, file)
  }
})

// A strict consumer project built from the packed tarball: its dependencies are exactly what package.json promises
// (dependencies + required peers, linked from this checkout's node_modules; no network), nothing more. Compiled
// with skipLibCheck off, so every shipped .d.ts must stand on its own — with and without the optional ioredis.
const consumerSource = `import Fastify from 'fastify'
import Type from 'typebox'
import fastifyWamp, { RedisFanout, LocalFanout, WampError, errors } from 'fastify-wamp'
import type { FanoutAdapter, FastifyWampOptions, WampSession } from 'fastify-wamp'
import { connect, typed } from 'fastify-wamp/testing'
import { defineContract, typedClient, wampyAdapter } from 'fastify-wamp/client'
import type { TypedClient, WampyLike } from 'fastify-wamp/client'

declare module 'fastify-wamp' {
  interface SessionData { user?: string }
}

const app = Fastify()
const options: FastifyWampOptions = { path: '/ws', realm: 'realm1', maxSessions: 10 }
await app.register(fastifyWamp, options)
await app.register(fastifyWamp, { prefix: '/v1', logLevel: 'warn' })
app.wamp.register('com.example.add', { args: Type.Tuple([Type.Number(), Type.Number()]) }, ([a, b]) => a + b)
app.wamp.onSessionOpen(async (session: WampSession) => {
  session.data.user = 'ada'
  const user: string | undefined = session.data.user
  await session.registered('com.client.ping', { timeout: 1000 })
  void user
})
const fanout: FanoutAdapter = new RedisFanout({ redis: 'redis://127.0.0.1:6379', prefix: 'x:' })
const local: FanoutAdapter = new LocalFanout()
const invalid: Error = new errors.FST_WAMP_INVALID_OPTION('x')
void [fanout, local, invalid, new WampError('com.example.error')]
const api = defineContract({ procedures: { 'com.example.twice': { args: Type.Tuple([Type.Number()]), result: { args: Type.Tuple([Type.Number()]) } } } })
app.wamp.implement(api, { 'com.example.twice': ([n]) => n * 2 })
declare const wampy: WampyLike
const viaWampy: TypedClient<typeof api> = typedClient(api, wampyAdapter(wampy))
void viaWampy
const client = await connect(app)
void typed(client, api).call('com.example.twice', [2])
await client.close()
`

function consumerProject (t: { teardown (fn: () => unknown): void }): string {
  build()
  const dir = mkdtempSync(join(tmpdir(), 'fastify-wamp-consumer-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('npm', ['pack', '--pack-destination', dir, '--ignore-scripts', '--silent'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const pkgDir = join(dir, 'node_modules', 'fastify-wamp')
  mkdirSync(pkgDir, { recursive: true })
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz')) as string
  execFileSync('tar', ['-xzf', join(dir, tarball), '-C', pkgDir, '--strip-components=1'])
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>, peerDependencies: Record<string, string>, peerDependenciesMeta: Record<string, { optional?: boolean }>
  }
  const required = Object.keys(manifest.peerDependencies).filter((name) => manifest.peerDependenciesMeta[name]?.optional !== true)
  // What the consumer itself installs: fastify, TypeScript and Node's types (ioredis is linked later by the test).
  for (const name of new Set([...Object.keys(manifest.dependencies), ...required, 'fastify', 'typescript', '@types/node'])) link(dir, name)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      exactOptionalPropertyTypes: true,
      skipLibCheck: false,
      noEmit: true,
      // The second compile (ioredis added) rechecks only what the new module changes.
      incremental: true,
      tsBuildInfoFile: 'tsbuildinfo',
      types: ['node']
    },
    include: ['consumer.ts']
  }))
  writeFileSync(join(dir, 'consumer.ts'), consumerSource)
  return dir
}

function link (dir: string, name: string): void {
  mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
  symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name), 'dir')
}

function compile (dir: string): string {
  try {
    execFileSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, stdio: 'pipe' })
    return ''
  } catch (err) {
    return (err as { stdout: Buffer }).stdout.toString()
  }
}

t.test('issue 19: the packed package in a strict consumer project, without and with ioredis', async (t) => {
  const dir = consumerProject(t)
  t.notOk(existsSync(join(dir, 'node_modules', 'ioredis')), 'ioredis is not installed')

  // redis:// without ioredis: an FST_WAMP error that says what to install.
  writeFileSync(join(dir, 'redis.mjs'), `import Fastify from 'fastify'
    import fastifyWamp from 'fastify-wamp'
    const app = Fastify()
    app.register(fastifyWamp, { redis: 'redis://127.0.0.1:6379' })
    try { await app.ready(); console.log('{}') } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })) }
    await app.close().catch(() => {})`)
  const out = execFileSync(process.execPath, [join(dir, 'redis.mjs')], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } }).toString()
  const result = JSON.parse(out.trim().split('\n').pop() as string) as { code?: string, message?: string }
  t.equal(result.code, 'FST_WAMP_MISSING_DEPENDENCY')
  t.match(result.message, /npm install ioredis/)

  t.equal(compile(dir), '', 'tsc: strict, exactOptionalPropertyTypes, skipLibCheck false, ioredis absent')
  link(dir, 'ioredis')
  t.equal(compile(dir), '', 'the same with ioredis installed')
})
