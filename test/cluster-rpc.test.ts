import t from 'tap'
import { RedisFanout, RemoteSession } from '../index.js'
import { startApp, hubOf } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { eventually, inspector, REDIS_URL, uniquePrefix } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// Cluster-wide RPC (RedisFanout rpc: true): three instances on one Redis, real clients spread across them.

const CALLEE = { roles: { caller: { features: {} }, callee: { features: { call_canceling: true, progressive_call_results: true } }, subscriber: { features: {} } } }

t.test('an HTTP route on A calls a client on B; sessions are found cluster-wide', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 3, {}, (app, i) => {
    if (i === 0) app.get('/ask/:name', async (req) => (await app.wamp.call('b.greet', [(req.params as { name: string }).name])).args[0])
  })
  const [a, b, c] = apps
  const redis = inspector(t)
  const callee = await connectAutobahn(b.url)
  t.teardown(() => callee.close())
  const calleeId = callee.session.id as number
  await callee.session.register('b.greet', (args: unknown[]) => `hello ${String(args[0])}`)
  await untilRegistered(redis, prefix, 'b.greet', 1)

  const res = await a.app.inject({ method: 'GET', url: '/ask/ann' })
  t.equal(res.body, 'hello ann', 'A → Redis → B → client → back')
  const rpcOf = (app: typeof a): NonNullable<RedisFanout['rpc']> => (app.app.wamp.fanout as RedisFanout).rpc as NonNullable<RedisFanout['rpc']>
  t.same([rpcOf(a).stats.messagesOut, rpcOf(b).stats.messagesIn, rpcOf(b).stats.messagesOut, rpcOf(a).stats.messagesIn], [1, 1, 1, 1],
    'one request, one answer')
  t.equal(rpcOf(c).stats.messagesIn, 0, 'the third instance saw nothing of it (no broadcast)')
  t.same((await c.app.wamp.call('b.greet', ['cy'])).args, ['hello cy'], 'from C as well')
  t.same((await b.app.wamp.call('b.greet', ['local'])).args, ['hello local'], 'B calls its own client locally')

  const remote = await a.app.wamp.session(calleeId)
  t.ok(remote instanceof RemoteSession, 'a RemoteSession handle on A')
  const handle = remote as RemoteSession
  t.equal(handle.instance, (b.app.wamp.fanout as RedisFanout).instanceId)
  t.equal(handle.authrole, 'anonymous')
  t.same((await handle.call('b.greet', ['direct'])).args, ['hello direct'])
  t.match(await handle.call('b.nothing').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' })
  t.equal(await b.app.wamp.session(calleeId), b.app.wamp.sessions.get(calleeId), 'local sessions stay Session objects')
  t.equal(await a.app.wamp.session(123456789), undefined)
  t.equal(a.app.wamp.sessions.has(calleeId), false, 'the local Map is unchanged')

  const events: unknown[] = []
  await callee.session.subscribe('news', (args: unknown[]) => { events.push(args[0]) })
  handle.publish('news', ['to you'])
  await eventually(() => events.length === 1, 3000, 'event via RemoteSession.publish')
  t.same(events, ['to you'])

  t.match(await a.app.wamp.call('nobody.has.this').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' })
  const stats = (a.app.wamp.fanout as RedisFanout).rpc?.stats
  t.ok(stats !== undefined && stats.callsOut >= 3, 'calls counted')

  await callee.close()
  await eventually(async () => (await redis.hlen(`${prefix}rpc:reg:realm1:b.greet`)) === 0, 3000, 'registry emptied')
  await eventually(async () => (await redis.hexists(`${prefix}rpc:sessions`, String(calleeId))) === 0, 3000)
  t.match(await a.app.wamp.call('b.greet').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' }, 'gone with its session')
})

t.test('errors, progressive results, timeout and cancel across instances (exact wire)', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 2)
  const [a, b] = apps
  const redis = inspector(t)
  const { client } = await connectRaw(b.url, { details: CALLEE })
  t.teardown(() => client.close())
  client.send([MSG.REGISTER, 1, {}, 'b.work'])
  const registered = await client.next()
  t.equal(registered[0], MSG.REGISTERED)
  const regId = registered[2]
  await untilRegistered(redis, prefix, 'b.work', 1)

  // ERROR passed through with URI, args and kwargs.
  const failing = a.app.wamp.call('b.work', [1], { k: 1 })
  const inv1 = await client.next()
  t.same(inv1, [MSG.INVOCATION, inv1[1], regId, { procedure: 'b.work' }, [1], { k: 1 }])
  client.send([MSG.ERROR, MSG.INVOCATION, inv1[1], {}, 'app.error.bad', ['nope'], { code: 7 }])
  t.match(await failing.catch((e: unknown) => e), { uri: 'app.error.bad', args: ['nope'], kwargs: { code: 7 } })

  // Progressive results.
  const progress: unknown[] = []
  const streaming = a.app.wamp.call('b.work', [], undefined, { onProgress: (r) => progress.push(r.args[0]) })
  const inv2 = await client.next()
  t.same(inv2[3], { procedure: 'b.work', receive_progress: true })
  client.send([MSG.YIELD, inv2[1], { progress: true }, [1]])
  client.send([MSG.YIELD, inv2[1], { progress: true }, [2]])
  client.send([MSG.YIELD, inv2[1], {}, ['done']])
  t.same((await streaming).args, ['done'])
  t.same(progress, [1, 2], 'progress in order, before the result')

  // Timeout: the caller gets wamp.error.timeout, the callee INTERRUPT.
  // (Caught at once: on a loaded machine the 50 ms can pass before the INVOCATION is read.)
  const timed = a.app.wamp.call('b.work', [], undefined, { timeout: 50 }).catch((e: unknown) => e)
  const inv3 = await client.next()
  t.match(await timed, { uri: 'wamp.error.timeout' })
  t.same(await client.next(), [MSG.INTERRUPT, inv3[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }])
  client.send([MSG.YIELD, inv3[1], {}, ['late']]) // discarded

  // Cancel by AbortSignal.
  const controller = new AbortController()
  const canceled = a.app.wamp.call('b.work', [], undefined, { signal: controller.signal })
  const inv4 = await client.next()
  controller.abort()
  t.match(await canceled.catch((e: unknown) => e), { uri: 'wamp.error.canceled' })
  t.same(await client.next(), [MSG.INTERRUPT, inv4[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }])
  client.send([MSG.ERROR, MSG.INVOCATION, inv4[1], {}, 'wamp.error.canceled'])

  // The callee leaves mid-call: the remote caller gets canceled.
  const orphan = a.app.wamp.call('b.work').catch((e: unknown) => e)
  await client.next()
  await client.close()
  t.match(await orphan, { uri: 'wamp.error.canceled' })
})

t.test('router mode: client → client across instances, roundrobin counted cluster-wide, progress and cancel', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 3, { realms: [{ name: 'realm1', router: true }] })
  const [a, b, c] = apps
  const redis = inspector(t)

  // Real clients: callee on B, caller on A.
  const callee = await connectAutobahn(b.url)
  const caller = await connectAutobahn(a.url)
  t.teardown(() => Promise.all([callee.close(), caller.close()]))
  await callee.session.register('com.add', (args: unknown[]) => (args[0] as number) + (args[1] as number))
  await callee.session.register('com.fail', () => { throw new Error('boom') })
  await untilRegistered(redis, prefix, 'com.add', 1)
  t.equal(await caller.session.call('com.add', [2, 3]), 5, 'autobahn on A calls autobahn on B')
  t.match(await caller.session.call('com.none').catch((e: unknown) => e), { error: 'wamp.error.no_such_procedure' })

  // A shared roundrobin registration with one callee on each instance: the turn goes round the cluster.
  const hits: string[] = []
  const callees = await Promise.all(apps.map(async (app, i) => {
    const h = await connectAutobahn(app.url)
    await h.session.register('com.rr', () => { hits.push('abc'[i]); return 'abc'[i] }, { invoke: 'roundrobin' })
    return h
  }))
  t.teardown(() => Promise.all(callees.map((h) => h.close())))
  await untilRegistered(redis, prefix, 'com.rr', 3)
  for (let i = 0; i < 6; i++) await caller.session.call('com.rr')
  t.same(hits.sort(), ['a', 'a', 'b', 'b', 'c', 'c'], 'each instance\'s callee got its turn twice')
  hits.length = 0
  t.equal(await a.app.wamp.call('com.rr').then((r) => r.args.length), 1, 'the application reaches the shared registration too')

  // Exact wire: a raw callee on C, a raw caller on A.
  const { client: onC } = await connectRaw(c.url, { details: CALLEE })
  const { client: onA, sessionId: onASession, welcome } = await connectRaw(a.url, { details: STREAMING_HELLO_DETAILS })
  const onAAuth = welcome[2] as { authid: string }
  t.teardown(() => Promise.all([onC.close(), onA.close()]))
  onC.send([MSG.REGISTER, 1, {}, 'com.stream'])
  const regId = (await onC.nextOfType(MSG.REGISTERED))[2]
  await untilRegistered(redis, prefix, 'com.stream', 1)

  onA.send([MSG.CALL, 1, { receive_progress: true }, 'com.stream', [1], { k: 'v' }])
  const inv = await onC.nextOfType(MSG.INVOCATION)
  t.same(inv, [MSG.INVOCATION, inv[1], regId, { procedure: 'com.stream', receive_progress: true }, [1], { k: 'v' }])
  onC.send([MSG.YIELD, inv[1], { progress: true }, ['p1']])
  onC.send([MSG.YIELD, inv[1], {}, ['final'], { n: 1 }])
  t.same(await onA.next(), [MSG.RESULT, 1, { progress: true }, ['p1']])
  t.same(await onA.next(), [MSG.RESULT, 1, {}, ['final'], { n: 1 }])

  onA.send([MSG.CALL, 2, {}, 'com.stream'])
  const inv2 = await onC.nextOfType(MSG.INVOCATION)
  onA.send([MSG.CANCEL, 2, { mode: 'kill' }])
  t.same(await onA.next(), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.canceled', ['call canceled']])
  t.same(await onC.next(), [MSG.INTERRUPT, inv2[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }], 'the remote callee is interrupted')
  onC.send([MSG.ERROR, MSG.INVOCATION, inv2[1], {}, 'wamp.error.canceled'])

  onA.send([MSG.CALL, 3, { timeout: 50 }, 'com.stream'])
  const inv3 = await onC.nextOfType(MSG.INVOCATION)
  t.same(await onA.next(), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.timeout', ['call timed out']])
  t.same(await onC.next(), [MSG.INTERRUPT, inv3[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }])

  onA.send([MSG.CALL, 5, { disclose_me: true }, 'com.stream', ['who']])
  const inv5 = await onC.nextOfType(MSG.INVOCATION)
  t.same(inv5[3], { procedure: 'com.stream', caller: onASession, caller_authid: onAAuth.authid, caller_authrole: 'anonymous' }, 'caller disclosure crosses instances')
  onC.send([MSG.YIELD, inv5[1], {}])
  t.same(await onA.next(), [MSG.RESULT, 5, {}])

  onA.send([MSG.CALL, 4, { progress: true }, 'com.stream', [1]])
  t.match(await onA.next(), [MSG.ERROR, MSG.CALL, 4, {}, 'wamp.error.feature_not_supported'])
  t.ok(hubOf(a.app).realm('realm1').dealer.registry.lookup('com.stream') === undefined, 'A holds no local registration of it')
})

t.test('opt-in: without rpc nothing changes; the option is validated', async (t) => {
  t.throws(() => new RedisFanout({ redis: 'redis://127.0.0.1:6379', rpc: 'yes' as never }), { code: 'FST_WAMP_INVALID_OPTION' })
  const { app } = await startApp(t, { fanout: new RedisFanout({ redis: REDIS_URL, prefix: uniquePrefix(), heartbeat: 200 }) })
  t.equal(hubOf(app).cluster, undefined)
  t.equal((app.wamp.fanout as RedisFanout).rpc, undefined)
  t.equal(await app.wamp.session(42), undefined, 'session(id) is the local lookup')
  t.match(await app.wamp.call('x.y').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' })
  const { app: plain } = await startApp(t)
  t.equal(hubOf(plain).cluster, undefined)
  t.equal(await plain.wamp.session(42), undefined)
})

t.test('issue 17: prefix and wildcard registrations are reached from every instance, by pattern precedence', async (t) => {
  const { apps: [a, b, c], prefix } = await rpcCluster(t, 3, { realms: [{ name: 'realm1', router: true }] })
  const redis = inspector(t)
  const { client: onB } = await connectRaw(b.url)
  const { client: onC } = await connectRaw(c.url)
  const { client: caller } = await connectRaw(a.url)
  t.teardown(() => Promise.all([onB.close(), onC.close(), caller.close()]))
  onB.send([MSG.REGISTER, 1, { match: 'prefix' }, 'com.dev.'])
  const prefixReg = (await onB.nextOfType(MSG.REGISTERED))[2]
  onC.send([MSG.REGISTER, 1, { match: 'wildcard' }, 'com..reboot'])
  const wildReg = (await onC.nextOfType(MSG.REGISTERED))[2]
  await eventually(async () => (await redis.hlen(`${prefix}rpc:pat:realm1`)) === 2, 3000, 'pattern registrations listed')

  caller.send([MSG.CALL, 1, {}, 'com.dev.7.reboot', ['p']])
  const inv1 = await onB.nextOfType(MSG.INVOCATION)
  t.same(inv1.slice(2), [prefixReg, { procedure: 'com.dev.7.reboot' }, ['p']], 'the prefix wins over the wildcard (spec precedence)')
  onB.send([MSG.YIELD, inv1[1], {}, ['from b']])
  t.same((await caller.nextOfType(MSG.RESULT)).slice(1), [1, {}, ['from b']])

  caller.send([MSG.CALL, 2, {}, 'com.lamp.reboot'])
  const inv2 = await onC.nextOfType(MSG.INVOCATION)
  t.same(inv2.slice(2), [wildReg, { procedure: 'com.lamp.reboot' }], 'the wildcard on C')
  onC.send([MSG.YIELD, inv2[1], {}, ['from c']])
  t.same((await caller.nextOfType(MSG.RESULT)).slice(1), [2, {}, ['from c']])

  const app = a.app.wamp.call('com.dev.9')
  const inv3 = await onB.nextOfType(MSG.INVOCATION)
  onB.send([MSG.YIELD, inv3[1], {}, ['app']])
  t.same((await app).args, ['app'], 'the app\'s call() too')
  caller.send([MSG.CALL, 3, {}, 'org.none'])
  t.same((await caller.nextOfType(MSG.ERROR)).slice(1, 5), [MSG.CALL, 3, {}, 'wamp.error.no_such_procedure'])

  onB.send([MSG.UNREGISTER, 2, prefixReg])
  await onB.nextOfType(MSG.UNREGISTERED)
  await eventually(async () => (await redis.hlen(`${prefix}rpc:pat:realm1`)) === 1, 3000, 'unregistered pattern removed')
  caller.send([MSG.CALL, 4, {}, 'com.dev.reboot'])
  const inv4 = await onC.nextOfType(MSG.INVOCATION)
  t.same(inv4.slice(2, 4), [wildReg, { procedure: 'com.dev.reboot' }], 'now the wildcard takes it')
  onC.send([MSG.YIELD, inv4[1], {}, []])
  await caller.nextOfType(MSG.RESULT)
})
