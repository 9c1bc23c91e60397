import { createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Details } from '../messages.js'
import { isThenable } from '../call.js'
import { uniqueId } from '../ids.js'
import type { Authenticator, AuthFlow, AuthIdentity, Refusal, RealmAuthOptions, WampCraOptions, WampCraUser } from './index.js'

// WAMP-CRA (spec "Challenge Response Authentication"): the CHALLENGE carries a JSON string naming the principal,
// a nonce, a timestamp and the session id; the client answers base64(HMAC-SHA256(secret, challenge)). With salted
// passwords the shared secret is the derived key as autobahn and wampy compute it: the base64 text of
// PBKDF2-SHA256(password, salt, iterations, keylen), used as the HMAC key's UTF-8 bytes.

interface Pending {
  readonly expected: Buffer
  /** Undefined for a decoy challenge (unknown authid): no answer can succeed. */
  readonly identity: AuthIdentity | undefined
}

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
  // An unknown authid still gets a well-formed challenge (with a random secret nobody knows), so a client cannot
  // tell an unknown authid from a wrong secret.
  const secret = known ? user.secret : randomBytes(32).toString('base64')
  const authid = (known ? user.authid : undefined) ?? (flow.ctx.authid as string)
  const authrole = known ? user.authrole : 'user'
  const authprovider = (known ? user.authprovider : undefined) ?? 'static'
  const challenge = JSON.stringify({
    authid,
    authrole,
    authmethod: 'wampcra',
    authprovider,
    nonce: randomBytes(16).toString('base64'),
    timestamp: new Date().toISOString(),
    session: session.id
  })
  const pending: Pending = {
    expected: createHmac('sha256', Buffer.from(secret, 'utf8')).update(challenge, 'utf8').digest(),
    identity: known ? { authid, authrole, authprovider, authextra: user.authextra } : undefined
  }
  flow.data = pending
  if (!known || user.salt === undefined) return { challenge }
  return { challenge, salt: user.salt, iterations: user.iterations ?? 1000, keylen: user.keylen ?? 32 }
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
