import t from 'tap'
import fc from 'fast-check'
import Fastify from 'fastify'
import fastifyWamp from '../index.js'
import type { Details, FastifyWampOptions, Permission, Permissions } from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { ask, roleLogin, ticketLogin } from './helpers/auth.js'
import { RoleRules } from '../lib/realm/authorize.js'
import { matchesWildcard } from '../lib/wire/uris.js'
import type { MatchPolicy } from '../lib/wire/uris.js'

// issue 15, "Permissions must not be bypassable": CALL and PUBLISH are checked as exact URIs whatever `match` the
// client sends; a pattern SUBSCRIBE or REGISTER is allowed only if every URI it covers is allowed, so no EVENT or
// INVOCATION for a denied URI ever reaches a session. Also: the empty prefix, and the subscription meta events.

let nextId = 1

t.test('issue 15: a client-sent match on CALL or PUBLISH does not change which rule applies', async (t) => {
  const hookSaw: Array<[string, string, Details]> = []
  const { url } = await startApp(t, {
    auth: roleLogin,
    permissions: {
      user: [
        { uri: 'app.', match: 'prefix', allow: ['call', 'publish', 'subscribe'] },
        { uri: 'app.secret', allow: [] }
      ]
    },
    authorize: (_s, action, uri, options) => { hookSaw.push([action, uri, options]); return true }
  }, (app) => {
    app.wamp.register('app.secret', () => 'leaked')
    app.wamp.register('app.open', () => 'fine')
  })
  const { client } = await ticketLogin(url, 'user', 'user')
  for (const match of ['wildcard', 'prefix', 'exact', 'bogus']) {
    t.match(await ask(client, [MSG.CALL, nextId++, { match }, 'app.secret']), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.not_authorized'], `CALL match ${match}`)
    t.match(await ask(client, [MSG.PUBLISH, nextId++, { acknowledge: true, match }, 'app.secret']), [MSG.ERROR, MSG.PUBLISH, Number, {}, 'wamp.error.not_authorized'], `PUBLISH match ${match}`)
  }
  t.match(await ask(client, [MSG.CALL, nextId++, { match: 'wildcard' }, 'app.open']), [MSG.RESULT, Number, {}, ['fine']])
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, 'app.ne']), [MSG.SUBSCRIBED])
  t.same(hookSaw, [
    ['call', 'app.open', {}],
    ['subscribe', 'app.ne', { match: 'prefix' }]
  ], 'the hook never sees a match for CALL; it sees the match policy of a pattern SUBSCRIBE')
  await client.close()
})

t.test('issue 15: a prefix subscription that covers a denied URI is refused (client and app publications, meta events)', async (t) => {
  const { app, url } = await startApp(t, {
    auth: roleLogin,
    metaApi: true,
    realms: [{ name: 'realm1', broker: true }],
    permissions: {
      user: [
        { uri: '', match: 'prefix', allow: ['subscribe'] },
        { uri: 'app.', match: 'prefix', allow: ['subscribe', 'publish'] },
        { uri: 'app.admin.', match: 'prefix', allow: [] },
        { uri: 'wamp.', match: 'prefix', allow: [] }
      ],
      admin: [{ uri: '', match: 'prefix', allow: ['subscribe', 'publish', 'call'] }]
    }
  })
  const { client: user } = await ticketLogin(url, 'user', 'user')
  const { client: admin } = await ticketLogin(url, 'admin', 'admin')
  const refused: Array<[string, MatchPolicy]> = [['app.', 'prefix'], ['app', 'prefix'], ['app.adm', 'prefix'], ['', 'prefix'],
    ['wam', 'prefix'], ['app..log', 'wildcard'], ['.admin.log', 'wildcard'], ['wamp..on_join', 'wildcard']]
  for (const [topic, match] of refused) {
    t.match(await ask(user, [MSG.SUBSCRIBE, nextId++, { match }, topic]), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.not_authorized'], `${match} "${topic}" refused`)
  }
  const [, , news] = await ask(user, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, 'app.news'])
  t.ok(typeof news === 'number', 'a prefix inside the allowed part is accepted')
  t.equal(app.wamp.publishToAll('app.admin.log', ['secret']), 0, 'publishToAll reaches nobody')
  admin.send([MSG.PUBLISH, nextId++, { acknowledge: true }, 'app.admin.log', ['secret']])
  t.match(await admin.next(), [MSG.PUBLISHED])
  app.wamp.publishToAll('app.newsroom', ['hello'])
  t.match(await user.next(), [MSG.EVENT, news, Number, { topic: 'app.newsroom' }, ['hello']], 'only the allowed event arrives')
  await user.expectNone(50)
  await Promise.all([user.close(), admin.close()])
})

t.test('issue 15: in router mode a role denied com.dev.lamp. cannot capture its calls with prefix com.dev.', async (t) => {
  const { url } = await startApp(t, {
    auth: roleLogin,
    realms: [{ name: 'realm1', router: true }],
    permissions: {
      device: [
        { uri: 'com.dev.', match: 'prefix', allow: ['register'] },
        { uri: 'com.dev.lamp.', match: 'prefix', allow: [] }
      ],
      lamp: [{ uri: 'com.dev.lamp.', match: 'prefix', allow: ['register'] }],
      guest: [{ uri: '', match: 'prefix', allow: ['call'] }]
    }
  })
  const { client: device } = await ticketLogin(url, 'device', 'device')
  const { client: lamp } = await ticketLogin(url, 'lamp', 'lamp')
  const { client: guest } = await ticketLogin(url, 'guest', 'guest')
  for (const [uri, match] of [['com.dev.', 'prefix'], ['com.de', 'prefix'], ['com.dev..toggle', 'wildcard'], ['com..lamp.toggle', 'wildcard']]) {
    t.match(await ask(device, [MSG.REGISTER, nextId++, { match }, uri]), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.not_authorized'], `${match} ${uri} refused`)
  }
  t.match(await ask(device, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'com.dev.fan.']), [MSG.REGISTERED])
  t.match(await ask(lamp, [MSG.REGISTER, nextId++, { match: 'prefix' }, 'com.dev.lamp.']), [MSG.REGISTERED])
  guest.send([MSG.CALL, nextId++, {}, 'com.dev.lamp.toggle', []])
  const invocation = await lamp.next()
  t.match(invocation, [MSG.INVOCATION, Number, Number, { procedure: 'com.dev.lamp.toggle' }], 'the lamp gets the call')
  lamp.send([MSG.YIELD, invocation[1], {}, ['on']])
  t.match(await guest.next(), [MSG.RESULT, Number, {}, ['on']])
  await device.expectNone(20)
  await Promise.all([device.close(), lamp.close(), guest.close()])
})

t.test('issue 15: router allow rules offer a pattern registration only if they cover every URI it can be called with', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: { allow: ['com.dev.', { uri: 'org..x', match: 'wildcard' }] } }] })
  const { client } = await connectRaw(url)
  const offered: Array<[string, MatchPolicy]> = [['com.dev.lamp.', 'prefix'], ['com.dev.a..b', 'wildcard'], ['org.a.x', 'wildcard'], ['org..x', 'wildcard']]
  const kept: Array<[string, MatchPolicy]> = [['com.de', 'prefix'], ['com.dev', 'prefix'], ['..toggle', 'wildcard'], ['org.', 'prefix'], ['org...', 'wildcard'], ['.a.x', 'wildcard'], ['', 'prefix']]
  for (const [uri, match] of offered) t.match(await ask(client, [MSG.REGISTER, nextId++, { match }, uri]), [MSG.REGISTERED], `${match} ${uri} offered`)
  for (const [uri, match] of kept) {
    t.match(await ask(client, [MSG.REGISTER, nextId++, { match }, uri]), [MSG.ERROR, MSG.REGISTER, Number, {}, 'wamp.error.invalid_argument'], `${match} "${uri}" not offered (a private registration is exact only)`)
  }
  await client.close()
})

t.test('issue 15: the empty prefix subscribes to everything, subject to authorization', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true })
  const { client, sessionId } = await connectRaw(url)
  const [, , everything] = await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, ''])
  t.ok(typeof everything === 'number')
  t.match(await client.next(), [MSG.EVENT, everything, Number, { topic: 'wamp.subscription.on_create' }, [sessionId, { id: everything, uri: '', match: 'prefix' }]])
  t.match(await client.next(), [MSG.EVENT, everything, Number, { topic: 'wamp.subscription.on_subscribe' }, [sessionId, everything]])
  app.wamp.publishToAll('any.topic', [1])
  t.match(await client.next(), [MSG.EVENT, everything, Number, { topic: 'any.topic' }, [1]])
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'exact' }, '']), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.invalid_uri'])
  t.match(await ask(client, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, '']), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.invalid_uri'])
  await client.close()

  const ab = await connectAutobahn(url)
  const topics: string[] = []
  await ab.session.subscribe('', (_args: unknown[], _kw: unknown, details: { topic: string }) => { topics.push(details.topic) }, { match: 'prefix' })
  app.wamp.publishToAll('com.example.news', [])
  await until(() => topics.includes('com.example.news'))
  t.ok(topics.includes('wamp.subscription.on_create'), 'autobahn-js: the empty prefix gets the meta events too')
  await ab.close()
  t.same(ab.errors, [])

  const secured = await startApp(t, { permissions: { anonymous: [{ uri: 'app.', match: 'prefix', allow: ['subscribe'] }] } })
  const { client: limited } = await connectRaw(secured.url)
  t.match(await ask(limited, [MSG.SUBSCRIBE, nextId++, { match: 'prefix' }, '']), [MSG.ERROR, MSG.SUBSCRIBE, Number, {}, 'wamp.error.not_authorized'])
  await limited.close()
})

t.test('issue 15: wamp.subscription.on_create/on_subscribe/on_unsubscribe/on_delete, raw frames', async (t) => {
  const { url } = await startApp(t, { metaApi: true })
  const { client: watcher } = await connectRaw(url)
  const ids: Record<string, number> = {}
  // Subscriptions to the meta topics themselves (wamp.*) are not announced (as Crossbar.io): the watcher hears
  // nothing of its own.
  for (const name of ['on_create', 'on_subscribe', 'on_unsubscribe', 'on_delete']) {
    const subscribed = await ask(watcher, [MSG.SUBSCRIBE, nextId++, {}, `wamp.subscription.${name}`])
    t.equal(subscribed[0], MSG.SUBSCRIBED)
    ids[name] = subscribed[2] as number
  }
  await watcher.expectNone(30)
  const { client: a, sessionId: aId } = await connectRaw(url)
  const { client: b, sessionId: bId } = await connectRaw(url)
  const [, , sub] = await ask(a, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, 'com..update'])
  t.match(await watcher.next(), [MSG.EVENT, ids.on_create, Number, {}, [aId, { id: sub, created: String, uri: 'com..update', match: 'wildcard' }]])
  t.match(await watcher.next(), [MSG.EVENT, ids.on_subscribe, Number, {}, [aId, sub]])
  t.match(await ask(b, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, 'com..update']), [MSG.SUBSCRIBED, Number, sub])
  t.match(await watcher.next(), [MSG.EVENT, ids.on_subscribe, Number, {}, [bId, sub]], 'joining an existing subscription creates nothing')
  t.match(await ask(b, [MSG.SUBSCRIBE, nextId++, { match: 'wildcard' }, 'com..update']), [MSG.SUBSCRIBED, Number, sub])
  await watcher.expectNone(30)
  t.match(await ask(a, [MSG.UNSUBSCRIBE, nextId++, sub]), [MSG.UNSUBSCRIBED])
  t.match(await watcher.next(), [MSG.EVENT, ids.on_unsubscribe, Number, {}, [aId, sub]])
  await watcher.expectNone(30)
  await b.close()
  t.match(await watcher.next(), [MSG.EVENT, ids.on_unsubscribe, Number, {}, [bId, sub]], 'leaving unsubscribes')
  t.match(await watcher.next(), [MSG.EVENT, ids.on_delete, Number, {}, [bId, sub]])
  await Promise.all([a.close(), watcher.close()])
})

t.test('issue 15: subscription meta events reach autobahn-js, and only sessions allowed to see wamp.*', async (t) => {
  const { url } = await startApp(t, {
    auth: roleLogin,
    metaApi: true,
    permissions: {
      admin: [{ uri: '', match: 'prefix', allow: ['subscribe', 'call'] }],
      user: [{ uri: '', match: 'prefix', allow: ['subscribe'] }, { uri: 'wamp.', match: 'prefix', allow: [] }]
    }
  })
  const login = (who: string): ReturnType<typeof connectAutobahn> => connectAutobahn(url, { authmethods: ['ticket'], authid: who, onchallenge: () => who })
  const admin = await login('admin')
  const user = await login('user')
  const created: unknown[][] = []
  await admin.session.subscribe('wamp.subscription.on_create', (args: unknown[]) => { created.push(args) })
  const denied = await user.session.subscribe('wamp.subscription.on_create', () => {}).then(() => undefined, (e: { error: string }) => e.error)
  t.equal(denied, 'wamp.error.not_authorized')
  const sub = await user.session.subscribe('app.', () => {}, { match: 'prefix' })
  await until(() => created.some((args) => args[0] === user.session.id))
  t.match(created.find((args) => args[0] === user.session.id), [user.session.id, { id: sub.id, uri: 'app.', match: 'prefix' }], 'autobahn got on_create')
  await Promise.all([admin.close(), user.close()])
  t.same([...admin.errors, ...user.errors], [])
})

// ---- property: no EVENT or INVOCATION for a denied URI ---------------------------------------------------------

const COMPONENTS = ['a', 'b', 'ab', 'z']
const UNIVERSE: string[] = []
for (let depth = 1, level = ['']; depth <= 3; depth++) {
  level = level.flatMap((head) => COMPONENTS.map((c) => head === '' ? c : `${head}.${c}`))
  UNIVERSE.push(...level)
}
const exactUri = fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 3 }).map((p) => p.join('.'))
const pattern = fc.oneof(
  exactUri.chain((u) => fc.integer({ min: 0, max: u.length }).map((n) => u.slice(0, n))).filter((p) => !p.endsWith('..'))
    .map((uri) => ({ uri, match: 'prefix' as MatchPolicy })),
  fc.array(fc.constantFrom('a', 'b', ''), { minLength: 1, maxLength: 3 }).map((p) => p.join('.')).filter((w) => w !== '')
    .map((uri) => ({ uri, match: 'wildcard' as MatchPolicy })),
  exactUri.map((uri) => ({ uri, match: 'exact' as MatchPolicy }))
)
const rules = (action: 'subscribe' | 'register'): fc.Arbitrary<Permission[]> => fc.array(
  fc.tuple(pattern, fc.boolean()).map(([p, allowed]): Permission => ({ uri: p.uri, match: p.match, allow: allowed ? [action] : [] })),
  { maxLength: 6 })

function covers (uri: string, match: MatchPolicy, candidate: string): boolean {
  if (match === 'exact') return candidate === uri
  if (match === 'prefix') return candidate.startsWith(uri)
  return matchesWildcard(uri.split('.'), candidate)
}

async function startSecured (options: FastifyWampOptions): Promise<{ url: string, close: () => Promise<void>, publish: (topic: string) => void }> {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { shutdownGrace: 100, ...options })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `ws://127.0.0.1:${port}/ws`, close: async () => { await app.close() }, publish: (topic) => { app.wamp.publishToAll(topic, [topic]) } }
}

t.test('issue 15 (property): no EVENT for a URI whose exact check denies subscribe, over real WebSockets', async (t) => {
  await fc.assert(fc.asyncProperty(rules('subscribe'), fc.array(pattern, { minLength: 1, maxLength: 4 }), async (list, patterns) => {
    const permissions: Permissions = { anonymous: [...list, { uri: 'sentinel', allow: ['subscribe'] }] }
    const role = new RoleRules(permissions.anonymous)
    const server = await startSecured({ permissions })
    const { client } = await connectRaw(server.url)
    try {
      const sentinel = (await ask(client, [MSG.SUBSCRIBE, nextId++, {}, 'sentinel']))[2]
      const subscribed = new Map<unknown, { uri: string, match: MatchPolicy }>()
      for (const p of patterns) {
        const reply = await ask(client, [MSG.SUBSCRIBE, nextId++, { match: p.match }, p.uri])
        if (reply[0] === MSG.SUBSCRIBED) subscribed.set(reply[2], p)
        else if (reply[4] !== 'wamp.error.not_authorized') throw new Error(`unexpected ${JSON.stringify(reply)}`)
      }
      for (const topic of UNIVERSE) server.publish(topic)
      server.publish('sentinel')
      const got = new Set<string>()
      for (;;) {
        const event = await client.next()
        if (event[0] !== MSG.EVENT) throw new Error(`unexpected ${JSON.stringify(event)}`)
        if (event[1] === sentinel) break
        const p = subscribed.get(event[1]) as { uri: string, match: MatchPolicy }
        const topic = ((event[3] as Details).topic ?? p.uri) as string
        if ((role.mask(topic) & 4) === 0) throw new Error(`EVENT for denied ${topic} through ${p.match} "${p.uri}"`)
        got.add(`${event[1] as number}:${topic}`)
      }
      // Every allowed subscription got exactly the URIs it covers.
      for (const [id, p] of subscribed) {
        for (const topic of UNIVERSE) {
          if (covers(p.uri, p.match, topic) !== got.has(`${id as number}:${topic}`)) throw new Error(`${topic} via ${p.match} "${p.uri}"`)
        }
      }
    } finally {
      await client.close()
      await server.close()
    }
  }), { numRuns: 150 })
  t.pass('150 random rule sets and subscriptions')
})

t.test('issue 15 (property): in router mode no INVOCATION for a URI whose exact check denies register', async (t) => {
  await fc.assert(fc.asyncProperty(rules('register'), fc.array(pattern, { minLength: 1, maxLength: 4 }), async (list, patterns) => {
    const permissions: Permissions = { callee: list, caller: [{ uri: '', match: 'prefix', allow: ['call'] }] }
    const role = new RoleRules(list)
    const server = await startSecured({ auth: roleLogin, permissions, realms: [{ name: 'realm1', router: true }] })
    const { client: callee } = await ticketLogin(server.url, 'callee', 'callee')
    const { client: caller } = await ticketLogin(server.url, 'caller', 'caller')
    try {
      for (const p of patterns) {
        const reply = await ask(callee, [MSG.REGISTER, nextId++, { match: p.match }, p.uri])
        if (reply[0] !== MSG.REGISTERED && reply[4] !== 'wamp.error.not_authorized' && reply[4] !== 'wamp.error.procedure_already_exists') {
          throw new Error(`unexpected ${JSON.stringify(reply)}`)
        }
      }
      let current = ''
      let denied: string | undefined
      const pump = (async () => {
        for (;;) {
          const msg = await callee.next(60_000).catch(() => undefined)
          if (msg === undefined || msg[0] !== MSG.INVOCATION) return
          if ((role.mask(current) & 2) === 0) denied ??= current
          callee.send([MSG.YIELD, msg[1], {}, []])
        }
      })()
      for (const uri of UNIVERSE) {
        current = uri
        const reply = await ask(caller, [MSG.CALL, nextId++, {}, uri, []])
        if (reply[0] !== MSG.RESULT && (reply[0] !== MSG.ERROR || reply[4] !== 'wamp.error.no_such_procedure')) {
          throw new Error(`unexpected ${JSON.stringify(reply)}`)
        }
        if (denied !== undefined) throw new Error(`INVOCATION for denied ${denied}`)
      }
      await callee.close()
      await pump
    } finally {
      await Promise.all([callee.close(), caller.close()])
      await server.close()
    }
  }), { numRuns: 60 })
  t.pass('60 random rule sets and registrations')
})
