import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { connect, WampError } from '../lib/testing/index.js'
import type { WampSession } from '../index.js'

// Registration and subscription revocation (spec "Registration Revocation", "Subscription Revocation"), and the
// subscription meta events (spec "Subscriptions Meta API").

const failure = (p: Promise<unknown>): Promise<WampError> => p.then(() => { throw new Error('expected a rejection') }, (e: unknown) => e as WampError)
const REVOCABLE = { roles: { caller: {}, callee: { features: { registration_revocation: true } }, publisher: {}, subscriber: { features: { subscription_revocation: true } } } }
const PLAIN = { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }

const META = ['wamp.subscription.on_create', 'wamp.subscription.on_subscribe', 'wamp.subscription.on_unsubscribe', 'wamp.subscription.on_delete',
  'wamp.registration.on_unregister', 'wamp.registration.on_delete']

/** A raw client subscribed to the meta events; `next()` names the event's topic. */
async function metaWatcher (url: string): Promise<{ client: RawClient, next: () => Promise<[string, unknown[]]> }> {
  const { client } = await connectRaw(url)
  const topics = new Map<number, string>()
  for (const [i, topic] of META.entries()) {
    client.send([MSG.SUBSCRIBE, i + 1, {}, topic])
    topics.set((await client.next())[2] as number, topic)
  }
  return {
    client,
    next: async () => {
      const event = await client.nextOfType(MSG.EVENT)
      return [topics.get(event[1] as number) as string, event[4] as unknown[]]
    }
  }
}

t.test('WELCOME announces registration_revocation (dealer) and subscription_revocation (broker)', async (t) => {
  const { url } = await startApp(t)
  const { client, welcome } = await connectRaw(url)
  const roles = (welcome[2] as { roles: Record<string, { features: Record<string, unknown> }> }).roles
  t.equal(roles.dealer.features.registration_revocation, true)
  t.equal(roles.broker.features.subscription_revocation, true)
  await client.close()
})

t.test('session.revokeRegistration: UNREGISTERED [67, 0, {registration, reason}] only to callees that announced it; meta events either way', async (t) => {
  const sessions: WampSession[] = []
  const { app, url } = await startApp(t, { metaApi: true }, (app) => { app.wamp.onSessionOpen((s) => { sessions.push(s) }) })
  const watcher = await metaWatcher(url)
  const unregistered: number[] = []
  app.wamp.onUnregister((_s, r) => { unregistered.push(r.id) })

  const { client: announcing, sessionId: a } = await connectRaw(url, { details: REVOCABLE })
  announcing.send([MSG.REGISTER, 1, {}, 'com.proc'])
  const reg = (await announcing.next())[2] as number
  const sa = sessions.find((s) => s.id === a) as WampSession
  t.equal(sa.revokeRegistration(reg, 'com.example.moved'), true)
  t.same(await announcing.next(), [MSG.UNREGISTERED, 0, { registration: reg, reason: 'com.example.moved' }])
  t.same(await watcher.next(), ['wamp.registration.on_unregister', [a, reg]])
  t.same(await watcher.next(), ['wamp.registration.on_delete', [a, reg]])
  t.equal(sa.hasRegistration('com.proc'), false)
  t.equal(sa.revokeRegistration(reg), false, 'nothing left to revoke')
  t.same(unregistered, [reg], 'onUnregister ran')
  t.match(await app.wamp.call('com.proc').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' })

  const { client: plain, sessionId: p } = await connectRaw(url, { details: PLAIN })
  plain.send([MSG.REGISTER, 1, {}, 'com.plain'])
  const reg2 = (await plain.next())[2] as number
  t.equal((sessions.find((s) => s.id === p) as WampSession).revokeRegistration(reg2), true)
  t.same(await watcher.next(), ['wamp.registration.on_unregister', [p, reg2]])
  await plain.expectNone(50)
  t.notOk(plain.history.some((m) => m[0] === MSG.UNREGISTERED), 'no UNREGISTERED to a callee that did not announce the feature (spec MUST NOT)')
  await Promise.all([announcing.close(), plain.close(), watcher.client.close()])
})

t.test('an invocation in flight when its registration is revoked still completes', async (t) => {
  let session: WampSession | undefined
  const { url } = await startApp(t, {}, (app) => { app.wamp.onSessionOpen((s) => { session = s }) })
  const { client } = await connectRaw(url, { details: REVOCABLE })
  client.send([MSG.REGISTER, 1, {}, 'com.slow'])
  const reg = (await client.next())[2] as number
  const s = session as WampSession
  const result = s.call('com.slow', [1])
  const invocation = await client.nextOfType(MSG.INVOCATION)
  s.revokeRegistration(reg)
  t.same(await client.next(), [MSG.UNREGISTERED, 0, { registration: reg }], 'no reason given: none sent')
  client.send([MSG.YIELD, invocation[1], {}, ['done']])
  t.same((await result).args, ['done'])
  t.match(await s.call('com.slow').catch((e: unknown) => e), { uri: 'wamp.error.no_such_procedure' }, 'no new call reaches it')
  await client.close()
})

t.test('session.revokeSubscription: UNSUBSCRIBED [35, 0, {subscription, reason}]; no more EVENTs; meta events', async (t) => {
  const sessions: WampSession[] = []
  const { app, url } = await startApp(t, { metaApi: true }, (app) => { app.wamp.onSessionOpen((s) => { sessions.push(s) }) })
  const watcher = await metaWatcher(url)
  const { client: announcing, sessionId: a } = await connectRaw(url, { details: REVOCABLE })
  announcing.send([MSG.SUBSCRIBE, 1, {}, 'com.news'])
  const sub = (await announcing.next())[2] as number
  const { client: plain, sessionId: p } = await connectRaw(url, { details: PLAIN })
  plain.send([MSG.SUBSCRIBE, 1, {}, 'com.news'])
  t.equal((await plain.next())[2], sub, 'the same subscription')
  t.same((await watcher.next())[0], 'wamp.subscription.on_create')
  t.same(await watcher.next(), ['wamp.subscription.on_subscribe', [a, sub]])
  t.same(await watcher.next(), ['wamp.subscription.on_subscribe', [p, sub]])

  t.equal((sessions.find((s) => s.id === a) as WampSession).revokeSubscription(sub, 'no longer authorized'), true)
  t.same(await announcing.next(), [MSG.UNSUBSCRIBED, 0, { subscription: sub, reason: 'no longer authorized' }])
  t.same(await watcher.next(), ['wamp.subscription.on_unsubscribe', [a, sub]])
  app.wamp.publishToAll('com.news', ['after'])
  t.same((await plain.next())[4], ['after'])
  await announcing.expectNone(50)

  t.equal((sessions.find((s) => s.id === p) as WampSession).revokeSubscription(sub), true)
  t.same(await watcher.next(), ['wamp.subscription.on_unsubscribe', [p, sub]])
  t.same(await watcher.next(), ['wamp.subscription.on_delete', [p, sub]])
  app.wamp.publishToAll('com.news', ['nobody'])
  await plain.expectNone(50)
  t.notOk(plain.history.some((m) => m[0] === MSG.UNSUBSCRIBED), 'no UNSUBSCRIBED to a subscriber that did not announce the feature')
  await Promise.all([announcing.close(), plain.close(), watcher.client.close()])
})

t.test('meta procedures: remove_callee, remove_subscriber (Crossbar), registration.remove, subscription.remove', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true, realms: [{ name: 'realm1', router: true }] })
  const admin = await connect(app)
  const { client: c1, sessionId: s1 } = await connectRaw(url, { details: REVOCABLE })
  const { client: c2, sessionId: s2 } = await connectRaw(url, { details: REVOCABLE })
  c1.send([MSG.REGISTER, 1, { invoke: 'roundrobin' }, 'com.shared'])
  const reg = (await c1.next())[2] as number
  c2.send([MSG.REGISTER, 1, { invoke: 'roundrobin' }, 'com.shared'])
  t.equal((await c2.next())[2], reg, 'one shared registration')

  await admin.call('wamp.registration.remove_callee', [reg, s1, 'com.example.bye'])
  t.same(await c1.next(), [MSG.UNREGISTERED, 0, { registration: reg, reason: 'com.example.bye' }])
  t.same((await admin.call('wamp.registration.list_callees', [reg])).args, [[s2]])
  t.equal((await failure(admin.call('wamp.registration.remove_callee', [reg, s1]))).uri, 'wamp.error.no_such_registration')
  t.equal((await failure(admin.call('wamp.registration.remove_callee', [reg, 999]))).uri, 'wamp.error.no_such_session')
  t.same((await admin.call('wamp.registration.remove', [reg], { reason: 'com.example.all' })).args, [[s2]], 'returns the sessions removed')
  t.same(await c2.next(), [MSG.UNREGISTERED, 0, { registration: reg, reason: 'com.example.all' }])
  t.equal((await failure(admin.call('wamp.registration.remove', [reg]))).uri, 'wamp.error.no_such_registration')

  c1.send([MSG.SUBSCRIBE, 2, { match: 'prefix' }, 'com.'])
  const sub = (await c1.next())[2] as number
  c2.send([MSG.SUBSCRIBE, 2, { match: 'prefix' }, 'com.'])
  await c2.next()
  await admin.call('wamp.subscription.remove_subscriber', [sub, s2])
  t.same(await c2.next(), [MSG.UNSUBSCRIBED, 0, { subscription: sub }])
  t.equal((await failure(admin.call('wamp.subscription.remove_subscriber', [sub, s2]))).uri, 'wamp.error.no_such_subscription')
  t.same((await admin.call('wamp.subscription.remove', [sub, 'com.example.closed'])).args, [[s1]])
  t.same(await c1.next(), [MSG.UNSUBSCRIBED, 0, { subscription: sub, reason: 'com.example.closed' }])
  t.equal((await failure(admin.call('wamp.subscription.remove', [sub]))).uri, 'wamp.error.no_such_subscription')
  t.equal((await failure(admin.call('wamp.subscription.remove', ['x']))).uri, 'wamp.error.invalid_argument')
  await Promise.all([admin.close(), c1.close(), c2.close()])
})

t.test('autobahn-js: a revoked subscription and registration resolve on_unsubscribe / on_unregister with the reason', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true })
  const ab = await connectAutobahn(url)
  const sub = await ab.session.subscribe('com.news', () => {}) as unknown as { id: number, on_unsubscribe: Promise<unknown> }
  const reg = await ab.session.register('com.proc', () => 1) as unknown as { id: number, on_unregister: Promise<unknown> }
  const admin = await connect(app)
  await admin.call('wamp.subscription.remove', [sub.id], { reason: 'com.example.sub' })
  t.equal(await sub.on_unsubscribe, 'com.example.sub')
  await admin.call('wamp.registration.remove', [reg.id], { reason: 'com.example.reg' })
  t.equal(await reg.on_unregister, 'com.example.reg')
  t.same(ab.errors, [], 'no protocol violation')
  await Promise.all([admin.close(), ab.close()])
})

t.test('subscription meta events: spec argument shapes, pattern subscriptions, brokered router-mode realm, disconnects, autobahn-js', async (t) => {
  const { url } = await startApp(t, { metaApi: true, realms: [{ name: 'realm1', broker: true, router: true }] })
  const watcher = await metaWatcher(url)
  const ab = await connectAutobahn(url)
  const abCreated: unknown[][] = []
  let abGot: () => void = () => {}
  const abDone = new Promise<void>((resolve) => { abGot = resolve })
  await ab.session.subscribe('wamp.subscription.on_create', (args: unknown[]) => { abCreated.push(args); if (abCreated.length === 2) abGot() })

  const { client: a, sessionId: sa } = await connectRaw(url)
  a.send([MSG.SUBSCRIBE, 1, { match: 'wildcard' }, 'com..score'])
  const wild = (await a.next())[2] as number
  const [topic, args] = await watcher.next()
  t.equal(topic, 'wamp.subscription.on_create')
  t.equal(args.length, 2)
  t.equal(args[0], sa)
  t.same(Object.keys(args[1] as object).sort(), ['created', 'id', 'match', 'uri'])
  t.match(args[1], { id: wild, uri: 'com..score', match: 'wildcard' })
  t.ok(!Number.isNaN(Date.parse((args[1] as { created: string }).created)))
  t.same(await watcher.next(), ['wamp.subscription.on_subscribe', [sa, wild]], 'on_subscribe follows on_create')

  const { client: b, sessionId: sb } = await connectRaw(url)
  b.send([MSG.SUBSCRIBE, 1, { match: 'wildcard' }, 'com..score'])
  await b.next()
  t.same(await watcher.next(), ['wamp.subscription.on_subscribe', [sb, wild]], 'no on_create for an existing subscription')
  b.send([MSG.SUBSCRIBE, 2, { match: 'prefix' }, 'com.'])
  const prefix = (await b.next())[2] as number
  t.match(await watcher.next(), ['wamp.subscription.on_create', [sb, { id: prefix, uri: 'com.', match: 'prefix' }]])
  t.same(await watcher.next(), ['wamp.subscription.on_subscribe', [sb, prefix]])
  await abDone
  t.same(abCreated.map((c) => c[0]), [sa, sb], 'autobahn-js got on_create with the session ids')

  await a.terminate()
  t.same(await watcher.next(), ['wamp.subscription.on_unsubscribe', [sa, wild]], 'a dropped socket unsubscribes')
  await b.close()
  const rest = [await watcher.next(), await watcher.next(), await watcher.next(), await watcher.next()]
  t.same(rest.filter(([name]) => name === 'wamp.subscription.on_delete').map(([, args]) => args).sort(), [[sb, wild], [sb, prefix]].sort(),
    'the last subscriber gone: on_delete with its session id')
  t.same(rest.filter(([name]) => name === 'wamp.subscription.on_unsubscribe').length, 2)
  for (const id of [wild, prefix]) {
    const names = rest.filter(([, args]) => args[1] === id).map(([name]) => name)
    t.same(names, ['wamp.subscription.on_unsubscribe', 'wamp.subscription.on_delete'], 'on_delete preceded by on_unsubscribe')
  }
  await Promise.all([ab.close(), watcher.client.close()])
})
