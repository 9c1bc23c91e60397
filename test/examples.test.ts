import t from 'tap'
import { buildApp } from '../examples/app.js'
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
