import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

// The built package (dist/) as a user installs it: `import` from ESM, `require()` from CommonJS, with .d.ts.
const root = resolve(import.meta.dirname, '..')

t.test('the built package loads from ESM and CommonJS and ships type declarations', async (t) => {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
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
