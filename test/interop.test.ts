import t from 'tap'
import Type from 'typebox'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import type { FastifyInstance } from 'fastify'

// Real WAMP clients from npm against the plugin: the PROTOCOL §6 promise that standard clients just work.

function setup (app: FastifyInstance, received: unknown[]): void {
  app.wamp.register('com.math.add', { args: Type.Tuple([Type.Number(), Type.Number()]) }, ([a, b]) => a + b)
  app.wamp.register('com.user.greet', { kwargs: Type.Object({ name: Type.String() }) }, (_a, { name }) => `hi ${name}`)
  app.wamp.subscribe('com.chat.say', { args: Type.Tuple([Type.String()]) }, ([text]) => { received.push(text) })
  app.post('/broadcast', async (req) => ({ sent: app.wamp.publishToAll('com.news', [req.body]) }))
}

async function broadcast (port: number, body: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}/broadcast`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body)
  })
  return res.json()
}

for (const serializer of ['json', 'msgpack', 'cbor'] as const) {
  t.test(`autobahn-js (${serializer}): call, errors, subscribe, publish with acknowledge, leave`, async (t) => {
    const received: unknown[] = []
    const { url, app, port } = await startApp(t, {}, (app) => setup(app, received))
    const ab = await connectAutobahn(url, { serializer })
    t.equal(ab.protocol, `wamp.2.${serializer}`)
    const { session } = ab

    t.equal(await session.call('com.math.add', [2, 3]), 5)
    t.equal(await session.call('com.user.greet', [], { name: 'ada' }), 'hi ada')
    const invalid = await Promise.resolve(session.call('com.math.add', [2, 'x'])).then(() => undefined, (e: any) => e)
    t.equal(invalid?.error, 'wamp.error.invalid_argument')
    t.match(invalid?.args[0], /number/)
    const missing = await Promise.resolve(session.call('com.nope')).then(() => undefined, (e: any) => e)
    t.equal(missing?.error, 'wamp.error.no_such_procedure')

    const events: unknown[] = []
    await session.subscribe('com.news', (args) => { events.push(args?.[0]) })
    t.same(await broadcast(port, { headline: 'up' }), { sent: 1 })
    await until(() => events.length === 1, 2000, 'the event')
    t.same(events, [{ headline: 'up' }])

    const publication = await session.publish('com.chat.say', ['hello'], {}, { acknowledge: true })
    t.type(publication?.id, 'number')
    await until(() => received.length === 1, 2000, 'the server handler')
    t.same(received, ['hello'])
    const refused = await Promise.resolve(session.publish('com.chat.say', [1], {}, { acknowledge: true })).then(() => undefined, (e: any) => e)
    t.equal(refused?.error, 'wamp.error.invalid_argument')

    t.same(ab.errors, [], 'autobahn reported no protocol errors')
    await ab.close()
    await until(() => app.wamp.sessions.size === 0)
  })

  t.test(`wampy.js (${serializer}): call, errors, subscribe, publish with acknowledge, leave`, async (t) => {
    const received: unknown[] = []
    const { url, app, port } = await startApp(t, {}, (app) => setup(app, received))
    const wy = await connectWampy(url, { serializer })
    const { client } = wy

    const sum = await client.call('com.math.add', [2, 3])
    t.same(sum.argsList, [5])
    const greet = await client.call('com.user.greet', { name: 'bob' })
    t.same(greet.argsList, ['hi bob'])
    const invalid = await client.call('com.math.add', [2, 'x']).then(() => undefined, (e: any) => e)
    t.equal(invalid?.errorUri, 'wamp.error.invalid_argument')
    const missing = await client.call('com.nope').then(() => undefined, (e: any) => e)
    t.equal(missing?.errorUri, 'wamp.error.no_such_procedure')

    const events: unknown[] = []
    await client.subscribe('com.news', (e: { argsList?: unknown[] }) => { events.push(e.argsList?.[0]) })
    t.same(await broadcast(port, { headline: 'down' }), { sent: 1 })
    await until(() => events.length === 1, 2000, 'the event')
    t.same(events, [{ headline: 'down' }])

    await client.publish('com.chat.say', ['hey'])
    await until(() => received.length === 1, 2000, 'the server handler')
    t.same(received, ['hey'])
    const refused = await client.publish('com.chat.say', [7]).then(() => undefined, (e: any) => e)
    t.equal(refused?.errorUri, 'wamp.error.invalid_argument')

    t.same(wy.errors, [], 'wampy reported no errors')
    await wy.close()
    await until(() => app.wamp.sessions.size === 0)
  })
}
