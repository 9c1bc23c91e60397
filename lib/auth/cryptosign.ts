import { createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { Authenticator, AuthFlow, CryptosignOptions, RealmAuthOptions } from './index.js'

// WAMP-Cryptosign (spec "Cryptosign-based Authentication", client authentication without channel binding): HELLO
// announces an Ed25519 public key in authextra.pubkey; the CHALLENGE is 32 random bytes (hex) drawn for this
// session; AUTHENTICATE carries hex(signature ‖ challenge). A signature made for another session's challenge is
// worthless here, so a replayed AUTHENTICATE fails.

// DER SubjectPublicKeyInfo header for a raw 32-byte Ed25519 key (RFC 8410).
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const HEX_KEY = /^[0-9a-fA-F]{64}$/
const HEX_SIGNATURE = /^[0-9a-fA-F]{128}([0-9a-fA-F]{64})?$/

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
    // Clients append the signed message; when they do, it must be the challenge we sent.
    if (bytes.length === 96 && !timingSafeEqual(bytes.subarray(64), pending.challenge)) return undefined
    if (!verify(null, pending.challenge, pending.key, bytes.subarray(0, 64))) return undefined
    return (options.cryptosign as CryptosignOptions).authenticate(pending.pubkey, flow.ctx)
  }
}

function publicKey (hex: string): KeyObject | undefined {
  if (!HEX_KEY.test(hex)) return undefined
  try {
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' })
  } catch {
    return undefined
  }
}
