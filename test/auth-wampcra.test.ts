import t from 'tap'
import { createHmac } from 'node:crypto'
import { deriveKey as wampyDeriveKey, sign as wampyCraSign } from 'wampy/wampcra.js'
import { startApp } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import type { AutobahnConnectError } from './helpers/clients.js'
import { openRaw, MSG } from './helpers/raw-client.js'
import { ab, helloWith } from './helpers/auth.js'
import { deriveCraKey } from '../index.js'
import type { FastifyWampOptions, WampCraUser } from '../index.js'

type WampyChallenge = (method: string, extra: Record<string, unknown>) => Promise<string>

const SALT = 'salt123'
const ITERATIONS = 100
const KEYLEN = 32

// Plain users keep the shared secret; salted users only the derived key.
const USERS: Record<string, WampCraUser> = {
  peter: { secret: 'secret1', authrole: 'user', authprovider: 'userdb' },
  salty: { secret: deriveCraKey('pa$$wörd', SALT, ITERATIONS, KEYLEN), salt: SALT, iterations: ITERATIONS, keylen: KEYLEN, authrole: 'admin' }
}

const craAuth: FastifyWampOptions = {
  auth: { wampcra: { authenticate: (ctx) => USERS[ctx.authid as string] } }
}

function craSign (key: string, challenge: string): string {
  return createHmac('sha256', key).update(challenge).digest('base64')
}

t.test('deriveCraKey computes the key exactly as autobahn and wampy do', async (t) => {
  for (const [password, salt, iterations, keylen] of [['secret', 'salt', 1000, 32], ['pa$$wörd', 'sälz', 10, 16], ['x', 'y', 1, 64]] as const) {
    const ours = deriveCraKey(password, salt, iterations, keylen)
    t.equal(ours, ab.auth_cra.derive_key(password, salt, iterations, keylen), `autobahn ${password}/${salt}/${iterations}/${keylen}`)
    t.equal(ours, await wampyDeriveKey(password, salt, iterations, keylen), `wampy ${password}/${salt}/${iterations}/${keylen}`)
  }
  t.equal(deriveCraKey('secret', 'salt'), ab.auth_cra.derive_key('secret', 'salt'), 'same defaults (1000 iterations, 32 bytes)')
})

t.test('CHALLENGE carries the JSON challenge bound to the session id WELCOME then carries', async (t) => {
  const { url } = await startApp(t, craAuth)
  const client = await openRaw(url)
  const challenge = await client.hello('realm1', helloWith({ authmethods: ['wampcra'], authid: 'peter' }))
  t.equal(challenge[0], MSG.CHALLENGE)
  t.equal(challenge[1], 'wampcra')
  const extra = challenge[2] as Record<string, unknown>
  t.same(Object.keys(extra), ['challenge'], 'no salt parameters for an unsalted secret')
  const info = JSON.parse(extra.challenge as string)
  // issue 15: the challenge names only what the client sent, never the user record (role, provider).
  t.match(info, { authid: 'peter', authrole: 'user', authmethod: 'wampcra', authprovider: 'static', nonce: String, timestamp: String, session: Number })
  t.ok(!Number.isNaN(Date.parse(info.timestamp)) && info.timestamp.endsWith('Z'), 'ISO 8601 UTC timestamp')
  client.send([MSG.AUTHENTICATE, craSign('secret1', extra.challenge as string), {}])
  const welcome = await client.next()
  t.equal(welcome[0], MSG.WELCOME)
  t.equal(welcome[1], info.session, 'WELCOME session id is the one in the challenge')
  t.match(welcome[2], { authid: 'peter', authrole: 'user', authmethod: 'wampcra', authprovider: 'userdb' })
  t.notOk('secret' in (welcome[2] as object), 'the secret never reaches the wire')
  await client.close()
})

t.test('salted CHALLENGE carries salt, iterations and keylen', async (t) => {
  const { url } = await startApp(t, craAuth)
  const client = await openRaw(url)
  const challenge = await client.hello('realm1', helloWith({ authmethods: ['wampcra'], authid: 'salty' }))
  t.match(challenge[2], { challenge: String, salt: SALT, iterations: ITERATIONS, keylen: KEYLEN })
  await client.close()
})

t.test('autobahn logs in with WAMP-CRA, plain and salted', async (t) => {
  const { url } = await startApp(t, craAuth)
  const plain = await connectAutobahn(url, {
    authmethods: ['wampcra'],
    authid: 'peter',
    onchallenge: (_s, method, extra) => ab.auth_cra.sign('secret1', extra.challenge as string)
  })
  t.match(plain.welcome, { authid: 'peter', authrole: 'user', authmethod: 'wampcra', authprovider: 'userdb' })
  await plain.close()

  const salted = await connectAutobahn(url, {
    authmethods: ['wampcra'],
    authid: 'salty',
    onchallenge: (_s, _method, extra) => {
      const key = ab.auth_cra.derive_key('pa$$wörd', extra.salt as string, extra.iterations as number, extra.keylen as number)
      return ab.auth_cra.sign(key, extra.challenge as string)
    }
  })
  t.match(salted.welcome, { authid: 'salty', authrole: 'admin', authmethod: 'wampcra', authprovider: 'static' })
  await salted.close()
})

t.test('wampy logs in with its WAMP-CRA plugin, salted', async (t) => {
  const { url } = await startApp(t, craAuth)
  const w = await connectWampy(url, { authid: 'salty', authmethods: ['wampcra'], onChallenge: wampyCraSign('pa$$wörd') as unknown as WampyChallenge })
  t.match(w.welcome, { authid: 'salty', authrole: 'admin', authmethod: 'wampcra' })
  await w.close()
})

t.test('a wrong secret, a wrong password and an unknown authid all fail with the same ABORT', async (t) => {
  const { url } = await startApp(t, craAuth)
  const attempts: Array<[string, (extra: Record<string, unknown>) => string]> = [
    ['peter', (extra) => ab.auth_cra.sign('wrong', extra.challenge as string)],
    ['salty', (extra) => ab.auth_cra.sign(ab.auth_cra.derive_key('wrong', extra.salt as string, extra.iterations as number, extra.keylen as number), extra.challenge as string)],
    ['salty', (extra) => ab.auth_cra.sign('pa$$wörd', extra.challenge as string)],
    ['nobody', (extra) => ab.auth_cra.sign('secret1', extra.challenge as string)]
  ]
  const answers: Array<string | null> = []
  for (const [authid, answer] of attempts) {
    let challenged = false
    const err = await connectAutobahn(url, {
      authmethods: ['wampcra'],
      authid,
      onchallenge: (_s, _m, extra) => { challenged = true; return answer(extra) }
    }).then(() => undefined, (e: AutobahnConnectError) => e)
    t.ok(challenged, `${authid} got a CHALLENGE (an unknown authid is not revealed early)`)
    t.equal(err?.details.reason, 'wamp.error.authentication_failed', `${authid} refused`)
    answers.push(err?.details.message ?? null)
  }
  t.equal(new Set(answers).size, 1, 'one generic message for every reason')
})

t.test('a signature for another session\'s challenge is refused', async (t) => {
  const { url } = await startApp(t, craAuth)
  const first = await openRaw(url)
  const c1 = await first.hello('realm1', helloWith({ authmethods: ['wampcra'], authid: 'peter' }))
  const second = await openRaw(url)
  await second.hello('realm1', helloWith({ authmethods: ['wampcra'], authid: 'peter' }))
  second.send([MSG.AUTHENTICATE, craSign('secret1', (c1[2] as { challenge: string }).challenge), {}])
  t.same(await second.next(), [MSG.ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed'])
  await first.close()
})

t.test('wampcra is skipped when HELLO has no authid (the spec requires one)', async (t) => {
  const { url } = await startApp(t, craAuth)
  const client = await openRaw(url)
  const abort = await client.hello('realm1', helloWith({ authmethods: ['wampcra'] }))
  t.equal(abort[0], MSG.ABORT)
  t.equal(abort[2], 'wamp.error.no_auth_method')
  await client.expectClose()
})

// ---- issue 15: no user enumeration -------------------------------------------------------------------------

interface Probe { extra: Record<string, unknown>, info: Record<string, unknown>, abort: unknown[] }

/** HELLO → CHALLENGE, then a wrong answer → ABORT, over raw frames. */
async function probe (url: string, authid: string, details: Record<string, unknown> = {}): Promise<Probe> {
  const client = await openRaw(url)
  const challenge = await client.hello('realm1', helloWith({ authmethods: ['wampcra'], authid, ...details }))
  if (challenge[0] !== MSG.CHALLENGE) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
  const extra = challenge[2] as Record<string, unknown>
  client.send([MSG.AUTHENTICATE, craSign('wrong', extra.challenge as string), {}])
  const abort = await client.next()
  await client.expectClose()
  return { extra, info: JSON.parse(extra.challenge as string), abort }
}

function shape (value: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, typeof value[k]]))
}

t.test('issue 15: an unknown authid gets a CHALLENGE of the same shape as a salted user and the same ABORT', async (t) => {
  const users: Record<string, WampCraUser> = {
    alice: { secret: deriveCraKey('pw', '9f86d081884c7d65', 500, 16), salt: '9f86d081884c7d65', iterations: 500, keylen: 16, authrole: 'admin', authprovider: 'userdb' },
    bob: { secret: deriveCraKey('pw', 'a5b2c3d4e5f60718', 500, 16), salt: 'a5b2c3d4e5f60718', iterations: 500, keylen: 16, authid: 'bob@example', authrole: 'user' }
  }
  const { url } = await startApp(t, { auth: { wampcra: { authenticate: (ctx) => users[ctx.authid as string] } } })
  const known = await probe(url, 'alice')
  const unknown = await probe(url, 'mallory')
  const again = await probe(url, 'mallory')
  const other = await probe(url, 'eve')
  for (const p of [unknown, again, other, await probe(url, 'bob')]) {
    t.same(shape(p.extra), shape(known.extra), 'same CHALLENGE.Extra keys and types')
    t.same(shape(p.info), shape(known.info), 'same challenge string keys and types')
    t.same(p.abort, known.abort, 'same ABORT')
  }
  t.same(known.abort, [MSG.ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed'])
  t.match(unknown.extra, { salt: /^[0-9a-f]{16}$/, iterations: 500, keylen: 16 }, 'the salt mirrors the known users\' salts')
  t.equal(again.extra.salt, unknown.extra.salt, 'the same unknown authid gets the same salt each time')
  t.not(other.extra.salt, unknown.extra.salt, 'another unknown authid gets another salt')
  for (const p of [known, unknown]) {
    t.match(p.info, { authrole: 'user', authprovider: 'static' }, 'the record\'s role and provider never show in the challenge')
  }
  const asked = await probe(url, 'mallory', { authrole: 'admin' })
  t.equal(asked.info.authrole, 'admin', 'the challenge repeats the authrole the client asked for, known or not')
  t.equal(asked.info.authid, 'mallory')
})

t.test('issue 15: with plain secrets an unknown authid gets no salt either; `salted` gives one from the first attempt', async (t) => {
  const plain = await startApp(t, craAuth)
  const unknown = await probe(plain.url, 'nobody')
  const known = await probe(plain.url, 'peter')
  t.same(Object.keys(unknown.extra), ['challenge'])
  t.same(shape(unknown.info), shape(known.info))

  const salted = await startApp(t, { auth: { wampcra: { authenticate: () => undefined, salted: { iterations: 4096, keylen: 32, saltLength: 24 } } } })
  const first = await probe(salted.url, 'nobody')
  t.match(first.extra, { salt: /^[0-9a-f]{24}$/, iterations: 4096, keylen: 32 })
  t.same(first.abort, known.abort)
})

t.test('issue 15: an invalid wampcra.salted option is refused at register time', async (t) => {
  await t.rejects(startApp(t, { auth: { wampcra: { authenticate: () => undefined, salted: { iterations: 0 } } } }), { code: 'FST_WAMP_INVALID_OPTION', message: /wampcra\.salted/ })
})
