import t from 'tap'
import Fastify from 'fastify'
import fastifyWamp from '../index.js'
import type { Details, FastifyWampOptions } from '../index.js'
import { hubOf, startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { ask, roleLogin, ticketLogin } from './helpers/auth.js'

// Attack pass on authorization bypass (docs/auth.md "Authorization"): ways a client could get something its role or
// the authorize hook does not allow — through the hook's answer, patterns, router mode, the Meta API, history,
// retention and testaments. Raw frames over a real WebSocket.

let nextId = 1

// ---- the hook's answer ----------------------------------------------------------------------------------------

t.test('a hook answer that is a non-standard thenable denies once and for all: rejected-then-fulfilled, throwing then, throwing getter', async (t) => {
  let ran = 0
  const answers: Record<string, () => unknown> = {
    // Settles twice: rejection first. A promise settles once; the first settlement must be the decision.
    'app.twice': () => ({ then (ok: (v: unknown) => void, fail: (e: unknown) => void) { fail(new Error('no')); ok(true) } }),
    // Denies, then "allows": the first answer stands.
    'app.flip': () => ({ then (ok: (v: unknown) => void) { ok(false); ok(true) } }),
    // A then that throws synchronously: a rejection, so a denial, not the end of the session.
    'app.throws': () => ({ then () { throw new Error('broken thenable') } }),
    // Reading then throws.
    'app.getter': () => ({ get then () { throw new Error('broken getter') } })
  }
  const { url } = await startApp(t, {
    authorize: (_s, _action, uri) => (answers[uri]?.() ?? true) as boolean
  }, (app) => {
    for (const uri of Object.keys(answers)) app.wamp.register(uri, () => { ran++; return 'leaked' })
    app.wamp.register('app.open', () => 'open')
  })
  const { client } = await connectRaw(url)
  for (const uri of Object.keys(answers)) {
    const id = nextId++
    t.match(await ask(client, [MSG.CALL, id, {}, uri]), [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.not_authorized'], `${uri}: not_authorized`)
    t.match(await ask(client, [MSG.CALL, nextId++, {}, 'app.open']), [MSG.RESULT, Number, {}, ['open']], `${uri}: the session lives on, nothing else for the denied request`)
  }
  t.equal(ran, 0, 'no denied handler ran')
  await client.close()
})

t.test('a meta event whose visibility the hook answers with a broken thenable is hidden; the session that caused it lives on', async (t) => {
  const { url } = await startApp(t, {
    metaApi: true,
    authorize: (_s, action, uri) => (action === 'call' && uri === 'app.reg' ? { get then () { throw new Error('broken getter') } } : true) as boolean
  })
  const { client: watcher } = await connectRaw(url)
  const { client: callee } = await connectRaw(url)
  t.match(await ask(watcher, [MSG.SUBSCRIBE, nextId++, {}, 'wamp.registration.on_register']), [MSG.SUBSCRIBED])
  t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, 'app.reg']), [MSG.REGISTERED], 'REGISTERED')
  t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, 'app.other']), [MSG.REGISTERED], 'the registering session lives on')
  const event = await watcher.next()
  t.match(event, [MSG.EVENT, Number, Number, {}, [Number, Number]], 'the watcher hears of app.other')
  await watcher.expectNone(100)
  const other = (event[4] as number[])[1]
  t.same(await ask(watcher, [MSG.CALL, nextId++, {}, 'wamp.registration.list']), [MSG.RESULT, nextId - 1, {}, [{ exact: [other], prefix: [], wildcard: [] }]], 'list: the hidden one is left out, no runtime_error')
  await Promise.all([watcher.close(), callee.close()])
})

// ---- patterns ---------------------------------------------------------------------------------------------------

t.test('README example: a user cannot reach com.app.admin.* through a pattern (the carve-out is a rule, not a deny-list hook)', async (t) => {
  const banned = new Set(['mallory'])
  // As README.md "Authentication and authorization" configures the realm (its hook was a deny-list by URI prefix,
  // which a prefix SUBSCRIBE `com.app.` got past).
  const { app, url } = await startApp(t, {
    auth: roleLogin,
    permissions: {
      user: [
        { uri: 'com.app.', match: 'prefix', allow: ['call', 'subscribe'] },
        { uri: 'com.app.admin.', match: 'prefix', allow: [] }
      ],
      admin: [{ uri: '', match: 'prefix', allow: ['call', 'register', 'subscribe', 'publish'] }]
    },
    authorize: async (session) => !banned.has(session.authid)
  })
  const { client: user } = await ticketLogin(url, 'user', 'user')
  for (const [uri, match] of [['com.app.', 'prefix'], ['com.app.adm', 'prefix'], ['com', 'prefix'], ['com.app..log', 'wildcard'], ['com.app.admin.log', 'exact']]) {
    t.match(await ask(user, [MSG.SUBSCRIBE, nextId++, { match }, uri]), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.not_authorized'], `${match} "${uri}" refused`)
  }
  const [, , news] = await ask(user, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, 'com.app.news.'])
  app.wamp.publishToAll('com.app.admin.log', ['secret'])
  app.wamp.publishToAll('com.app.news.today', ['news'])
  t.match(await user.next(), [MSG.EVENT, news, Number, { topic: 'com.app.news.today' }, ['news']], 'only the allowed event arrives')
  await user.expectNone(50)
  await user.close()
})

t.test('the Meta API asks the hook about a pattern registration with action call and options.match: a hook that honours match hides it', async (t) => {
  const asked: Array<[string, string, Details]> = []
  const { url } = await startApp(t, {
    auth: roleLogin,
    metaApi: true,
    realms: [{ name: 'realm1', router: true }],
    authorize: (session, action, uri, options) => {
      if (session.authrole === 'callee' || uri.startsWith('wamp.')) return true
      asked.push([action, uri, options])
      // An allow-list that honours match: a pattern is allowed only if all it covers is under app.public.
      return uri.startsWith('app.public.')
    }
  })
  const { client: callee } = await ticketLogin(url, 'callee', 'callee')
  const { client: user } = await ticketLogin(url, 'user', 'user')
  const [, , wide] = await ask(callee, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'app.'])
  const [, , narrow] = await ask(callee, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'app.public.'])
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.registration.list']), [MSG.RESULT, Number, {}, [{ exact: [], prefix: [narrow], wildcard: [] }]], 'only app.public. is listed')
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.registration.get', [wide]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_registration'])
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.registration.remove', [wide]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_registration'], 'nor removed')
  t.ok(asked.some(([action, uri, options]) => action === 'call' && uri === 'app.' && options.match === 'prefix'), 'asked: call "app." {match: prefix}')
  await Promise.all([callee.close(), user.close()])
})

// ---- configuration ----------------------------------------------------------------------------------------------

t.test('a realm whose auth/permissions/authorize keys hold undefined (config from env) keeps the top-level ones, never opens up', async (t) => {
  const fromEnv: { auth?: FastifyWampOptions['auth'], permissions?: FastifyWampOptions['permissions'] } = {}
  let hookAsked = 0
  const { url } = await startApp(t, {
    auth: roleLogin,
    permissions: { user: [{ uri: 'app.open', allow: ['call'] }] },
    authorize: () => { hookAsked++; return true },
    realms: [{ name: 'realm1', auth: fromEnv.auth, permissions: fromEnv.permissions, authorize: undefined }]
  }, (app) => {
    app.wamp.register('app.open', () => 'open')
    app.wamp.register('app.secret', () => 'leaked')
  })
  const anonymous = await connectRaw(url).then(() => 'welcomed', (err: Error) => err.message)
  t.match(anonymous, /authentication_failed|no_auth_method/, 'an anonymous HELLO is refused (top-level auth)')
  const { client } = await ticketLogin(url, 'user', 'user')
  t.match(await ask(client, [MSG.CALL, nextId++, {}, 'app.secret']), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'], 'top-level permissions apply')
  t.match(await ask(client, [MSG.CALL, nextId++, {}, 'app.open']), [MSG.RESULT, Number, {}, ['open']])
  t.equal(hookAsked, 1, 'the top-level hook is asked (after the permissions allowed)')
  await client.close()
})

t.test('a misspelled key in a permission rule, the broker option or a router rule is refused at register time, never read as absent', async (t) => {
  const bad: Array<[string, unknown]> = [
    // `macth`: the carve-out would become the exact URI app.admin, leaving app.admin.* to the broader rule.
    ['permissions', { permissions: { user: [{ uri: 'app.', match: 'prefix', allow: ['call'] }, { uri: 'app.admin', macth: 'prefix', allow: [] }] } }],
    ['permissions', { permissions: { user: [{ uri: 'app.', match: 'prefix', allow: ['call'], deny: ['call'] }] } }],
    // `alow`: every topic would reach clients.
    ['broker', { realms: [{ name: 'realm1', broker: { alow: ['app.public.'] } }] }],
    // `role`: any session's registration would be offered to the other clients.
    ['router', { realms: [{ name: 'realm1', router: { allow: [{ uri: 'com.dev.', role: ['admin'] }] } }] }]
  ]
  for (const [what, options] of bad) {
    const app = Fastify({ logger: false })
    await t.rejects(async () => { await app.register(fastifyWamp, options as FastifyWampOptions).ready() }, { code: 'FST_WAMP_INVALID_OPTION' }, `${what}: ${JSON.stringify(options)}`)
    await app.close()
  }
})

// ---- events: patterns, retained events, history, testaments, lookups (pinned: found right) -----------------------

t.test('no way to an app.admin.* event for a role denied it: exotic patterns, get_retained, get_events, lookup, testament, PUBLISH', async (t) => {
  const { app, url } = await startApp(t, {
    auth: roleLogin,
    metaApi: true,
    realms: [{ name: 'realm1', broker: true, history: [{ topic: 'app.', match: 'prefix' }] }],
    permissions: {
      user: [
        { uri: 'app.', match: 'prefix', allow: ['subscribe', 'publish', 'call'] },
        { uri: 'app.admin.', match: 'prefix', allow: [] },
        { uri: 'wamp.subscription.', match: 'prefix', allow: ['call'] },
        { uri: 'wamp.session.add_testament', allow: ['call'] }
      ],
      admin: [{ uri: '', match: 'prefix', allow: ['call', 'register', 'subscribe', 'publish'] }]
    }
  })
  const { client: admin } = await ticketLogin(url, 'admin', 'admin')
  const { client: user } = await ticketLogin(url, 'user', 'user')
  const [, , adminLog] = await ask(admin, [MSG.SUBSCRIBE, nextId++, {}, 'app.admin.log'])
  const [, , adminAll] = await ask(admin, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, 'app.'])
  t.match(await ask(admin, [MSG.PUBLISH, nextId++, { acknowledge: true, retain: true }, 'app.admin.log', ['by admin']]), [MSG.PUBLISHED])
  app.wamp.publishToAll('app.admin.log', ['by app'], undefined, { retain: true })
  for (let i = 0; i < 2; i++) t.match(await admin.next(), [MSG.EVENT], 'the admin got it')
  await admin.expectNone(30)
  const refused: Array<[string, string]> = [
    ['app.', 'prefix'], ['app.adm', 'prefix'], ['app.admin', 'prefix'], ['ap', 'prefix'], ['', 'prefix'],
    ['..', 'wildcard'], ['..log', 'wildcard'], ['.admin.log', 'wildcard'], ['app..', 'wildcard'], ['app..log', 'wildcard'],
    ['app' + '.'.repeat(600), 'wildcard'], ['App.admin.log', 'exact'], ['app.admin.log', 'exact']
  ]
  for (const [topic, match] of refused) {
    t.match(await ask(user, [MSG.SUBSCRIBE, nextId++, { match, get_retained: true }, topic]), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.not_authorized'], `${match} "${topic.slice(0, 20)}" refused`)
  }
  t.match(await ask(user, [MSG.SUBSCRIBE, nextId++, { match: 'prefix', get_retained: true }, 'app.news.']), [MSG.SUBSCRIBED], 'app.news. allowed, no retained admin event follows')
  for (const id of [adminLog, adminAll]) {
    t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.subscription.get_events', [id]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_subscription'], 'get_events of a subscription it may not subscribe to: as unknown')
    t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.subscription.list_subscribers', [id]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_subscription'])
  }
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.subscription.lookup', ['app.admin.log']]), [MSG.RESULT, Number, {}, [null]])
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.subscription.match', ['app.admin.log']]), [MSG.RESULT, Number, {}, [null]])
  t.match(await ask(user, [MSG.CALL, nextId++, {}, 'wamp.session.add_testament', ['app.admin.log', ['forged']]]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'], 'no testament to a topic it may not publish to')
  t.match(await ask(user, [MSG.PUBLISH, nextId++, { acknowledge: true, retain: true }, 'app.admin.log', ['forged']]), [MSG.ERROR, MSG.PUBLISH, Number, {}, 'wamp.error.not_authorized'])
  user.send([MSG.PUBLISH, nextId++, {}, 'app.admin.log', ['forged']])
  await user.expectNone(30)
  await user.close()
  await admin.expectNone(50)
  await admin.close()
})

// ---- RPC: router mode, other sessions' calls (pinned: found right) ---------------------------------------------------

t.test('router mode: no capture of app procedures or denied URIs; another callee cannot answer, fail or cancel a call it does not hold', async (t) => {
  const { url } = await startApp(t, {
    auth: roleLogin,
    realms: [{ name: 'realm1', router: true }],
    permissions: {
      callee: [
        { uri: 'com.dev.', match: 'prefix', allow: ['register'] },
        { uri: 'com.dev.lamp.', match: 'prefix', allow: [] }
      ],
      caller: [{ uri: '', match: 'prefix', allow: ['call'] }]
    }
  }, (app) => {
    app.wamp.register('com.dev.app', () => 'app')
    app.wamp.register('com.dev.appx.', () => 'app pattern', { match: 'prefix' })
  })
  const { client: callee } = await ticketLogin(url, 'callee', 'callee')
  const { client: rogue } = await ticketLogin(url, 'callee', 'callee')
  const { client: caller } = await ticketLogin(url, 'caller', 'caller')
  for (const [uri, match] of [['com.dev.', 'prefix'], ['com.dev.l', 'prefix'], ['com.dev..toggle', 'wildcard'], ['com..lamp.toggle', 'wildcard'], ['com.dev.lamp.toggle', 'exact'], ['', 'prefix']]) {
    t.match(await ask(callee, [MSG.REGISTER, nextId++, { match }, uri]), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.not_authorized'], `${match} "${uri}" refused`)
  }
  t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, 'com.dev.app']), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.procedure_already_exists'], 'an app procedure cannot be registered')
  t.match(await ask(callee, [MSG.REGISTER, nextId++, {}, 'com.dev.appx.y']), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.procedure_already_exists'], 'nor a URI an app pattern serves')
  const [, , reg] = await ask(callee, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'com.dev.app'])
  t.match(await ask(caller, [MSG.CALL, nextId++, {}, 'com.dev.app']), [MSG.RESULT, Number, {}, ['app']], 'the app procedure answers, not the prefix')
  t.match(await ask(caller, [MSG.CALL, nextId++, {}, 'com.dev.appx.y']), [MSG.RESULT, Number, {}, ['app pattern']])
  const callId = nextId++
  caller.send([MSG.CALL, callId, {}, 'com.dev.apple', ['x']])
  const invocation = await callee.next()
  t.match(invocation, [MSG.INVOCATION, Number, reg, { procedure: 'com.dev.apple' }, ['x']])
  const invocationId = invocation[1]
  // The rogue session answers with the callee's invocation id, and cancels the caller's request id: its own maps only.
  rogue.send([MSG.YIELD, invocationId, {}, ['forged']])
  rogue.send([MSG.ERROR, MSG.INVOCATION, invocationId, {}, 'app.error.forged'])
  rogue.send([MSG.CANCEL, callId, { mode: 'killnowait' }])
  t.match(await ask(rogue, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'com.dev.fan.']), [MSG.REGISTERED], 'the rogue session lives on (its frames were no-ops)')
  await caller.expectNone(50)
  callee.send([MSG.YIELD, invocationId, {}, ['real']])
  t.match(await caller.next(), [MSG.RESULT, callId, {}, ['real']], 'the caller gets the real callee\'s answer')
  await Promise.all([callee.close(), rogue.close(), caller.close()])
})

// ---- async decisions (pinned: found right) --------------------------------------------------------------------------

t.test('an async allow that lands after the session was killed creates nothing and sends nothing', async (t) => {
  let allow: (v: boolean) => void = () => {}
  let wasAsked: () => void = () => {}
  const asked = new Promise<void>((resolve) => { wasAsked = resolve })
  const { app, url } = await startApp(t, { authorize: () => new Promise<boolean>((resolve) => { allow = resolve; wasAsked() }) })
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, nextId++, {}, 'app.topic'])
  client.send([MSG.REGISTER, nextId++, {}, 'app.proc'])
  await asked
  await app.wamp.killAll()
  t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.killed'])
  allow(true)
  await new Promise((resolve) => setImmediate(resolve))
  const realm = hubOf(app).realms.get('realm1')
  t.equal(realm?.broker.byId.size, 0, 'no subscription was made')
  t.equal(realm?.dealer.registry.byId.size, 0, 'nor the registration held behind it')
  await client.expectNone(50)
  await client.close()
})

t.test('the coverage budget fails closed: a pattern whose check needs more than 20 000 representatives is refused, though all it covers is allowed', async (t) => {
  const rules: NonNullable<FastifyWampOptions['permissions']>[string] = [{ uri: '', match: 'prefix', allow: ['subscribe'] }]
  for (let i = 0; i < 10; i++) {
    for (const literal of ['x', 'y']) {
      const parts = Array<string>(10).fill('')
      parts[i] = literal
      rules.push({ uri: parts.join('.'), match: 'wildcard', allow: ['subscribe'] })
    }
  }
  const { url } = await startApp(t, { permissions: { anonymous: rules } })
  const { client } = await connectRaw(url)
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, '.'.repeat(9)]), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.not_authorized'], '3^10 cases: refused')
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, '.'.repeat(5)]), [MSG.SUBSCRIBED], 'within the budget: allowed')
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, {}, 'x.y.z']), [MSG.SUBSCRIBED])
  await client.close()
})

t.test('publishToAll with a receiver rule spelled as on the wire (eligible_authrole) throws, instead of reaching every subscriber', async (t) => {
  const { app, url } = await startApp(t)
  const { client } = await connectRaw(url)
  const [, , sub] = await ask(client, [MSG.SUBSCRIBE, nextId++, {}, 'app.ops'])
  for (const options of [{ eligible_authrole: 'admin' }, { exclude_authid: ['anonymous'] }, { eligible: [1], excludeMe: true }]) {
    t.throws(() => app.wamp.publishToAll('app.ops', ['for admins only'], undefined, options as never), TypeError, `${Object.keys(options).join(', ')}: TypeError`)
  }
  t.match(app.wamp.publishToAll('app.ops', ['to all'], undefined, { excludeAuthrole: 'nobody' }), 1, 'the camelCase rules still work')
  t.match(await client.next(), [MSG.EVENT, sub, Number, {}, ['to all']], 'only the publication meant for it arrives')
  await client.expectNone(30)
  await client.close()
})
