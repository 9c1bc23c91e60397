import t from 'tap'
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { connectRaw, openRaw, MSG } from './helpers/raw-client.js'
import type { UpgradeRefusedError } from './helpers/raw-client.js'
import { helloWith, ticketLogin } from './helpers/auth.js'
import fastifyWamp from '../index.js'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'

interface User { name: string, role: string }
type RequestWithUser = FastifyRequest & { user?: User }

const TOKENS: Record<string, User> = { 'token-ann': { name: 'ann', role: 'admin' } }

const ticketOnly: FastifyWampOptions = {
  auth: { ticket: { authenticate: (ticket, ctx) => ticket === 'pw' ? { authrole: 'user', authid: ctx.authid } : undefined } }
}

function violationOf (msg: unknown[]): string {
  if (msg[0] !== MSG.ABORT || msg[2] !== 'wamp.error.protocol_violation') throw new Error(`expected a protocol violation, got ${JSON.stringify(msg)}`)
  return (msg[1] as { message: string }).message
}

// ---- HTTP level ------------------------------------------------------------------------------------------------

t.test('an app onRequest hook answering 401 refuses the upgrade before any WAMP traffic', async (t) => {
  let sessions = 0
  const { url } = await startApp(t, { onSessionOpen: () => { sessions++ } }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.authorization !== 'Bearer good') return reply.code(401).send({ error: 'Unauthorized' })
    })
  })
  const err = await openRaw(url).then(() => undefined, (e: UpgradeRefusedError) => e)
  t.equal(err?.statusCode, 401)
  const { client } = await connectRaw(url, { headers: { authorization: 'Bearer good' } })
  await client.close()
  t.equal(sessions, 1, 'only the authorized upgrade made a session')
})

t.test('a preValidation hook can refuse with 403', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.addHook('preValidation', async (request, reply) => {
      if (!('x-allowed' in request.headers)) return reply.code(403).send({ error: 'Forbidden' })
    })
  })
  const err = await openRaw(url).then(() => undefined, (e: UpgradeRefusedError) => e)
  t.equal(err?.statusCode, 403)
})

t.test('what a hook attaches to the request is reachable as session.request in handlers and onSessionOpen', async (t) => {
  const opened: Array<string | undefined> = []
  const { url } = await startApp(t, { onSessionOpen: (s) => { opened.push((s.request as RequestWithUser).user?.name) } }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      const user = TOKENS[String(request.headers.authorization).replace('Bearer ', '')]
      if (user === undefined) return reply.code(401).send()
      ;(request as RequestWithUser).user = user
    })
    app.wamp.register('me', (_a, _k, ctx) => (ctx.session.request as RequestWithUser).user?.name)
  })
  const c = await connectAutobahn(url, { headers: { authorization: 'Bearer token-ann' } })
  t.equal(await c.session.call('me'), 'ann')
  t.same(opened, ['ann'])
  await c.close()
})

t.test('fromRequest turns the HTTP identity into the session identity, else the WAMP methods apply', async (t) => {
  const { url } = await startApp(t, {
    auth: {
      fromRequest: (request) => {
        const user = (request as RequestWithUser).user
        return user === undefined ? undefined : { authid: user.name, authrole: user.role, authprovider: 'cookie' }
      },
      ticket: ticketOnly.auth?.ticket
    }
  }, (app) => {
    app.addHook('onRequest', async (request) => {
      const user = TOKENS[String(request.headers.cookie).replace('token=', '')]
      if (user !== undefined) (request as RequestWithUser).user = user
    })
  })
  const viaCookie = await connectAutobahn(url, { headers: { cookie: 'token=token-ann' } })
  t.match(viaCookie.welcome, { authid: 'ann', authrole: 'admin', authmethod: 'http', authprovider: 'cookie' })
  await viaCookie.close()

  const viaTicket = await connectAutobahn(url, { authmethods: ['ticket'], authid: 'joe', onchallenge: () => 'pw' })
  t.match(viaTicket.welcome, { authid: 'joe', authrole: 'user', authmethod: 'ticket' })
  await viaTicket.close()

  const client = await openRaw(url)
  t.match(await client.hello(), [MSG.ABORT, { message: String }, 'wamp.error.no_auth_method'], 'nobody: anonymous is off once a method is configured')
  await client.expectClose()
})

t.test('an async fromRequest is awaited', async (t) => {
  const { url } = await startApp(t, {
    auth: { fromRequest: async (request) => request.headers['x-key'] === 'k' ? { authid: 'svc', authrole: 'service' } : undefined }
  })
  const { client, welcome } = await connectRaw(url, { headers: { 'x-key': 'k' } })
  t.match(welcome[2], { authid: 'svc', authrole: 'service', authmethod: 'http', authprovider: 'static' })
  await client.close()
})

// ---- method choice -------------------------------------------------------------------------------------------

t.test('anonymous can be given its own authrole', async (t) => {
  const { url } = await startApp(t, { auth: { anonymous: { authrole: 'guest' } } })
  const { client, welcome } = await connectRaw(url)
  t.match(welcome[2], { authrole: 'guest', authmethod: 'anonymous', authprovider: 'static', authid: /^anonymous-/ })
  await client.close()
})

t.test('the first method in the client\'s order that the realm offers is chosen', async (t) => {
  const { url } = await startApp(t, {
    auth: {
      anonymous: true,
      ticket: ticketOnly.auth?.ticket,
      wampcra: { authenticate: () => ({ secret: 's', authrole: 'user' }) }
    }
  })
  const cases: Array<[Record<string, unknown>, number, unknown]> = [
    [{ authmethods: ['wampcra', 'ticket'], authid: 'a' }, MSG.CHALLENGE, 'wampcra'],
    [{ authmethods: ['ticket', 'wampcra'], authid: 'a' }, MSG.CHALLENGE, 'ticket'],
    [{ authmethods: ['cryptosign', 'scram', 'ticket'], authid: 'a' }, MSG.CHALLENGE, 'ticket'],
    [{ authmethods: ['anonymous', 'ticket'] }, MSG.WELCOME, undefined],
    [{}, MSG.WELCOME, undefined],
    [{ authmethods: [] }, MSG.WELCOME, undefined]
  ]
  for (const [auth, type, method] of cases) {
    const client = await openRaw(url)
    const reply = await client.hello('realm1', helloWith(auth))
    t.equal(reply[0], type, JSON.stringify(auth))
    if (method !== undefined) t.equal(reply[1], method)
    await client.close()
  }
})

t.test('no offered method available → ABORT no_auth_method', async (t) => {
  const { url } = await startApp(t, ticketOnly)
  for (const auth of [{}, { authmethods: ['anonymous'] }, { authmethods: ['wampcra', 'cryptosign'], authid: 'x' }]) {
    const client = await openRaw(url)
    const reply = await client.hello('realm1', helloWith(auth))
    t.match(reply, [MSG.ABORT, { message: String }, 'wamp.error.no_auth_method'], JSON.stringify(auth))
    await client.expectClose()
  }
})

t.test('realms authenticate independently; top-level auth is the default for realms without their own', async (t) => {
  const { url } = await startApp(t, { ...ticketOnly, realms: ['locked', { name: 'open', auth: { anonymous: true } }] })
  const client = await openRaw(url)
  t.match(await client.hello('locked'), [MSG.ABORT, {}, 'wamp.error.no_auth_method'])
  const open = await connectRaw(url, { realm: 'open' })
  t.match(open.welcome[2], { authmethod: 'anonymous' })
  await open.client.close()
})

// ---- message order and malformed messages -------------------------------------------------------------------

t.test('AUTHENTICATE without a CHALLENGE is a protocol violation', async (t) => {
  let pending: (() => void) | undefined
  const { url } = await startApp(t, {
    realms: [
      { name: 'realm1', auth: { anonymous: true, ticket: ticketOnly.auth?.ticket } },
      // A slow user lookup: HELLO has arrived but no CHALLENGE has gone out yet.
      { name: 'slow', auth: { wampcra: { authenticate: () => new Promise((resolve) => { pending = () => resolve(undefined) }) } } }
    ]
  })
  const before = await openRaw(url)
  before.send([MSG.AUTHENTICATE, 'pw', {}])
  t.match(violationOf(await before.next()), /AUTHENTICATE/, 'before HELLO')
  await before.expectClose()

  const { client: after } = await connectRaw(url)
  after.send([MSG.AUTHENTICATE, 'pw', {}])
  t.match(violationOf(await after.next()), /AUTHENTICATE|type 5/, 'after WELCOME')
  await after.expectClose()

  const early = await openRaw(url)
  early.send([MSG.HELLO, 'slow', helloWith({ authmethods: ['wampcra'], authid: 'x' })])
  await until(() => pending !== undefined)
  early.send([MSG.AUTHENTICATE, 'pw', {}])
  t.match(violationOf(await early.next()), /without a pending CHALLENGE/, 'between HELLO and CHALLENGE')
  await early.expectClose()
  pending?.()
})

t.test('a malformed AUTHENTICATE, or any other message after CHALLENGE, is a protocol violation', async (t) => {
  const { app, url } = await startApp(t, ticketOnly)
  const bad: unknown[][] = [
    [MSG.AUTHENTICATE, 42, {}],
    [MSG.AUTHENTICATE, 'pw'],
    [MSG.AUTHENTICATE, 'pw', []],
    [MSG.AUTHENTICATE, 'pw', {}, 'extra'],
    [MSG.CALL, 1, {}, 'x'],
    [MSG.HELLO, 'realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' })],
    [MSG.GOODBYE, {}, 'wamp.close.close_realm']
  ]
  for (const msg of bad) {
    const client = await openRaw(url)
    t.equal((await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' })))[0], MSG.CHALLENGE)
    client.send(msg)
    violationOf(await client.next())
    t.pass(`${JSON.stringify(msg)} → protocol_violation`)
    await client.expectClose()
  }
  t.equal(app.wamp.sessions.size, 0)
})

t.test('malformed auth fields in HELLO are protocol violations', async (t) => {
  const { url } = await startApp(t, ticketOnly)
  for (const auth of [{ authmethods: 'ticket' }, { authmethods: [1] }, { authid: 7, authmethods: ['ticket'] }, { authextra: [], authmethods: ['ticket'] }]) {
    const client = await openRaw(url)
    t.match(violationOf(await client.hello('realm1', helloWith(auth))), /HELLO\.Details\.auth/, JSON.stringify(auth))
    await client.expectClose()
  }
})

t.test('a second AUTHENTICATE while the first is being checked is a violation, and no WELCOME follows', async (t) => {
  let release: ((v: { authrole: string }) => void) | undefined
  const { url } = await startApp(t, {
    auth: { ticket: { authenticate: () => new Promise((resolve) => { release = resolve }) } }
  })
  const client = await openRaw(url)
  await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' }))
  client.send([MSG.AUTHENTICATE, 'pw', {}])
  await until(() => release !== undefined)
  client.send([MSG.AUTHENTICATE, 'pw', {}])
  violationOf(await client.next())
  await client.expectClose()
  release?.({ authrole: 'user' })
  await client.expectNone(50)
})

// ---- time and disconnects ------------------------------------------------------------------------------------

t.test('the handshake is bounded: an unanswered CHALLENGE or a hung authenticate ends in ABORT', async (t) => {
  const { url } = await startApp(t, {
    realms: [
      { name: 'realm1', auth: { timeout: 100, ticket: ticketOnly.auth?.ticket } },
      { name: 'hung', auth: { timeout: 100, ticket: { authenticate: () => new Promise(() => {}) } } }
    ]
  })
  const silent = await openRaw(url)
  t.equal((await silent.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' })))[0], MSG.CHALLENGE)
  t.match(await silent.next(), [MSG.ABORT, { message: /within 100 ms/ }, 'wamp.error.authentication_failed'])
  await silent.expectClose()

  const hung = await openRaw(url)
  await hung.hello('hung', helloWith({ authmethods: ['ticket'], authid: 'joe' }))
  hung.send([MSG.AUTHENTICATE, 'pw', {}])
  t.match(await hung.next(), [MSG.ABORT, {}, 'wamp.error.authentication_failed'])
  await hung.expectClose()
})

t.test('a socket that closes while authenticate is pending never gets a session', async (t) => {
  let release: ((v: { authrole: string }) => void) | undefined
  const opened: Session[] = []
  const { app, url } = await startApp(t, {
    onSessionOpen: (s) => { opened.push(s) },
    auth: { ticket: { authenticate: () => new Promise((resolve) => { release = resolve }) } }
  })
  const client = await openRaw(url)
  await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' }))
  client.send([MSG.AUTHENTICATE, 'pw', {}])
  await until(() => release !== undefined)
  await client.terminate()
  await new Promise((resolve) => setTimeout(resolve, 20))
  release?.({ authrole: 'user' })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(opened, [])
  t.equal(app.wamp.sessions.size, 0)
})

t.test('raw ticket login helper round trip (sanity)', async (t) => {
  const { url } = await startApp(t, ticketOnly)
  const { client, welcome } = await ticketLogin(url, 'joe', 'pw')
  t.match(welcome[2], { authid: 'joe', authrole: 'user' })
  await client.close()
})

// ---- options -------------------------------------------------------------------------------------------------

t.test('bad auth options are refused at register time with FST_WAMP_INVALID_OPTION', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ auth: 'yes' }, /auth must be an object/],
    [{ auth: { ticket: {} } }, /auth\.ticket\.authenticate must be a function/],
    [{ auth: { wampcra: () => {} } }, /auth\.wampcra\.authenticate must be a function/],
    [{ auth: { anonymous: 'maybe' } }, /anonymous must be a boolean/],
    [{ auth: { anonymous: false } }, /admits nobody/],
    [{ auth: { timeout: -1, anonymous: true } }, /timeout must be an integer/],
    [{ auth: { tickets: {} } }, /unknown key "tickets"/],
    [{ realms: [{ name: 'r', auth: { fromRequest: 'header' } }] }, /realm "r" auth\.fromRequest must be a function/],
    [{ authorize: true }, /authorize must be a function/],
    [{ permissions: [] }, /permissions must be an object/],
    [{ permissions: { user: {} } }, /permissions\["user"\] must be a list/],
    [{ permissions: { user: [{ uri: 'a..b', allow: ['call'] }] } }, /not a valid exact URI/],
    [{ permissions: { user: [{ uri: 'a', match: 'regex', allow: ['call'] }] } }, /match must be exact, prefix or wildcard/],
    [{ permissions: { user: [{ uri: 'a', allow: ['read'] }] } }, /allow must be a list of call, register, subscribe, publish/],
    [{ permissions: { user: [{ uri: 'a', allow: ['toString'] }] } }, /allow must be a list/]
  ]
  for (const [options, message] of bad) {
    const app = Fastify()
    const err = await app.register(fastifyWamp, options as FastifyWampOptions).ready().then(() => undefined, (e: Error & { code?: string }) => e)
    t.equal(err?.code, 'FST_WAMP_INVALID_OPTION', JSON.stringify(options))
    t.match(err?.message, message)
    await app.close()
  }
})
