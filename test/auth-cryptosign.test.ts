import t from 'tap'
import { sign as wampyCryptosign } from 'wampy/cryptosign.js'
import { startApp } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import type { AutobahnConnectError } from './helpers/clients.js'
import { openRaw, MSG } from './helpers/raw-client.js'
import { ab, ed25519, helloWith } from './helpers/auth.js'
import type { FastifyWampOptions } from '../index.js'

// Seeds from the spec's cryptosign test vectors.
const alice = ed25519('4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510')
const bob = ed25519('d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd')
const mallory = ed25519('6e1fde9cf9e2359a87420b65a87dc0c66136e66945196ba2475990d8a0c3a25b')

const KEYS: Record<string, { authid?: string, authrole: string }> = {
  [alice.pubkey]: { authid: 'alice', authrole: 'user' },
  [bob.pubkey]: { authrole: 'device' }
}

function cryptosignAuth (asked: string[] = []): FastifyWampOptions {
  return {
    auth: {
      cryptosign: {
        authenticate (pubkey) {
          asked.push(pubkey)
          return KEYS[pubkey]
        }
      }
    }
  }
}

const ABORT_FAILED = [MSG.ABORT, { message: 'authentication failed' }, 'wamp.error.authentication_failed']

t.test('the test keys match the spec test vectors and tweetnacl (autobahn)', async (t) => {
  t.equal(ab.auth_cryptosign.public_key(alice.nacl), alice.pubkey)
  t.equal(alice.answer('ff'.repeat(32)), 'b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03' + 'ff'.repeat(32), 'spec test vector 1')
  t.equal(ab.auth_cryptosign.sign_challenge(alice.nacl, { challenge: 'ff'.repeat(32) }), alice.answer('ff'.repeat(32)), 'autobahn signs the same bytes')
})

t.test('CHALLENGE is 32 random bytes in hex with channel_binding null; hex(signature ‖ challenge) is accepted', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  const challenges: string[] = []
  for (let i = 0; i < 2; i++) {
    const client = await openRaw(url)
    const challenge = await client.hello('realm1', helloWith({ authmethods: ['cryptosign'], authextra: { pubkey: alice.pubkey, channel_binding: null } }))
    t.equal(challenge[0], MSG.CHALLENGE)
    t.equal(challenge[1], 'cryptosign')
    const extra = challenge[2] as { challenge: string, channel_binding: null }
    t.same(Object.keys(extra).sort(), ['challenge', 'channel_binding'])
    t.match(extra.challenge, /^[0-9a-f]{64}$/)
    t.equal(extra.channel_binding, null)
    challenges.push(extra.challenge)
    client.send([MSG.AUTHENTICATE, alice.answer(extra.challenge), {}])
    const welcome = await client.next()
    t.match(welcome, [MSG.WELCOME, Number, { authid: 'alice', authrole: 'user', authmethod: 'cryptosign', authprovider: 'static' }])
    await client.close()
  }
  t.not(challenges[0], challenges[1], 'a fresh challenge per session')
})

t.test('autobahn logs in with cryptosign (tweetnacl); authid defaults to the public key', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  const a = await connectAutobahn(url, {
    authmethods: ['cryptosign'],
    authextra: { pubkey: ab.auth_cryptosign.public_key(alice.nacl) },
    onchallenge: (_s, method, extra) => ab.auth_cryptosign.sign_challenge(alice.nacl, extra)
  })
  t.match(a.welcome, { authid: 'alice', authrole: 'user', authmethod: 'cryptosign' })
  await a.close()

  const b = await connectAutobahn(url, {
    authmethods: ['cryptosign'],
    authextra: { pubkey: ab.auth_cryptosign.public_key(bob.nacl) },
    onchallenge: (_s, method, extra) => ab.auth_cryptosign.sign_challenge(bob.nacl, extra)
  })
  t.match(b.welcome, { authid: bob.pubkey, authrole: 'device', authmethod: 'cryptosign' })
  await b.close()
})

t.test('wampy logs in with its cryptosign plugin', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  const w = await connectWampy(url, {
    authid: 'alice',
    authmethods: ['cryptosign'],
    authextra: { pubkey: alice.pubkey },
    onChallenge: wampyCryptosign(alice.seed.toString('hex')) as unknown as (method: string, extra: Record<string, unknown>) => string
  })
  t.match(w.welcome, { authid: 'alice', authrole: 'user', authmethod: 'cryptosign' })
  await w.close()
})

t.test('a signature by the wrong key fails, and the application is never asked', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, cryptosignAuth(asked))
  const err = await connectAutobahn(url, {
    authmethods: ['cryptosign'],
    authextra: { pubkey: alice.pubkey },
    onchallenge: (_s, _m, extra) => ab.auth_cryptosign.sign_challenge(mallory.nacl, extra)
  }).then(() => undefined, (e: AutobahnConnectError) => e)
  t.equal(err?.details.reason, 'wamp.error.authentication_failed')
  t.equal(err?.details.message, 'authentication failed')
  t.same(asked, [], 'authenticate() only sees proven key holders')
})

t.test('an unknown key with a valid signature fails the same way', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, cryptosignAuth(asked))
  const err = await connectAutobahn(url, {
    authmethods: ['cryptosign'],
    authextra: { pubkey: mallory.pubkey },
    onchallenge: (_s, _m, extra) => ab.auth_cryptosign.sign_challenge(mallory.nacl, extra)
  }).then(() => undefined, (e: AutobahnConnectError) => e)
  t.equal(err?.details.reason, 'wamp.error.authentication_failed')
  t.equal(err?.details.message, 'authentication failed')
  t.same(asked, [mallory.pubkey])
})

t.test('a replayed AUTHENTICATE from another session fails', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  const hello = helloWith({ authmethods: ['cryptosign'], authextra: { pubkey: alice.pubkey } })
  const victim = await openRaw(url)
  const c1 = await victim.hello('realm1', hello)
  const signature = alice.answer((c1[2] as { challenge: string }).challenge)
  victim.send([MSG.AUTHENTICATE, signature, {}])
  t.equal((await victim.next())[0], MSG.WELCOME)

  const attacker = await openRaw(url)
  await attacker.hello('realm1', hello)
  attacker.send([MSG.AUTHENTICATE, signature, {}])
  t.same(await attacker.next(), ABORT_FAILED)
  await attacker.expectClose()
  await victim.close()
})

t.test('a bare 64-byte signature is accepted; a wrong echoed challenge or garbage is refused', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  const hello = helloWith({ authmethods: ['cryptosign'], authextra: { pubkey: alice.pubkey } })
  const cases: Array<[string, (challenge: string) => string, boolean]> = [
    ['signature only', (c) => alice.answer(c).slice(0, 128), true],
    ['upper-case hex', (c) => alice.answer(c).toUpperCase(), true],
    ['wrong echoed challenge', (c) => alice.answer(c).slice(0, 128) + 'ff'.repeat(32), false],
    ['not hex', () => 'zz'.repeat(96), false],
    ['too short', (c) => alice.answer(c).slice(0, 100), false],
    ['empty', () => '', false]
  ]
  for (const [name, answer, ok] of cases) {
    const client = await openRaw(url)
    const challenge = await client.hello('realm1', hello)
    client.send([MSG.AUTHENTICATE, answer((challenge[2] as { challenge: string }).challenge), {}])
    const reply = await client.next()
    if (ok) {
      t.equal(reply[0], MSG.WELCOME, name)
      await client.close()
    } else {
      t.same(reply, ABORT_FAILED, name)
      await client.expectClose()
    }
  }
})

t.test('a malformed public key still gets a CHALLENGE, then fails like any other', async (t) => {
  const { url } = await startApp(t, cryptosignAuth())
  for (const pubkey of ['abc', 'zz'.repeat(32), alice.pubkey + '00']) {
    const client = await openRaw(url)
    const challenge = await client.hello('realm1', helloWith({ authmethods: ['cryptosign'], authextra: { pubkey } }))
    t.equal(challenge[0], MSG.CHALLENGE)
    client.send([MSG.AUTHENTICATE, alice.answer((challenge[2] as { challenge: string }).challenge), {}])
    t.same(await client.next(), ABORT_FAILED, `pubkey ${pubkey.slice(0, 10)}…`)
    await client.expectClose()
  }
})

// ---- issue 15: small-order and non-canonical keys and signatures ---------------------------------------------

const P = 2n ** 255n - 19n
const L = 2n ** 252n + 27742317777372353535851937790883648493n
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n

/** 32-byte little-endian encoding of y, with the sign bit of x. */
function encode (y: bigint, sign = 0): string {
  const bytes = Buffer.from(y.toString(16).padStart(64, '0'), 'hex').reverse()
  bytes[31] = (bytes[31] as number) | (sign << 7)
  return bytes.toString('hex')
}

// Every encoding of the 8 small-order points: canonical (both signs of x where x ≠ 0, "−0" where x = 0) and
// non-canonical (y + p where that still fits in 255 bits: y = 0 and y = 1).
const SMALL_ORDER: string[] = []
for (const y of [0n, 1n, P - 1n, Y8, P - Y8]) for (const sign of [0, 1]) SMALL_ORDER.push(encode(y, sign))
for (const y of [P, P + 1n]) for (const sign of [0, 1]) SMALL_ORDER.push(encode(y, sign))
const IDENTITY = encode(1n)
const ZERO = '00'.repeat(32)

/** HELLO with `pubkey`, then AUTHENTICATE with what `answer` makes of the challenge; resolves with the reply. */
async function tryKey (url: string, pubkey: string, answer: (challenge: string) => string): Promise<unknown[]> {
  const client = await openRaw(url)
  const challenge = await client.hello('realm1', helloWith({ authmethods: ['cryptosign'], authextra: { pubkey } }))
  if (challenge[0] !== MSG.CHALLENGE) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
  client.send([MSG.AUTHENTICATE, answer((challenge[2] as { challenge: string }).challenge), {}])
  const reply = await client.next()
  await client.close()
  return reply
}

// An application that admits any key it has on record, where the record came from user registration: a
// hostile user registered a small-order key. Here every key is "on record".
function admitAll (asked: string[]): FastifyWampOptions {
  return { auth: { cryptosign: { authenticate: (pubkey) => { asked.push(pubkey); return { authrole: 'device' } } } } }
}

t.test('issue 15: the identity key with R = identity, S = 0 (valid for any message under RFC 8032) is refused', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, admitAll(asked))
  t.same(await tryKey(url, IDENTITY, (c) => IDENTITY + ZERO + c), ABORT_FAILED)
  t.same(await tryKey(url, IDENTITY, () => IDENTITY + ZERO), ABORT_FAILED, 'bare signature')
  t.same(asked, [], 'the application is never asked')
  t.match(await tryKey(url, alice.pubkey, (c) => alice.answer(c)), [MSG.WELCOME], 'an honest key still logs in')
})

t.test('issue 15: every encoding of every small-order public key is refused, whatever R', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, admitAll(asked))
  for (const key of SMALL_ORDER) {
    for (const r of [IDENTITY, ZERO, key]) {
      t.same(await tryKey(url, key, (c) => r + ZERO + c), ABORT_FAILED, `key ${key.slice(0, 8)}…${key.slice(-2)} R ${r.slice(0, 4)}…`)
    }
  }
  t.same(asked, [])
})

t.test('issue 15: non-canonical public keys (y ≥ p) are refused', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, admitAll(asked))
  for (let y = P; y < 2n ** 255n; y++) {
    t.same(await tryKey(url, encode(y), (c) => IDENTITY + ZERO + c), ABORT_FAILED, `y = p + ${y - P}`)
  }
  t.same(asked, [])
})

t.test('issue 15: a signature with S ≥ L (S + L of a valid one) or a small-order or non-canonical R is refused', async (t) => {
  const asked: string[] = []
  const { url } = await startApp(t, admitAll(asked))
  const malleate = (c: string): string => {
    const sig = Buffer.from(alice.answer(c).slice(0, 128), 'hex')
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).reverse().toString('hex')) + L
    return sig.subarray(0, 32).toString('hex') + encode(s) + c
  }
  t.same(await tryKey(url, alice.pubkey, malleate), ABORT_FAILED, 'S + L')
  for (const r of [...SMALL_ORDER, encode(P + 2n)]) {
    t.same(await tryKey(url, alice.pubkey, (c) => r + alice.answer(c).slice(64, 128) + c), ABORT_FAILED, `R ${r.slice(0, 8)}…`)
  }
  t.same(asked, [])
  t.match(await tryKey(url, alice.pubkey, (c) => alice.answer(c)), [MSG.WELCOME], 'the unmodified signature logs in')
})
