// Helpers for the authentication and authorization tests: typed access to autobahn's auth modules, Ed25519 keys
// from node:crypto, and a raw-frame ticket login.

import autobahn from 'autobahn'
import { createPrivateKey, createPublicKey, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { FastifyWampOptions } from '../../index.js'
import { openRaw, DEFAULT_HELLO_DETAILS, MSG } from './raw-client.js'
import type { RawClient } from './raw-client.js'

interface NaclKeyPair { publicKey: Uint8Array, secretKey: Uint8Array }

/** The parts of autobahn's auth API the tests use (absent from test/helpers/autobahn.d.ts). */
export const ab = autobahn as unknown as {
  auth_cra: {
    sign (key: string, challenge: string): string
    derive_key (secret: string, salt: string, iterations?: number, keylen?: number): string
  }
  auth_cryptosign: {
    sign_challenge (pkey: NaclKeyPair, extra: Record<string, unknown>): string
    public_key (pkey: NaclKeyPair): string
  }
  nacl: { sign: { keyPair: { fromSeed (seed: Uint8Array): NaclKeyPair } } }
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

export interface Ed25519Key {
  seed: Buffer
  privateKey: KeyObject
  /** Raw public key, hex. */
  pubkey: string
  /** The same key as tweetnacl (autobahn) sees it. */
  nacl: NaclKeyPair
  /** hex(signature ‖ challenge), as autobahn and wampy answer a cryptosign CHALLENGE. */
  answer (challengeHex: string): string
}

export function ed25519 (seedHex: string): Ed25519Key {
  const seed = Buffer.from(seedHex, 'hex')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  const pubkey = Buffer.from(jwk.x as string, 'base64url').toString('hex')
  return {
    seed,
    privateKey,
    pubkey,
    nacl: ab.nacl.sign.keyPair.fromSeed(new Uint8Array(seed)),
    answer (challengeHex: string): string {
      const challenge = Buffer.from(challengeHex, 'hex')
      return sign(null, challenge, privateKey).toString('hex') + challengeHex
    }
  }
}

export function helloWith (auth: Record<string, unknown>): Record<string, unknown> {
  return { ...DEFAULT_HELLO_DETAILS, ...auth }
}

/** Opens a socket and logs in with a ticket over raw frames; resolves with the client and its WELCOME. */
export async function ticketLogin (url: string, authid: string, ticket: string, realm = 'realm1'): Promise<{ client: RawClient, welcome: unknown[] }> {
  const client = await openRaw(url)
  const challenge = await client.hello(realm, helloWith({ authmethods: ['ticket'], authid }))
  if (challenge[0] !== MSG.CHALLENGE) throw new Error(`expected CHALLENGE, got ${JSON.stringify(challenge)}`)
  client.send([MSG.AUTHENTICATE, ticket, {}])
  const welcome = await client.next()
  if (welcome[0] !== MSG.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`)
  return { client, welcome }
}

/** A ticket login where ticket = authid = authrole, so a role is one word away (`ticketLogin(url, 'user', 'user')`). */
export const roleLogin: FastifyWampOptions['auth'] = {
  ticket: { authenticate: (ticket, ctx) => ticket === ctx.authid ? { authrole: ticket } : undefined }
}

/** Sends one request and resolves with the next message (its answer, when nothing else is in flight). */
export async function ask (client: RawClient, msg: unknown[]): Promise<unknown[]> {
  client.send(msg)
  return await client.next()
}
