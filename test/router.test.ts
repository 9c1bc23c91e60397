import t from 'tap'
import { startApp, hubOf, internal } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// Router mode (realm option `router`): client → client calls through the plugin — exact wire shapes over raw
// frames (INVOCATION/YIELD/RESULT/ERROR/INTERRUPT), cancel modes, timeouts and the races around them.

type Dict = Record<string, unknown>
const ROUTER = { realms: [{ name: 'realm1', router: true }] }
const FULL_CALLEE = { progressive_call_results: true, progressive_call_invocations: true, call_canceling: true }

/** A raw session whose HELLO announces these callee features (the caller announces everything). */
async function client (url: string, callee: Dict = {}, protocol = 'wamp.2.json'): Promise<{ client: RawClient, sessionId: number, welcome: unknown[] }> {
  const roles = { caller: { features: { progressive_call_results: true, call_canceling: true, progressive_call_invocations: true } }, callee: { features: callee } }
  return await connectRaw(url, { protocols: [protocol], details: { roles } })
}

async function register (c: RawClient, uri: string, options: Dict = {}, id = 1): Promise<number> {
  c.send([MSG.REGISTER, id, options, uri])
  const reply = await c.next()
  if (reply[0] !== MSG.REGISTERED) throw new Error(`REGISTER ${uri}: ${JSON.stringify(reply)}`)
  return reply[2] as number
}

t.test('without router mode nothing changes: no routing, no pattern REGISTER, no new WELCOME features', async (t) => {
  const { url } = await startApp(t)
  const { client: callee, welcome } = await client(url)
  const features = (welcome[2] as { roles: { dealer: { features: Dict } } }).roles.dealer.features
  t.notOk(features.shared_registration)
  t.notOk(features.pattern_based_registration)
  await register(callee, 'com.dev.echo')
  const { client: caller } = await client(url)
  caller.send([MSG.CALL, 1, {}, 'com.dev.echo', [1]])
  t.same((await caller.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.no_such_procedure'])
  caller.send([MSG.REGISTER, 2, { match: 'prefix' }, 'com.dev.'])
  t.same((await caller.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 2, {}, 'wamp.error.invalid_argument'])
  await callee.expectNone(20)
  await Promise.all([caller.close(), callee.close()])
})

t.test('exact INVOCATION, YIELD, RESULT and ERROR shapes between a json caller and a msgpack callee', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const { client: callee, sessionId: calleeId, welcome } = await client(url, {}, 'wamp.2.msgpack')
  const features = (welcome[2] as { roles: { dealer: { features: Dict } } }).roles.dealer.features
  t.equal(features.shared_registration, true, 'router mode announces shared registration…')
  t.equal(features.pattern_based_registration, true, '…and pattern-based registration')
  const reg = await register(callee, 'com.dev.echo')
  const regDisclosed = await register(callee, 'com.dev.who', { disclose_caller: true }, 2)
  const { client: caller, sessionId: callerId, welcome: callerWelcome } = await client(url)

  caller.send([MSG.CALL, 7, {}, 'com.dev.echo', [1, 'a'], { k: 1 }])
  const inv = await callee.next()
  t.same(inv.slice(2), [reg, { procedure: 'com.dev.echo' }, [1, 'a'], { k: 1 }], 'INVOCATION carries the args and kwargs as sent')
  callee.send([MSG.YIELD, inv[1], {}, ['r'], { x: 1 }])
  t.same(await caller.next(), [MSG.RESULT, 7, {}, ['r'], { x: 1 }])

  caller.send([MSG.CALL, 8, {}, 'com.dev.echo'])
  const bare = await callee.next()
  t.same(bare.slice(2), [reg, { procedure: 'com.dev.echo' }], 'no args → none in the INVOCATION')
  t.not(bare[1], inv[1], 'each invocation has its own request id')
  callee.send([MSG.YIELD, bare[1], {}])
  t.same(await caller.next(), [MSG.RESULT, 8, {}], 'an empty YIELD is an empty RESULT')

  caller.send([MSG.CALL, 9, { disclose_me: true }, 'com.dev.echo', [], { only: 'kwargs' }])
  const disclosed = await callee.next()
  t.same(disclosed.slice(3), [{ procedure: 'com.dev.echo', caller: callerId, caller_authid: (callerWelcome[2] as Dict).authid, caller_authrole: 'anonymous' }, [], { only: 'kwargs' }],
    'disclose_me → caller, caller_authid, caller_authrole')
  callee.send([MSG.ERROR, MSG.INVOCATION, disclosed[1], {}, 'com.dev.error.busy', ['try later'], { retry: 5 }])
  t.same(await caller.next(), [MSG.ERROR, MSG.CALL, 9, {}, 'com.dev.error.busy', ['try later'], { retry: 5 }], 'the callee\'s ERROR passes through')

  caller.send([MSG.CALL, 10, {}, 'com.dev.who'])
  const who = await callee.next()
  t.same(who.slice(2), [regDisclosed, { procedure: 'com.dev.who', caller: callerId, caller_authid: (callerWelcome[2] as Dict).authid, caller_authrole: 'anonymous' }],
    'REGISTER disclose_caller discloses every caller')
  callee.send([MSG.YIELD, who[1], {}, [calleeId]])
  t.same(await caller.next(), [MSG.RESULT, 10, {}, [calleeId]])
  await caller.expectNone(20)
  await Promise.all([caller.close(), callee.close()])
})

t.test('the application\'s procedures come first: a client cannot register what the app answers', async (t) => {
  const { url } = await startApp(t, ROUTER, (app) => {
    app.wamp.register('com.app.add', ([a, b]) => (a as number) + (b as number))
    app.wamp.register('com.app.tools.', () => 'app prefix', { match: 'prefix' })
  })
  const { client: device } = await client(url)
  for (const [id, options, uri] of [[1, {}, 'com.app.add'], [2, {}, 'com.app.tools.hammer'], [3, { match: 'prefix' }, 'com.app.tools.']] as const) {
    device.send([MSG.REGISTER, id, options, uri])
    t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, id, {}, 'wamp.error.procedure_already_exists'], `${uri} (${JSON.stringify(options)})`)
  }
  await register(device, 'com.app.', { match: 'prefix' }, 4)
  device.send([MSG.CALL, 5, {}, 'com.app.add', [2, 3]])
  t.same(await device.next(), [MSG.RESULT, 5, {}, [5]], 'the app answers its own procedure')
  device.send([MSG.CALL, 6, {}, 'com.app.tools.saw'])
  t.same(await device.next(), [MSG.RESULT, 6, {}, ['app prefix']], 'and its own patterns')
  device.send([MSG.CALL, 7, {}, 'com.app.other'])
  const inv = await device.next()
  t.same(inv.slice(0, 1).concat(inv.slice(3)), [MSG.INVOCATION, { procedure: 'com.app.other' }], 'what the app does not answer is routed (here to the caller itself)')
  device.send([MSG.YIELD, inv[1], {}, ['client']])
  t.same(await device.next(), [MSG.RESULT, 7, {}, ['client']])
  device.send([MSG.CALL, 8, {}, 'org.nothing'])
  t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 8, {}, 'wamp.error.no_such_procedure'])
  device.send([MSG.REGISTER, 9, { match: 'bogus' }, 'com.x'])
  t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 9, {}, 'wamp.error.invalid_argument'])
  device.send([MSG.REGISTER, 10, { invoke: 'sometimes' }, 'com.x'])
  t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 10, {}, 'wamp.error.invalid_argument'])
  device.send([MSG.REGISTER, 11, { match: 'wildcard' }, 'wamp..x'])
  t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 11, {}, 'wamp.error.invalid_uri'])
  await register(device, 'w', { match: 'prefix' }, 12)
  device.send([MSG.CALL, 13, {}, 'wamp.session.count'])
  t.same((await device.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 13, {}, 'wamp.error.no_such_procedure'], 'a pattern never catches wamp.* calls')
  await device.close()
})

t.test('progressive results stream through only when the caller asked', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const { client: callee } = await client(url, FULL_CALLEE)
  await register(callee, 'com.dev.count')
  const { client: caller } = await client(url)
  caller.send([MSG.CALL, 1, { receive_progress: true }, 'com.dev.count'])
  const inv = await callee.next()
  t.same(inv[3], { procedure: 'com.dev.count', receive_progress: true })
  callee.send([MSG.YIELD, inv[1], { progress: true }, [1]])
  callee.send([MSG.YIELD, inv[1], { progress: true }, [], { two: 2 }])
  callee.send([MSG.YIELD, inv[1], {}, ['done']])
  t.same(await caller.next(), [MSG.RESULT, 1, { progress: true }, [1]])
  t.same(await caller.next(), [MSG.RESULT, 1, { progress: true }, [], { two: 2 }])
  t.same(await caller.next(), [MSG.RESULT, 1, {}, ['done']])
  callee.send([MSG.YIELD, inv[1], { progress: true }, ['late']])
  await caller.expectNone(30)

  caller.send([MSG.CALL, 2, {}, 'com.dev.count'])
  const plain = await callee.next()
  t.same(plain[3], { procedure: 'com.dev.count' }, 'no receive_progress unless the caller asked')
  callee.send([MSG.YIELD, plain[1], { progress: true }, ['unasked']])
  callee.send([MSG.YIELD, plain[1], {}, ['final']])
  t.same(await caller.next(), [MSG.RESULT, 2, {}, ['final']], 'unasked progress is not forwarded')

  const { client: quiet } = await client(url)
  await register(quiet, 'com.dev.quiet')
  caller.send([MSG.CALL, 3, { receive_progress: true }, 'com.dev.quiet'])
  t.same((await quiet.next())[3], { procedure: 'com.dev.quiet' }, 'a callee that did not announce progressive_call_results is not asked')
  await Promise.all([caller.close(), callee.close(), quiet.close()])
})

t.test('progressive call invocations: chunks reach the same callee under one invocation id, results flow back', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const { client: a } = await client(url, FULL_CALLEE)
  const { client: b } = await client(url, FULL_CALLEE)
  const reg = await register(a, 'com.dev.upload', { invoke: 'roundrobin' })
  await register(b, 'com.dev.upload', { invoke: 'roundrobin' })
  const { client: caller } = await client(url)
  caller.send([MSG.CALL, 5, { progress: true, receive_progress: true }, 'com.dev.upload', ['chunk1']])
  const first = await a.next()
  t.same(first.slice(2), [reg, { procedure: 'com.dev.upload', receive_progress: true, progress: true }, ['chunk1']])
  a.send([MSG.YIELD, first[1], { progress: true }, ['got 1']])
  t.same(await caller.next(), [MSG.RESULT, 5, { progress: true }, ['got 1']])
  caller.send([MSG.CALL, 5, { progress: true }, 'com.dev.upload', ['chunk2']])
  caller.send([MSG.CALL, 5, {}, 'com.dev.upload', ['chunk3']])
  t.same(await a.next(), [MSG.INVOCATION, first[1], reg, { procedure: 'com.dev.upload', receive_progress: true, progress: true }, ['chunk2']],
    'later chunks keep the first CALL\'s options and go to the same callee despite roundrobin')
  t.same(await a.next(), [MSG.INVOCATION, first[1], reg, { procedure: 'com.dev.upload', receive_progress: true }, ['chunk3']], 'the last chunk has no progress flag')
  a.send([MSG.YIELD, first[1], {}, [3]])
  t.same(await caller.next(), [MSG.RESULT, 5, {}, [3]])
  await b.expectNone(20)
  caller.send([MSG.CALL, 5, {}, 'com.dev.upload', ['again']])
  t.same((await b.next())[3], { procedure: 'com.dev.upload' }, 'a finished request id can be reused for a new call')

  const { client: plain } = await client(url, { progressive_call_results: true })
  await register(plain, 'com.dev.plain')
  caller.send([MSG.CALL, 6, { progress: true }, 'com.dev.plain', ['x']])
  t.same((await caller.nextOfType(MSG.ERROR)).slice(0, 5), [MSG.ERROR, MSG.CALL, 6, {}, 'wamp.error.feature_not_supported'],
    'a callee that did not announce progressive_call_invocations and call_canceling is not streamed to')
  await plain.expectNone(20)
  await Promise.all([caller.close(), a.close(), b.close(), plain.close()])
})

/** A router realm with a callee that announced call_canceling (com.able), one that did not (com.unable), a caller. */
async function cancelingPair (t: Parameters<typeof startApp>[0]) {
  const { url } = await startApp(t, ROUTER)
  const { client: able } = await client(url, { call_canceling: true })
  const { client: unable } = await client(url)
  await register(able, 'com.able')
  await register(unable, 'com.unable')
  const { client: caller } = await client(url)
  return { able, unable, caller }
}

t.test('CANCEL skip, kill, killnowait: INTERRUPT only to a callee that announced call_canceling, one terminal message', async (t) => {
  const { able, unable, caller } = await cancelingPair(t)
  const terminal = (id: number): unknown[] => [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.canceled']

  caller.send([MSG.CALL, 1, {}, 'com.able'])
  const skipped = await able.next()
  caller.send([MSG.CANCEL, 1, { mode: 'skip' }])
  t.same(await caller.next(), terminal(1), 'skip: ERROR at once')
  await able.expectNone(20)
  able.send([MSG.YIELD, skipped[1], {}, ['late']])
  await caller.expectNone(20)

  caller.send([MSG.CALL, 2, {}, 'com.able'])
  const killed = await able.next()
  caller.send([MSG.CANCEL, 2, { mode: 'kill' }])
  t.same(await able.next(), [MSG.INTERRUPT, killed[1], { mode: 'kill', reason: 'wamp.error.canceled' }])
  await caller.expectNone(20)
  able.send([MSG.YIELD, killed[1], { progress: true }, ['dropped']])
  able.send([MSG.ERROR, MSG.INVOCATION, killed[1], {}, 'wamp.error.canceled'])
  t.same(await caller.next(), terminal(2), 'kill: the callee\'s answer to INTERRUPT ends the call')

  caller.send([MSG.CALL, 3, {}, 'com.able'])
  const raced = await able.next()
  caller.send([MSG.CANCEL, 3, {}])
  t.same((await able.next())[2], { mode: 'kill', reason: 'wamp.error.canceled' }, 'kill is the default mode')
  able.send([MSG.YIELD, raced[1], {}, ['finished first']])
  t.same(await caller.next(), [MSG.RESULT, 3, {}, ['finished first']], 'kill: a result that wins the race is the answer')

  caller.send([MSG.CALL, 4, {}, 'com.able'])
  const nowait = await able.next()
  caller.send([MSG.CANCEL, 4, { mode: 'killnowait' }])
  t.same(await caller.next(), terminal(4), 'killnowait: ERROR at once')
  t.same(await able.next(), [MSG.INTERRUPT, nowait[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }])
  able.send([MSG.ERROR, MSG.INVOCATION, nowait[1], {}, 'wamp.error.canceled'])
  await caller.expectNone(20)

  for (const [id, mode] of [[5, 'kill'], [6, 'killnowait'], [7, 'skip']] as const) {
    caller.send([MSG.CALL, id, {}, 'com.unable'])
    const inv = await unable.next()
    caller.send([MSG.CANCEL, id, { mode }])
    t.same(await caller.next(), terminal(id), `${mode} to a callee without call_canceling: ERROR at once`)
    unable.send([MSG.YIELD, inv[1], {}, ['late']])
  }
  await unable.expectNone(30)
  await caller.expectNone(20)
  caller.send([MSG.CANCEL, 99, {}])
  caller.send([MSG.CANCEL, 4, {}])
  await caller.expectNone(20)
  await Promise.all([caller.close(), able.close(), unable.close()])
})

t.test('timeout: ERROR timeout to the caller, INTERRUPT killnowait to a callee that can take it, late answers dropped', async (t) => {
  const { able, unable, caller } = await cancelingPair(t)
  caller.send([MSG.CALL, 1, { timeout: 30 }, 'com.able'])
  const inv = await able.next()
  t.same(inv[3], { procedure: 'com.able' }, 'the dealer keeps the timeout itself')
  t.same((await caller.next()).slice(0, 6), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.timeout', ['call timed out']])
  t.same(await able.next(), [MSG.INTERRUPT, inv[1], { mode: 'killnowait', reason: 'wamp.error.timeout' }])
  able.send([MSG.YIELD, inv[1], {}, ['late']])
  caller.send([MSG.CALL, 2, { timeout: 30 }, 'com.unable'])
  const quiet = await unable.next()
  t.same((await caller.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.timeout'])
  await unable.expectNone(30)
  unable.send([MSG.YIELD, quiet[1], {}, ['late']])
  caller.send([MSG.CALL, 3, { timeout: 2000 }, 'com.unable'])
  unable.send([MSG.YIELD, (await unable.next())[1], {}, ['in time']])
  t.same(await caller.next(), [MSG.RESULT, 3, {}, ['in time']], 'a call within its timeout succeeds')
  await caller.expectNone(20)
  await Promise.all([caller.close(), able.close(), unable.close()])
})

t.test('races: cancel vs YIELD and timeout vs YIELD end with exactly one terminal message', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const { client: callee } = await client(url, { call_canceling: true })
  await register(callee, 'com.race')
  const { client: caller } = await client(url)
  const N = 30
  for (let id = 1; id <= N; id++) caller.send([MSG.CALL, id, id % 3 === 0 ? { timeout: 1 } : {}, 'com.race'])
  for (let i = 0; i < N; i++) {
    const inv = await callee.nextOfType(MSG.INVOCATION) // INTERRUPTs of timed-out calls are skipped
    const id = i + 1
    if (id % 3 === 1) caller.send([MSG.CANCEL, id, { mode: 'killnowait' }])
    if (id % 3 === 2) caller.send([MSG.CANCEL, id, { mode: 'skip' }])
    callee.send([MSG.YIELD, inv[1], {}, [id]])
  }
  const answers = new Map<number, number>()
  for (let i = 0; i < N; i++) {
    const msg = await caller.next()
    const id = (msg[0] === MSG.ERROR ? msg[2] : msg[1]) as number
    answers.set(id, (answers.get(id) ?? 0) + 1)
  }
  await caller.expectNone(50)
  t.equal(answers.size, N, 'every call got an answer')
  t.ok([...answers.values()].every((n) => n === 1), 'and only one')
  await Promise.all([caller.close(), callee.close()])
})

t.test('a callee that leaves mid-call: every waiting caller gets ERROR canceled, its registrations vanish at once', async (t) => {
  const { url, app } = await startApp(t, { ...ROUTER, metaApi: true })
  const { client: callee } = await client(url, FULL_CALLEE)
  await register(callee, 'com.dev.slow')
  await register(callee, 'com.dev.', { match: 'prefix' }, 2)
  const { client: a } = await client(url)
  const { client: b } = await client(url, {}, 'wamp.2.msgpack')
  a.send([MSG.CALL, 1, {}, 'com.dev.slow'])
  b.send([MSG.CALL, 1, { progress: true }, 'com.dev.stream', ['part 1']])
  b.send([MSG.CALL, 2, { receive_progress: true }, 'com.dev.other'])
  const invocations = [await callee.next(), await callee.next(), await callee.next()]
  const other = invocations.find((inv) => (inv[3] as Dict).procedure === 'com.dev.other') as unknown[]
  callee.send([MSG.YIELD, other[1], { progress: true }, ['working']])
  t.same(await b.next(), [MSG.RESULT, 2, { progress: true }, ['working']])
  await callee.terminate()
  t.same((await a.next()).slice(0, 6), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.canceled', ['the callee left']])
  const errors = [await b.next(), await b.next()].map((m) => m.slice(0, 5)).sort((x, y) => (x[2] as number) - (y[2] as number))
  t.same(errors, [[MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.canceled'], [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.canceled']])
  t.equal(hubOf(app).realm('realm1').dealer.registry.byId.size, 0, 'its registrations are gone')
  b.send([MSG.CALL, 1, { progress: true }, 'com.dev.stream', ['part 2 (in flight)']])
  b.send([MSG.CALL, 1, {}, 'com.dev.stream', ['last part (in flight)']])
  await b.expectNone(30)
  t.pass('chunks of an interrupted stream that were already in flight get nothing')
  a.send([MSG.CALL, 3, {}, 'com.dev.slow'])
  t.same((await a.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.no_such_procedure'])
  await Promise.all([a.close(), b.close()])
})

t.test('a caller that leaves mid-call: INTERRUPT killnowait to a callee that can take it, nothing to one that cannot', async (t) => {
  const { url, app } = await startApp(t, ROUTER)
  const { client: able } = await client(url, FULL_CALLEE)
  const { client: unable } = await client(url)
  await register(able, 'com.able')
  await register(unable, 'com.unable')
  const { client: caller } = await client(url)
  caller.send([MSG.CALL, 1, {}, 'com.able'])
  caller.send([MSG.CALL, 2, { progress: true }, 'com.able', ['chunk']])
  caller.send([MSG.CALL, 3, {}, 'com.unable'])
  const [x, y] = [await able.next(), await able.next()]
  const z = await unable.next()
  await caller.close()
  const interrupts = [await able.next(), await able.next()].sort((p, q) => (p[1] as number) - (q[1] as number))
  t.same(interrupts, [x, y].map((inv) => [MSG.INTERRUPT, inv[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]).sort((p, q) => (p[1] as number) - (q[1] as number)))
  able.send([MSG.YIELD, x[1], {}, ['nobody listens']])
  unable.send([MSG.ERROR, MSG.INVOCATION, z[1], {}, 'wamp.error.runtime_error'])
  await unable.expectNone(30)
  t.same(app.wamp.sessions.size, 2, 'both callees are still connected and nothing broke')
  for (const s of app.wamp.sessions.values()) t.equal(internal(s).routed.size, 0, 'no routed call is left')
  await Promise.all([able.close(), unable.close()])
})
