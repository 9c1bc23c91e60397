import t from 'tap'
import { encode as cborEncode } from 'cbor-x'
import { startApp, sleep, until, internal, hubOf } from './helpers/app.js'
import { connectRaw, MSG, openRaw, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import type { Session as InternalSession } from '../lib/session/session.js'

// Issue 16 (and the streamed-input bound of issue 15): one request, one answer — the exact wire sequences.

type Dict = Record<string, unknown>
const STREAMING = { details: STREAMING_HELLO_DETAILS }
const FULL_CALLEE = { progressive_call_invocations: true, call_canceling: true, progressive_call_results: true }
const CALLEE_DETAILS = { roles: { ...STREAMING_HELLO_DETAILS.roles, callee: { features: FULL_CALLEE } } }

function sessionOf (app: Parameters<typeof hubOf>[0], id: number): InternalSession {
  return internal(app.wamp.sessions.get(id))
}

t.test('issue 16: streamed input to a procedure that does not take it → one feature_not_supported, the rest dropped', async (t) => {
  let runs = 0
  const { url, app } = await startApp(t, {}, (app) => {
    app.wamp.register('plain', () => { runs++; return 'once' })
    app.wamp.register('up', async () => 1, { input: 'stream' })
  })
  const { client, sessionId, welcome } = await connectRaw(url, STREAMING)
  t.equal((welcome[2] as { roles: { dealer: { features: Dict } } }).roles.dealer.features.progressive_call_invocations, true,
    'WELCOME announces progressive call invocations: a procedure takes them')
  client.send([MSG.CALL, 1, { progress: true }, 'plain', ['a']])
  client.send([MSG.CALL, 1, { progress: true }, 'plain', ['b']])
  client.send([MSG.CALL, 1, {}, 'plain', ['c']])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.feature_not_supported'])
  await client.expectNone(50)
  t.equal(runs, 0, 'the handler never ran')
  t.equal(internal(sessionOf(app, sessionId)).streams.size, 0, 'the final chunk freed the request id')
  client.send([MSG.CALL, 1, {}, 'plain'])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['once']], 'the id is free again')
  await client.close()
})

t.test('issue 16: a caller that did not announce progressive_call_invocations and streams → ABORT protocol_violation', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('up', async () => 1, { input: 'stream' }) })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, { progress: true }, 'up', ['a']])
  t.same((await client.next()).slice(0, 3).at(-1), 'wamp.error.protocol_violation')
  await client.expectClose()
})

t.test('issue 16: a dealer with no procedure taking streamed input does not announce it, and a stream is a protocol error', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('plain', () => 1) })
  const { client, welcome } = await connectRaw(url, STREAMING)
  t.equal((welcome[2] as { roles: { dealer: { features: Dict } } }).roles.dealer.features.progressive_call_invocations, false)
  client.send([MSG.CALL, 1, { progress: true }, 'plain', ['a']])
  const abort = await client.next()
  t.same([abort[0], abort[2]], [MSG.ABORT, 'wamp.error.protocol_violation'])
  t.match((abort[1] as Dict).message, /the dealer did not announce/)
  await client.expectClose()
})

t.test('issue 16: a streamed call answered before the last chunk gets exactly one RESULT; its later chunks are dropped', async (t) => {
  let runs = 0
  const { url, app } = await startApp(t, {}, (app) => {
    app.wamp.register('early', () => { runs++; return 'done early' }, { input: 'stream' })
    app.wamp.register('first', async (_a, _k, ctx) => {
      runs++
      const first = await (ctx.input as AsyncIterable<{ args: unknown[] }>)[Symbol.asyncIterator]().next()
      return first.value?.args[0]
    }, { input: 'stream' })
  })
  const { client, sessionId } = await connectRaw(url, STREAMING)
  for (const uri of ['early', 'first']) {
    client.send([MSG.CALL, 1, { progress: true }, uri, ['a']])
    client.send([MSG.CALL, 1, { progress: true }, uri, ['b']])
    client.send([MSG.CALL, 1, { progress: true }, uri, ['c']])
    const answer = await client.next()
    t.equal(answer[0], MSG.RESULT, `${uri}: one RESULT`)
    await client.expectNone(30)
    client.send([MSG.CALL, 1, {}, uri, ['final']])
    await client.expectNone(30)
    t.equal(internal(sessionOf(app, sessionId)).streams.size, 0)
  }
  t.equal(runs, 2, 'each handler ran once')
  t.equal(internal(sessionOf(app, sessionId)).calls.size, 0)
  client.send([MSG.CALL, 1, {}, 'early'])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['done early']], 'after the final chunk the id starts a new call')
  await client.close()
})

t.test('issue 15: a streamed call that never reads its input is bounded by maxStreamBufferBytes', async (t) => {
  let aborted = false
  const { url, app } = await startApp(t, { maxStreamBufferBytes: 64 * 1024 }, (app) => {
    app.wamp.register('sink', (_a, _k, ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => { aborted = true; resolve('stopped') })
    }), { input: 'stream' })
  })
  const { client, sessionId } = await connectRaw(url, STREAMING)
  const chunk = 'x'.repeat(16 * 1024)
  for (let i = 0; i < 10; i++) client.send([MSG.CALL, 1, { progress: true }, 'sink', [chunk]])
  const error = await client.next()
  t.same(error.slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'fastify_wamp.error.limit_exceeded'])
  t.ok(aborted, 'the handler was told to stop')
  for (let i = 0; i < 10; i++) client.send([MSG.CALL, 1, { progress: true }, 'sink', [chunk]])
  client.send([MSG.CALL, 1, {}, 'sink', [chunk]])
  await client.expectNone(50)
  t.equal(internal(sessionOf(app, sessionId)).calls.size, 0)
  t.equal(internal(sessionOf(app, sessionId)).streams.size, 0)
  await client.close()
})

t.test('issue 16: router mode, the callee ends a stream early and the caller stops streaming: nothing leaks', async (t) => {
  const { url, app } = await startApp(t, { realms: [{ name: 'realm1', router: true }], maxCallsPerSession: 3, streamGrace: 300 })
  const { client: callee } = await connectRaw(url, { details: CALLEE_DETAILS })
  callee.send([MSG.REGISTER, 1, {}, 'com.upload'])
  await callee.next()
  const { client: caller, sessionId } = await connectRaw(url, STREAMING)
  for (let id = 1; id <= 5; id++) {
    caller.send([MSG.CALL, id, { progress: true }, 'com.upload', ['chunk 1']])
    const inv = await callee.next()
    callee.send([MSG.ERROR, MSG.INVOCATION, inv[1], {}, 'app.error.rejected'])
    t.same((await caller.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, id, {}, 'app.error.rejected'])
  }
  const session = sessionOf(app, sessionId)
  t.equal(internal(session).calls.size, 0, 'the ended uploads left the in-flight table at once')
  caller.send([MSG.CALL, 9, {}, 'com.upload', ['plain']])
  const inv = await callee.next()
  t.same(inv[3], { procedure: 'com.upload' }, 'more uploads than maxCallsPerSession: a new CALL still goes through')
  callee.send([MSG.YIELD, inv[1], {}, ['ok']])
  t.same(await caller.next(), [MSG.RESULT, 9, {}, ['ok']])
  caller.send([MSG.CALL, 5, { progress: true }, 'com.upload', ['late chunk']])
  await callee.expectNone(20)
  await caller.expectNone(10)
  t.pass('a chunk of an ended stream within streamGrace is dropped')
  await sleep(350)
  caller.send([MSG.CALL, 5, {}, 'com.upload', ['new call']])
  const again = await callee.next()
  t.same(again[4], ['new call'], 'after streamGrace a reused id is a new call')
  callee.send([MSG.YIELD, again[1], {}, ['answered']])
  t.same(await caller.next(), [MSG.RESULT, 5, {}, ['answered']])
  t.ok(internal(session).streams.size <= 3, 'at most maxCallsPerSession ended streams are remembered')
  await Promise.all([caller.close(), callee.close()])
})

t.test('issue 16: router mode, a result the caller\'s serializer cannot carry → one ERROR, the callee lives on', async (t) => {
  const { url, app } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  const { client: callee } = await connectRaw(url, { protocols: ['wamp.2.cbor'], details: CALLEE_DETAILS })
  callee.send([MSG.REGISTER, 1, {}, 'com.big'])
  await callee.next()
  const { client: caller, sessionId } = await connectRaw(url, STREAMING)
  caller.send([MSG.CALL, 1, {}, 'com.big'])
  const inv = await callee.next()
  // A CBOR bignum (tag 2): valid for the CBOR callee, not representable in JSON.
  callee.sendRaw(Buffer.from(cborEncode([MSG.YIELD, inv[1], {}, [2n ** 70n]])))
  const answer = await caller.next()
  t.same(answer.slice(0, 4), [MSG.ERROR, MSG.CALL, 1, {}])
  await caller.expectNone(30)
  t.equal(internal(sessionOf(app, sessionId)).calls.size, 0)
  caller.send([MSG.CALL, 2, {}, 'com.big'])
  const inv2 = await callee.next()
  t.equal(inv2[0], MSG.INVOCATION, 'the callee was not aborted')
  callee.send([MSG.YIELD, inv2[1], {}, [1]])
  t.same(await caller.next(), [MSG.RESULT, 2, {}, [1]])
  await Promise.all([caller.close(), callee.close()])
})

t.test('issue 16: after the server\'s GOODBYE nothing but the closing handshake; authenticating sessions get ABORT', async (t) => {
  let aborted = 0
  const { url, app } = await startApp(t, {
    shutdownGrace: 400,
    realms: ['realm1', { name: 'secure', auth: { ticket: { authenticate: () => new Promise(() => {}) } } }]
  }, (app) => {
    // Runs until abandoned (not on a timer: on a loaded machine a timer could end it before the GOODBYE).
    app.wamp.register('slow', (_a, _k, ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => { aborted++; resolve('too late') })
    }))
    app.wamp.register('tick', async (_a, _k, ctx) => {
      for (let i = 0; i < 30 && !ctx.signal.aborted; i++) { ctx.progress(i); await sleep(20) }
      return 'ticked'
    })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'slow'])
  client.send([MSG.CALL, 2, { receive_progress: true }, 'tick'])
  await client.nextOfType(MSG.RESULT)
  const pending = await openRaw(url)
  pending.send([MSG.HELLO, 'secure', { ...STREAMING_HELLO_DETAILS, authmethods: ['ticket'], authid: 'who' }])
  t.equal((await pending.next())[0], MSG.CHALLENGE)
  pending.send([MSG.AUTHENTICATE, 'secret', {}])
  await sleep(20)
  const closing = app.close()
  const seen: unknown[][] = []
  let goodbye = -1
  for (;;) {
    const msg = await client.next(2000)
    seen.push(msg)
    if (msg[0] === MSG.GOODBYE) { goodbye = seen.length; break }
  }
  t.same(seen[goodbye - 1], [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.expectClose()
  t.equal(client.pending, 0, 'nothing after GOODBYE')
  t.same((await pending.next()).slice(2), ['wamp.close.system_shutdown'], 'the authenticating session got ABORT system_shutdown')
  t.equal((await pending.expectClose()).code !== 0, true)
  await closing
  t.equal(aborted, 1, 'the call still running at GOODBYE was abandoned: its signal fired')
})

async function register (client: RawClient, uri: string, id = 1): Promise<number> {
  client.send([MSG.REGISTER, id, {}, uri])
  return (await client.next())[2] as number
}

t.test('issue 16: after GOODBYE a new HELLO on the same socket opens a fresh session (PROTOCOL §7.8)', async (t) => {
  const opened: number[] = []
  const closed: number[] = []
  const { url, app } = await startApp(t, {
    realms: [{ name: 'realm1', router: true }],
    onSessionOpen: (s) => { opened.push(s.id) },
    onSessionClose: (s) => { closed.push(s.id) }
  })
  const { client, sessionId } = await connectRaw(url, { details: CALLEE_DETAILS })
  await register(client, 'com.mine')
  client.send([MSG.SUBSCRIBE, 2, {}, 'com.topic'])
  await client.next()
  const { client: other } = await connectRaw(url, STREAMING)
  other.send([MSG.CALL, 1, {}, 'com.mine'])
  await client.next()
  client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  t.same((await other.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.canceled'], 'its pending call is settled')
  t.same(closed, [sessionId], 'onSessionClose ran for the ended session')
  const welcome = await client.hello('realm1', CALLEE_DETAILS)
  t.equal(welcome[0], MSG.WELCOME)
  t.not(welcome[1], sessionId, 'a new session id')
  const session = sessionOf(app, welcome[1] as number)
  t.equal(internal(session).registrations.size, 0)
  t.equal(internal(session).subscriptions.size, 0)
  t.equal(app.wamp.sessions.size, 2)
  t.equal(app.wamp.connections, 2)
  other.send([MSG.CALL, 2, {}, 'com.mine'])
  t.same((await other.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.no_such_procedure'], 'the old registration is gone')
  await register(client, 'com.mine', 3)
  other.send([MSG.CALL, 3, {}, 'com.mine'])
  const inv = await client.next()
  client.send([MSG.YIELD, inv[1], {}, ['second session']])
  t.same(await other.next(), [MSG.RESULT, 3, {}, ['second session']])
  await client.close()
  await until(() => closed.length === 2)
  t.same(opened.slice(0, 1).concat(opened.slice(2)), [sessionId, welcome[1]], 'open and close hooks pair up per session')
  t.same(closed, [sessionId, welcome[1]])
  t.equal(app.wamp.connections, 1)
  await other.close()
})

t.test('issue 16: after GOODBYE the socket waits for HELLO again, with a fresh helloTimeout', async (t) => {
  const { url } = await startApp(t, { helloTimeout: 100 })
  const { client } = await connectRaw(url)
  client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  await client.next()
  const abort = await client.next(1000)
  t.same([abort[0], abort[2]], [MSG.ABORT, 'wamp.error.protocol_violation'])
  t.match((abort[1] as Dict).message, /no HELLO/)
  await client.expectClose()
})

t.test('issue 16 with real clients: wampy progressiveCall gets one answer; autobahn and wampy still close after GOODBYE', async (t) => {
  const { connectAutobahn, connectWampy } = await import('./helpers/clients.js')
  let runs = 0
  const { url, app } = await startApp(t, {}, (app) => {
    app.wamp.register('com.plain', () => 'plain')
    app.wamp.register('com.early', () => { runs++; return 'early' }, { input: 'stream' })
  })
  const wy = await connectWampy(url)
  const early = wy.client.progressiveCall('com.early', [1])
  t.same((await early.result).argsList, ['early'])
  early.sendData([2])
  early.sendData([3], { progress: false })
  const refused = wy.client.progressiveCall('com.plain', [1])
  refused.sendData([2], { progress: false })
  const error = await Promise.resolve(refused.result).then(() => undefined, (e: { errorUri?: string }) => e)
  t.equal(error?.errorUri, 'wamp.error.feature_not_supported')
  t.same((await wy.client.call('com.early')).argsList, ['early'], 'the session goes on')
  t.equal(runs, 2, 'the streamed procedure ran once per call, not once per chunk')
  t.same(wy.errors, [])
  const ab = await connectAutobahn(url)
  t.equal(await ab.session.call('com.plain'), 'plain')
  t.equal(app.wamp.connections, 2)
  await Promise.all([wy.close(), ab.close()])
  await until(() => app.wamp.connections === 0, 2000, 'both clients to close their sockets after GOODBYE')
})
