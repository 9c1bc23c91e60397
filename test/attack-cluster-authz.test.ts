import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { FastifyWampOptions } from '../index.js'
import { hubOf } from './helpers/app.js'
import { connectRaw, MSG, openRaw } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { ask, helloWith, ticketLogin } from './helpers/auth.js'
import { eventually, inspector } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// Attack pass on authorization and isolation ACROSS INSTANCES (the single-process paths: attack-authz-bypass.test.ts):
// what a client on instance A could get through Redis that its role, its realm or its session does not allow —
// events, retained events and event history published on B, calls to callees on B, the Meta API reaching sessions on
// B, revocation decided on one instance and delivery on another, and client payloads that cross Redis.
// Raw frames over real WebSockets, a real Redis (a key prefix per test).

const roleLogin: FastifyWampOptions['auth'] = {
  // The ticket is the authid; the authrole is the authid, or what follows an @ in it (`ann@user`).
  ticket: { authenticate: (ticket, ctx) => ticket === ctx.authid ? { authrole: ticket.split('@')[1] ?? ticket } : undefined }
}

const permissions: FastifyWampOptions['permissions'] = {
  user: [
    { uri: 'app.', match: 'prefix', allow: ['subscribe', 'publish', 'call'] },
    { uri: 'app.admin.', match: 'prefix', allow: [] },
    { uri: 'wamp.subscription.', match: 'prefix', allow: ['call'] },
    { uri: 'wamp.session.', match: 'prefix', allow: ['call'] },
    { uri: 'wamp.registration.', match: 'prefix', allow: ['call'] }
  ],
  callee: [{ uri: 'svc.', match: 'prefix', allow: ['register'] }, { uri: 'svc.admin.', match: 'prefix', allow: [] }],
  admin: [{ uri: '', match: 'prefix', allow: ['call', 'register', 'subscribe', 'publish'] }]
}

function realm (name: string): NonNullable<FastifyWampOptions['realms']>[number] {
  return { name, broker: true, router: true, retention: true, history: [{ topic: 'app.', match: 'prefix' }] }
}

const options: FastifyWampOptions = { auth: roleLogin, metaApi: true, permissions, realms: [realm('realm1'), realm('realm2')] }

let nextId = 1

/** The ids of `app`'s sessions with `authrole`. */
function sessionIds (app: FastifyInstance, authrole: string): number[] {
  return [...hubOf(app).sessions.values()].filter((s) => s.authrole === authrole).map((s) => s.id)
}

async function login (url: string, who: string, realmName = 'realm1'): Promise<RawClient> {
  return (await ticketLogin(url, who, who, realmName)).client
}

async function subscribed (client: RawClient, topic: string, opts: Record<string, unknown> = {}): Promise<number> {
  const reply = await ask(client, [MSG.SUBSCRIBE, nextId++, opts, topic])
  if (reply[0] !== MSG.SUBSCRIBED) throw new Error(`expected SUBSCRIBED, got ${JSON.stringify(reply)}`)
  return reply[2] as number
}

async function published (client: RawClient, topic: string, args: unknown[], opts: Record<string, unknown> = {}, kwargs?: Record<string, unknown>): Promise<void> {
  const reply = await ask(client, kwargs === undefined
    ? [MSG.PUBLISH, nextId++, { acknowledge: true, ...opts }, topic, args]
    : [MSG.PUBLISH, nextId++, { acknowledge: true, ...opts }, topic, args, kwargs])
  if (reply[0] !== MSG.PUBLISHED) throw new Error(`expected PUBLISHED, got ${JSON.stringify(reply)}`)
}

// ---- events, retained events, history: realms and roles --------------------------------------------------------

t.test('pub/sub across instances: nothing of realm1 on B reaches realm2 on A (live, retained, history), nor an admin topic a user on A', async (t) => {
  const { apps: [a, b] } = await rpcCluster(t, 2, options)
  const adminB = await login(b.url, 'admin')
  const user1 = await login(a.url, 'user')
  const user2 = await login(a.url, 'user', 'realm2')
  t.teardown(() => Promise.all([adminB.close(), user1.close(), user2.close()]))
  // Same topic names in both realms, every match policy, on A.
  const subs2 = [
    await subscribed(user2, 'app.news.x'),
    await subscribed(user2, 'app.news.', { match: 'prefix' }),
    await subscribed(user2, 'app.news..log', { match: 'wildcard' })
  ]
  const news1 = await subscribed(user1, 'app.news.', { match: 'prefix' })
  const wild1 = await subscribed(user1, 'app.news..log', { match: 'wildcard' })
  // B, realm1: a retained admin event, a retained news event, and live ones that the wildcard's Redis glob (`*`
  // spans dots) lets through to A, which must not reach the WAMP subscription.
  await published(adminB, 'app.admin.log', ['secret'], { retain: true })
  await published(adminB, 'app.news.x', ['news1'], { retain: true })
  await published(adminB, 'app.news.a.b.log', ['too deep'])
  await published(adminB, 'app.news.a.log', ['fits'])
  t.match(await user1.next(), [MSG.EVENT, news1, Number, { topic: 'app.news.x' }, ['news1']])
  const two = [await user1.next(), await user1.next(), await user1.next()]
  t.same(two.map((m) => [m[1], (m[4] as unknown[])[0]]).sort(), [[news1, 'too deep'], [news1, 'fits'], [wild1, 'fits']].sort(), 'the wildcard gets only what it matches')
  await user1.expectNone(100)
  await user2.expectNone(50)

  // Retained: realm2 on A asks for what realm1 retained, under the same names.
  for (const [topic, match] of [['app.news.x', 'exact'], ['app.news.', 'prefix'], ['app.news..log', 'wildcard'], ['app.news.x', 'prefix']]) {
    const id = await subscribed(user2, topic, { match, get_retained: true })
    t.ok(id > 0, `realm2 ${match} ${topic}`)
  }
  await user2.expectNone(150)
  // realm1's user: the news, never the admin event.
  await subscribed(user1, 'app.', { match: 'prefix', get_retained: false }).then(() => t.fail('app. must be refused'), () => t.pass('app. prefix refused'))
  const late = await login(a.url, 'user')
  t.teardown(() => late.close())
  const newsAgain = await subscribed(late, 'app.news.', { match: 'prefix', get_retained: true })
  t.match(await late.next(), [MSG.EVENT, newsAgain, Number, { topic: 'app.news.x' }, ['news1']], 'get_retained: realm1 news only')
  await late.expectNone(100)

  // History: realm2's subscriptions on A hold none of realm1's publications; realm1's user gets no admin one.
  for (const id of subs2) {
    t.same(await ask(user2, [MSG.CALL, nextId++, {}, 'wamp.subscription.get_events', [id]]), [MSG.RESULT, nextId - 1, {}, [[]]], `realm2 get_events ${id}: empty`)
  }
  const history = await ask(user1, [MSG.CALL, nextId++, {}, 'wamp.subscription.get_events', [news1]])
  t.same(((history[3] as Array<Array<{ args: unknown[] }>>)[0]).map((e) => e.args[0]), ['news1', 'too deep', 'fits'], 'realm1 news history, from B')
})

// ---- client payloads crossing Redis: the same values, never control data ----------------------------------------

// Keys a decoder could take for its own (realm, session, identity, prototype), values every serializer must carry
// alike (a JSON string starting with NUL is binary, WAMP JSON's convention).
const HOSTILE_ARGS: unknown[] = [null, 0, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 1.5, '', '\u0000AAEC', { a: [[]] }, [], '😀', 'realm2']
const HOSTILE_KWARGS: string = '{"__proto__":{"authrole":"admin"},"constructor":{"prototype":{"x":1}},"realm":"realm2","topic":"app.admin.log",' +
  '"publisher":1,"publisher_authid":"admin","session":1,"authid":"admin","caller":7,"":"","toString":1,"procedure":"app.admin.x"}'

t.test('a payload that crosses Redis comes out as a local one does (EVENT, retained, history, INVOCATION, RESULT), for every serializer', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, options)
  const redis = inspector(t)
  const users: Array<{ client: RawClient, on: string, protocol: string }> = []
  for (const [app, on] of [[a, 'A'], [b, 'B']] as const) {
    for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
      const { client } = await ticketLoginWith(app.url, 'user', protocol)
      users.push({ client, on, protocol })
    }
  }
  const publisher = (await ticketLoginWith(a.url, 'user', 'wamp.2.json')).client
  t.teardown(() => Promise.all([...users.map((u) => u.client.close()), publisher.close()]))
  const subs = new Map<RawClient, number>()
  for (const u of users) subs.set(u.client, await subscribed(u.client, 'app.pay.', { match: 'prefix' }))
  // Raw JSON text: the keys go out exactly as written (`__proto__` an own key).
  publisher.ws.send(`[16,${nextId++},{"acknowledge":true,"retain":true,"disclose_me":false},"app.pay.x",${JSON.stringify(HOSTILE_ARGS)},${HOSTILE_KWARGS}]`)
  t.equal((await publisher.next())[0], MSG.PUBLISHED)
  const seen = new Map<string, unknown[]>()
  for (const u of users) {
    const event = await u.client.next()
    t.match(event, [MSG.EVENT, subs.get(u.client), Number, { topic: 'app.pay.x' }], `${u.on} ${u.protocol}: EVENT`)
    t.same(Object.keys(event[3] as object), ['topic'], `${u.on} ${u.protocol}: no publisher details from the payload`)
    const local = seen.get(u.protocol)
    if (local === undefined) seen.set(u.protocol, event.slice(3))
    else t.same(event.slice(3), local, `${u.protocol}: on B as on A`)
    t.equal(Object.getPrototypeOf(event[5]), Object.prototype, `${u.on} ${u.protocol}: kwargs a plain object`)
    // (The test client's msgpack and CBOR decoders drop a __proto__ key; JSON.parse keeps it.)
    if (u.protocol === 'wamp.2.json') t.ok(Object.prototype.hasOwnProperty.call(event[5], '__proto__'), `${u.on}: __proto__ an own key`)
  }
  // Retained (read from Redis on B) and history (kept by A, read on B): the same args and kwargs.
  for (const u of users.filter((u) => u.on === 'B')) {
    const { client } = await ticketLoginWith(b.url, 'user', u.protocol)
    t.teardown(() => client.close())
    const id = await subscribed(client, 'app.pay.x', { get_retained: true })
    const retained = await client.next()
    t.same(retained.slice(4), (seen.get(u.protocol) as unknown[]).slice(1), `retained on B, ${u.protocol}`)
    t.equal(retained[1], id)
    const history = await ask(u.client, [MSG.CALL, nextId++, {}, 'wamp.subscription.get_events', [subs.get(u.client)]])
    const [event] = (history[3] as Array<Array<{ args: unknown[], kwargs: unknown, details: unknown }>>)[0]
    t.same([event.args, event.kwargs], (seen.get(u.protocol) as unknown[]).slice(1), `history on B, ${u.protocol}`)
    t.same(event.details, { topic: 'app.pay.x' })
  }

  // A call from A to a callee on B, and its result back: INVOCATION and RESULT as a callee and caller on one instance
  // get them; nothing in the payload names the caller.
  const callees: RawClient[] = []
  for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
    const { client: callee } = await ticketLoginWith(b.url, 'admin', protocol)
    t.teardown(() => callee.close())
    callees.push(callee)
    const uri = `app.pay.${protocol.slice(7)}`
    t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, uri]), [MSG.REGISTERED])
    await untilRegistered(redis, prefix, uri, 1)
    publisher.ws.send(`[48,${nextId++},{},"${uri}",${JSON.stringify(HOSTILE_ARGS)},${HOSTILE_KWARGS}]`)
    const invocation = await callee.next()
    t.same(Object.keys(invocation[3] as object), ['procedure'], `${protocol}: INVOCATION details name no caller`)
    t.same(invocation.slice(4), (seen.get(protocol) as unknown[]).slice(1), `${protocol}: INVOCATION payload as an EVENT's`)
    // The args back (the test client's msgpack and CBOR decoders rename a __proto__ key in the kwargs).
    callee.send([MSG.YIELD, invocation[1], {}, invocation[4]])
    const result = await publisher.next()
    t.same(result.slice(3), [(seen.get('wamp.2.json') as unknown[])[1]], `${protocol}: RESULT back on A as sent`)
  }
})

async function ticketLoginWith (url: string, who: string, protocol: string): Promise<{ client: RawClient }> {
  const client = await openRaw(url, { protocols: [protocol] })
  const challenge = await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: who }))
  if (challenge[0] !== MSG.CHALLENGE) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
  client.send([MSG.AUTHENTICATE, who, {}])
  const welcome = await client.next()
  if (welcome[0] !== MSG.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`)
  return { client }
}

// ---- calls and the Meta API across instances ------------------------------------------------------------------

t.test('calls from A to callees on B: only what the caller\'s role may call, in its realm; patterns registered on B as authorized there', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, options)
  const redis = inspector(t)
  const admin = await login(b.url, 'admin')
  const callee = await login(b.url, 'callee')
  const user = await login(a.url, 'user')
  const user2 = await login(a.url, 'user', 'realm2')
  t.teardown(() => Promise.all([admin.close(), callee.close(), user.close(), user2.close()]))
  // The callee role may register under svc. but not svc.admin.: no pattern covering it.
  for (const [uri, match] of [['svc.', 'prefix'], ['svc.adm', 'prefix'], ['svc..x', 'wildcard'], ['', 'prefix'], ['svc.admin.x', 'exact']]) {
    t.match(await ask(callee, [MSG.REGISTER, nextId++, { match }, uri]), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.not_authorized'], `callee: ${match} "${uri}" refused`)
  }
  const [, , pub] = await ask(callee, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'svc.pub.'])
  t.match(await ask(admin, [MSG.REGISTER, nextId++, {}, 'svc.admin.x']), [MSG.REGISTERED])
  t.match(await ask(admin, [MSG.REGISTER, nextId++, {}, 'app.admin.x']), [MSG.REGISTERED])
  await untilRegistered(redis, prefix, 'svc.admin.x', 1)
  await untilRegistered(redis, prefix, 'app.admin.x', 1)
  await eventually(async () => (await redis.hlen(`${prefix}rpc:pat:realm1`)) === 1, 3000, 'the pattern registration listed')

  for (const uri of ['svc.admin.x', 'app.admin.x']) {
    t.match(await ask(user, [MSG.CALL, nextId++, {}, uri]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'], `user on A: ${uri} not authorized`)
    t.match(await ask(user2, [MSG.CALL, nextId++, {}, uri]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'], `realm2 user on A: ${uri} not authorized`)
  }
  // A user may call app.* but not app.admin.*: nothing under svc.
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'svc.pub.a']), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'])
  await admin.expectNone(50)
  await callee.expectNone(10)
  // An admin of realm2 on A: realm1's callees on B are not there.
  const admin2 = await login(a.url, 'admin', 'realm2')
  t.teardown(() => admin2.close())
  for (const uri of ['svc.pub.a', 'svc.admin.x', 'app.admin.x']) {
    t.match(await ask(admin2, [MSG.CALL, nextId++, {}, uri]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'], `realm2 admin: no ${uri}`)
  }
  await admin.expectNone(50)
  await callee.expectNone(10)
  // realm1's admin on A reaches the pattern callee on B; nothing names the caller.
  const admin1 = await login(a.url, 'admin')
  t.teardown(() => admin1.close())
  admin1.send([MSG.CALL, nextId++, {}, 'svc.pub.a', [1]])
  const invocation = await callee.next()
  t.same([invocation[0], invocation[2], invocation[3]], [MSG.INVOCATION, pub, { procedure: 'svc.pub.a' }])
  callee.send([MSG.YIELD, invocation[1], {}, ['ok']])
  t.match(await admin1.next(), [MSG.RESULT, Number, {}, ['ok']])
})

t.test('the Meta API on A never reaches another realm\'s sessions on B, nor what its caller may not see', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, options)
  const redis = inspector(t)
  const adminB = await login(b.url, 'admin')
  const userB = await login(b.url, 'user')
  const ids = new Map<RawClient, number>()
  for (const c of [adminB, userB]) {
    const id = await subscribed(c, 'app.meta.x')
    ids.set(c, id)
  }
  const [, , adminReg] = await ask(adminB, [MSG.REGISTER, nextId++, {}, 'app.admin.meta'])
  await untilRegistered(redis, prefix, 'app.admin.meta', 1)
  const user2 = await login(a.url, 'user', 'realm2')
  const user1 = await login(a.url, 'user')
  t.teardown(() => Promise.all([adminB.close(), userB.close(), user2.close(), user1.close()]))
  // B's session ids, as realm1 on B sees them.
  const adminId = sessionIds(b.app, 'admin')[0]
  const userId = sessionIds(b.app, 'user')[0]
  for (const [procedure, args, error] of [
    ['wamp.session.get', [adminId], 'wamp.error.no_such_session'],
    ['wamp.session.kill', [adminId], 'wamp.error.no_such_session'],
    ['wamp.registration.remove_callee', [adminReg, adminId], 'wamp.error.no_such_session'],
    ['wamp.subscription.remove_subscriber', [ids.get(userB), userId], 'wamp.error.no_such_session']
  ] as Array<[string, unknown[], string]>) {
    t.match(await ask(user2, [MSG.CALL, nextId++, {}, procedure, args]), [MSG.ERROR, MSG.CALL, Number, {}, error], `realm2: ${procedure} → ${error}`)
  }
  t.match(await ask(user2, [MSG.CALL, nextId++, {}, 'wamp.session.kill_by_authid', ['admin']]), [MSG.RESULT, Number, {}, [[]]], 'realm2: kill_by_authid admin kills nobody in realm1')
  t.match(await ask(user2, [MSG.CALL, nextId++, {}, 'wamp.session.kill_by_authrole', ['user']]), [MSG.RESULT, Number, {}, [0]], 'realm2: kill_by_authrole user kills nobody in realm1')
  t.match(await ask(user2, [MSG.CALL, nextId++, {}, 'wamp.session.kill_all', []]), [MSG.RESULT, Number, {}, [0]], 'realm2: kill_all kills nobody in realm1')
  for (const procedure of ['wamp.session.list', 'wamp.session.count']) {
    const reply = await ask(user2, [MSG.CALL, nextId++, {}, procedure])
    t.notOk(JSON.stringify(reply).includes(String(adminId)) || JSON.stringify(reply).includes(String(userId)), `realm2: ${procedure} lists no realm1 session`)
  }
  // realm1's user on A: the admin's registration on B is hidden (it may not call app.admin.*), so not revocable.
  t.match(await ask(user1, [MSG.CALL, nextId++, {}, 'wamp.registration.remove_callee', [adminReg, adminId]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_registration'], 'realm1 user: a hidden registration on B is not revoked')
  // Everything still there.
  t.match(await ask(adminB, [MSG.CALL, nextId++, {}, 'wamp.session.count']), [MSG.RESULT, Number, {}, [2]], 'both sessions on B live')
  const caller = await login(a.url, 'admin')
  t.teardown(() => caller.close())
  caller.send([MSG.CALL, nextId++, {}, 'app.admin.meta'])
  const invocation = await adminB.next()
  t.match(invocation, [MSG.INVOCATION, Number, adminReg], 'the registration still answers')
  adminB.send([MSG.YIELD, invocation[1], {}, []])
  t.match(await caller.next(), [MSG.RESULT])
})

// ---- revocation decided on A, delivery on B ----------------------------------------------------------------------

t.test('remove_subscriber / kill_by_authid on A end delivery on B at once, for publications from any instance; the twin subscriber stays', async (t) => {
  const { apps: [a, b, c] } = await rpcCluster(t, 3, options)
  const admin = await login(a.url, 'admin')
  const victimClient = await login(b.url, 'victim@user')
  const twinClient = await login(b.url, 'twin@user')
  const banned = await login(b.url, 'mallory@user')
  const pubB = await login(b.url, 'admin')
  const pubC = await login(c.url, 'admin')
  t.teardown(() => Promise.all([admin, victimClient, twinClient, banned, pubB, pubC].map((x) => x.close())))
  const victimSub = await subscribed(victimClient, 'app.rev.', { match: 'prefix' })
  const twinSub = await subscribed(twinClient, 'app.rev.', { match: 'prefix' })
  t.equal(victimSub, twinSub, 'one subscription on B')
  await subscribed(banned, 'app.rev.x')
  const idOf = (authid: string): number => [...hubOf(b.app).sessions.values()].find((s) => s.authid === authid)?.id as number
  const victimId = idOf('victim@user')
  const bannedId = idOf('mallory@user')

  t.match(await ask(admin, [MSG.CALL, nextId++, {}, 'wamp.subscription.remove_subscriber', [victimSub, victimId]]), [MSG.RESULT], 'revoked from A')
  t.match(await ask(admin, [MSG.CALL, nextId++, {}, 'wamp.session.kill_by_authid', ['mallory@user']]), [MSG.RESULT, Number, {}, [[bannedId]]], 'killed from A')
  await banned.expectClose()
  await eventually(() => hubOf(b.app).sessions.get(victimId)?.subscriptions.size === 0, 2000, 'the revocation reached B')
  for (const [publisher, where] of [[admin, 'A'], [pubB, 'B'], [pubC, 'C']] as const) {
    await published(publisher, 'app.rev.x', [where])
    t.match(await twinClient.next(), [MSG.EVENT, twinSub, Number, { topic: 'app.rev.x' }, [where]], `the twin gets the publication from ${where}`)
  }
  await victimClient.expectNone(100)
  t.equal(banned.history.filter((m) => m[0] === MSG.EVENT).length, 0, 'nothing reached the killed session')
})

// ---- realm names that share a Redis key ------------------------------------------------------------------------

t.test('realms "acme" and "acme:dev" share the registry hash of acme "dev:proc" and acme:dev "proc": a call never crosses realms', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, { realms: [{ name: 'acme', router: true }, { name: 'acme:dev', router: true }] })
  const redis = inspector(t)
  // Callees listed in the registry, whatever the hashes' names.
  const listed = async (n: number): Promise<void> => await eventually(async () => {
    let count = 0
    for (const key of await redis.keys(`${prefix}rpc:reg*`)) count += await redis.hlen(key)
    return count === n
  }, 3000, `${n} callees listed`)
  for (const [where, app] of [['on A', a], ['on B', b]] as const) {
    // The other realm's callee first (the oldest entry of the shared hash), then the caller's realm's shared one.
    const { client: stranger } = await connectRaw(app.url, { realm: 'acme:dev' })
    const { client: own } = await connectRaw(a.url, { realm: 'acme' })
    const { client: caller } = await connectRaw(a.url, { realm: 'acme' })
    t.match(await ask(stranger, [MSG.REGISTER, nextId++, {}, 'proc']), [MSG.REGISTERED])
    await listed(1)
    t.match(await ask(own, [MSG.REGISTER, nextId++, { invoke: 'roundrobin' }, 'dev:proc']), [MSG.REGISTERED])
    await listed(2)
    for (let i = 0; i < 2; i++) {
      caller.send([MSG.CALL, nextId++, {}, 'dev:proc', ['for acme']])
      const invocation = await Promise.race([own.next(), stranger.next().then((m) => ['stranger got', m])])
      t.match(invocation, [MSG.INVOCATION, Number, Number, {}, ['for acme']], `${where}: acme's callee is invoked`)
      own.send([MSG.YIELD, invocation[1], {}, ['acme']])
      t.match(await caller.next(), [MSG.RESULT, Number, {}, ['acme']])
    }
    await stranger.expectNone(50)
    t.equal(stranger.history.filter((m) => m[0] === MSG.INVOCATION).length, 0, `${where}: the acme:dev callee got no INVOCATION`)
    await Promise.all([stranger.close(), own.close(), caller.close()])
    await listed(0)
  }
})

t.test('a client registration on B never shadows an application procedure of A for A\'s callers, exact or pattern', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, options, (app, i) => {
    if (i === 0) app.wamp.register('app.shadow', () => 'the application on A')
  })
  const redis = inspector(t)
  const callee = await login(b.url, 'admin')
  const user = await login(a.url, 'user')
  t.teardown(() => Promise.all([callee.close(), user.close()]))
  t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, 'app.shadow']), [MSG.REGISTERED], 'B has no such application procedure')
  t.match(await ask(callee, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'app.sh']), [MSG.REGISTERED])
  t.match(await ask(callee, [MSG.REGISTER, nextId++, { match: 'wildcard' }, 'app.']), [MSG.REGISTERED])
  await untilRegistered(redis, prefix, 'app.shadow', 1)
  await eventually(async () => (await redis.hlen(`${prefix}rpc:pat:realm1`)) === 2, 3000, 'the patterns listed')
  for (let i = 0; i < 3; i++) {
    t.match(await ask(user, [MSG.CALL, nextId++, {}, 'app.shadow']), [MSG.RESULT, Number, {}, ['the application on A']], 'A\'s callers reach A\'s procedure')
  }
  await callee.expectNone(50)
})

t.test('receiver rules of a publication made on B hold on A for live events, retained events and history', async (t) => {
  const { apps: [a, b] } = await rpcCluster(t, 2, options)
  const publisher = await login(b.url, 'admin')
  const ann = await login(a.url, 'ann@user')
  const bob = await login(a.url, 'bob@user')
  t.teardown(() => Promise.all([publisher.close(), ann.close(), bob.close()]))
  const subs = new Map<RawClient, number>()
  for (const c of [ann, bob]) subs.set(c, await subscribed(c, 'app.rules.', { match: 'prefix' }))
  const rules: Array<[string, Record<string, unknown>]> = [
    ['app.rules.a', { eligible_authid: ['ann@user'] }],
    ['app.rules.b', { exclude_authid: ['bob@user'] }],
    ['app.rules.c', { eligible_authrole: ['admin'] }],
    ['app.rules.d', { exclude_authrole: ['user'] }]
  ]
  for (const [topic, opts] of rules) await published(publisher, topic, [topic], { retain: true, ...opts })
  await published(publisher, 'app.rules.z', ['marker'])
  const got = async (c: RawClient): Promise<string[]> => {
    const topics: string[] = []
    for (;;) {
      const m = await c.next()
      const topic = (m[3] as { topic: string }).topic
      if (topic === 'app.rules.z') return topics
      topics.push(topic)
    }
  }
  t.same(await got(ann), ['app.rules.a', 'app.rules.b'], 'ann: live')
  t.same(await got(bob), [], 'bob: live')
  for (const [c, expected] of [[ann, ['app.rules.a', 'app.rules.b']], [bob, []]] as const) {
    const history = await ask(c, [MSG.CALL, nextId++, {}, 'wamp.subscription.get_events', [subs.get(c)]])
    t.same((history[3] as Array<Array<{ details: { topic: string } }>>)[0].map((e) => e.details.topic).filter((x) => x !== 'app.rules.z'), expected, 'history')
    const { client: late } = await ticketLogin(a.url, c === ann ? 'ann@user' : 'bob@user', c === ann ? 'ann@user' : 'bob@user')
    t.teardown(() => late.close())
    await subscribed(late, 'app.rules.', { match: 'prefix', get_retained: true })
    const retained: string[] = []
    for (const m of await Promise.all(expected.map(async () => await late.next()))) retained.push((m[3] as { topic: string }).topic)
    t.same(retained.sort(), [...expected].sort(), 'retained')
    await late.expectNone(100)
  }
})

// Defence in depth: the callee's instance checks a remote call's realm and that a client's call reaches only what the
// router offers (ServedCalls.serve); a callee picked on the caller's own instance must be checked the same way, so a
// registry entry that names a session of another realm (a stale or foreign write) never invokes it.
t.test('a registry entry naming a local session of another realm does not invoke it', async (t) => {
  const { apps: [a], prefix } = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }, { name: 'realm2', router: true }] })
  const redis = inspector(t)
  const { client: stranger } = await connectRaw(a.url, { realm: 'realm2' })
  t.match(await ask(stranger, [MSG.REGISTER, nextId++, { invoke: 'roundrobin' }, 'proc']), [MSG.REGISTERED])
  const source = `${prefix}rpc:reg:realm2:proc`
  await eventually(async () => await redis.hlen(source) === 1, 3000, 'the realm2 callee listed')
  const [field, value] = Object.entries(await redis.hgetall(source))[0] as [string, string]
  // realm1's own shared callee, then the stranger's entry written into realm1's hash beside it.
  const { client: own } = await connectRaw(a.url, { realm: 'realm1' })
  t.match(await ask(own, [MSG.REGISTER, nextId++, { invoke: 'roundrobin' }, 'proc']), [MSG.REGISTERED])
  const forged = `${prefix}rpc:reg:realm1:proc`
  await eventually(async () => await redis.hlen(forged) === 1, 3000, 'the realm1 callee listed')
  await redis.multi().hset(forged, field, value).publish(`${prefix}rpc:changed`, `+\n${forged}\n${field}\n${value}`).exec()
  const { client: caller } = await connectRaw(a.url, { realm: 'realm1' })
  let refused = 0
  // One pending next() per client at a time: a race must not consume the other client's message.
  let invocation = own.next()
  let answer = caller.next()
  for (let i = 0; i < 4; i++) {
    caller.send([MSG.CALL, nextId++, {}, 'proc', ['for realm1']])
    const [who, first] = await Promise.race([invocation.then((m) => ['own', m] as const), answer.then((m) => ['caller', m] as const)])
    if (who === 'own') {
      invocation = own.next()
      own.send([MSG.YIELD, first[1], {}, ['realm1']])
      t.match(await answer, [MSG.RESULT, Number, {}, ['realm1']])
    } else {
      t.match(first, [MSG.ERROR, MSG.CALL, Number, {}, String], 'a call the registry sent to the stranger is refused')
      refused++
    }
    answer = caller.next()
  }
  invocation.catch(() => {})
  answer.catch(() => {})
  t.ok(refused > 0, 'roundrobin picked the forged entry at least once')
  t.equal(stranger.history.filter((m) => m[0] === MSG.INVOCATION).length, 0, 'the realm2 callee got no INVOCATION')
  await Promise.all([stranger.close(), own.close(), caller.close()])
})
