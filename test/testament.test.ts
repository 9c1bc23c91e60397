import t from 'tap'
import fc from 'fast-check'
import { startApp } from './helpers/app.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { connect, WampError } from '../lib/testing/index.js'
import type { FastifyWampOptions, RedisFanout } from '../index.js'
import { rpcCluster, spawnInstance } from './helpers/cluster.js'
import { eventually, inspector, REDIS_URL } from './helpers/redis.js'

// Real processes and waits on time bounds: under a loaded CI (3 files at a time on 2 cores) this file has run past
// tap's 60 s default.
t.setTimeout(180_000)

// Session testaments (spec "Session Testament"): published when the session ends, however it ends.

const failure = (p: Promise<unknown>): Promise<WampError> => p.then(() => { throw new Error('expected a rejection') }, (e: unknown) => e as WampError)
const TESTAMENTS: FastifyWampOptions = { metaApi: true, realms: [{ name: 'realm1', broker: true }] }

/** A raw subscriber of `topic`; returns the client and the subscription id. */
async function subscriber (url: string, topic: string): Promise<{ client: RawClient, sub: number }> {
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, {}, topic])
  const subscribed = await client.next()
  return { client, sub: subscribed[2] as number }
}

/** A raw session that left one testament on `topic`. */
async function testator (url: string, topic: string, args: unknown[], kwargs?: Record<string, unknown>): Promise<{ client: RawClient, id: number }> {
  const { client, sessionId } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'wamp.session.add_testament', [topic, args, { n: 1 }], kwargs ?? {}])
  const result = await client.next()
  if (result[0] !== MSG.RESULT) throw new Error(`add_testament failed: ${JSON.stringify(result)}`)
  return { client, id: sessionId }
}

t.test('announced as dealer feature testament_meta_api only with metaApi and a brokering realm', async (t) => {
  const features = async (options: FastifyWampOptions): Promise<Record<string, unknown>> => {
    const { url } = await startApp(t, options)
    const { client, welcome } = await connectRaw(url)
    await client.close()
    return (welcome[2] as { roles: { dealer: { features: Record<string, unknown> } } }).roles.dealer.features
  }
  t.equal((await features(TESTAMENTS)).testament_meta_api, true)
  t.notOk((await features({ metaApi: true })).testament_meta_api, 'client publications reach no client: no testaments')
  t.notOk((await features({ realms: [{ name: 'realm1', broker: true }] })).testament_meta_api, 'no Meta API')
  const { app } = await startApp(t, { metaApi: true })
  const c = await connect(app)
  t.equal((await failure(c.call('wamp.session.add_testament', ['com.x', []]))).uri, 'wamp.error.no_such_procedure')
  await c.close()
})

t.test('exact wire shapes; published on a dropped socket, on GOODBYE, on ABORT and on kill', async (t) => {
  const { app, url } = await startApp(t, TESTAMENTS)
  const watcher = await subscriber(url, 'com.will')

  const dropped = await testator(url, 'com.will', ['dropped'])
  t.same(dropped.client.history.at(-1), [MSG.RESULT, 1, {}], 'add_testament returns nothing')
  await dropped.client.terminate()
  const event = await watcher.client.next()
  t.same([event[0], event[1], event[3], event[4], event[5]], [MSG.EVENT, watcher.sub, {}, ['dropped'], { n: 1 }], 'EVENT with args and kwargs, no publisher disclosed')

  const polite = await testator(url, 'com.will', ['goodbye'])
  await polite.client.close()
  t.same((await watcher.client.next())[4], ['goodbye'])

  const aborting = await testator(url, 'com.will', ['abort'])
  aborting.client.send([MSG.ABORT, {}, 'wamp.close.normal'])
  t.same((await watcher.client.next())[4], ['abort'])

  const killed = await testator(url, 'com.will', ['killed'])
  app.wamp.sessions.get(killed.id)?.kill()
  t.same((await watcher.client.next())[4], ['killed'])
  await killed.client.close()
  await watcher.client.expectNone(50)
  await watcher.client.close()
})

t.test('order (detached before destroyed, each in order added), flush_testaments by scope, publish options with identity', async (t) => {
  const { url } = await startApp(t, TESTAMENTS)
  const watcher = await subscriber(url, 'com.will')
  const { client, sessionId, welcome } = await connectRaw(url)
  const call = async (id: number, args: unknown[], kwargs: Record<string, unknown> = {}): Promise<unknown[]> => {
    client.send([MSG.CALL, id, {}, args.length === 0 ? 'wamp.session.flush_testaments' : 'wamp.session.add_testament', ...(args.length === 0 ? [[], kwargs] : [args, kwargs])])
    return await client.next()
  }
  await call(1, ['com.will', ['d1']])
  await call(2, ['com.will', ['x1']], { scope: 'detached' })
  await call(3, ['com.will', ['d2'], null], { publish_options: { disclose_me: true } })
  await call(4, ['com.will', ['x2']], { scope: 'detached' })
  t.same(await call(5, [], { scope: 'detached' }), [MSG.RESULT, 5, {}], 'flush returns nothing')
  await call(6, ['com.will', ['x3']], { scope: 'detached' })
  await call(7, ['com.will', ['gone']])
  await call(8, ['com.will', ['d3']], { publish_options: { exclude_authrole: ['anonymous'] } })
  await call(9, ['com.will', ['d4']])
  client.send([MSG.CALL, 10, {}, 'wamp.session.add_testament', ['bad uri', []]])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 10, {}, 'wamp.error.invalid_uri'])
  client.send([MSG.CALL, 11, {}, 'wamp.session.add_testament', ['com.will', []], { scope: 'sometime' }])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 11, {}, 'wamp.error.invalid_argument'])
  client.send([MSG.CALL, 12, {}, 'wamp.session.add_testament', ['com.will', []], { publish_options: { eligible: 'me' } }])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 12, {}, 'wamp.error.invalid_argument'])
  await client.terminate()
  const got: unknown[] = []
  for (let i = 0; i < 5; i++) {
    const e = await watcher.client.next()
    got.push([(e[4] as string[])[0], e[3]])
  }
  const authid = (welcome[2] as { authid: string }).authid
  t.same(got, [
    ['x3', {}],
    ['d1', {}],
    ['d2', { publisher: sessionId, publisher_authid: authid, publisher_authrole: 'anonymous' }],
    ['gone', {}],
    ['d4', {}]
  ], 'x1 and x2 flushed; d3 excluded the watcher by authrole, as that session\'s PUBLISH would')
  await watcher.client.expectNone(50)
  await watcher.client.close()
})

t.test('property: whatever the adds, flushes and ending, exactly the remaining testaments go out, detached first, each scope in order', async (t) => {
  const { app, url } = await startApp(t, TESTAMENTS)
  const watcher = await subscriber(url, 'com.will')
  type Scope = 'detached' | 'destroyed'
  const scope = fc.constantFrom<Scope>('detached', 'destroyed')
  const op = fc.oneof({ arbitrary: fc.record({ add: scope }), weight: 3 }, { arbitrary: fc.record({ flush: scope }), weight: 1 })
  let sentinel = 0
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 12 }), fc.constantFrom('drop', 'abort', 'close', 'goodbye'), async (ops, end) => {
    const { client } = await connectRaw(url)
    const model: Record<Scope, number[]> = { detached: [], destroyed: [] }
    let n = 0
    for (const [i, o] of ops.entries()) {
      if ('add' in o) {
        model[o.add].push(++n)
        client.send([MSG.CALL, i + 1, {}, 'wamp.session.add_testament', ['com.will', [n]], { scope: o.add }])
      } else {
        model[o.flush] = []
        client.send([MSG.CALL, i + 1, {}, 'wamp.session.flush_testaments', [], { scope: o.flush }])
      }
      const answer = await client.next()
      if (answer[0] !== MSG.RESULT) throw new Error(`unexpected ${JSON.stringify(answer)}`)
    }
    if (end === 'drop') await client.terminate()
    else if (end === 'abort') client.send([MSG.ABORT, {}, 'wamp.close.normal'])
    else if (end === 'close') await client.close()
    else {
      client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
      await client.next()
      await client.close()
    }
    const got: unknown[] = []
    for (let i = 0; i < model.detached.length + model.destroyed.length; i++) got.push(((await watcher.client.next())[4] as number[])[0])
    // Nothing more: the next EVENT is one the app publishes now.
    app.wamp.publishToAll('com.will', [`end ${++sentinel}`])
    const next = await watcher.client.next()
    if ((next[4] as string[])[0] !== `end ${sentinel}`) throw new Error(`an extra testament: ${JSON.stringify(next)}`)
    return JSON.stringify(got) === JSON.stringify([...model.detached, ...model.destroyed])
  }), { numRuns: 25 })
  await watcher.client.close()
})

t.test('authorized as a PUBLISH by the session when added; bounded in number and bytes', async (t) => {
  const { app } = await startApp(t, {
    metaApi: true,
    maxPayload: 4096,
    realms: [{
      name: 'realm1',
      broker: { allow: ['com.'] },
      permissions: { anonymous: [{ uri: 'wamp.session.', match: 'prefix', allow: ['call'] }, { uri: 'com.open.', match: 'prefix', allow: ['publish'] }] }
    }]
  })
  const c = await connect(app)
  t.equal((await failure(c.call('wamp.session.add_testament', ['com.closed.x', []]))).uri, 'wamp.error.not_authorized', 'permissions')
  t.equal((await failure(c.call('wamp.session.add_testament', ['org.open.x', []]))).uri, 'wamp.error.not_authorized', 'the broker rule')
  for (let i = 0; i < 16; i++) await c.call('wamp.session.add_testament', ['com.open.x', [i]])
  t.equal((await failure(c.call('wamp.session.add_testament', ['com.open.x', [16]]))).uri, 'fastify_wamp.error.limit_exceeded', 'at most 16')
  await c.call('wamp.session.flush_testaments')
  await c.call('wamp.session.add_testament', ['com.open.x', ['x'.repeat(2500)]])
  t.equal((await failure(c.call('wamp.session.add_testament', ['com.open.x', ['x'.repeat(2500)]]))).uri, 'fastify_wamp.error.limit_exceeded', 'at most maxPayload bytes in all')
  await c.close()
})

t.test('autobahn-js leaves a testament; another autobahn-js session receives it', async (t) => {
  const { url } = await startApp(t, TESTAMENTS)
  const watcher = await connectAutobahn(url)
  let deliver: (args: unknown[]) => void = () => {}
  const received = new Promise<unknown[]>((resolve) => { deliver = resolve })
  await watcher.session.subscribe('com.will', (args: unknown[]) => { deliver(args) })
  const ab = await connectAutobahn(url, { serializer: 'msgpack' })
  await ab.session.call('wamp.session.add_testament', ['com.will', ['from autobahn'], {}], { scope: 'destroyed' })
  await ab.close()
  t.same(await received, ['from autobahn'])
  t.same(watcher.errors, [])
  await watcher.close()
})

t.test('with Redis: an instance killed with -9 — exactly one survivor publishes its sessions\' testaments', async (t) => {
  const HEARTBEAT = 200
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, TESTAMENTS)
  const redis = inspector(t)
  const dead = await spawnInstance(t, REDIS_URL, prefix, HEARTBEAT, 'testament')
  const onA = await subscriber(a.url, 'com.will')
  const onB = await subscriber(b.url, 'com.will')
  const doomed = await testator(`ws://127.0.0.1:${dead.port}/ws`, 'com.will', ['lost'], { publish_options: { disclose_me: true } })
  t.teardown(() => doomed.client.terminate())
  await eventually(async () => (await redis.hlen(`${prefix}rpc:testaments:${dead.instance}`)) === 1, 3000, 'the testament kept in Redis')
  await eventually(async () => (await redis.sismember(`${prefix}rpc:instances`, dead.instance)) === 1, 3000, 'the child announced')
  dead.child.kill('SIGKILL')
  for (const watcher of [onA, onB]) {
    const event = await watcher.client.next(HEARTBEAT * 15)
    t.same([event[0], event[3], event[4]], [MSG.EVENT, { publisher: doomed.id, publisher_authid: (event[3] as { publisher_authid: string }).publisher_authid, publisher_authrole: 'anonymous' }, ['lost']])
  }
  await onA.client.expectNone(HEARTBEAT * 3)
  await onB.client.expectNone(50)
  t.equal(await redis.exists(`${prefix}rpc:testaments:${dead.instance}`), 0, 'claimed and removed')
  await Promise.all([onA.client.close(), onB.client.close()])
})

t.test('with Redis: an instance paused past its heartbeat TTL — its testaments are published once, not again when it resumes', async (t) => {
  const HEARTBEAT = 200
  const { apps: [a], prefix } = await rpcCluster(t, 1, TESTAMENTS)
  const redis = inspector(t)
  const paused = await spawnInstance(t, REDIS_URL, prefix, HEARTBEAT, 'testament')
  const url = `ws://127.0.0.1:${paused.port}/ws`
  const onA = await subscriber(a.url, 'com.will')
  const testator1 = await testator(url, 'com.will', ['once'])
  t.teardown(() => testator1.client.terminate())
  // A callee on the paused instance: callable from A again once it resumes (its registry entries are rewritten).
  const { client: callee } = await connectRaw(url)
  t.teardown(() => callee.terminate())
  callee.send([MSG.REGISTER, 1, {}, 'com.paused.echo'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  await eventually(async () => (await redis.hlen(`${prefix}rpc:testaments:${paused.instance}`)) === 1, 3000, 'the testament kept in Redis')
  await eventually(async () => (await redis.sismember(`${prefix}rpc:instances`, paused.instance)) === 1, 3000, 'the child announced')

  paused.child.kill('SIGSTOP')
  const event = await onA.client.next(HEARTBEAT * 20)
  t.same([event[0], event[4]], [MSG.EVENT, ['once']], 'the survivor published the testament of the paused instance\'s session')
  paused.child.kill('SIGCONT')
  await eventually(async () => (await redis.exists(`${prefix}rpc:testaments-published:${paused.instance}`)) === 0, 5000, 'the resumed instance took the list of published testaments')
  await eventually(async () => (await redis.hlen(`${prefix}rpc:reg:realm1:com.paused.echo`)) === 1, 5000, 'the resumed instance rewrote its registry entries')

  // The callee is reachable again (the resumed instance rewrote its registry entries).
  const answered = a.app.wamp.call('com.paused.echo', ['hi'], undefined, { timeout: 5000 })
  const invocation = await callee.next()
  t.equal(invocation[0], MSG.INVOCATION)
  callee.send([MSG.YIELD, invocation[1], {}, ['back']])
  t.same((await answered).args, ['back'], 'a call from A reaches the callee on the resumed instance')

  // The testator leaves: its testament was published already, so nothing more goes out. A marker published from
  // the same instance afterwards arrives after anything the leaving would have published (one Redis connection).
  await testator1.client.close()
  const { client: marker } = await connectRaw(url)
  t.teardown(() => marker.terminate())
  const got = await messagesBeforeMarker(onA.client, () => marker.send([MSG.PUBLISH, 1, {}, 'com.will', ['marker']]))
  t.same(got, [], 'the testament was not published a second time')
  await Promise.all([onA.client.close(), marker.close(), callee.close()])
})

t.test('with Redis: an instance that shuts down cleanly publishes its sessions\' testaments to the others', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, TESTAMENTS)
  const redis = inspector(t)
  const onA = await subscriber(a.url, 'com.will')
  const leaving = await testator(b.url, 'com.will', ['shutdown'])
  const instance = (b.app.wamp.fanout as RedisFanout).instanceId
  await eventually(async () => (await redis.hlen(`${prefix}rpc:testaments:${instance}`)) === 1, 3000, 'kept in Redis')
  const closing = b.app.close()
  t.same((await onA.client.next())[4], ['shutdown'])
  await closing
  await leaving.client.closed
  await onA.client.expectNone(100)
  await onA.client.close()
})
