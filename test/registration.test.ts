import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import fastifyWamp, { errors } from '../index.js'
import { startApp } from './helpers/app.js'
import { connectRaw, openRaw, MSG } from './helpers/raw-client.js'
import type { UpgradeRefusedError } from './helpers/raw-client.js'

// Registering the plugin the way Fastify users register any plugin: Fastify's own register options, the
// @fastify/websocket order, refusals with Fastify's error body, exported error constructors.

async function listen (app: ReturnType<typeof Fastify>, t: { teardown (fn: () => unknown): void }): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  return `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

t.test('issue 19: Fastify register options prefix, logLevel and logSerializers are accepted; the route honours the prefix', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { prefix: '/v1', logLevel: 'warn', logSerializers: { req: () => 'req' }, path: '/wamp' })
  app.wamp.register('com.example.ping', () => 'pong')
  const base = await listen(app, t)
  const { client } = await connectRaw(`${base}/v1/wamp`)
  client.send([MSG.CALL, 1, {}, 'com.example.ping', []])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']])
  await client.close()
  const err = await openRaw(`${base}/wamp`).then(() => undefined, (e: UpgradeRefusedError) => e)
  t.equal(err?.statusCode, 404, 'not served outside the prefix')
  t.equal(new errors.FST_WAMP_INVALID_OPTION('x').code, 'FST_WAMP_INVALID_OPTION', 'the error constructors are exported')
  await t.rejects(async () => { await Fastify().register(fastifyWamp, { prefx: '/v1' } as never) }, { code: 'FST_WAMP_INVALID_OPTION', message: /unknown option "prefx"/ })
})

t.test('issue 19: a prefix given to an enclosing plugin applies too', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(async (api) => { await api.register(fastifyWamp, { prefix: '/v2' }) }, { prefix: '/api' })
  const { client, sessionId } = await connectRaw(`${await listen(app, t)}/api/v2/ws`)
  t.type(sessionId, 'number', 'WELCOMEd under /api/v2/ws')
  await client.close()
})

t.test('issue 19: upgrade refusals answer with Fastify\'s error body', async (t) => {
  const { url } = await startApp(t, { maxSessions: 1 })
  const noProtocol = await openRaw(url, { protocols: ['mqtt'] }).then(() => undefined, (e: UpgradeRefusedError) => e)
  const refusal = JSON.parse(noProtocol?.body ?? '{}') as Record<string, string>
  t.match(refusal, { statusCode: 400, code: 'FST_WAMP_NO_SUBPROTOCOL', error: 'Bad Request' })
  t.match(refusal.message, /^no supported WAMP subprotocol offered; this server speaks wamp\.2\.json, wamp\.2\.msgpack, wamp\.2\.cbor/)
  const { client } = await connectRaw(url)
  const full = await openRaw(url).then(() => undefined, (e: UpgradeRefusedError) => e)
  t.same(JSON.parse(full?.body ?? '{}'), {
    statusCode: 503,
    code: 'FST_WAMP_TOO_MANY_SESSIONS',
    error: 'Service Unavailable',
    message: 'this server is at its limit of 1 sessions'
  })
  await client.close()
})

t.test('issue 19: @fastify/websocket registered before fastify-wamp is used by it', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(websocket)
  await app.register(fastifyWamp)
  app.get('/echo', { websocket: true }, (socket: WebSocket) => { socket.on('message', (m, binary) => socket.send(m, { binary })) })
  app.wamp.register('com.example.ping', () => 'pong')
  const { client } = await connectRaw(`${await listen(app, t)}/ws`)
  client.send([MSG.CALL, 1, {}, 'com.example.ping', []])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']])
  await client.close()
})

t.test('issue 19: without registering @fastify/websocket, the app\'s own websocket routes work beside fastify-wamp; registering it after is refused with FST_WAMP_WEBSOCKET_ORDER, not a crash', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp)
  app.get('/echo', { websocket: true }, (socket: WebSocket) => { socket.on('message', (m, binary) => socket.send(m, { binary })) })
  const base = await listen(app, t)
  const echo = await openRaw(`${base}/echo`, { protocols: [], serializer: 'json' })
  echo.send([1, 'hi'])
  t.same(await echo.next(), [1, 'hi'])
  await echo.terminate()

  const late = Fastify({ logger: false })
  await late.register(fastifyWamp)
  await t.rejects(async () => { await late.register(websocket) }, { code: 'FST_WAMP_WEBSOCKET_ORDER', message: /register it before fastify-wamp/ })
  await t.rejects(async () => { await late.register(async (child) => { await child.register(websocket) }) }, { code: 'FST_WAMP_WEBSOCKET_ORDER' },
    'in a child context too')
  await late.close()
})
