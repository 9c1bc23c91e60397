import t from 'tap'
import Fastify from 'fastify'
import fastifyWamp from '../index.js'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { connect, WampError } from '../lib/testing/index.js'
import { connectAutobahn } from './helpers/clients.js'

const failure = (p: Promise<unknown>): Promise<WampError> => p.then(() => { throw new Error('expected a rejection') }, (e: unknown) => e as WampError)

t.test('the meta API is off by default: not announced, not callable', async (t) => {
  const { app, url } = await startApp(t)
  const { welcome, client: raw } = await connectRaw(url)
  const roles = (welcome[2] as { roles: Record<string, { features: Record<string, unknown> }> }).roles
  t.notOk(roles.dealer.features.session_meta_api)
  t.notOk(roles.broker.features.subscription_meta_api)
  const client = await connect(app)
  t.equal((await failure(client.call('wamp.session.count'))).uri, 'wamp.error.no_such_procedure')
  await Promise.all([client.close(), raw.close()])
})

t.test('metaApi: true announces the features on the roles the spec names', async (t) => {
  const { url } = await startApp(t, { metaApi: true })
  const { welcome, client } = await connectRaw(url)
  const roles = (welcome[2] as { roles: Record<string, { features: Record<string, unknown> }> }).roles
  t.equal(roles.dealer.features.session_meta_api, true)
  t.equal(roles.broker.features.session_meta_api, true)
  t.equal(roles.dealer.features.registration_meta_api, true)
  t.equal(roles.broker.features.subscription_meta_api, true)
  await client.close()
})

t.test('session meta procedures: count, list, get, with authrole filters', async (t) => {
  const { app } = await startApp(t, { metaApi: true, realms: ['realm1', 'other'] })
  const a = await connect(app)
  const b = await connect(app, { serializer: 'msgpack' })
  const elsewhere = await connect(app, { realm: 'other' })

  t.same((await a.call('wamp.session.count')).args, [2], 'counts the caller\'s realm only')
  t.same((await a.call('wamp.session.count', [['anonymous']])).args, [2])
  t.same((await a.call('wamp.session.count', [['admin']])).args, [0], 'filter_authroles')
  t.same((await a.call('wamp.session.count', [null])).args, [2], 'a null filter is no filter')
  t.same(((await a.call('wamp.session.list')).args[0] as number[]).sort(), [a.id, b.id].sort())
  t.same((await elsewhere.call('wamp.session.list')).args, [[elsewhere.id]])

  const { args: [details] } = await a.call('wamp.session.get', [b.id])
  t.same(details, {
    session: b.id,
    authid: b.welcome.authid,
    authrole: 'anonymous',
    authmethod: 'anonymous',
    authprovider: b.welcome.authprovider,
    transport: { type: 'websocket', protocol: 'wamp.2.msgpack' }
  })
  const missing = await failure(a.call('wamp.session.get', [elsewhere.id]))
  t.equal(missing.uri, 'wamp.error.no_such_session', 'a session of another realm is not visible')
  t.equal((await failure(a.call('wamp.session.get', ['x']))).uri, 'wamp.error.invalid_argument')
  t.equal((await failure(a.call('wamp.session.count', [[1]]))).uri, 'wamp.error.invalid_argument')
  await Promise.all([a.close(), b.close(), elsewhere.close()])
})

t.test('wamp.session.on_join and on_leave reach subscribers, also autobahn-js', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true })
  const watcher = await connect(app)
  await watcher.subscribe('wamp.session.on_join')
  await watcher.subscribe('wamp.session.on_leave')
  const ab = await connectAutobahn(url)
  const abJoins: unknown[] = []
  await ab.session.subscribe('wamp.session.on_join', (args: unknown[]) => { abJoins.push(args[0]) })
  const abJoin = await watcher.nextEvent('wamp.session.on_join')
  t.equal((abJoin.args[0] as { session: number }).session, ab.session.id, 'autobahn-js joining was announced')

  const guest = await connect(app, { serializer: 'cbor' })
  const join = await watcher.nextEvent('wamp.session.on_join')
  t.same(join.args, [{
    session: guest.id,
    authid: guest.welcome.authid,
    authrole: 'anonymous',
    authmethod: 'anonymous',
    authprovider: guest.welcome.authprovider,
    transport: { type: 'websocket', protocol: 'wamp.2.cbor' }
  }], 'on_join carries the session details')
  t.same(join.details, {}, 'no publisher disclosed: the router publishes')

  await guest.close()
  const leave = await watcher.nextEvent('wamp.session.on_leave')
  t.same(leave.args, [guest.id, guest.welcome.authid, 'anonymous'], 'on_leave carries [session, authid, authrole]')
  t.equal((abJoins[0] as { session: number }).session, guest.id, 'autobahn-js got the on_join too')

  const dropped = await connect(app)
  await watcher.nextEvent('wamp.session.on_join')
  const raw = await connectRaw(url)
  await watcher.nextEvent('wamp.session.on_join')
  raw.client.terminate()
  t.same((await watcher.nextEvent('wamp.session.on_leave')).args[0], raw.sessionId, 'a dropped socket leaves too')
  await dropped.close()
  t.same((await watcher.nextEvent('wamp.session.on_leave')).args[0], dropped.id)
  t.same(watcher.errors, [])
  await ab.close()
  await watcher.close()
})

t.test('subscription meta procedures', async (t) => {
  const { app } = await startApp(t, { metaApi: true })
  const admin = await connect(app)
  const a = await connect(app)
  const b = await connect(app)
  const news = await a.subscribe('com.news')
  await b.subscribe('com.news')
  const sport = await b.subscribe('com.sport.', undefined, { match: 'prefix' })
  const any = await b.subscribe('com..score', undefined, { match: 'wildcard' })

  t.same((await admin.call('wamp.subscription.list')).args, [{ exact: [news.id], prefix: [sport.id], wildcard: [any.id] }])
  t.same((await admin.call('wamp.subscription.lookup', ['com.news'])).args, [news.id])
  t.same((await admin.call('wamp.subscription.lookup', ['com.sport.', { match: 'prefix' }])).args, [sport.id])
  t.same((await admin.call('wamp.subscription.lookup', ['com.sport.'])).args, [null], 'lookup honours the match policy')
  t.same((await admin.call('wamp.subscription.match', ['com.sport.score'])).args, [[sport.id, any.id]])
  t.same((await admin.call('wamp.subscription.match', ['org.none'])).args, [null])
  const { args: [details] } = await admin.call('wamp.subscription.get', [sport.id])
  t.match(details, { id: sport.id, uri: 'com.sport.', match: 'prefix' })
  t.ok(!Number.isNaN(Date.parse((details as { created: string }).created)), 'created is an ISO 8601 time')
  t.same(((await admin.call('wamp.subscription.list_subscribers', [news.id])).args[0] as number[]).sort(), [a.id, b.id].sort())
  t.same((await admin.call('wamp.subscription.count_subscribers', [news.id])).args, [2])
  t.equal((await failure(admin.call('wamp.subscription.get', [12345]))).uri, 'wamp.error.no_such_subscription')
  t.equal((await failure(admin.call('wamp.subscription.count_subscribers', [12345]))).uri, 'wamp.error.no_such_subscription')

  await news.unsubscribe()
  t.same((await admin.call('wamp.subscription.count_subscribers', [news.id])).args, [1])
  await b.close()
  t.same((await admin.call('wamp.subscription.list')).args, [{ exact: [], prefix: [], wildcard: [] }], 'gone with the last subscriber')
  await Promise.all([admin.close(), a.close()])
})

t.test('registration meta procedures list client registrations, not the app\'s procedures', async (t) => {
  const { app } = await startApp(t, { metaApi: true }, (app) => { app.wamp.register('com.app.own', () => 1) })
  const admin = await connect(app)
  const callee = await connect(app)
  const echo = await callee.register('com.callee.echo', (args: unknown[]) => args[0])

  t.same((await admin.call('wamp.registration.list')).args, [{ exact: [echo.id], prefix: [], wildcard: [] }])
  t.same((await admin.call('wamp.registration.lookup', ['com.callee.echo'])).args, [echo.id])
  t.same((await admin.call('wamp.registration.lookup', ['com.callee.echo', { match: 'prefix' }])).args, [null])
  t.same((await admin.call('wamp.registration.lookup', ['com.app.own'])).args, [null], 'application procedures have no registration')
  t.same((await admin.call('wamp.registration.match', ['com.callee.echo'])).args, [echo.id])
  const { args: [details] } = await admin.call('wamp.registration.get', [echo.id])
  t.match(details, { id: echo.id, uri: 'com.callee.echo', match: 'exact', invoke: 'single' })
  t.same((await admin.call('wamp.registration.list_callees', [echo.id])).args, [[callee.id]])
  t.same((await admin.call('wamp.registration.count_callees', [echo.id])).args, [1])
  t.equal((await failure(admin.call('wamp.registration.get', [999]))).uri, 'wamp.error.no_such_registration')

  await callee.close()
  t.same((await admin.call('wamp.registration.list')).args, [{ exact: [], prefix: [], wildcard: [] }])
  await admin.close()
})

t.test('meta procedures and events obey the realm\'s authorization like any other', async (t) => {
  const { app } = await startApp(t, {
    metaApi: true,
    realms: [{ name: 'realm1', permissions: { anonymous: [{ uri: 'com.', match: 'prefix', allow: ['call', 'subscribe'] }] } }]
  })
  const client = await connect(app)
  t.equal((await failure(client.call('wamp.session.count'))).uri, 'wamp.error.not_authorized')
  t.equal((await failure(client.subscribe('wamp.session.on_join'))).uri, 'wamp.error.not_authorized')
  await client.close()
})

t.test('a non-boolean metaApi is refused at register time', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(fastifyWamp, { metaApi: 'yes' as unknown as boolean }) },
    { code: 'FST_WAMP_INVALID_OPTION', message: /metaApi must be true or false/ })
})

t.test('the meta procedures are app procedures: clients still cannot REGISTER wamp.*', async (t) => {
  const { url } = await startApp(t, { metaApi: true })
  const { client } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'wamp.session.count'])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 1, {}, 'wamp.error.invalid_uri'])
  await client.close()
})
