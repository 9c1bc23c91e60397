import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import type { Details } from '../wire/messages.js'
import { cborSerializer, jsonSerializer, msgpackSerializer } from '../wire/serializers/index.js'
import { CLIENT_ROLES, TestClient } from './client.js'
import type { ChallengeHandler } from './types.js'

// `fastify-wamp/testing`: a typed WAMP client for testing your own procedures and topics against a running app.
//
//   const client = await connect(app)                      // after app.listen({ port: 0 })
//   const { args: [sum] } = await client.call('com.example.add', [2, 3])
//   await client.subscribe('com.example.news')
//   await fetch(…/api/notify)  →  const event = await client.nextEvent('com.example.news')
//   await client.close()

export interface ConnectOptions {
  /** Realm to join. Default: the app's first realm, or `realm1` for a URL. */
  realm?: string
  /** Default `json`. */
  serializer?: 'json' | 'msgpack' | 'cbor'
  authid?: string
  authmethods?: string[]
  authextra?: Details
  /** Answers a CHALLENGE with the signature (ticket, wampcra…). */
  onChallenge?: ChallengeHandler
  /** Extra HTTP headers on the upgrade request (cookies, authorization). */
  headers?: Record<string, string>
  /** Milliseconds to wait for any reply before the request rejects. Default 5 000. */
  replyTimeout?: number
  /** Extra HELLO.Details. */
  details?: Details
}

const serializers = { json: jsonSerializer, msgpack: msgpackSerializer, cbor: cborSerializer }

/** The ws:// URL of a listening app's WAMP route. */
export function urlOf (app: FastifyInstance): string {
  if ((app as { wamp?: unknown }).wamp === undefined) throw new Error('fastify-wamp is not registered on this app')
  const address = app.server.address()
  if (address === null || typeof address === 'string') {
    throw new Error('the app is not listening on a TCP port: call `await app.listen({ port: 0 })` first')
  }
  const wildcard = address.address === '::' || address.address === '0.0.0.0'
  const host = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `ws://${host}:${address.port}${app.wamp.path}`
}

/** Opens a WebSocket to `target` (a listening app or a ws:// URL), joins the realm and resolves after WELCOME. */
export async function connect (target: FastifyInstance | string, options: ConnectOptions = {}): Promise<TestClient> {
  const url = typeof target === 'string' ? target : urlOf(target)
  const realm = options.realm ?? (typeof target === 'string' ? 'realm1' : target.wamp.realms.keys().next().value as string)
  const serializer = serializers[options.serializer ?? 'json']
  if (serializer === undefined) throw new TypeError(`unknown serializer "${String(options.serializer)}"`)
  const ws = new WebSocket(url, [`wamp.2.${serializer.id}`], { headers: options.headers })
  const client = new TestClient(ws, serializer, options.replyTimeout ?? 5000)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const details: Details = { ...options.details, agent: 'fastify-wamp/testing', roles: CLIENT_ROLES }
  if (options.authid !== undefined) details.authid = options.authid
  if (options.authmethods !== undefined) details.authmethods = options.authmethods
  if (options.authextra !== undefined) details.authextra = options.authextra
  await client.handshake(realm, details, options.onChallenge)
  return client
}

export { TestClient }
export { typed } from './typed.js'
export type {
  CallOptions, CallResult, ChallengeHandler, CloseInfo, EventHandler, InvocationDetails, InvocationHandler,
  PublishOptions, ReceivedEvent, RegisterOptions, Registration, SubscribeOptions, Subscription
} from './types.js'
export { WampError, WampResult } from '../wire/wamp-error.js'
