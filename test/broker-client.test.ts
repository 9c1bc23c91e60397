import t from 'tap'
import Type from 'typebox'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'
import { startApp, until, internal } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { ConnectRawResult, RawClient } from './helpers/raw-client.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import { inspector, startCluster, untilSubscribers } from './helpers/redis.js'

// Client-to-client PubSub (PROTOCOL §4.6): publisher exclusion, subscriber black/white listing, publisher
// identification — on one instance and across instances through Redis.

// The tests' identities: authid/authrole from headers (set right after WELCOME, before the client can publish).
function identify (session: Session): void {
  const { 'x-authid': authid, 'x-authrole': authrole } = session.request?.headers ?? {}
  if (typeof authid === 'string') internal(session).authid = authid
  if (typeof authrole === 'string') internal(session).authrole = authrole
}

const brokered: FastifyWampOptions = { realms: [{ name: 'realm1', broker: true }], onSessionOpen: identify }

async function join (url: string, topic: string, who?: [string, string], options: Record<string, unknown> = {}): Promise<ConnectRawResult & { sub: number }> {
  const joined = await connectRaw(url, who === undefined ? {} : { headers: { 'x-authid': who[0], 'x-authrole': who[1] } })
  joined.client.send([MSG.SUBSCRIBE, 1, options, topic])
  const reply = await joined.client.nextOfType(MSG.SUBSCRIBED)
  return { ...joined, sub: reply[2] as number }
}

async function publish (client: RawClient, topic: string, options: Record<string, unknown>, args?: unknown[]): Promise<unknown[]> {
  client.send(args === undefined ? [MSG.PUBLISH, 9, { acknowledge: true, ...options }, topic] : [MSG.PUBLISH, 9, { acknowledge: true, ...options }, topic, args])
  return client.next()
}

/**
 * Which of `clients` received the publication just made: a marker publication that everyone receives follows it
 * (one publisher's order holds), so no client needs a timeout to show it got nothing.
 */
async function receivers (publisher: RawClient, topic: string, clients: Record<string, RawClient>): Promise<string[]> {
  await publish(publisher, topic, {}, ['marker'])
  const got: string[] = []
  for (const [name, client] of Object.entries(clients)) {
    const event = await client.next()
    if ((event[4] as unknown[])[0] === 'marker') continue
    got.push(name)
    const marker = await client.next()
    if ((marker[4] as unknown[])[0] !== 'marker') throw new Error(`${name} received more than one EVENT`)
  }
  return got
}

t.test('broker off (the default): client PUBLISH reaches only the app, WELCOME advertises no broker features', async (t) => {
  const handled: unknown[] = []
  const { url } = await startApp(t, {}, (app) => { app.wamp.subscribe('com.chat', (args) => { handled.push(args) }) })
  const listener = await join(url, 'com.chat')
  t.same((listener.welcome[2] as { roles: unknown }).roles, {
    dealer: (listener.welcome[2] as { roles: { dealer: unknown } }).roles.dealer,
    broker: { features: { pattern_based_subscription: true, subscription_revocation: true, event_retention: true } }
  })
  const { client } = await connectRaw(url)
  t.equal((await publish(client, 'com.chat', {}, ['hi']))[0], MSG.PUBLISHED)
  await until(() => handled.length === 1)
  await listener.client.expectNone(100)
  await Promise.all([listener.client.close(), client.close()])
})

t.test('broker: true → other subscribers get the EVENT, the publisher only with exclude_me: false', async (t) => {
  const handled: unknown[] = []
  const { url } = await startApp(t, brokered, (app) => { app.wamp.subscribe('com.chat', (args) => { handled.push(args) }) })
  const pub = await join(url, 'com.chat')
  const sub = await join(url, 'com.chat')
  t.match((sub.welcome[2] as { roles: unknown }).roles, {
    broker: { features: { pattern_based_subscription: true, publisher_exclusion: true, subscriber_blackwhite_listing: true, publisher_identification: true } }
  })
  const published = await publish(pub.client, 'com.chat', {}, ['hi'])
  t.equal(published[0], MSG.PUBLISHED)
  t.same(await sub.client.next(), [MSG.EVENT, sub.sub, published[2], {}, ['hi']], 'same publication id as PUBLISHED')
  await pub.client.expectNone(100)
  t.same(handled, [['hi']], 'the app\'s topic handler still runs')

  await publish(pub.client, 'com.chat', { exclude_me: false })
  t.same((await pub.client.next()).slice(3), [{}], 'exclude_me: false includes the publisher; no args → none sent')
  t.same((await sub.client.next()).slice(3), [{}])
  await Promise.all([pub.client.close(), sub.client.close()])
})

t.test('eligible / exclude by session id, authid and authrole, single values or lists', async (t) => {
  const { url } = await startApp(t, brokered)
  const { client: publisher } = await connectRaw(url)
  const alice = await join(url, 'com.t', ['alice', 'admin'])
  const bob = await join(url, 'com.t', ['bob', 'user'])
  const carol = await join(url, 'com.t', ['carol', 'user'])
  const all = { alice: alice.client, bob: bob.client, carol: carol.client }
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{}, ['alice', 'bob', 'carol']],
    [{ eligible: [alice.sessionId, bob.sessionId] }, ['alice', 'bob']],
    [{ eligible: [alice.sessionId, bob.sessionId], exclude: [bob.sessionId] }, ['alice']],
    [{ exclude: carol.sessionId }, ['alice', 'bob']],
    [{ eligible_authrole: 'user' }, ['bob', 'carol']],
    [{ eligible_authrole: ['user'], exclude_authid: ['bob'] }, ['carol']],
    [{ exclude_authrole: ['user'] }, ['alice']],
    [{ eligible_authid: ['alice', 'carol'] }, ['alice', 'carol']],
    [{ exclude_authid: 'alice', exclude: [carol.sessionId] }, ['bob']],
    [{ eligible: [] }, []],
    [{ eligible_authid: 'nobody' }, []]
  ]
  for (const [options, expected] of cases) {
    t.equal((await publish(publisher, 'com.t', options, [1]))[0], MSG.PUBLISHED)
    t.same(await receivers(publisher, 'com.t', all), expected, JSON.stringify(options))
  }
  await Promise.all([publisher.close(), alice.client.close(), bob.client.close(), carol.client.close()])
})

t.test('disclose_me puts the publisher in EVENT details, next to topic for pattern subscriptions', async (t) => {
  const { url } = await startApp(t, brokered)
  const exact = await join(url, 'com.news.sport')
  const pattern = await join(url, 'com.news.', undefined, { match: 'prefix' })
  const { client: pub, sessionId } = await connectRaw(url, { headers: { 'x-authid': 'ed', 'x-authrole': 'editor' } })
  const published = await publish(pub, 'com.news.sport', { disclose_me: true }, ['goal'])
  const publisher = { publisher: sessionId, publisher_authid: 'ed', publisher_authrole: 'editor' }
  t.same(await exact.client.next(), [MSG.EVENT, exact.sub, published[2], publisher, ['goal']])
  t.same(await pattern.client.next(), [MSG.EVENT, pattern.sub, published[2], { topic: 'com.news.sport', ...publisher }, ['goal']])
  await publish(pub, 'com.news.sport', { disclose_me: false })
  t.same((await exact.client.next())[3], {}, 'not disclosed unless asked')
  await pattern.client.next()
  await Promise.all([pub.close(), exact.client.close(), pattern.client.close()])
})

t.test('bad broker options are refused with invalid_argument and deliver nothing', async (t) => {
  const { url } = await startApp(t, brokered)
  const sub = await join(url, 'com.t')
  const { client } = await connectRaw(url)
  for (const options of [{ exclude: ['x'] }, { eligible: [0] }, { eligible_authid: [1] }, { exclude_authrole: {} }, { exclude_me: 'no' }, { disclose_me: 1 }]) {
    const reply = await publish(client, 'com.t', options, [1])
    t.same(reply.slice(0, 5), [MSG.ERROR, MSG.PUBLISH, 9, {}, 'wamp.error.invalid_argument'], JSON.stringify(options))
    t.match((reply[5] as string[])[0], /PUBLISH\.Options\./)
  }
  client.send([MSG.PUBLISH, 10, { exclude: 'x' }, 'com.t', [1]])
  await client.expectNone(100)
  await sub.client.expectNone(0)
  await Promise.all([client.close(), sub.client.close()])
})

t.test('broker.allow limits client-to-client delivery to some topics; the app schema still gates it', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', broker: { allow: ['chat.'] } }] }, (app) => {
    app.wamp.subscribe('chat.typed', { args: Type.Tuple([Type.String()]) }, () => {})
  })
  const chat = await join(url, 'chat.room')
  const typed = await join(url, 'chat.typed')
  const other = await join(url, 'other.topic')
  const { client } = await connectRaw(url)
  await publish(client, 'chat.room', {}, ['yes'])
  t.same((await chat.client.next()).slice(4), [['yes']])
  t.equal((await publish(client, 'other.topic', {}, ['no']))[0], MSG.PUBLISHED, 'accepted for the app…')
  await other.client.expectNone(100)
  t.same((await publish(client, 'chat.typed', {}, [42])).slice(4, 5), ['wamp.error.invalid_argument'])
  await typed.client.expectNone(50)
  await publish(client, 'chat.typed', {}, ['ok'])
  t.same((await typed.client.next()).slice(4), [['ok']])
  await Promise.all([client.close(), chat.client.close(), typed.client.close(), other.client.close()])

  const { url: url2 } = await startApp(t, {
    realms: [{ name: 'realm1', broker: { allow: (topic, session) => session.authrole === 'writer' || topic === 'open' } }],
    onSessionOpen: identify
  })
  const reader = await join(url2, 'doc')
  const { client: writer } = await connectRaw(url2, { headers: { 'x-authid': 'w', 'x-authrole': 'writer' } })
  const { client: anon } = await connectRaw(url2)
  await publish(anon, 'doc', {}, ['anon'])
  await reader.client.expectNone(100)
  await publish(writer, 'doc', {}, ['writer'])
  t.same((await reader.client.next()).slice(4), [['writer']])
  await Promise.all([reader.client.close(), writer.close(), anon.close()])
})

t.test('realm broker option is validated at register time', async (t) => {
  await t.rejects(startApp(t, { realms: [{ name: 'realm1', broker: { allow: [1] as unknown as string[] } }] }), { code: 'FST_WAMP_INVALID_OPTION', message: /broker must be/ })
})

t.test('autobahn and wampy talk to each other through the broker', async (t) => {
  const { url } = await startApp(t, brokered)
  const ab = await connectAutobahn(url, { serializer: 'json' })
  const wy = await connectWampy(url, { serializer: 'msgpack' })
  const abEvents: Array<{ args: unknown, publisher: unknown }> = []
  const wyEvents: Array<{ args: unknown, details: Record<string, unknown> }> = []
  await ab.session.subscribe('com.room', (args, _kw, details) => { abEvents.push({ args, publisher: details.publisher }) })
  await wy.client.subscribe('com.room', (e: { argsList?: unknown, details: Record<string, unknown> }) => { wyEvents.push({ args: e.argsList, details: e.details }) })

  await ab.session.publish('com.room', ['from autobahn'], {}, { acknowledge: true, exclude_me: false, disclose_me: true })
  await until(() => abEvents.length === 1 && wyEvents.length === 1)
  t.same(abEvents[0], { args: ['from autobahn'], publisher: ab.session.id }, 'autobahn gets its own event with exclude_me: false')
  t.same(wyEvents[0].args, ['from autobahn'])
  t.match(wyEvents[0].details, { publisher: ab.session.id, publisher_authrole: 'anonymous' })

  await wy.client.publish('com.room', ['from wampy'])
  await until(() => abEvents.length === 2)
  t.same(abEvents[1], { args: ['from wampy'], publisher: undefined })
  t.equal(wyEvents.length, 1, 'wampy, the publisher, is excluded')
  t.same(ab.errors, [])
  t.same(wy.errors, [])
  await Promise.all([ab.close(), wy.close()])
})

t.test('across instances: client publications reach other instances with every §4.6 rule applied', async (t) => {
  const { apps: [a, b, c], prefix } = await startCluster(t, 3, brokered)
  const redis = inspector(t)
  const ab = await connectAutobahn(a.url, { serializer: 'msgpack', headers: { 'x-authid': 'ann', 'x-authrole': 'editor' } })
  const mate = await join(a.url, 'com.x', ['amy', 'user'])
  const wy = await connectWampy(b.url, { serializer: 'json', headers: { 'x-authid': 'ben', 'x-authrole': 'user' } })
  const wyEvents: Array<{ args: unknown, details: Record<string, unknown> }> = []
  await wy.client.subscribe('com.x', (e: { argsList?: unknown, details: Record<string, unknown> }) => { wyEvents.push({ args: e.argsList, details: e.details }) })
  const cat = await join(c.url, 'com.x', ['cat', 'admin'])
  const pattern = await join(c.url, '.x', undefined, { match: 'wildcard' })
  const abEvents: unknown[] = []
  await ab.session.subscribe('com.x', (args) => { abEvents.push(args) })
  await untilSubscribers(redis, `${prefix}realm1:t:com.x`, 3)

  const publishAb = (options: Record<string, unknown>, n: number): Promise<unknown> =>
    Promise.resolve(ab.session.publish('com.x', [n], {}, { acknowledge: true, ...options }))

  await publishAb({ disclose_me: true }, 1)
  const remote = await cat.client.next()
  t.same(remote.slice(3), [{ publisher: ab.session.id, publisher_authid: 'ann', publisher_authrole: 'editor' }, [1]])
  t.same((await pattern.client.next()).slice(3), [{ topic: 'com.x', publisher: ab.session.id, publisher_authid: 'ann', publisher_authrole: 'editor' }, [1]])
  t.same((await mate.client.next()).slice(2), remote.slice(2), 'the same publication id and details on every instance')
  await until(() => wyEvents.length === 1)
  t.match(wyEvents[0], { args: [1], details: { publisher: ab.session.id } })
  t.same(abEvents, [], 'the publisher is excluded')

  await publishAb({ eligible_authrole: ['user'] }, 2)
  t.same((await mate.client.next()).slice(4), [[2]])
  await until(() => wyEvents.length === 2)
  t.same(wyEvents[1].args, [2])
  await cat.client.expectNone(100)
  await pattern.client.expectNone(0)

  await publishAb({ exclude_authid: 'ben', exclude: [mate.sessionId], exclude_me: false }, 3)
  t.same((await cat.client.next()).slice(4), [[3]])
  t.same((await pattern.client.next()).slice(4), [[3]])
  await until(() => abEvents.length === 1)
  t.same(abEvents, [[3]], 'exclude_me: false holds on the publisher\'s own instance')
  await mate.client.expectNone(100)
  t.equal(wyEvents.length, 2, 'ben is excluded by authid on another instance')

  await publishAb({ eligible: [cat.sessionId] }, 4)
  t.same((await cat.client.next()).slice(4), [[4]], 'a session id addresses one session on another instance')
  await pattern.client.expectNone(100)
  await mate.client.expectNone(0)

  await wy.client.publish('com.x', ['from b'])
  t.same((await cat.client.next()).slice(4), [['from b']])
  t.same((await mate.client.next()).slice(4), [['from b']])
  t.same((await pattern.client.next()).slice(4), [['from b']])
  await until(() => abEvents.length === 2)
  t.equal(wyEvents.length, 2, 'wampy excluded from its own publication')
  t.same(ab.errors, [])
  await Promise.all([ab.close(), wy.close(), mate.client.close(), cat.client.close(), pattern.client.close()])
})
