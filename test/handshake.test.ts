import t from 'tap'
import { startApp, until } from './helpers/app.js'
import { connectRaw, openRaw, MSG } from './helpers/raw-client.js'
import type { UpgradeRefusedError } from './helpers/raw-client.js'

t.test('answers HELLO with a WELCOME that carries identity, agent and truthful feature objects', async (t) => {
  const { url } = await startApp(t)
  const { client, sessionId, welcome } = await connectRaw(url)
  t.ok(Number.isInteger(sessionId) && sessionId >= 1 && sessionId <= 2 ** 53, 'session id in [1, 2^53]')
  const details = welcome[2] as Record<string, any>
  t.equal(details.realm, 'realm1')
  t.equal(details.authrole, 'anonymous')
  t.equal(details.authmethod, 'anonymous')
  t.equal(details.authprovider, 'static')
  t.type(details.authid, 'string')
  t.match(details.agent, /^fastify-wamp\//)
  t.type(details.roles.dealer.features, 'object')
  t.type(details.roles.broker.features, 'object')
  t.notOk(details.roles.broker.features.publisher_exclusion, 'client-to-client features are not advertised')
  await client.close()
})

t.test('gives live sessions distinct ids', async (t) => {
  const { url } = await startApp(t)
  const clients = await Promise.all(Array.from({ length: 20 }, () => connectRaw(url)))
  t.equal(new Set(clients.map((c) => c.sessionId)).size, 20)
  await Promise.all(clients.map((c) => c.client.close()))
})

t.test('chooses the first subprotocol in the client\'s order', async (t) => {
  const { url } = await startApp(t)
  for (const [offer, expected] of [
    [['wamp.2.msgpack', 'wamp.2.json'], 'wamp.2.msgpack'],
    [['wamp.2.cbor', 'wamp.2.msgpack'], 'wamp.2.cbor'],
    [['wamp.2.ubjson', 'wamp.2.json', 'wamp.2.cbor'], 'wamp.2.json']
  ] as const) {
    const { client, welcome } = await connectRaw(url, { protocols: [...offer] })
    t.equal(client.protocol, expected, `${offer.join(',')} → ${expected}`)
    t.equal(welcome[0], MSG.WELCOME)
    await client.close()
  }
})

t.test('refuses the upgrade with 400 when no supported subprotocol is offered', async (t) => {
  const { url } = await startApp(t)
  for (const protocols of [[], ['wamp.2.ubjson'], ['mqtt']]) {
    const err = await openRaw(url, { protocols }).then(() => undefined, (e: UpgradeRefusedError) => e)
    t.equal(err?.statusCode, 400, `offer [${protocols.join(',')}] refused`)
  }
})

t.test('aborts HELLO for an unknown realm with no_such_realm', async (t) => {
  const { url } = await startApp(t)
  const client = await openRaw(url)
  const abort = await client.hello('nowhere')
  t.equal(abort[0], MSG.ABORT)
  t.equal(abort[2], 'wamp.error.no_such_realm')
  t.type((abort[1] as Record<string, unknown>).message, 'string')
  await client.expectClose()
})

t.test('serves several realms, each with its own procedures', async (t) => {
  const { url } = await startApp(t, { realms: ['one', 'two'] }, (app) => {
    app.wamp.register('where', () => 'one')
    app.wamp.realm('two').register('where', () => 'two')
  })
  for (const realm of ['one', 'two']) {
    const { client, welcome } = await connectRaw(url, { realm })
    t.equal((welcome[2] as Record<string, unknown>).realm, realm)
    client.send([MSG.CALL, 1, {}, 'where'])
    t.same(await client.next(), [MSG.RESULT, 1, {}, [realm]])
    await client.close()
  }
})

const violatingFirstMessages: Array<[string, unknown[] | string]> = [
  ['CALL before HELLO', [48, 1, {}, 'x']],
  ['GOODBYE before HELLO', [6, {}, 'wamp.close.close_realm']],
  ['an empty list', []],
  ['HELLO without details', [1, 'realm1']],
  ['HELLO with a number realm', [1, 123, {}]],
  ['HELLO without roles', [1, 'realm1', {}]],
  ['HELLO with an invalid realm URI', [1, 'bad realm', { roles: { caller: {} } }]],
  ['invalid JSON', '[1, "realm1", {'],
  ['a JSON object', '{"type": 1}']
]

for (const [what, frame] of violatingFirstMessages) {
  t.test(`aborts with protocol_violation on ${what} as first message`, async (t) => {
    const { url } = await startApp(t)
    const client = await openRaw(url)
    if (typeof frame === 'string') client.sendRaw(frame, false)
    else client.send(frame)
    const abort = await client.next()
    t.equal(abort[0], MSG.ABORT)
    t.equal(abort[2], 'wamp.error.protocol_violation')
    t.type((abort[1] as Record<string, unknown>).message, 'string')
    await client.expectClose()
  })
}

t.test('aborts a client that sends no HELLO within helloTimeout', async (t) => {
  const { url } = await startApp(t, { helloTimeout: 100 })
  const client = await openRaw(url)
  const abort = await client.next(1000)
  t.same(abort.slice(0, 1), [MSG.ABORT])
  t.equal(abort[2], 'wamp.error.protocol_violation')
  t.match((abort[1] as Record<string, string>).message, /HELLO/)
  await client.expectClose()
})

t.test('answers GOODBYE with goodbye_and_out; the session ends, the socket stays open until the client closes it', async (t) => {
  const { url, app } = await startApp(t)
  const { client } = await connectRaw(url)
  t.equal(app.wamp.sessions.size, 1)
  client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await until(() => app.wamp.sessions.size === 0, 2000, 'the session to be removed')
  t.equal(app.wamp.connections, 1, 'the socket is still there (PROTOCOL §7.8: it may carry another session)')
  await client.close()
  await until(() => app.wamp.connections === 0, 2000, 'the socket to be released')
})

t.test('sends GOODBYE system_shutdown to every session when Fastify closes', async (t) => {
  const { url, app } = await startApp(t)
  const a = await connectRaw(url)
  const b = await connectRaw(url, { protocols: ['wamp.2.msgpack'] })
  const closing = app.close()
  for (const { client } of [a, b]) {
    t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
    client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  }
  await closing
  t.equal((await a.client.expectClose()).code, 1001)
  t.equal((await b.client.expectClose()).code, 1001)
  t.equal(app.wamp.sessions.size, 0)
})

t.test('closes sessions that do not answer the shutdown GOODBYE after the grace period', async (t) => {
  const { url, app } = await startApp(t, { shutdownGrace: 100 })
  const { client } = await connectRaw(url)
  const started = Date.now()
  await app.close()
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
  await client.expectClose()
  t.ok(Date.now() - started < 2000, 'closed within the grace period, not ws\' 30 s close timeout')
})
