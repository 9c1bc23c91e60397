import { createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { Authenticator, AuthFlow, CryptosignOptions, RealmAuthOptions } from './index.js'

// WAMP-Cryptosign (spec "Cryptosign-based Authentication", client authentication without channel binding): HELLO
// announces an Ed25519 public key in authextra.pubkey; the CHALLENGE is 32 random bytes (hex) drawn for this
// session; AUTHENTICATE carries hex(signature ‖ challenge). A signature made for another session's challenge is
// worthless here, so a replayed AUTHENTICATE fails.

// Node's Ed25519 verify follows RFC 8032 and so accepts, for instance, the identity as public key with the
// signature R = identity, S = 0 for every message. Like libsodium, we first refuse what no honest signer
// produces: public keys and R values that are non-canonical (y ≥ p) or of small order (the 8 points of order
// dividing 8), and S ≥ L. This applies to the key the client presents, which is the key the application admits.

// DER SubjectPublicKeyInfo header for a raw 32-byte Ed25519 key (RFC 8410).
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const HEX_KEY = /^[0-9a-fA-F]{64}$/
const HEX_SIGNATURE = /^[0-9a-fA-F]{128}([0-9a-fA-F]{64})?$/
const P = 2n ** 255n - 19n
/** The order of the Ed25519 base point. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n
/** y of a point of order 8 (libsodium's blocklist); the other two order-8 y values are p − it. */
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n
/** y of every point of order 1, 2, 4 or 8: identity (1), order 2 (p − 1), order 4 (0), order 8 (Y8, p − Y8). */
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8])

interface Pending {
  readonly challenge: Buffer
  readonly key: KeyObject | undefined
  readonly pubkey: string
}

export const cryptosign: Authenticator = {
  method: 'cryptosign',
  accepts: (ctx) => typeof ctx.authextra.pubkey === 'string',
  challenge (flow: AuthFlow) {
    const pubkey = (flow.ctx.authextra.pubkey as string).toLowerCase()
    const challenge = randomBytes(32)
    // A malformed key still gets a challenge: it simply cannot be answered (no hint what was wrong).
    const pending: Pending = { challenge, key: publicKey(pubkey), pubkey }
    flow.data = pending
    return { challenge: challenge.toString('hex'), channel_binding: null }
  },
  verify (flow: AuthFlow, signature: string, options: RealmAuthOptions) {
    const pending = flow.data as Pending
    if (pending.key === undefined || !HEX_SIGNATURE.test(signature)) return undefined
    const bytes = Buffer.from(signature, 'hex')
    if (!strongPoint(bytes.subarray(0, 32)) || littleEndian(bytes.subarray(32, 64)) >= L) return undefined
    // Clients append the signed message; when they do, it must be the challenge we sent.
    if (bytes.length === 96 && !timingSafeEqual(bytes.subarray(64), pending.challenge)) return undefined
    if (!verify(null, pending.challenge, pending.key, bytes.subarray(0, 64))) return undefined
    return (options.cryptosign as CryptosignOptions).authenticate(pending.pubkey, flow.ctx)
  }
}

function publicKey (hex: string): KeyObject | undefined {
  if (!HEX_KEY.test(hex) || !strongPoint(Buffer.from(hex, 'hex'))) return undefined
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' })
  } catch {
    return undefined
  }
}

/** An encoded point whose y is canonical (< p) and which is not of small order. */
export function strongPoint (encoded: Buffer): boolean {
  const y = littleEndian(encoded) & ~(1n << 255n)
  // x = 0 (y = ±1) with the sign bit set is a non-canonical "−0"; both are small-order and refused anyway.
  return encoded.length === 32 && y < P && !SMALL_ORDER_Y.has(y)
}

function littleEndian (bytes: Buffer): bigint {
  return BigInt('0x' + Buffer.from(bytes).reverse().toString('hex'))
}
