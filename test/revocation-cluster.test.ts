import t from 'tap'
import { RemoteSession } from '../index.js'
import type { FastifyWampOptions } from '../index.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { eventually, inspector, RedisProcess, untilSubscribers } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { until } from './helpers/app.js'
import type { TestApp } from './helpers/app.js'

// Registration and subscription revocation across instances (issue 18): `RemoteSession.revokeRegistration()` /
// `revokeSubscription()` and the meta procedures `remove_callee` / `remove_subscriber` for a session on another
// instance, with cluster-wide RPC (RedisFanout rpc: true). Two in-process instances on one Redis.

const REVOCABLE = { roles: { caller: {}, callee: { features: { registration_revocation: true } }, publisher: {}, subscriber: { features: { subscription_revocation: true } } } }
const PLAIN = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }
const ROUTER: FastifyWampOptions = { metaApi: true, realms: [{ name: 'realm1', router: true, broker: true }] }

interface Hooks { unregistered: number[], unsubscribed: number[] }

/** Two instances in router mode with the Meta API; B records its onUnregister / onUnsubscribe hooks. */
async function cluster (t: Parameters<typeof rpcCluster>[0]): Promise<{ a: TestApp, b: TestApp, prefix: string, hooks: Hooks }> {
  const hooks: Hooks = { unregistered: [], unsubscribed: [] }
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, ROUTER, (app, i) => {
    if (i !== 1) return
    app.wamp.onUnregister((_s, r) => { hooks.unregistered.push(r.id) })
    app.wamp.onUnsubscribe((_s, s) => { hooks.unsubscribed.push(s.id) })
  })
  return { a, b, prefix, hooks }
}

/** REGISTER (or SUBSCRIBE) `uri` on a raw client; the registration (subscription) id. */
async function holds (client: RawClient, type: number, uri: string, request: number): Promise<number> {
  client.send([type, request, {}, uri])
  return (await client.next())[2] as number
}

/** The error URI (or 'ok') of a CALL of `uri` by a raw client. */
let request = 100
async function callUri (client: RawClient, uri: string): Promise<string> {
  const id = ++request
  client.send([MSG.CALL, id, {}, uri, []])
  const reply = await client.next()
  return reply[0] === MSG.ERROR ? reply[4] as string : 'ok'
}

/** A raw client on B subscribed to the revocation meta events; `next()` names the event's topic and its args. */
async function metaWatcher (url: string): Promise<{ client: RawClient, next: () => Promise<[string, unknown[]]> }> {
  const { client } = await connectRaw(url)
  const topics = new Map<number, string>()
  for (const [i, topic] of ['wamp.registration.on_unregister', 'wamp.subscription.on_unsubscribe'].entries()) {
    topics.set(await holds(client, MSG.SUBSCRIBE, topic, i + 1), topic)
  }
  return {
    client,
    next: async () => {
      const event = await client.nextOfType(MSG.EVENT)
      return [topics.get(event[1] as number) as string, event[4] as unknown[]]
    }
  }
}

t.test('RemoteSession.revokeRegistration(): UNREGISTERED on the other instance only if announced; the procedure is gone cluster-wide; hooks and meta events there', async (t) => {
  const { a, b, prefix, hooks } = await cluster(t)
  const redis = inspector(t)
  const watcher = await metaWatcher(b.url)
  const { client: announcing, sessionId: s1 } = await connectRaw(b.url, { details: REVOCABLE })
  const { client: plain, sessionId: s2 } = await connectRaw(b.url, { details: PLAIN })
  const { client: caller } = await connectRaw(a.url)
  t.teardown(() => Promise.all([announcing.terminate(), plain.terminate(), caller.terminate(), watcher.client.terminate()]))
  const reg1 = await holds(announcing, MSG.REGISTER, 'com.moved', 1)
  const reg2 = await holds(plain, MSG.REGISTER, 'com.plain', 1)
  await untilRegistered(redis, prefix, 'com.moved', 1)
  await untilRegistered(redis, prefix, 'com.plain', 1)
  await eventually(async () => (await a.app.wamp.session(s2)) !== undefined, 3000, 'the sessions of B in the registry')

  const handle1 = await a.app.wamp.session(s1)
  t.ok(handle1 instanceof RemoteSession, 'a RemoteSession on A')
  ;(handle1 as RemoteSession).revokeRegistration(reg1, 'com.example.moved')
  t.same(await announcing.next(), [MSG.UNREGISTERED, 0, { registration: reg1, reason: 'com.example.moved' }], 'the exact frame, on B')
  t.same(await watcher.next(), ['wamp.registration.on_unregister', [s1, reg1]], 'meta event on B')
  await eventually(async () => (await callUri(caller, 'com.moved')) === 'wamp.error.no_such_procedure', 3000, 'a routed call from A finds nobody')
  t.match(await a.app.wamp.call('com.moved').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' }, 'the app on A too')

  ;(await a.app.wamp.session(s2) as RemoteSession).revokeRegistration(reg2)
  t.same(await watcher.next(), ['wamp.registration.on_unregister', [s2, reg2]])
  await eventually(async () => (await callUri(caller, 'com.plain')) === 'wamp.error.no_such_procedure', 3000, 'gone cluster-wide')
  // Anything B sent the plain client before this reply (an UNREGISTERED, say) would arrive first.
  plain.send([MSG.SUBSCRIBE, 2, {}, 'com.ping'])
  t.equal((await plain.next())[0], MSG.SUBSCRIBED)
  t.notOk(plain.history.some((m) => m[0] === MSG.UNREGISTERED), 'no UNREGISTERED to a callee that did not announce the feature (spec MUST NOT)')
  t.same(hooks.unregistered, [reg1, reg2], 'onUnregister ran on B')

  // An id the session does not hold: nothing happens there (fire and forget, nothing to report back).
  const reg3 = await holds(announcing, MSG.REGISTER, 'com.kept', 2)
  await untilRegistered(redis, prefix, 'com.kept', 1)
  ;(handle1 as RemoteSession).revokeRegistration(reg3 + 1000)
  ;(handle1 as RemoteSession).revokeRegistration(reg3)
  t.same(await announcing.next(), [MSG.UNREGISTERED, 0, { registration: reg3 }], 'no reason given: none sent; the unknown id was ignored')
})

t.test('RemoteSession.revokeSubscription(): UNSUBSCRIBED on the other instance only if announced; publications from A no longer reach it', async (t) => {
  const { a, b, prefix, hooks } = await cluster(t)
  const redis = inspector(t)
  const watcher = await metaWatcher(b.url)
  const { client: announcing, sessionId: s1 } = await connectRaw(b.url, { details: REVOCABLE })
  const { client: plain, sessionId: s2 } = await connectRaw(b.url, { details: PLAIN })
  const { client: publisher } = await connectRaw(a.url)
  t.teardown(() => Promise.all([announcing.terminate(), plain.terminate(), publisher.terminate(), watcher.client.terminate()]))
  const news = await holds(announcing, MSG.SUBSCRIBE, 'com.news', 1)
  const marker = await holds(announcing, MSG.SUBSCRIBE, 'com.marker', 2)
  t.equal(await holds(plain, MSG.SUBSCRIBE, 'com.news', 1), news, 'the same subscription on B')
  t.equal(await holds(plain, MSG.SUBSCRIBE, 'com.marker', 2), marker)
  await eventually(async () => (await a.app.wamp.session(s2)) !== undefined, 3000, 'the sessions of B in the registry')
  await untilSubscribers(redis, `${prefix}realm1:t:com.news`, 1)
  await untilSubscribers(redis, `${prefix}realm1:t:com.marker`, 1)
  const publish = (topic: string, args: unknown[]): void => { publisher.send([MSG.PUBLISH, 1, {}, topic, args]) }
  publish('com.news', ['before'])
  t.same((await announcing.nextOfType(MSG.EVENT))[4], ['before'], 'a publication from A reaches B')
  t.same((await plain.nextOfType(MSG.EVENT))[4], ['before'])

  ;(await a.app.wamp.session(s1) as RemoteSession).revokeSubscription(news, 'no longer authorized')
  t.same(await announcing.next(), [MSG.UNSUBSCRIBED, 0, { subscription: news, reason: 'no longer authorized' }], 'the exact frame, on B')
  t.same(await watcher.next(), ['wamp.subscription.on_unsubscribe', [s1, news]], 'meta event on B')
  publish('com.news', ['after'])
  publish('com.marker', ['marker'])
  t.same((await plain.nextOfType(MSG.EVENT))[4], ['after'], 'the other subscriber still gets it')
  const next = await announcing.next()
  t.same([next[0], next[1], next[4]], [MSG.EVENT, marker, ['marker']], 'the next message for the revoked subscriber is the marker: "after" did not reach it')
  t.same((await plain.nextOfType(MSG.EVENT))[4], ['marker'])

  ;(await a.app.wamp.session(s2) as RemoteSession).revokeSubscription(news)
  t.same(await watcher.next(), ['wamp.subscription.on_unsubscribe', [s2, news]])
  publish('com.news', ['nobody'])
  publish('com.marker', ['marker 2'])
  const last = await plain.next()
  t.same([last[0], last[1], last[4]], [MSG.EVENT, marker, ['marker 2']], 'the next message for the plain subscriber is the marker: no UNSUBSCRIBED, no "nobody"')
  t.notOk(plain.history.some((m) => m[0] === MSG.UNSUBSCRIBED), 'no UNSUBSCRIBED to a subscriber that did not announce the feature')
  t.same(hooks.unsubscribed, [news, news], 'onUnsubscribe ran on B')
})

t.test('meta procedures: remove_callee / remove_subscriber called on A for a session on B', async (t) => {
  const { a, b, prefix } = await cluster(t)
  const redis = inspector(t)
  const { client: victim, sessionId: v } = await connectRaw(b.url, { details: REVOCABLE })
  const { client: admin } = await connectRaw(a.url)
  t.teardown(() => Promise.all([victim.terminate(), admin.terminate()]))
  const reg = await holds(victim, MSG.REGISTER, 'com.proc', 1)
  const sub = await holds(victim, MSG.SUBSCRIBE, 'com.topic', 2)
  await untilRegistered(redis, prefix, 'com.proc', 1)
  await eventually(async () => (await a.app.wamp.session(v)) !== undefined, 3000, 'the session of B in the registry')
  admin.send([MSG.CALL, 9, {}, 'com.proc', []])
  const invocation = await victim.nextOfType(MSG.INVOCATION)
  victim.send([MSG.YIELD, invocation[1], {}, ['here']])
  t.same(await admin.next(), [MSG.RESULT, 9, {}, ['here']], 'a routed call from A reaches it before')

  admin.send([MSG.CALL, 1, {}, 'wamp.registration.remove_callee', [reg, v, 'com.example.bye']])
  t.same(await admin.next(), [MSG.RESULT, 1, {}], 'nothing returned (forwarded to B)')
  t.same(await victim.nextOfType(MSG.UNREGISTERED), [MSG.UNREGISTERED, 0, { registration: reg, reason: 'com.example.bye' }])
  await eventually(async () => (await callUri(admin, 'com.proc')) === 'wamp.error.no_such_procedure', 3000, 'gone cluster-wide')

  admin.send([MSG.CALL, 2, {}, 'wamp.subscription.remove_subscriber', [sub, v], { reason: 'com.example.muted' }])
  t.same(await admin.next(), [MSG.RESULT, 2, {}])
  t.same(await victim.next(), [MSG.UNSUBSCRIBED, 0, { subscription: sub, reason: 'com.example.muted' }])

  admin.send([MSG.CALL, 3, {}, 'wamp.registration.remove_callee', [reg, 424242]])
  t.same((await admin.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.no_such_session'], 'a session on no instance')
  admin.send([MSG.CALL, 4, {}, 'wamp.subscription.remove_subscriber', [sub, 424242]])
  t.same((await admin.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 4, {}, 'wamp.error.no_such_session'])
})

t.test('while Redis is down: RemoteSession.revokeRegistration/revokeSubscription throw network_failure (like kill); local revocation still works', async (t) => {
  const server = await RedisProcess.start(t)
  const { apps: [a, b] } = await rpcCluster(t, 2, ROUTER, undefined, server.url)
  const { client: there, sessionId: s } = await connectRaw(b.url, { details: REVOCABLE })
  const { client: here, sessionId: h } = await connectRaw(a.url, { details: REVOCABLE })
  t.teardown(() => Promise.all([there.terminate(), here.terminate()]))
  const reg = await holds(there, MSG.REGISTER, 'com.there', 1)
  const sub = await holds(there, MSG.SUBSCRIBE, 'com.there', 2)
  const local = await holds(here, MSG.REGISTER, 'com.here', 1)
  await eventually(async () => (await a.app.wamp.session(s)) !== undefined, 3000, 'the session of B in the registry')
  const handle = await a.app.wamp.session(s) as RemoteSession

  await server.stop()
  await until(() => a.app.wamp.fanout.status === 'down', 3000, 'status down')
  const thrown = (fn: () => void): unknown => { try { fn() } catch (err) { return err } }
  t.match(thrown(() => { handle.revokeRegistration(reg) }), { uri: 'wamp.error.network_failure' })
  t.match(thrown(() => { handle.revokeSubscription(sub) }), { uri: 'wamp.error.network_failure' })
  t.equal((await a.app.wamp.session(h) as { revokeRegistration: (id: number) => boolean }).revokeRegistration(local), true, 'a session of this instance')
  t.same(await here.next(), [MSG.UNREGISTERED, 0, { registration: local }])
})
