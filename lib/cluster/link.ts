import type { Redis } from 'ioredis'
import type { Session } from '../session/session.js'

// What cluster-wide RPC (the registry, the RPC outbox, the testament store) needs from the two sides it joins: the
// Redis fan-out adapter that carries it, and the plugin whose sessions it serves.

/** What cluster-wide RPC needs from the adapter that carries it. */
export interface ClusterLink {
  readonly instanceId: string
  readonly prefix: string
  readonly heartbeat: number
  /** Milliseconds between the liveness probes of the instances that calls in flight wait on. */
  readonly probeInterval: number
  /** Longest wait, after Redis comes back, for the instances known before to rewrite their entries. */
  readonly rebuildWindow: number
  /** The command connection while Redis is up; undefined while it is down. @internal (ioredis stays out of the .d.ts) */
  connection (): Redis | undefined
  /**
   * The command connection whenever it works, even while the subscriber connection is still being restored: an
   * answer to a call that reached us then must still go out.
   * @internal
   */
  publisher (): Redis | undefined
}

/** What it needs from the plugin (`fastify.wamp`): its sessions, and what to do with their testaments. */
export interface ClusterHost {
  readonly sessions: Map<number, Session>
  /** A dead instance's testaments (lib/session/testaments.ts), claimed by this instance: publish them. */
  testamentsOrphaned?: (entries: Buffer[]) => void
  /** A session's testaments as kept in Redis (rewritten by `sync()`), or undefined when it has none. */
  testamentsOf?: (session: Session) => Buffer | undefined
  /** These sessions' testaments were published by a survivor that took this instance for dead: drop them. */
  testamentsPublished?: (sessions: number[]) => void
}
