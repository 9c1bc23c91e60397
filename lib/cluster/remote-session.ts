import type { Kwargs } from '../wire/messages.js'
import { CloseUri } from '../wire/uris.js'
import type { CallResult, ClientCallOptions } from '../rpc/outgoing-call.js'
import type { PayloadSchema } from '../validation.js'
import type { ClusterRpc } from './rpc.js'
import type { RemoteSessionInfo } from './registry.js'

/**
 * A session open on another instance of the cluster (`await fastify.wamp.session(id)`, with `RedisFanout({ rpc:
 * true })`). A snapshot of the cluster registry: `call()` and `publish()` go through Redis to its instance.
 */
export class RemoteSession {
  readonly id: number
  /** The id of the instance that holds the session. */
  readonly instance: string
  readonly realmName: string
  readonly authid: string
  readonly authrole: string
  private readonly cluster: ClusterRpc

  /** @internal */
  constructor (info: RemoteSessionInfo, cluster: ClusterRpc) {
    this.id = info.id
    this.instance = info.instance
    this.realmName = info.realm
    this.authid = info.authid
    this.authrole = info.authrole
    this.cluster = cluster
  }

  /** Like `session.call()`: INVOCATION of a procedure this client registered, on its instance. */
  async call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: ClientCallOptions<S> = {}): Promise<CallResult<S>> {
    return await this.cluster.invoke(this.instance, this.realmName, uri, this.id, 0, args, kwargs, options) as CallResult<S>
  }

  /**
   * Like `session.publish()`: an EVENT to this session if it subscribed to `topic`. Fire and forget (the count of
   * EVENTs sent is not brought back); throws wamp.error.network_failure while Redis is down.
   */
  publish (topic: string, args?: unknown[], kwargs?: Kwargs): void {
    this.cluster.control.publishTo(this.instance, this.realmName, this.id, topic, args, kwargs)
  }

  /**
   * Like `session.kill()`: GOODBYE `reason` (default `wamp.close.killed`) to this session on its instance. Fire and
   * forget; throws wamp.error.network_failure while Redis is down.
   */
  kill (reason: string = CloseUri.killed, message?: string): void {
    this.cluster.control.kill(this.instance, this.realmName, this.id, reason, message)
  }

  /**
   * Like `session.revokeRegistration()`, on the session's instance: `id` is the registration id the client got from
   * its own instance (ids are per instance). Fire and forget (whether the session held `id` is not brought back);
   * throws wamp.error.network_failure while Redis is down.
   */
  revokeRegistration (id: number, reason?: string): void {
    this.cluster.control.revokeRegistration(this.instance, this.realmName, this.id, id, reason)
  }

  /**
   * Like `session.revokeSubscription()`, on the session's instance (`id` as the client got it there). Fire and
   * forget; throws wamp.error.network_failure while Redis is down.
   */
  revokeSubscription (id: number, reason?: string): void {
    this.cluster.control.revokeSubscription(this.instance, this.realmName, this.id, id, reason)
  }
}
