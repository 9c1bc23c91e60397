import type { Kwargs } from '../wire/messages.js'
import type { MatchPolicy } from '../wire/uris.js'
import type { Session } from '../session/session.js'
import { heldPattern } from '../realm/revocation.js'
import { DESCRIBE, EVENT, KILL, RESULT, REVOKE_REGISTRATION, REVOKE_SUBSCRIPTION } from './rpc-outbox.js'
import { unencodable } from './remote-call.js'

// Session control across instances: what the application (`RemoteSession`) and the Meta API do to a session another
// instance holds — an EVENT for it, GOODBYE, a revocation, or asking what it holds under an id — and the receiving
// side, on the session's instance. Everything is fire and forget except DESCRIBE, which waits for its answer like a
// call (through the RPC engine's calls in flight: timeout, the instance being lost, Redis going down).

/** Longest wait for a DESCRIBE's answer (an instance of an older version drops the message). */
const DESCRIBE_TIMEOUT = 5000

/** What session control needs from the RPC engine (./rpc.ts) that carries it. */
export interface ControlChannel {
  /** Queues `message` for `instance` (./rpc-outbox.ts); why msgpack refuses it, if it does. */
  send (instance: string, message: unknown[]): string | undefined
  /** Throws network_failure while Redis is down. */
  connected (): void
  /**
   * Sends the message built with our instance id and a fresh call id, and resolves with the args of its RESULT
   * (rejects as a call does: timeout, the instance lost, Redis down).
   */
  ask (instance: string, message: (from: string, callId: number) => unknown[], timeout: number): Promise<unknown[]>
  /** Our session `id`, if it is in `realm`. */
  ours (realm: unknown, id: unknown): Session | undefined
}

export class RemoteSessionControl {
  private readonly channel: ControlChannel

  constructor (channel: ControlChannel) {
    this.channel = channel
  }

  /** An EVENT for one session of another instance (`RemoteSession.publish()`). */
  publishTo (instance: string, realm: string, session: number, topic: string, args?: unknown[], kwargs?: Kwargs): void {
    this.post(instance, [EVENT, realm, session, topic, args ?? null, kwargs ?? null], 'the event\'s payload')
  }

  /** Ends one session of another instance with GOODBYE `reason`; fire and forget. */
  kill (instance: string, realm: string, session: number, reason: string, message: string | undefined): void {
    this.post(instance, [KILL, realm, session, reason, message ?? null], 'the reason')
  }

  /**
   * Revokes registration `id` of one session of another instance (its instance's id: registration ids are per
   * instance); fire and forget, like `kill`.
   */
  revokeRegistration (instance: string, realm: string, session: number, id: number, reason: string | undefined): void {
    this.post(instance, [REVOKE_REGISTRATION, realm, session, id, reason ?? null], 'the reason')
  }

  /** Revokes subscription `id` of one session of another instance; fire and forget, like `kill`. */
  revokeSubscription (instance: string, realm: string, session: number, id: number, reason: string | undefined): void {
    this.post(instance, [REVOKE_SUBSCRIPTION, realm, session, id, reason ?? null], 'the reason')
  }

  /**
   * The URI and match policy of registration (`subscription` false) or subscription `id` of `session` on `instance`,
   * undefined when that session holds none: the Meta API decides on it what its caller may see before it revokes.
   */
  async describe (instance: string, realm: string, session: number, subscription: boolean, id: number): Promise<[string, MatchPolicy] | undefined> {
    const args = await this.channel.ask(instance, (from, callId) => [DESCRIBE, from, callId, realm, session, subscription ? 1 : 0, id], DESCRIBE_TIMEOUT)
    return args.length === 2 ? args as [string, MatchPolicy] : undefined
  }

  /** A fire-and-forget message from the application: throws when Redis is down or msgpack refuses it. */
  private post (instance: string, message: unknown[], what: string): void {
    this.channel.connected()
    const problem = this.channel.send(instance, message)
    if (problem !== undefined) throw unencodable(what, problem)
  }

  /** A session control message from another instance, for one of our sessions (shape-checked by ./rpc-outbox.ts). */
  receive (m: unknown[]): void {
    switch (m[0]) {
      case EVENT:
        this.channel.ours(m[1], m[2])?.publish(m[3] as string, (m[4] ?? undefined) as unknown[] | undefined, (m[5] ?? undefined) as Kwargs | undefined)
        return
      case KILL:
        this.channel.ours(m[1], m[2])?.kill(m[3] as string, (m[4] ?? undefined) as string | undefined)
        return
      // The local code path (lib/realm/revocation.ts): UNREGISTERED/UNSUBSCRIBED if announced, meta events, hooks.
      case REVOKE_REGISTRATION:
        this.channel.ours(m[1], m[2])?.revokeRegistration(m[3] as number, (m[4] ?? undefined) as string | undefined)
        return
      case REVOKE_SUBSCRIPTION:
        this.channel.ours(m[1], m[2])?.revokeSubscription(m[3] as number, (m[4] ?? undefined) as string | undefined)
        return
      case DESCRIBE: {
        const session = this.channel.ours(m[3], m[4])
        this.channel.send(m[1] as string, [RESULT, m[2], (session === undefined ? undefined : heldPattern(session, m[5] === 1, m[6] as number)) ?? [], null])
      }
    }
  }
}
