import { FST_WAMP_INVALID_OPTION } from './errors.js'
import { isValidUri } from './uris.js'
import type { RealmOptions } from './realm.js'
import type { Serializer } from './serializers/index.js'
import type { SessionHook } from './hub.js'

export interface FastifyWampOptions {
  /** WebSocket route path. Default `/ws`. */
  path?: string
  /** The realm served (default `realm1`), or use `realms` for several. */
  realm?: string
  /** Several realms, each with its own procedures and topics; the first is the default realm. */
  realms?: Array<string | RealmOptions>
  /** Milliseconds a client has to send HELLO after connecting. Default 10 000. */
  helloTimeout?: number
  /** Largest accepted frame in bytes; larger frames close the socket with 1009. Default 1 MiB. */
  maxPayload?: number
  /** Extra serializers, offered as `wamp.2.<id>` next to json, msgpack and cbor. */
  serializers?: Serializer[]
  /** Send the text of unexpected handler exceptions to callers (default false: a generic message). */
  exposeErrors?: boolean
  /** Milliseconds to wait for GOODBYE replies when Fastify closes. Default 2 000. */
  shutdownGrace?: number
  onSessionOpen?: SessionHook | SessionHook[]
  onSessionClose?: SessionHook | SessionHook[]
}

export interface NormalizedOptions {
  path: string
  realms: RealmOptions[]
  helloTimeout: number
  maxPayload: number
  serializers: Serializer[]
  exposeErrors: boolean
  shutdownGrace: number
  onSessionOpen: SessionHook[]
  onSessionClose: SessionHook[]
  agent: string
}

const KNOWN = new Set(['path', 'realm', 'realms', 'helloTimeout', 'maxPayload', 'serializers', 'exposeErrors',
  'shutdownGrace', 'onSessionOpen', 'onSessionClose'])

function fail (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

function count (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(`${name} must be an integer ≥ ${min}, got ${String(value)}`)
  return value
}

function hooks (name: string, value: unknown): SessionHook[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value]
  for (const hook of list) if (typeof hook !== 'function') fail(`${name} must be a function or a list of functions`)
  return list as SessionHook[]
}

/** Checks every option once, at register time, with a message that names the option. */
export function normalizeOptions (options: FastifyWampOptions, agent: string): NormalizedOptions {
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option "${key}"`)
  const path = options.path ?? '/ws'
  if (typeof path !== 'string' || !path.startsWith('/')) fail(`path must start with "/", got ${String(path)}`)
  if (options.realm !== undefined && options.realms !== undefined) fail('give either realm or realms, not both')
  const given = options.realms ?? [options.realm ?? 'realm1']
  if (!Array.isArray(given) || given.length === 0) fail('realms must be a non-empty list')
  const realms = given.map((r) => (typeof r === 'string' ? { name: r } : r))
  const names = new Set<string>()
  for (const realm of realms) {
    if (typeof realm !== 'object' || realm === null || !isValidUri(realm.name)) fail(`realm name ${JSON.stringify(realm?.name ?? realm)} is not a valid URI`)
    if (names.has(realm.name)) fail(`realm "${realm.name}" is listed twice`)
    names.add(realm.name)
  }
  const serializers = options.serializers ?? []
  for (const s of serializers) {
    if (typeof s?.id !== 'string' || typeof s.encode !== 'function' || typeof s.decode !== 'function' || typeof s.binary !== 'boolean') {
      fail('each serializer needs id, binary, encode() and decode()')
    }
  }
  return {
    path,
    realms,
    helloTimeout: count('helloTimeout', options.helloTimeout, 10_000, 0),
    maxPayload: count('maxPayload', options.maxPayload, 1024 * 1024, 1),
    serializers,
    exposeErrors: options.exposeErrors === true,
    shutdownGrace: count('shutdownGrace', options.shutdownGrace, 2000, 0),
    onSessionOpen: hooks('onSessionOpen', options.onSessionOpen),
    onSessionClose: hooks('onSessionClose', options.onSessionClose),
    agent
  }
}
