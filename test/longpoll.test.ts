import t from 'tap'
import { request as httpRequest } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { startApp, until, hubOf, internal } from './helpers/app.js'
import type { LongPollTransport } from '../lib/transports/longpoll-transport.js'
import type { TestApp } from './helpers/app.js'
import { MSG, connectRaw } from './helpers/raw-client.js'
import { close, HELLO_ROLES, open, post, receive, receiveMessages, send } from './helpers/longpoll-client.js'
import type { LongPoll } from './helpers/longpoll-client.js'
import type { FastifyWampOptions } from '../index.js'

// The HTTP long-poll transport with plain HTTP (fetch): exact shapes, refusals, the session's ending, bounds.

function transportOf (app: FastifyInstance, sessionId: number): LongPollTransport {
  return internal(app.wamp.sessions.get(sessionId)).transport as LongPollTransport
}

const ID = /^[A-Za-z0-9_-]{22}$/

async function lpApp (t: Parameters<typeof startApp>[0], options: FastifyWampOptions = {}, setup?: Parameters<typeof startApp>[2]): Promise<TestApp & { base: string }> {
  const started = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 2000, idleTimeout: 5000 }, ...options }, setup)
  return { ...started, base: `http://127.0.0.1:${started.port}/lp` }
}

/** Opens a transport and joins realm1; returns the transport and WELCOME's session id. */
async function join (base: string, protocols?: string[]): Promise<{ lp: LongPoll, sessionId: number }> {
  const lp = await open(base, protocols)
  if (await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }]) !== 204) throw new Error('HELLO not accepted')
  const [welcome] = await receiveMessages(lp, 1)
  if (welcome[0] !== MSG.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`)
  return { lp, sessionId: welcome[1] as number }
}

t.test('open answers the transport id and the protocol chosen; a session then calls, subscribes and says goodbye', async (t) => {
  const { app, base } = await lpApp(t, {}, (app) => {
    app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number))
  })
  const res = await post(base + '/open?x=123', JSON.stringify({ protocols: ['wamp.2.cbor.unknown', 'wamp.2.json'] }))
  t.equal(res.status, 200)
  t.match(res.contentType, /^application\/json/)
  const opened = JSON.parse(res.body.toString())
  t.same(Object.keys(opened).sort(), ['protocol', 'transport'])
  t.equal(opened.protocol, 'wamp.2.json', 'the first protocol the server speaks, in the client\'s order')
  t.match(opened.transport, ID, '128 random bits, URL-safe')
  const lp: LongPoll = { base, transport: opened.transport, protocol: opened.protocol }

  t.equal(await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }]), 204, 'a send is answered 204')
  const welcome = await receive(lp)
  t.equal(welcome.status, 200)
  t.match(welcome.contentType, /^application\/json/)
  t.equal(welcome.messages[0][0], MSG.WELCOME)
  const session = app.wamp.sessions.get(welcome.messages[0][1] as number)
  t.equal(session?.transport.kind, 'longpoll', 'the session knows its transport')
  t.equal(session?.protocol, 'wamp.2.json')

  await send(lp, [MSG.CALL, 1, {}, 'add', [2, 3]])
  t.same(await receiveMessages(lp, 1), [[MSG.RESULT, 1, {}, [5]]])
  await send(lp, [MSG.SUBSCRIBE, 2, {}, 'news'])
  const [subscribed] = await receiveMessages(lp, 1)
  t.equal(subscribed[0], MSG.SUBSCRIBED)
  // Events published while no receive is pending wait in the queue; unbatched, one per receive.
  app.wamp.publishToAll('news', ['a'])
  app.wamp.publishToAll('news', ['b'])
  const first = await receive(lp)
  const second = await receive(lp)
  t.same([first.messages.length, second.messages.length], [1, 1], 'unbatched: one message per receive')
  t.same([first.messages[0][4], second.messages[0][4]], [['a'], ['b']], 'in order')

  await send(lp, [MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  t.same(await receiveMessages(lp, 1), [[MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out']])
  await until(() => app.wamp.sessions.size === 0, 2000, 'the WAMP session to end')
  t.equal(await close(lp), 204, 'close is answered 204')
  t.equal(hubOf(app).connections, 0, 'the transport is gone')
  t.equal(await send(lp, [MSG.HELLO, 'realm1', {}]), 404, 'a closed transport is unknown')
})

t.test('a receive with nothing to say is held, answered empty after pollTimeout, or at once when a message comes', async (t) => {
  const { app, base } = await lpApp(t, { longPoll: { pollTimeout: 100, idleTimeout: 5000 } })
  const { lp, sessionId } = await join(base)
  const empty = await receive(lp)
  t.equal(empty.status, 204, 'nothing queued: 204 after pollTimeout')
  await send(lp, [MSG.SUBSCRIBE, 1, {}, 'news'])
  await receiveMessages(lp, 1)
  const held = receive(lp)
  await until(() => transportOf(app, sessionId).polling, 2000, 'the receive to be held')
  setImmediate(() => app.wamp.publishToAll('news', ['now']))
  const answered = await held
  t.equal(answered.status, 200)
  t.equal(answered.messages[0][0], MSG.EVENT, 'the held receive carries the event')
  await close(lp)
})

t.test('open refusals: no body, not JSON, no common protocol, maxSessions shared with WebSocket', async (t) => {
  const { url, base } = await lpApp(t, { maxSessions: 1 })
  const noBody = await post(base + '/open')
  t.equal(noBody.status, 400)
  t.match(JSON.parse(noBody.body.toString()), { statusCode: 400, code: 'FST_WAMP_LONGPOLL_BAD_OPEN' })
  t.equal((await post(base + '/open', '{nope')).status, 400)
  t.equal((await post(base + '/open', JSON.stringify({ protocols: 'wamp.2.json' }))).status, 400)
  const none = await post(base + '/open', JSON.stringify({ protocols: ['wamp.2.xml'] }))
  t.equal(none.status, 400)
  t.match(JSON.parse(none.body.toString()), { code: 'FST_WAMP_NO_SUBPROTOCOL' })
  const big = await post(base + '/open', JSON.stringify({ protocols: ['wamp.2.json'], pad: 'x'.repeat(20_000) }))
  t.equal(big.status, 413, 'an open body is small')

  const raw = await connectRaw(url)
  const full = await post(base + '/open', JSON.stringify({ protocols: ['wamp.2.json'] }))
  t.equal(full.status, 503, 'one WebSocket session takes the only slot')
  t.match(JSON.parse(full.body.toString()), { code: 'FST_WAMP_TOO_MANY_SESSIONS' })
  await raw.client.close()
})

t.test('unknown transport ids are 404 on send, receive and close', async (t) => {
  const { base } = await lpApp(t)
  for (const what of ['send', 'receive', 'close']) {
    const res = await post(`${base}/AAAAAAAAAAAAAAAAAAAAAA/${what}`, what === 'send' ? '[1,"realm1",{}]' : undefined)
    t.equal(res.status, 404, what)
    t.match(JSON.parse(res.body.toString()), { code: 'FST_WAMP_LONGPOLL_UNKNOWN' })
  }
})

t.test('a send over maxPayload is refused with 413; the session goes on', async (t) => {
  const { app, base } = await lpApp(t, { maxPayload: 4096 }, (app) => { app.wamp.register('echo', (args: unknown[]) => args[0]) })
  const { lp } = await join(base)
  t.equal(await send(lp, [MSG.CALL, 1, {}, 'echo', ['x'.repeat(5000)]]), 413)
  await send(lp, [MSG.CALL, 2, {}, 'echo', ['small']])
  t.same(await receiveMessages(lp, 1), [[MSG.RESULT, 2, {}, ['small']]], 'the next call works')
  t.equal(app.wamp.sessions.size, 1)
  await close(lp)
})

t.test('a malformed send: ABORT protocol_violation waits in the queue, then the transport ends', async (t) => {
  let closed = 0
  const { app, base } = await lpApp(t, { closeTimeout: 200 }, (app) => { app.wamp.onSessionClose(() => { closed++ }) })
  const { lp } = await join(base)
  t.equal((await post(`${lp.base}/${lp.transport}/send`, '[48, 1, {}, "add"')).status, 204, 'the body was taken')
  const [abort] = await receiveMessages(lp, 1)
  t.equal(abort[0], MSG.ABORT)
  t.equal(abort[2], 'wamp.error.protocol_violation')
  t.match((abort[1] as { message: string }).message, /could not be decoded/)
  await until(() => hubOf(app).connections === 0, 2000, 'the transport to end (closeTimeout)')
  t.equal(closed, 1, 'the session ended once')
  t.equal((await receive(lp)).status, 404)

  const deep = await open(base)
  await send(deep, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }])
  await receiveMessages(deep, 1)
  let nested: unknown = 1
  for (let i = 0; i < 100; i++) nested = [nested]
  await send(deep, [MSG.CALL, 1, {}, 'add', [nested]])
  const [tooDeep] = await receiveMessages(deep, 1)
  t.same([tooDeep[0], tooDeep[2]], [MSG.ABORT, 'wamp.error.protocol_violation'], 'maxDepth holds over long-poll too')
  t.equal(await close(deep), 204, 'the client may close during the close handshake')
  await until(() => hubOf(app).connections === 0)
})

t.test('a client that stops polling expires after idleTimeout: its session ends as if the socket dropped', async (t) => {
  let closed = 0
  const { app, base } = await lpApp(t, { longPoll: { pollTimeout: 100, idleTimeout: 300 } }, (app) => {
    app.wamp.onSessionClose(() => { closed++ })
  })
  const { lp } = await join(base)
  t.equal(app.wamp.sessions.size, 1)
  await until(() => app.wamp.sessions.size === 0, 3000, 'the idle session to end')
  t.equal(closed, 1)
  t.equal(hubOf(app).connections, 0)
  t.equal((await receive(lp)).status, 404, 'the id is forgotten')
})

t.test('a client that polls but never reads fast enough past maxBufferedBytes is cut off', async (t) => {
  const { app, base } = await lpApp(t, { maxPayload: 1024, maxBufferedBytes: 4096, longPoll: { pollTimeout: 100, idleTimeout: 60_000 } })
  const { lp } = await join(base)
  await send(lp, [MSG.SUBSCRIBE, 1, {}, 'flood'])
  await receiveMessages(lp, 1)
  t.equal(hubOf(app).stats().bufferedBytes, 0)
  let sent = 0
  for (let i = 0; i < 100; i++) sent += app.wamp.publishToAll('flood', ['y'.repeat(200)])
  t.ok(sent < 100, `EVENTs stop once the queue is over maxBufferedBytes (${sent} sent)`)
  await until(() => app.wamp.sessions.size === 0, 2000, 'the session to end')
  t.equal((await receive(lp)).status, 404)
})

t.test('batched msgpack: one send carries several messages, one receive answers everything queued', async (t) => {
  const { app, base } = await lpApp(t, { longPoll: { pollTimeout: 100, idleTimeout: 5000 } }, (app) => { app.wamp.register('twice', (args) => (args[0] as number) * 2) })
  const lp = await open(base, ['wamp.2.msgpack.batched'])
  t.equal(lp.protocol, 'wamp.2.msgpack.batched')
  t.equal(await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }], [MSG.CALL, 1, {}, 'twice', [21]], [MSG.CALL, 2, {}, 'twice', [4]]), 204)
  const messages = await receiveMessages(lp, 3)
  t.equal(messages[0][0], MSG.WELCOME)
  t.same(messages.slice(1), [[MSG.RESULT, 1, {}, [42]], [MSG.RESULT, 2, {}, [8]]])
  const res = await post(`${lp.base}/${lp.transport}/receive`)
  t.equal(res.status, 204)
  t.equal(app.wamp.sessions.size, 1)
  t.equal(await send(lp, [MSG.GOODBYE, {}, 'wamp.close.close_realm']), 204)
  const bye = await receive(lp)
  t.equal(bye.contentType, 'application/x-msgpack')
  t.same(bye.messages, [[MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out']])
  await close(lp)
})

t.test('the app\'s hooks guard the long-poll routes like the WebSocket upgrade', async (t) => {
  const { base } = await lpApp(t, {}, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/lp') && request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'no' })
    })
  })
  t.equal((await post(base + '/open', JSON.stringify({ protocols: ['wamp.2.json'] }))).status, 401)
  const lp = await open(base, ['wamp.2.json'], { authorization: 'Bearer ok' })
  t.equal(await send(lp, [MSG.HELLO, 'realm1', {}]), 401, 'every request goes through the hooks')
  t.equal((await post(`${base}/${lp.transport}/close`, undefined, { authorization: 'Bearer ok' })).status, 204)
})

t.test('stats() and the meta API see long-poll sessions', async (t) => {
  const { app, base } = await lpApp(t, { metaApi: true })
  const { lp, sessionId } = await join(base)
  t.match(app.wamp.stats(), { connections: 1, sessions: 1, sessionsByTransport: { longpoll: 1 } })
  await send(lp, [MSG.CALL, 1, {}, 'wamp.session.get', [sessionId]])
  const [result] = await receiveMessages(lp, 1)
  t.match(result, [MSG.RESULT, 1, {}, [{ session: sessionId, transport: { type: 'longpoll', protocol: 'wamp.2.json' } }]])
  await close(lp)
  await until(() => app.wamp.sessions.size === 0)
})

t.test('shutdown: the held receive carries GOODBYE system_shutdown, and the transport ends', async (t) => {
  const { app, base } = await lpApp(t)
  const { lp, sessionId } = await join(base)
  const held = receive(lp)
  await until(() => transportOf(app, sessionId).polling, 2000, 'the receive to be held')
  const closing = app.close()
  const answer = await held
  t.equal(answer.status, 200)
  t.same(answer.messages, [[MSG.GOODBYE, {}, 'wamp.close.system_shutdown']])
  await closing
  t.equal(app.wamp.sessions.size, 0)
  t.equal(hubOf(app).connections, 0)
})

t.test('exactly once: a call in flight when its transport expires ends once; its result goes nowhere', async (t) => {
  let aborted = 0
  let finish: (v: string) => void = () => {}
  const { app, base } = await lpApp(t, { longPoll: { pollTimeout: 100, idleTimeout: 300 } }, (app) => {
    app.wamp.register('slow', (_a, _k, ctx) => new Promise<string>((resolve) => {
      finish = resolve
      ctx.signal.addEventListener('abort', () => { aborted++ })
    }))
  })
  const { lp } = await join(base)
  await send(lp, [MSG.CALL, 1, {}, 'slow'])
  await until(() => app.wamp.stats().callsInFlight === 1)
  await until(() => app.wamp.sessions.size === 0, 3000, 'the transport to expire')
  t.equal(aborted, 1, 'the handler\'s signal fired once')
  finish('late')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(hubOf(app).stats().callsInFlight, 0)
  t.equal(hubOf(app).connections, 0)
})

t.test('while an async authorize decides, sends are taken but answered only when the session reads again', async (t) => {
  let asked = 0
  let decide: (allowed: boolean) => void = () => {}
  const decision = new Promise<boolean>((resolve) => { decide = resolve })
  const { base } = await lpApp(t, {
    authorize: (_session, action, uri) => {
      if (action !== 'call' || uri !== 'gated') return true
      asked++
      return decision
    }
  }, (app) => { app.wamp.register('gated', () => 'in') })
  const { lp } = await join(base)
  let answered = false
  const sending = send(lp, [MSG.CALL, 1, {}, 'gated']).then((status) => { answered = true; return status })
  await until(() => asked === 1, 2000, 'authorize to be asked')
  t.equal(answered, false, 'the send waits for the decision')
  decide(true)
  t.equal(await sending, 204)
  t.same(await receiveMessages(lp, 1), [[MSG.RESULT, 1, {}, ['in']]])
  await close(lp)
})

t.test('a held receive the client abandons does not count as polling: the transport still expires', async (t) => {
  const { app, base } = await lpApp(t, { longPoll: { pollTimeout: 60_000, idleTimeout: 300 } })
  const { lp, sessionId } = await join(base)
  // node:http rather than fetch: destroying the request closes its connection (an aborted fetch leaves undici's open).
  const request = httpRequest(`${lp.base}/${lp.transport}/receive`, { method: 'POST' })
  request.on('error', () => {})
  request.end()
  await until(() => transportOf(app, sessionId).polling, 2000, 'the receive to be held')
  request.destroy()
  await until(() => app.wamp.sessions.size === 0, 3000, 'the transport to expire')
  t.equal(hubOf(app).connections, 0)
})

t.test('the plugin\'s prefix applies to the long-poll routes as to the WebSocket route', async (t) => {
  const Fastify = (await import('fastify')).default
  const plugin = (await import('../index.js')).default
  const app = Fastify()
  await app.register(plugin, { prefix: '/api', longPoll: true })
  t.teardown(() => app.close())
  const opened = await app.inject({ method: 'POST', url: '/api/lp/open', payload: { protocols: ['wamp.2.json'] } })
  t.equal(opened.statusCode, 200)
  const { transport } = opened.json<{ transport: string }>()
  t.equal((await app.inject({ method: 'POST', url: '/lp/open', payload: { protocols: ['wamp.2.json'] } })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: `/api/lp/${transport}/close` })).statusCode, 204)
})

t.test('longPoll options are checked at register time', async (t) => {
  const Fastify = (await import('fastify')).default
  const plugin = (await import('../index.js')).default
  for (const longPoll of [{ path: 'lp' }, { path: '/lp/' }, { pollTimeout: 0 }, { idleTimeout: 1.5 }, { other: 1 }, 'yes']) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(plugin, { longPoll } as unknown as FastifyWampOptions).ready() }, { code: 'FST_WAMP_INVALID_OPTION' }, JSON.stringify(longPoll))
    await app.close()
  }
})
