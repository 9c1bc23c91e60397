import t from 'tap'
import { sleep, startApp, until, hubOf } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { roleLogin, ticketLogin } from './helpers/auth.js'
import { WampError } from '../index.js'
import type { AuthorizeAction, Details, FastifyWampOptions, Permissions, WampSession as Session } from '../index.js'

const PERMISSIONS: Permissions = {
  admin: [{ uri: '', match: 'prefix', allow: ['call', 'register', 'subscribe', 'publish'] }],
  user: [
    { uri: 'app.', match: 'prefix', allow: ['call', 'subscribe'] },
    { uri: 'app.admin.', match: 'prefix', allow: [] },
    { uri: 'app.chat.post', allow: ['publish'] },
    { uri: 'dev..status', match: 'wildcard', allow: ['subscribe', 'publish'] },
    { uri: 'user.rpc.', match: 'prefix', allow: ['register'] }
  ]
  // guest: not listed, so it may do nothing
}

interface Counters { echo: number, reset: number, chat: number, news: number }

async function securedApp (t: { teardown (fn: () => unknown): void }, extra: FastifyWampOptions = {}): Promise<{ url: string, counters: Counters, app: Awaited<ReturnType<typeof startApp>>['app'] }> {
  const counters: Counters = { echo: 0, reset: 0, chat: 0, news: 0 }
  const { app, url } = await startApp(t, { auth: roleLogin, permissions: PERMISSIONS, ...extra }, (app) => {
    app.wamp.register('app.echo', (args) => { counters.echo++; return args[0] })
    app.wamp.register('app.admin.reset', () => { counters.reset++; return 'done' })
    app.wamp.subscribe('app.chat.post', () => { counters.chat++ })
    app.wamp.subscribe('app.news', () => { counters.news++ })
  })
  return { app, url, counters }
}

let nextId = 1
async function request (client: RawClient, action: AuthorizeAction, uri: string, options: Details = {}): Promise<unknown[]> {
  const id = nextId++
  switch (action) {
    case 'call': client.send([MSG.CALL, id, options, uri, ['hi']]); break
    case 'register': client.send([MSG.REGISTER, id, options, uri]); break
    case 'subscribe': client.send([MSG.SUBSCRIBE, id, options, uri]); break
    case 'publish': client.send([MSG.PUBLISH, id, { acknowledge: true, ...options }, uri, ['hi']]); break
  }
  const reply = await client.next()
  if (reply[0] !== MSG.ERROR && reply[1] !== id) throw new Error(`unexpected reply ${JSON.stringify(reply)}`)
  return reply
}

const OK: Record<AuthorizeAction, number> = { call: MSG.RESULT, register: MSG.REGISTERED, subscribe: MSG.SUBSCRIBED, publish: MSG.PUBLISHED }

t.test('role permissions: the authorization matrix by role, action and URI', async (t) => {
  const { url, counters } = await securedApp(t)
  const matrix: Array<[string, AuthorizeAction, string, Details, boolean]> = [
    ['admin', 'call', 'app.admin.reset', {}, true],
    ['admin', 'register', 'anything.at.all', {}, true],
    ['admin', 'publish', 'app.news', {}, true],
    ['user', 'call', 'app.echo', {}, true],
    ['user', 'call', 'app.admin.reset', {}, false], // the longer prefix rule allows nothing
    ['user', 'register', 'app.echo2', {}, false],
    ['user', 'register', 'user.rpc.add', {}, true],
    ['user', 'subscribe', 'app.news', {}, true],
    ['user', 'subscribe', 'app.', { match: 'prefix' }, false], // issue 15: it would cover app.admin.*
    ['user', 'subscribe', 'ap', { match: 'prefix' }, false], // would cover more than app.*
    ['user', 'subscribe', 'app.admin.', { match: 'prefix' }, false],
    ['user', 'subscribe', 'dev.a.status', {}, true],
    ['user', 'subscribe', 'dev..status', { match: 'wildcard' }, true],
    ['user', 'subscribe', 'dev.', { match: 'prefix' }, false],
    ['user', 'subscribe', 'dev.a.status', { match: 'prefix' }, false], // a prefix pattern reaches beyond the wildcard
    ['user', 'publish', 'app.chat.post', {}, true],
    ['user', 'publish', 'app.news', {}, false],
    ['user', 'publish', 'dev.x.status', {}, true],
    ['guest', 'call', 'app.echo', {}, false],
    ['guest', 'subscribe', 'app.news', {}, false],
    ['guest', 'publish', 'app.chat.post', {}, false],
    ['guest', 'register', 'user.rpc.add', {}, false]
  ]
  const clients = new Map<string, RawClient>()
  for (const role of ['admin', 'user', 'guest']) clients.set(role, (await ticketLogin(url, role, role)).client)
  for (const [role, action, uri, options, allowed] of matrix) {
    const reply = await request(clients.get(role) as RawClient, action, uri, options)
    const label = `${role} ${action} ${uri}${options.match !== undefined ? ` (${String(options.match)})` : ''} → ${allowed ? 'allowed' : 'denied'}`
    if (allowed) t.equal(reply[0], OK[action], label)
    else t.match(reply, [MSG.ERROR, MSG[action.toUpperCase() as 'CALL'], Number, {}, 'wamp.error.not_authorized', [String]], label)
  }
  t.same(counters, { echo: 1, reset: 1, chat: 1, news: 1 }, 'denied requests never reached a handler')
  for (const client of clients.values()) await client.close()
})

t.test('an unauthorized caller cannot tell whether a procedure exists', async (t) => {
  const { url } = await securedApp(t)
  const { client: guest } = await ticketLogin(url, 'guest', 'guest')
  const { client: user } = await ticketLogin(url, 'user', 'user')
  t.equal((await request(guest, 'call', 'app.echo'))[4], 'wamp.error.not_authorized')
  t.equal((await request(guest, 'call', 'app.missing'))[4], 'wamp.error.not_authorized')
  t.equal((await request(user, 'call', 'app.missing'))[4], 'wamp.error.no_such_procedure')
  await guest.close()
  await user.close()
})

t.test('a denied SUBSCRIBE never receives events; an unacknowledged denied PUBLISH is dropped', async (t) => {
  const { app, url, counters } = await securedApp(t)
  const { client } = await ticketLogin(url, 'user', 'user')
  t.equal((await request(client, 'subscribe', 'app.admin.log'))[4], 'wamp.error.not_authorized')
  t.equal(app.wamp.publishToAll('app.admin.log', ['secret']), 0)
  client.send([MSG.PUBLISH, nextId++, {}, 'app.news', ['x']])
  await client.expectNone(100)
  t.equal(counters.news, 0)
  await client.close()
})

t.test('server publications filtered by eligible_authrole see the authenticated role', async (t) => {
  const { app, url } = await securedApp(t)
  const { client: admin } = await ticketLogin(url, 'admin', 'admin')
  const { client: user } = await ticketLogin(url, 'user', 'user')
  for (const c of [admin, user]) t.equal((await request(c, 'subscribe', 'app.news'))[0], MSG.SUBSCRIBED)
  t.equal(app.wamp.publishToAll('app.news', ['for admins'], undefined, { eligibleAuthrole: 'admin' }), 1)
  t.match(await admin.next(), [MSG.EVENT, Number, Number, {}, ['for admins']])
  await user.expectNone(50)
  await admin.close()
  await user.close()
})

t.test('autobahn sees not_authorized for denied calls and subscriptions', async (t) => {
  const { url } = await securedApp(t)
  const c = await connectAutobahn(url, { authmethods: ['ticket'], authid: 'user', onchallenge: () => 'user' })
  t.equal(await c.session.call('app.echo', ['yo']), 'yo')
  const callErr = await c.session.call('app.admin.reset').then(() => undefined, (e: { error: string }) => e)
  t.equal(callErr?.error, 'wamp.error.not_authorized')
  const subErr = await c.session.subscribe('app.admin.log', () => {}).then(() => undefined, (e: { error: string }) => e)
  t.equal(subErr?.error, 'wamp.error.not_authorized')
  const regErr = await c.session.register('app.mine', () => 1).then(() => undefined, (e: { error: string }) => e)
  t.equal(regErr?.error, 'wamp.error.not_authorized')
  await c.close()
  t.same(c.errors, [])
})

t.test('the authorize hook sees the session identity, the action, the URI and the options', async (t) => {
  const seen: Array<[string, string, AuthorizeAction, string, Details]> = []
  const { url } = await startApp(t, {
    auth: roleLogin,
    authorize: (session: Session, action, uri, options) => {
      seen.push([session.authid, session.authrole, action, uri, options])
      return !uri.startsWith('secret.')
    }
  }, (app) => {
    app.wamp.register('open.echo', (args) => args[0])
    app.wamp.register('secret.echo', (args) => args[0])
  })
  const { client } = await ticketLogin(url, 'user', 'user')
  t.equal((await request(client, 'call', 'open.echo', { timeout: 500 }))[0], MSG.RESULT)
  t.equal((await request(client, 'call', 'secret.echo'))[4], 'wamp.error.not_authorized')
  t.equal((await request(client, 'subscribe', 'open.', { match: 'prefix' }))[0], MSG.SUBSCRIBED)
  t.same(seen, [
    ['user', 'user', 'call', 'open.echo', { timeout: 500 }],
    ['user', 'user', 'call', 'secret.echo', {}],
    ['user', 'user', 'subscribe', 'open.', { match: 'prefix' }]
  ])
  await client.close()
})

t.test('permissions and the hook must both allow', async (t) => {
  const { url } = await securedApp(t, { authorize: (_s, _a, uri) => uri !== 'app.echo' })
  const { client } = await ticketLogin(url, 'admin', 'admin')
  t.equal((await request(client, 'call', 'app.echo'))[4], 'wamp.error.not_authorized', 'hook denies what permissions allow')
  t.equal((await request(client, 'call', 'app.admin.reset'))[0], MSG.RESULT)
  await client.close()
  const { client: guest } = await ticketLogin(url, 'guest', 'guest')
  t.equal((await request(guest, 'call', 'app.admin.reset'))[4], 'wamp.error.not_authorized', 'permissions deny what the hook allows')
  await guest.close()
})

t.test('the hook denies with its own error by throwing a WampError; other throws and non-true answers deny', async (t) => {
  const logs: Array<{ msg: string }> = []
  const stream = { write (line: string) { logs.push(JSON.parse(line)) } }
  const { url } = await startApp(t, {
    authorize: (_s, _a, uri) => {
      if (uri === 'quota') throw new WampError('app.error.quota_exceeded', ['try tomorrow'], { limit: 10 })
      if (uri === 'bug') throw new Error('oops')
      if (uri === 'truthy') return 1 as unknown as boolean
      return true
    }
  }, (app) => {
    for (const uri of ['quota', 'bug', 'truthy', 'fine']) app.wamp.register(uri, () => uri)
  }, { logger: { level: 'error', stream } })
  const { client } = await connectRaw(url)
  t.match(await request(client, 'call', 'quota'), [MSG.ERROR, MSG.CALL, Number, {}, 'app.error.quota_exceeded', ['try tomorrow'], { limit: 10 }])
  t.match(await request(client, 'call', 'bug'), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'])
  t.match(await request(client, 'call', 'truthy'), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'])
  t.match(await request(client, 'call', 'fine'), [MSG.RESULT, Number, {}, ['fine']])
  await until(() => logs.some((l) => l.msg.includes('authorize hook failed')))
  await client.close()
})

t.test('an async hook keeps the session\'s message order', async (t) => {
  const { url } = await startApp(t, {
    authorize: async (_s, _a, uri) => {
      if (uri === 'slow') await sleep(30)
      return uri !== 'denied'
    }
  }, (app) => {
    app.wamp.register('slow', () => 'slow')
    app.wamp.register('fast', () => 'fast')
    app.wamp.register('denied', () => 'never')
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'slow'])
  client.send([MSG.CALL, 2, {}, 'fast'])
  client.send([MSG.CALL, 3, {}, 'denied'])
  client.send([MSG.SUBSCRIBE, 4, {}, 'slow'])
  client.send([MSG.CALL, 5, {}, 'slow'])
  t.match(await client.next(), [MSG.RESULT, 1, {}, ['slow']])
  t.match(await client.next(), [MSG.RESULT, 2, {}, ['fast']])
  t.match(await client.next(), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.not_authorized'])
  t.match(await client.next(), [MSG.SUBSCRIBED, 4, Number])
  t.match(await client.next(), [MSG.RESULT, 5, {}, ['slow']])
  // A violation queued behind a pending check is still answered, in its turn.
  client.send([MSG.CALL, 6, {}, 'slow'])
  client.sendRaw('not json')
  t.match(await client.next(), [MSG.RESULT, 6, {}, ['slow']])
  t.match(await client.next(), [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  await client.expectClose()
})

t.test('a session that closes while an async check is pending gets nothing and leaves nothing behind', async (t) => {
  let release: ((v: boolean) => void) | undefined
  let ran = 0
  const { app, url } = await startApp(t, {
    authorize: () => new Promise<boolean>((resolve) => { release = resolve })
  }, (app) => { app.wamp.register('x', () => { ran++ }) })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'x'])
  await until(() => release !== undefined)
  await client.terminate()
  await until(() => app.wamp.sessions.size === 0)
  release?.(true)
  await sleep(10)
  t.equal(ran, 0)
})

t.test('without permissions or a hook the realm has no authorizer (no per-message cost)', async (t) => {
  const { app } = await startApp(t)
  t.equal(hubOf(app).realm('realm1').authorizer, undefined)
  t.equal(hubOf(app).realm('realm1').auth, undefined)
})
