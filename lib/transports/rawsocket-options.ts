import type { TlsOptions } from 'node:tls'
import { announceableLength, MAX_LENGTH, MIN_LENGTH } from '../wire/rawsocket-framing.js'

/** The `rawsocket` option: an opt-in WAMP-over-RawSocket listener (docs/transports.md). */
export interface RawSocketOptions {
  /** TCP port (0: any free port, see `fastify.wamp.rawsocketAddress()`). Give `port` or `path`. */
  port?: number
  /** Interface to bind. Default: all (as `net.Server.listen`). */
  host?: string
  /** A Unix domain socket path instead of a TCP port. */
  path?: string
  /** TLS (certificate, key…, as for `tls.createServer`): the listener speaks RawSocket over TLS (`rss://`). */
  tls?: TlsOptions
  /**
   * Largest message a client may send, announced in the handshake: a power of two from 512 to 16 MiB. Default: the
   * largest such power of two not above `maxPayload` (512 when `maxPayload` is smaller). A larger frame ends the
   * connection (ABORT protocol_violation first).
   */
  maxMessageLength?: number
  /**
   * Keepalive with RawSocket PING frames every `pingInterval` (a peer that answers nothing within a round is cut).
   * Default false: not every client answers PING (autobahn-python's asyncio client fails on one); TCP keepalive
   * probes run instead.
   */
  ping?: boolean
}

export interface NormalizedRawSocketOptions {
  port: number | undefined
  host: string | undefined
  path: string | undefined
  tls: TlsOptions | undefined
  maxMessageLength: number
  ping: boolean
}

const KNOWN = new Set(['port', 'host', 'path', 'tls', 'maxMessageLength', 'ping'])

export function normalizeRawSocket (value: unknown, maxPayload: number, fail: (message: string) => never): NormalizedRawSocketOptions | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null) fail('rawsocket must be an object ({ port } or { path })')
  const o = value as RawSocketOptions
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) fail(`unknown rawsocket option "${key}"`)
  if ((o.port === undefined) === (o.path === undefined)) fail('rawsocket needs either port or path')
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) fail(`rawsocket.port must be an integer from 0 to 65535, got ${String(o.port)}`)
  if (o.path !== undefined && (typeof o.path !== 'string' || o.path === '')) fail('rawsocket.path must be a non-empty string')
  if (o.host !== undefined && (typeof o.host !== 'string' || o.path !== undefined)) fail('rawsocket.host must be a string, and goes with port')
  if (o.tls !== undefined && (typeof o.tls !== 'object' || o.tls === null)) fail('rawsocket.tls must be an object of tls.createServer options')
  if (o.ping !== undefined && typeof o.ping !== 'boolean') fail('rawsocket.ping must be true or false')
  const length = o.maxMessageLength ?? announceableLength(maxPayload)
  if (!Number.isInteger(length) || length < MIN_LENGTH || length > MAX_LENGTH || (length & (length - 1)) !== 0) {
    fail(`rawsocket.maxMessageLength must be a power of two from ${MIN_LENGTH} to ${MAX_LENGTH}, got ${String(length)}`)
  }
  return { port: o.port, host: o.host, path: o.path, tls: o.tls, maxMessageLength: length, ping: o.ping === true }
}
