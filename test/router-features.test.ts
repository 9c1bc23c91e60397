import t from 'tap'
import Fastify from 'fastify'
import Type from 'typebox'
import fastifyWamp from '../index.js'
import { rejection, startApp } from './helpers/app.js'
import { connect, WampError } from '../lib/testing/index.js'
import type { TestClient } from '../lib/testing/index.js'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'

// Router mode: shared and pattern registrations, authorization, the registration meta API, `fastify.wamp.call()`
// and the `allow` rules — with the typed test client on real sockets.

const ROUTER: FastifyWampOptions = { realms: [{ name: 'realm1', router: true }] }
const failure = async (p: Promise<unknown>): Promise<WampError> => await rejection(p) as WampError

/** Registers `uri` on `client`; the handler answers with the client's name. */
async function offer (client: TestClient, name: string, uri: string, options: Record<string, unknown> = {}): Promise<number> {
  const registration = await client.register(uri, (args, _k, details) => ({ name, procedure: details.procedure, args }), { options })
  return registration.id
}

t.test('shared registrations: single, roundrobin, random, first, last; mismatches are refused', async (t) => {
  const { app } = await startApp(t, ROUTER)
  const [a, b, c, caller] = await Promise.all([connect(app), connect(app), connect(app), connect(app)])
  await offer(a, 'a', 'com.single')
  t.equal((await failure(offer(b, 'b', 'com.single'))).uri, 'wamp.error.procedure_already_exists', 'a second single registration')
  t.equal((await failure(offer(b, 'b', 'com.single', { invoke: 'roundrobin' }))).uri, 'wamp.error.procedure_already_exists', 'single admits nobody')
  t.equal((await failure(offer(a, 'a', 'com.single'))).uri, 'wamp.error.procedure_already_exists', 'the same session twice')

  const rr = await offer(a, 'a', 'com.rr', { invoke: 'roundrobin' })
  t.equal(await offer(b, 'b', 'com.rr', { invoke: 'roundrobin' }), rr, 'callees of one registration share its id')
  await offer(c, 'c', 'com.rr', { invoke: 'roundrobin' })
  const mismatch = await failure(offer(caller, 'x', 'com.rr', { invoke: 'random' }))
  t.equal(mismatch.uri, 'wamp.error.procedure_exists_with_different_invocation_policy')
  t.match(mismatch.args[0], /invoke "roundrobin"/, 'the message names the policy in place')
  t.equal((await failure(offer(caller, 'x', 'com.rr'))).uri, 'wamp.error.procedure_exists_with_different_invocation_policy', 'default single vs roundrobin')
  const names = async (uri: string, n: number): Promise<string[]> => {
    const seen: string[] = []
    for (let i = 0; i < n; i++) seen.push(((await caller.call(uri)).args[0] as { name: string }).name)
    return seen
  }
  t.same(await names('com.rr', 6), ['a', 'b', 'c', 'a', 'b', 'c'], 'roundrobin in registration order')
  await b.close()
  t.same(await names('com.rr', 4), ['a', 'c', 'a', 'c'], 'a callee that left is skipped')

  for (const client of [a, c]) await offer(client, client === a ? 'a' : 'c', 'com.first', { invoke: 'first' })
  for (const client of [a, c]) await offer(client, client === a ? 'a' : 'c', 'com.last', { invoke: 'last' })
  for (const client of [a, c]) await offer(client, client === a ? 'a' : 'c', 'com.random', { invoke: 'random' })
  t.same(await names('com.first', 2), ['a', 'a'], 'first: the oldest callee (hot stand-by)')
  t.same(await names('com.last', 2), ['c', 'c'], 'last: the newest callee')
  const random = await names('com.random', 40)
  t.ok(random.every((n) => n === 'a' || n === 'c') && new Set(random).size === 2, 'random spreads over the callees')
  await Promise.all([a.close(), c.close(), caller.close()])
})

t.test('pattern registrations: exact, then the longest prefix, then the most specific wildcard; details.procedure', async (t) => {
  const { app } = await startApp(t, ROUTER)
  const [callee, caller] = await Promise.all([connect(app), connect(app)])
  await offer(callee, 'exact', 'a1.b2.c3.d4.e55')
  await offer(callee, 'prefix2', 'a1.b2.c3', { match: 'prefix' })
  await offer(callee, 'prefix3', 'a1.b2.c3.d4', { match: 'prefix' })
  await offer(callee, 'wild4', 'a1.b2..d4.e5', { match: 'wildcard' })
  await offer(callee, 'wild5', 'a1.b2.c3..e5', { match: 'wildcard' })
  await offer(callee, 'wild6', 'a1.b2..d4.e5..g7', { match: 'wildcard' })
  await offer(callee, 'wild7', 'a1.b2..d4..f6.g7', { match: 'wildcard' })
  // The examples of the spec's "Pattern-based Registrations".
  for (const [uri, name] of [['a1.b2.c3.d4.e55', 'exact'], ['a1.b2.c3.d98.e74', 'prefix2'], ['a1.b2.c3.d4.e325', 'prefix3'],
    ['a1.b2.c55.d4.e5', 'wild4'], ['a1.b2.c3.d4.e5', 'prefix3'], ['a1.b2.c88.d4.e5.f6.g7', 'wild6']]) {
    const { args: [answer] } = await caller.call(uri)
    t.same(answer, { name, procedure: uri, args: [] }, `${uri} → ${name}`)
  }
  t.equal((await failure(caller.call('a2.b2.c2.d2.e2'))).uri, 'wamp.error.no_such_procedure')
  await offer(callee, 'same uri, other match', 'a1.b2.c3')
  t.same((await caller.call('a1.b2.c3')).args[0], { name: 'same uri, other match', procedure: 'a1.b2.c3', args: [] }, 'exact and prefix of one URI are two registrations')
  await Promise.all([callee.close(), caller.close()])
})

t.test('authorization applies to router traffic: register and call per role and URI', async (t) => {
  const { app } = await startApp(t, {
    realms: [{
      name: 'realm1',
      router: true,
      authorize: (session, action, uri) => !(action === 'register' && uri.startsWith('com.secret.')) && !(action === 'call' && uri === 'com.dev.private')
    }]
  })
  const [device, browser] = await Promise.all([connect(app), connect(app)])
  t.equal((await failure(offer(device, 'd', 'com.secret.', { match: 'prefix' }))).uri, 'wamp.error.not_authorized')
  await offer(device, 'd', 'com.dev.', { match: 'prefix' })
  t.same((await browser.call('com.dev.public')).args[0], { name: 'd', procedure: 'com.dev.public', args: [] })
  t.equal((await failure(browser.call('com.dev.private'))).uri, 'wamp.error.not_authorized')
  await Promise.all([device.close(), browser.close()])
})

t.test('role permissions: devices offer, browsers call', async (t) => {
  const { app } = await startApp(t, {
    realms: [{
      name: 'realm1',
      router: true,
      auth: { ticket: { authenticate: (_ticket, ctx) => ({ authrole: (ctx.authid ?? '').startsWith('device') ? 'device' : 'browser' }) } },
      permissions: {
        device: [{ uri: 'com.device.', match: 'prefix', allow: ['register'] }],
        browser: [{ uri: 'com.device.', match: 'prefix', allow: ['call'] }]
      }
    }]
  })
  const login = (authid: string): Promise<TestClient> => connect(app, { authid, authmethods: ['ticket'], onChallenge: () => 'secret' })
  const [device, browser] = await Promise.all([login('device-1'), login('browser-1')])
  await offer(device, 'device-1', 'com.device.reboot')
  t.equal((await failure(offer(browser, 'browser', 'com.device.spoof'))).uri, 'wamp.error.not_authorized', 'browsers may not register')
  t.same((await browser.call('com.device.reboot', [1])).args[0], { name: 'device-1', procedure: 'com.device.reboot', args: [1] })
  t.equal((await failure(device.call('com.device.reboot'))).uri, 'wamp.error.not_authorized', 'devices may not call')
  await Promise.all([device.close(), browser.close()])
})

t.test('registration meta API: shared and pattern registrations, callees, lifecycle events', async (t) => {
  const { app } = await startApp(t, { ...ROUTER, metaApi: true })
  const admin = await connect(app)
  for (const topic of ['on_create', 'on_register', 'on_unregister', 'on_delete']) await admin.subscribe(`wamp.registration.${topic}`)
  const [a, b] = await Promise.all([connect(app), connect(app, { serializer: 'msgpack' })])
  const rr = await offer(a, 'a', 'com.rr', { invoke: 'roundrobin' })
  const created = await admin.nextEvent('wamp.registration.on_create')
  t.match(created.args, [a.id, { id: rr, uri: 'com.rr', match: 'exact', invoke: 'roundrobin' }], 'on_create: [session, RegistrationDetails]')
  t.same((await admin.nextEvent('wamp.registration.on_register')).args, [a.id, rr], 'then on_register')
  await offer(b, 'b', 'com.rr', { invoke: 'roundrobin' })
  t.same((await admin.nextEvent('wamp.registration.on_register')).args, [b.id, rr], 'a second callee: on_register only')
  const prefix = await offer(b, 'b', 'com.dev.', { match: 'prefix' })
  await admin.nextEvent('wamp.registration.on_create')
  await admin.nextEvent('wamp.registration.on_register')

  t.same((await admin.call('wamp.registration.list')).args, [{ exact: [rr], prefix: [prefix], wildcard: [] }])
  t.same((await admin.call('wamp.registration.lookup', ['com.dev.', { match: 'prefix' }])).args, [prefix])
  t.same((await admin.call('wamp.registration.lookup', ['com.dev.'])).args, [null])
  t.same((await admin.call('wamp.registration.match', ['com.dev.lamp'])).args, [prefix], 'match: the registration a CALL would reach')
  t.same((await admin.call('wamp.registration.match', ['com.rr'])).args, [rr])
  t.match((await admin.call('wamp.registration.get', [prefix])).args[0], { id: prefix, uri: 'com.dev.', match: 'prefix', invoke: 'single' })
  t.same(((await admin.call('wamp.registration.list_callees', [rr])).args[0] as number[]).sort(), [a.id, b.id].sort())
  t.same((await admin.call('wamp.registration.count_callees', [rr])).args, [2])

  await a.close()
  t.same((await admin.nextEvent('wamp.registration.on_unregister')).args, [a.id, rr], 'a callee leaving: on_unregister')
  t.same((await admin.call('wamp.registration.count_callees', [rr])).args, [1])
  await b.close()
  const gone = [await admin.nextEvent('wamp.registration.on_delete'), await admin.nextEvent('wamp.registration.on_delete')]
  t.same(gone.map((e) => e.args).sort(), [[b.id, prefix], [b.id, rr]].sort(), 'the last callee leaving: on_delete for each')
  t.same((await admin.call('wamp.registration.list')).args, [{ exact: [], prefix: [], wildcard: [] }])
  t.same(admin.errors, [])
  await admin.close()
})

t.test('fastify.wamp.call(): the application calls client registrations with the options and errors of session.call', async (t) => {
  const { app } = await startApp(t, ROUTER)
  const [a, b] = await Promise.all([connect(app), connect(app)])
  await offer(a, 'a', 'com.rr', { invoke: 'roundrobin' })
  await offer(b, 'b', 'com.rr', { invoke: 'roundrobin' })
  const names = [(await app.wamp.call('com.rr')).args[0], (await app.wamp.call('com.rr')).args[0]].map((r) => (r as { name: string }).name)
  t.same(names, ['a', 'b'], 'the invocation policy applies')
  await a.register('com.dev.', (_args, _k, details) => {
    details.progress([details.procedure])
    throw new WampError('com.dev.error.offline', ['unplugged'], { since: 3 })
  }, { options: { match: 'prefix' } })
  const progress: unknown[] = []
  const err = await failure(app.wamp.call('com.dev.lamp', [], {}, { onProgress: (r) => progress.push(r.args[0]) }))
  t.match(err, { uri: 'com.dev.error.offline', args: ['unplugged'], kwargs: { since: 3 } }, 'a pattern registration; the callee\'s error as thrown')
  t.same(progress, ['com.dev.lamp'], 'progress and details.procedure')
  await b.register('com.typed', () => 42)
  const typed = await app.wamp.call('com.typed', [], {}, { result: { args: Type.Tuple([Type.Number()]) } })
  t.equal(typed.args[0] + 0, 42, 'the result schema types and checks the result')
  await b.register('com.slow', () => new Promise(() => {}))
  t.equal((await failure(app.wamp.call('com.slow', [], {}, { timeout: 20 }))).uri, 'wamp.error.timeout')
  t.equal((await failure(app.wamp.realm('realm1').call('org.none'))).uri, 'wamp.error.no_such_procedure')
  // GOODBYE ends the session at once (before the socket closes): the rejection may come before close() returns.
  const pending = failure(app.wamp.call('com.slow'))
  await b.close()
  t.equal((await pending).uri, 'wamp.error.canceled', 'the callee leaving rejects the call')
  await a.close()
})

t.test('without router mode fastify.wamp.call() reaches the session that registered the URI first', async (t) => {
  const { app } = await startApp(t)
  const [a, b] = await Promise.all([connect(app), connect(app)])
  await offer(b, 'b', 'com.dev.x')
  await offer(a, 'a', 'com.dev.x')
  t.match((await app.wamp.call('com.dev.x')).args[0], { name: 'b' })
  await b.close()
  t.match((await app.wamp.call('com.dev.x')).args[0], { name: 'a' })
  t.equal((await failure(app.wamp.call('com.dev.y'))).uri, 'wamp.error.no_such_procedure')
  await a.close()
})

t.test('allow rules: only the registrations they admit are offered to other clients; the rest stay private', async (t) => {
  const { app } = await startApp(t, {
    realms: [{ name: 'realm1', router: { allow: ['com.public.', { uri: 'com..status', match: 'wildcard' }, { uri: 'com.admin.', roles: ['admin'] }] } }]
  })
  const [callee, caller] = await Promise.all([connect(app), connect(app)])
  await offer(callee, 'c', 'com.public.echo')
  await offer(callee, 'c', 'com.lamp.status')
  await offer(callee, 'c', 'com.admin.reset')
  await offer(callee, 'c', 'com.private.echo')
  t.equal((await failure(offer(callee, 'c', 'com.private.', { match: 'prefix' }))).uri, 'wamp.error.invalid_argument', 'a private registration cannot be a pattern')
  t.match((await caller.call('com.public.echo')).args[0], { name: 'c' })
  t.match((await caller.call('com.lamp.status')).args[0], { name: 'c' })
  t.equal((await failure(caller.call('com.admin.reset'))).uri, 'wamp.error.no_such_procedure', 'the rule is for admins only')
  t.equal((await failure(caller.call('com.private.echo'))).uri, 'wamp.error.no_such_procedure')
  const session = app.wamp.sessions.get(callee.id) as Session
  t.match((await session.call('com.private.echo')).args[0], { name: 'c' }, 'the application still calls private registrations')
  t.match((await app.wamp.call('com.admin.reset')).args[0], { name: 'c' }, 'and fastify.wamp.call finds them')
  await Promise.all([callee.close(), caller.close()])
})

t.test('an allow function decides per registration; one that throws keeps the registration private', async (t) => {
  const { app } = await startApp(t, {
    realms: [{ name: 'realm1', router: { allow: (uri) => { if (uri === 'com.bad') throw new Error('boom'); return uri !== 'com.hidden' } } }]
  })
  const [callee, caller] = await Promise.all([connect(app), connect(app)])
  for (const uri of ['com.open', 'com.hidden', 'com.bad']) await offer(callee, 'c', uri)
  t.match((await caller.call('com.open')).args[0], { name: 'c' })
  t.equal((await failure(caller.call('com.hidden'))).uri, 'wamp.error.no_such_procedure')
  t.equal((await failure(caller.call('com.bad'))).uri, 'wamp.error.no_such_procedure')
  await Promise.all([callee.close(), caller.close()])
})

t.test('invalid router options are refused at register time', async (t) => {
  for (const router of ['yes', { allow: 'com.' }, { allow: [42] }, { allow: [{ uri: 'a b' }] }, { allow: [{ uri: 'com.', roles: 'admin' }] }, { other: 1 }]) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyWamp, { realms: [{ name: 'realm1', router: router as never }] }) },
      { code: 'FST_WAMP_INVALID_OPTION', message: /router/ }, JSON.stringify(router))
    await app.close()
  }
})
