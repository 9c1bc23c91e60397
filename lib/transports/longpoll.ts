import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify'
import type { FastifyError } from '@fastify/error'
import type { Hub } from '../hub.js'
import type { NormalizedOptions } from '../options.js'
import type { Subprotocol } from '../wire/serializers/index.js'
import { FST_WAMP_INVALID_OPTION, FST_WAMP_LONGPOLL_BAD_OPEN, FST_WAMP_LONGPOLL_UNKNOWN, FST_WAMP_NO_SUBPROTOCOL, FST_WAMP_TOO_MANY_SESSIONS } from '../errors.js'
import { LongPollTransport } from './longpoll-transport.js'
import type { LongPollLimits, LongPollTable } from './longpoll-transport.js'

// The HTTP side of the long-poll transport (WAMP spec "HTTP Longpoll Transport"), as ordinary Fastify routes under
// `longPoll.path`, so the app's onRequest/preValidation hooks guard them as they guard the WebSocket upgrade:
//
//   POST <path>/open               {"protocols": [...]} → 200 {"protocol", "transport"}; 400 no common protocol;
//                                   503 at maxSessions
//   POST <path>/<transport>/send    one message (or a batch) → 204; 404 unknown transport; 413 over maxPayload
//   POST <path>/<transport>/receive → 200 one message (or a batch), 204 after pollTimeout with nothing to say; 404
//   POST <path>/<transport>/close   → 204; 404
//
// Bodies are taken as bytes whatever their Content-Type (autobahn-js labels everything application/json, an empty
// receive included). Success is 200/204 rather than the spec's 202: autobahn-js treats any other status as failure.

export interface LongPollOptions {
  /** Route prefix of the long-poll endpoints (`<path>/open`, `<path>/<transport>/send`…). Default `/lp`. */
  path?: string
  /**
   * Milliseconds a receive is held when there is nothing to send before it is answered empty (204). Keep it below
   * the client's request timeout (autobahn-js: 12 000). Default 10 000.
   */
  pollTimeout?: number
  /** Milliseconds without a receive after which the client is gone and its session ends. Default 30 000. */
  idleTimeout?: number
}

export interface NormalizedLongPoll {
  path: string
  pollTimeout: number
  idleTimeout: number
}

const OPEN_BODY_LIMIT = 16 * 1024
/** A receive or close carries no body; a little slack for clients that send `null` or `{}`. */
const EMPTY_BODY_LIMIT = 1024
const NO_BODY = Buffer.alloc(0)

function fail (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

/** `longPoll: true | { path, pollTimeout, idleTimeout }` → normalised, or undefined when off (the default). */
export function normalizeLongPoll (value: unknown): NormalizedLongPoll | undefined {
  if (value === undefined || value === false) return undefined
  const given = value === true ? {} : value
  if (typeof given !== 'object' || given === null || Array.isArray(given)) fail('longPoll must be true or { path, pollTimeout, idleTimeout }')
  const o = given as Record<string, unknown>
  for (const key of Object.keys(o)) if (key !== 'path' && key !== 'pollTimeout' && key !== 'idleTimeout') fail(`unknown longPoll option "${key}"`)
  const path = o.path ?? '/lp'
  if (typeof path !== 'string' || !path.startsWith('/') || path.length < 2 || path.endsWith('/')) fail(`longPoll.path must start with "/" and not end with one, got ${String(path)}`)
  const ms = (name: string, fallback: number): number => {
    const v = o[name] ?? fallback
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`longPoll.${name} must be an integer ≥ 1, got ${String(v)}`)
    return v
  }
  const pollTimeout = ms('pollTimeout', 10_000)
  const idleTimeout = ms('idleTimeout', 30_000)
  return { path, pollTimeout, idleTimeout }
}

/** An HTTP refusal with Fastify's usual error body. */
function refuse (reply: FastifyReply, err: FastifyError): void {
  const statusCode = err.statusCode ?? 500
  reply.code(statusCode).send({ statusCode, code: err.code, error: STATUS_CODES[statusCode], message: err.message })
}

/** The client's protocol list from the /open body, or a string saying what is wrong with it. */
function offeredProtocols (body: Buffer | undefined): string[] | string {
  if (body === undefined || body.length === 0) return 'the body must be a JSON object with a "protocols" list'
  let parsed: unknown
  try {
    parsed = JSON.parse(body.toString('utf8'))
  } catch {
    return 'the body is not JSON'
  }
  const protocols = (parsed as { protocols?: unknown } | null)?.protocols
  if (!Array.isArray(protocols) || protocols.length === 0 || protocols.length > 16 || !protocols.every((p) => typeof p === 'string')) {
    return '"protocols" must be a list of 1 to 16 subprotocol names'
  }
  return protocols as string[]
}

interface TransportParams { transport: string }

/**
 * Fastify's request serializer for the routes that carry a transport id: the id is the only credential of `/send`
 * and `/receive`, so the request log ("incoming request") shows the URL with the id replaced.
 */
const redacted = {
  req (request: FastifyRequest): Record<string, unknown> {
    return {
      method: request.method,
      url: request.url.replace(/\/[^/?]+\/(send|receive|close)(?=$|\?)/, '/<transport>/$1'),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort
    }
  }
}

/**
 * Adds the four routes in an encapsulated context of their own (its only difference from the app's: every body is
 * read as bytes), and ends every long-poll transport when the app closes.
 */
export function registerLongPoll (fastify: FastifyInstance, hub: Hub, options: NormalizedOptions, lp: NormalizedLongPoll,
  serializers: Map<string, Subprotocol>, base: string, routeOptions: RouteShorthandOptions): void {
  const table: LongPollTable = new Map()
  const limits: LongPollLimits = {
    maxPayload: options.maxPayload,
    maxBufferedBytes: options.maxBufferedBytes,
    closeTimeout: options.closeTimeout,
    pollTimeout: lp.pollTimeout,
    idleTimeout: lp.idleTimeout
  }
  const find = (request: FastifyRequest<{ Params: TransportParams }>, reply: FastifyReply): LongPollTransport | undefined => {
    const transport = table.get(request.params.transport)
    if (transport === undefined) refuse(reply, new FST_WAMP_LONGPOLL_UNKNOWN())
    return transport
  }

  // Whatever the app's shutdown left (a transport whose client no longer polls) ends with the server.
  fastify.addHook('onClose', (_instance, done) => {
    for (const transport of [...table.values()]) transport.terminate()
    done()
  })

  fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })

    scope.post(base + '/open', { ...routeOptions, bodyLimit: OPEN_BODY_LIMIT }, (request, reply) => {
      if (hub.full) {
        hub.refusedFull(request.log, 'long-poll open')
        return refuse(reply, new FST_WAMP_TOO_MANY_SESSIONS(options.maxSessions))
      }
      const offered = offeredProtocols(request.body as Buffer | undefined)
      if (typeof offered === 'string') return refuse(reply, new FST_WAMP_LONGPOLL_BAD_OPEN(offered))
      const protocol = offered.find((p) => serializers.has(p))
      if (protocol === undefined) return refuse(reply, new FST_WAMP_NO_SUBPROTOCOL([...serializers.keys()].join(', ')))
      const { serializer, batched } = serializers.get(protocol) as Subprotocol
      const transport = new LongPollTransport(hub, table, serializer, batched, limits, request.ip)
      hub.open(transport, request)
      reply.code(200).header('cache-control', 'no-store').send({ protocol, transport: transport.id })
    })

    // An unknown transport is answered before its body is read: nobody may make the server read up to maxPayload
    // (as slowly as they like) for nothing.
    const known = (request: FastifyRequest<{ Params: TransportParams }>, reply: FastifyReply, _payload: unknown, done: () => void): void => {
      if (table.has(request.params.transport)) return done()
      refuse(reply, new FST_WAMP_LONGPOLL_UNKNOWN())
    }
    scope.post<{ Params: TransportParams }>(base + '/:transport/send', { ...routeOptions, bodyLimit: options.maxPayload, logSerializers: redacted, preParsing: known }, (request, reply) => {
      const transport = find(request, reply)
      if (transport === undefined) return
      transport.received((request.body as Buffer | undefined) ?? NO_BODY, () => { reply.code(204).send() })
    })

    scope.post<{ Params: TransportParams }>(base + '/:transport/receive', { ...routeOptions, bodyLimit: EMPTY_BODY_LIMIT, logSerializers: redacted }, (request, reply) => {
      const transport = find(request, reply)
      if (transport === undefined) return
      transport.receive(reply)
    })

    scope.post<{ Params: TransportParams }>(base + '/:transport/close', { ...routeOptions, bodyLimit: EMPTY_BODY_LIMIT, logSerializers: redacted }, (request, reply) => {
      const transport = find(request, reply)
      if (transport === undefined) return
      transport.closeRequested()
      reply.code(204).send()
    })
  })
}
