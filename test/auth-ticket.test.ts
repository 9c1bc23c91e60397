import t from 'tap'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import type { AutobahnConnectError } from './helpers/clients.js'
import { openRaw, MSG } from './helpers/raw-client.js'
import { helloWith } from './helpers/auth.js'
import { safeEqual, WampError } from '../index.js'
import type { AuthContext, FastifyWampOptions, WampSession as Session } from '../index.js'

const USERS: Record<string, { ticket: string, authrole: string }> = {
  joe: { ticket: 'secret!!!', authrole: 'user' },
  ann: { ticket: 'an0ther', authrole: 'admin' }
}

function ticketAuth (seen: AuthContext[] = []): FastifyWampOptions {
  return {
    auth: {
      ticket: {
        authenticate (ticket, ctx) {
          seen.push(ctx)
          const user = ctx.authid === undefined ? undefined : USERS[ctx.authid]
          if (user === undefined || !safeEqual(ticket, user.ticket)) return undefined
          return { authrole: user.authrole }
        }
      }
    }
  }
}

function whoami (app: { wamp: { register: (uri: string, h: (a: unknown[], k: unknown, ctx: { session: Session }) => unknown) => unknown } }): void {
  app.wamp.register('whoami', (_a, _k, ctx) => {
    const s = ctx.session
    return [s.authid, s.authrole, s.authmethod, s.authprovider, s.realm?.name]
  })
}

t.test('autobahn logs in with a ticket; WELCOME and the session carry the identity', async (t) => {
  const opened: Array<[string, string, string]> = []
  const seen: AuthContext[] = []
  const { app, url } = await startApp(t, { ...ticketAuth(seen), onSessionOpen: (s) => { opened.push([s.authid, s.authrole, s.authmethod]) } }, whoami)
  const c = await connectAutobahn(url, { authmethods: ['ticket'], authid: 'joe', onchallenge: (_s, method) => method === 'ticket' ? 'secret!!!' : '' })
  t.match(c.welcome, { authid: 'joe', authrole: 'user', authmethod: 'ticket', authprovider: 'static', realm: 'realm1' })
  t.same(await c.session.call('whoami'), ['joe', 'user', 'ticket', 'static', 'realm1'])
  t.same(opened, [['joe', 'user', 'ticket']])
  t.equal(seen[0].realm, 'realm1')
  t.equal(seen[0].authid, 'joe')
  t.ok(seen[0].request?.headers.upgrade, 'the upgrade request is reachable from authenticate')
  t.equal(app.wamp.sessions.size, 1)
  await c.close()
  t.same(c.errors, [])
})

t.test('a wrong ticket and an unknown authid are refused alike with authentication_failed', async (t) => {
  const { app, url } = await startApp(t, ticketAuth())
  const failures: Array<{ reason: string | null, message: string | null }> = []
  for (const [authid, ticket] of [['joe', 'wrong'], ['nobody', 'secret!!!'], ['joe', '']]) {
    const err = await connectAutobahn(url, { authmethods: ['ticket'], authid, onchallenge: () => ticket })
      .then(() => undefined, (e: AutobahnConnectError) => e)
    failures.push({ reason: err?.details.reason ?? null, message: err?.details.message ?? null })
  }
  t.same(failures.map((f) => f.reason), Array(3).fill('wamp.error.authentication_failed'))
  t.equal(new Set(failures.map((f) => f.message)).size, 1, 'the same message whatever was wrong')
  t.equal(app.wamp.sessions.size, 0)
})

t.test('wampy.js logs in with a ticket, and is refused with a wrong one', async (t) => {
  const { url } = await startApp(t, ticketAuth(), whoami)
  const w = await connectWampy(url, { authid: 'ann', authmethods: ['ticket'], onChallenge: (method: string) => method === 'ticket' ? 'an0ther' : '' })
  t.match(w.welcome, { authid: 'ann', authrole: 'admin', authmethod: 'ticket' })
  const result = await w.client.call('whoami')
  t.same(result.argsList, [['ann', 'admin', 'ticket', 'static', 'realm1']])
  await w.close()

  const err = await connectWampy(url, { authid: 'ann', authmethods: ['ticket'], onChallenge: () => 'nope' })
    .then(() => undefined, (e: { errorUri?: string }) => e)
  t.equal(err?.errorUri, 'wamp.error.authentication_failed')
})

t.test('an async authenticate can set authid, authprovider and authextra', async (t) => {
  const { url } = await startApp(t, {
    auth: {
      ticket: {
        async authenticate (ticket) {
          await new Promise((resolve) => setImmediate(resolve))
          return ticket === 'token-42' ? { authid: 'user-42', authrole: 'user', authprovider: 'jwt', authextra: { plan: 'pro' } } : false
        }
      }
    }
  })
  const client = await openRaw(url)
  t.same(await client.hello('realm1', helloWith({ authmethods: ['ticket'] })), [MSG.CHALLENGE, 'ticket', {}], 'ticket CHALLENGE shape')
  client.send([MSG.AUTHENTICATE, 'token-42', {}])
  const welcome = await client.next()
  t.equal(welcome[0], MSG.WELCOME)
  t.match(welcome[2], { authid: 'user-42', authrole: 'user', authmethod: 'ticket', authprovider: 'jwt', authextra: { plan: 'pro' } })
  await client.close()
})

t.test('authenticate may refuse with its own reason by throwing a WampError', async (t) => {
  const { url } = await startApp(t, {
    auth: { ticket: { authenticate: () => { throw new WampError('wamp.error.not_authorized', ['account disabled']) } } }
  })
  const client = await openRaw(url)
  await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' }))
  client.send([MSG.AUTHENTICATE, 'x', {}])
  t.same(await client.next(), [MSG.ABORT, { message: 'account disabled' }, 'wamp.error.not_authorized'])
  await client.expectClose()
})

t.test('an authenticate that throws or rejects is logged and refused with the generic answer', async (t) => {
  const logs: Array<{ level: number, msg: string }> = []
  const stream = { write (line: string) { logs.push(JSON.parse(line)) } }
  let n = 0
  const { url } = await startApp(t, {
    auth: {
      ticket: {
        authenticate: () => {
          if (n++ === 0) throw new Error('database down')
          return Promise.reject(new Error('database still down'))
        }
      }
    }
  }, undefined, { logger: { level: 'error', stream } })
  for (let i = 0; i < 2; i++) {
    const client = await openRaw(url)
    await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' }))
    client.send([MSG.AUTHENTICATE, 'x', {}])
    t.same(await client.next(), [MSG.ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed'])
    await client.expectClose()
  }
  await until(() => logs.length >= 2)
  t.equal(logs.filter((l) => l.msg.includes('authentication failed with an error')).length, 2)
})
