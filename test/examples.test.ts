import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join, resolve } from 'node:path'
import { about, buildApp } from '../examples/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import { until } from './helpers/app.js'

// The example app, as `npm start` runs it, driven by real clients.
t.test('examples/app.ts: typed procedure, class service, topic handler and HTTP-pushed events', async (t) => {
  const app = await buildApp({ logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const url = `ws://127.0.0.1:${port}/ws`

  const ab = await connectAutobahn(url)
  const wy = await connectWampy(url, { serializer: 'msgpack' })
  t.equal(await ab.session.call('com.example.add', [20, 22]), 42)
  t.match(await ab.session.call('com.example.greet', [], { name: 'Ada' }), /^Hello Ada, you are session \d+$/)
  const unknown = await Promise.resolve(ab.session.call('com.example.greet', [], { name: 'nobody' })).then(() => undefined, (e: any) => e)
  t.equal(unknown?.error, 'com.example.error.unknown_person')
  t.equal(await ab.session.call('com.example.geo.distance', [{ x: 0, y: 0 }, { x: 3, y: 4 }]), 5)

  await wy.client.publish('com.example.geo.visit', [{ x: 1, y: 2 }])
  t.same(await ab.session.call('com.example.geo.recent', [], { limit: 1 }), [{ x: 1, y: 2 }])

  const news: unknown[] = []
  await wy.client.subscribe('com.example.news', (e: { argsList?: unknown[] }) => { news.push(e.argsList?.[0]) })
  const res = await fetch(`http://127.0.0.1:${port}/api/notify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'deployed' })
  })
  t.same(await res.json(), { delivered: 1 })
  await until(() => news.length === 1)
  t.same(news, ['deployed'])
  t.same(await (await fetch(`http://127.0.0.1:${port}/api/sessions`)).json(), { count: 2 })
  await ab.close()
  await wy.close()
})

t.test('issue 19: examples/app.ts says what runs at GET /', async (t) => {
  const app = await buildApp({ logger: false })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'GET', url: '/' })
  t.same(res.json(), about)
  t.same(Object.keys(about.procedures), ['com.example.add', 'com.example.greet', 'com.example.geo.distance', 'com.example.geo.recent'],
    'the procedures the test above calls')
})

t.test('issue 19: npm start closes gracefully on SIGTERM: GOODBYE system_shutdown, exit 0', async (t) => {
  const root = resolve(import.meta.dirname, '..')
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples', 'app.ts')], {
    cwd: root, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m !== null) resolve(m[1].replace('http', 'ws') + '/ws')
    })
    child.once('exit', (code) => reject(new Error(`exited with ${String(code)} before listening: ${out}`)))
  })
  const { client } = await connectRaw(url)
  child.kill('SIGTERM')
  const goodbye = await client.next()
  t.equal(goodbye[0], MSG.GOODBYE)
  t.equal(goodbye[2], 'wamp.close.system_shutdown')
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0)
})
