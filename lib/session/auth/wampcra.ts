import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Details } from '../../wire/messages.js'
import { isThenable } from '../../thenable.js'
import { uniqueId } from '../../wire/ids.js'
import type { Authenticator, AuthFlow, AuthIdentity, Refusal, RealmAuth, RealmAuthOptions, WampCraOptions, WampCraUser } from './index.js'

// WAMP-CRA (spec "Challenge Response Authentication"): the CHALLENGE carries a JSON string naming the principal,
// a nonce, a timestamp and the session id; the client answers base64(HMAC-SHA256(secret, challenge)). With salted
// passwords the shared secret is the derived key as autobahn and wampy compute it: the base64 text of
// PBKDF2-SHA256(password, salt, iterations, keylen), used as the HMAC key's UTF-8 bytes.
//
// Enumeration resistance (PROTOCOL §7.2): a known and an unknown authid get a CHALLENGE of the same shape,
// built by the same code with the same work. The challenge string names only what the client sent (authid,
// requested authrole), never the user record; an unknown authid is answered from a decoy record whose secret
// nobody knows, and when the realm's users are salted, with a salt that is an HMAC of the authid under a
// per-process random key, so asking twice gives the same salt, as for a real user.

interface Pending {
  readonly expected: Buffer
  /** Undefined for a decoy challenge (unknown authid): no answer can succeed. */
  readonly identity: AuthIdentity | undefined
}

/** What the CHALLENGE for an unknown authid mirrors: the salt parameters of the realm's users. */
interface SaltShape {
  salted: boolean
  iterations: number
  keylen: number
  length: number
  hex: boolean
}

const DECOY_KEY = randomBytes(32)
// Same length as a derived 32-byte key; never leaves the process, so no answer matches it.
const DECOY: WampCraUser = { secret: randomBytes(32).toString('base64'), authrole: 'decoy' }
const HEX = /^[0-9a-f]+$/
const shapes = new WeakMap<RealmAuth, SaltShape>()

export const wampcra: Authenticator = {
  method: 'wampcra',
  // The challenge names the principal, so the spec makes authid mandatory for WAMP-CRA.
  accepts: (ctx) => ctx.authid !== undefined,
  challenge (flow: AuthFlow, options: RealmAuthOptions) {
    const user = (options.wampcra as WampCraOptions).authenticate(flow.ctx)
    if (isThenable(user)) return user.then((u) => challengeFor(flow, u))
    return challengeFor(flow, user)
  },
  verify (flow: AuthFlow, signature: string) {
    const pending = flow.data as Pending
    const given = Buffer.from(signature, 'base64')
    // Both are HMAC-SHA256 digests when the length matches: the comparison itself is constant-time.
    const match = given.length === pending.expected.length && timingSafeEqual(given, pending.expected)
    return match ? pending.identity : undefined
  }
}

function challengeFor (flow: AuthFlow, user: WampCraUser | Refusal): Details {
  const session = flow.session
  // The challenge is bound to the session id WELCOME will carry, so it is drawn now.
  if (session.id === 0) session.id = uniqueId(session.hub.sessions)
  const known = user !== undefined && user !== null && user !== false
  if (known) checkUser(user)
  const record = known ? user : DECOY
  const authid = flow.ctx.authid as string
  const shape = shapeFor(flow.auth, known ? user : undefined)
  const decoySalt = saltFor(flow.realm.name, authid, shape)
  const requested = flow.ctx.details.authrole
  const challenge = JSON.stringify({
    authid,
    authrole: typeof requested === 'string' ? requested : 'user',
    authmethod: 'wampcra',
    authprovider: 'static',
    nonce: randomBytes(16).toString('base64'),
    timestamp: new Date().toISOString(),
    session: session.id
  })
  const identity: AuthIdentity = { authid: record.authid ?? authid, authrole: record.authrole, authprovider: record.authprovider ?? 'static', authextra: record.authextra }
  const pending: Pending = {
    expected: createHmac('sha256', Buffer.from(record.secret, 'utf8')).update(challenge, 'utf8').digest(),
    identity: known ? identity : undefined
  }
  flow.data = pending
  const salted = known ? user.salt !== undefined : shape.salted
  if (!salted) return { challenge }
  if (!known) return { challenge, salt: decoySalt, iterations: shape.iterations, keylen: shape.keylen }
  return { challenge, salt: user.salt, iterations: user.iterations ?? 1000, keylen: user.keylen ?? 32 }
}

/**
 * The salt parameters an unknown authid gets: the realm's `wampcra.salted` option if given, else those of the
 * latest known user looked up (before any, unsalted).
 */
function shapeFor (auth: RealmAuth, user: WampCraUser | undefined): SaltShape {
  let shape = shapes.get(auth)
  if (shape === undefined) {
    const salted = (auth.options.wampcra as WampCraOptions).salted
    shape = { salted: salted !== undefined, iterations: salted?.iterations ?? 1000, keylen: salted?.keylen ?? 32, length: salted?.saltLength ?? 16, hex: true }
    shapes.set(auth, shape)
  }
  if (user !== undefined && (auth.options.wampcra as WampCraOptions).salted === undefined) {
    shape.salted = user.salt !== undefined
    if (user.salt !== undefined) {
      shape.iterations = user.iterations ?? 1000
      shape.keylen = user.keylen ?? 32
      shape.length = user.salt.length
      shape.hex = HEX.test(user.salt)
    }
  }
  return shape
}

/** The decoy salt: the same for the same (realm, authid) for the life of the process. Computed for every HELLO. */
function saltFor (realm: string, authid: string, shape: SaltShape): string {
  const digest = createHmac('sha256', DECOY_KEY).update(realm).update('\0').update(authid).digest()
  let text = ''
  while (text.length < shape.length) text += shape.hex ? digest.toString('hex') : digest.toString('base64url')
  return text.slice(0, shape.length)
}

function checkUser (user: WampCraUser): void {
  const { secret, salt, iterations, keylen } = user as Partial<WampCraUser>
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('fastify-wamp: wampcra authenticate must answer a non-empty secret')
  if (salt !== undefined && typeof salt !== 'string') throw new TypeError('fastify-wamp: wampcra salt must be a string')
  for (const n of [iterations, keylen]) {
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 1)) {
      throw new TypeError('fastify-wamp: wampcra iterations and keylen must be positive integers')
    }
  }
}

/**
 * The WAMP-CRA key for a salted password, exactly as autobahn's `auth_cra.derive_key` and wampy's `deriveKey`
 * compute it: base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen)). Store this instead of the password
 * and answer it as `secret` along with the same `salt`, `iterations` and `keylen`.
 */
export function deriveCraKey (password: string, salt: string, iterations = 1000, keylen = 32): string {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), iterations, keylen, 'sha256').toString('base64')
}
