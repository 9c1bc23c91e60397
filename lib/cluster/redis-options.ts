import type { Redis, RedisOptions } from 'ioredis'
import { FST_WAMP_INVALID_OPTION, FST_WAMP_MISSING_DEPENDENCY } from '../errors.js'

// RedisFanout's options: what a user may pass, checked and defaulted once, and the ioredis settings of the two
// connections it makes.

/**
 * An ioredis client, described by the one method fastify-wamp calls on it (`duplicate()`), so that the published
 * types do not need `ioredis` (an optional peer dependency) to be installed. Any ioredis `Redis` instance fits.
 */
export interface RedisClient {
  duplicate (override?: object): unknown
}

export interface RedisFanoutOptions {
  /** An ioredis client (used as a template for two new connections; never used or closed), or a redis:// URL. */
  redis: RedisClient | string
  /** Prefix of every channel and key. Default `wamp:`. Instances that should talk use the same prefix. */
  prefix?: string
  /** Milliseconds between the heartbeats that share this instance's session count. Default 5 000. */
  heartbeat?: number
  /**
   * Cluster-wide RPC (docs/scale-out.md): `fastify.wamp.call()`, `fastify.wamp.session(id)` and, in router mode,
   * client CALLs reach callees on other instances. Default false.
   */
  rpc?: boolean
  /**
   * Milliseconds a Redis command may take before it fails (ioredis `commandTimeout`), and the deadline of the health
   * PING: a Redis that does not answer it in time is reported `down`. Default 2 000.
   */
  commandTimeout?: number
  /** Milliseconds between health PINGs (a hung Redis is noticed within this + `commandTimeout`). Default 1 000. */
  pingInterval?: number
  /**
   * With `rpc`: milliseconds between the checks, while calls are in flight, that the instances they wait on (or come
   * from) still listen on Redis; a call waiting on an instance that died ends within about this. Default 500.
   */
  probeInterval?: number
  /**
   * With `rpc`: after Redis comes back, at most this many milliseconds during which a registry miss is not taken as
   * `no_such_procedure` (the other instances are still rewriting their entries); it ends early once every instance
   * known before the outage has rewritten them. Default `max(3 × heartbeat, 2000)`.
   */
  rebuildWindow?: number
}

const OWN: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0
}

/**
 * The ioredis settings of our two connections: no offline queue, no resend, commands bounded by `commandTimeout`.
 * @internal (ioredis stays out of the .d.ts)
 */
export function connectionOptions (commandTimeout: number, autoPipelining: boolean): RedisOptions {
  // PUBLISH is written at once, not held for the tick's pipeline: cluster RPC batches its own messages, and a full
  // batch that leaves mid-tick crosses Redis while the rest of the tick is produced (measured: 0.47 → 0.53–0.57 of
  // local calls/s at 64 in flight; fan-out across instances unchanged).
  return { ...OWN, commandTimeout, enableAutoPipelining: autoPipelining, autoPipeliningIgnoredCommands: autoPipelining ? ['publish'] : [] }
}

/** The options, checked, with their defaults. */
export type RedisFanoutSettings = Required<Omit<RedisFanoutOptions, 'redis'>> & { redis: RedisClient | string }

export function redisFanoutSettings (options: RedisFanoutOptions): RedisFanoutSettings {
  const { redis, prefix = 'wamp:', heartbeat = 5000, rpc = false, commandTimeout = 2000, pingInterval = 1000, probeInterval = 500 } = options ?? {}
  const rebuildWindow = options?.rebuildWindow ?? Math.max(3 * heartbeat, 2000)
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) throw new FST_WAMP_INVALID_OPTION(`redis must be a redis:// or rediss:// URL or an ioredis client, got "${redis}"`)
  } else if (typeof (redis as { duplicate?: unknown } | undefined)?.duplicate !== 'function') {
    throw new FST_WAMP_INVALID_OPTION('redis must be a redis:// or rediss:// URL or an ioredis client')
  }
  if (typeof rpc !== 'boolean') throw new FST_WAMP_INVALID_OPTION('the Redis rpc option must be true or false')
  if (typeof prefix !== 'string') throw new FST_WAMP_INVALID_OPTION('the Redis prefix must be a string')
  if (!Number.isInteger(heartbeat) || heartbeat < 10) throw new FST_WAMP_INVALID_OPTION(`the Redis heartbeat must be an integer ≥ 10 (ms), got ${String(heartbeat)}`)
  for (const [name, value] of [['commandTimeout', commandTimeout], ['pingInterval', pingInterval], ['probeInterval', probeInterval], ['rebuildWindow', rebuildWindow]] as const) {
    if (!Number.isInteger(value) || value < 10) throw new FST_WAMP_INVALID_OPTION(`the Redis ${name} must be an integer ≥ 10 (ms), got ${String(value)}`)
  }
  return { redis, prefix, heartbeat, rpc, commandTimeout, pingInterval, probeInterval, rebuildWindow }
}

/** ioredis, imported only when a URL is given (it is an optional peer dependency). @internal */
export async function loadIoredis (): Promise<typeof Redis> {
  try {
    return (await import('ioredis')).Redis
  } catch (err) {
    const { code, message } = err as { code?: string, message?: string }
    if (code === 'ERR_MODULE_NOT_FOUND' && message?.includes("'ioredis'") === true) throw new FST_WAMP_MISSING_DEPENDENCY('ioredis', 'the redis option (a redis:// URL)', 'ioredis')
    throw err
  }
}
