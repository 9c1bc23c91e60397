import { Dealer, Procedure } from './dealer.js'
import type { ProcedureHandler, ProcedureOptions } from './dealer.js'
import { Broker } from './broker.js'
import type { TopicHandler } from './broker.js'
import type { Details, Kwargs } from './messages.js'
import { isValidUri } from './uris.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from './validation.js'
import { FST_WAMP_DUPLICATE_PROCEDURE, FST_WAMP_INVALID_HANDLER, FST_WAMP_INVALID_URI } from './errors.js'
import { registerService } from './service.js'
import type { Session } from './session.js'

export interface RealmOptions {
  name: string
}

/**
 * A realm: its sessions, its dealer (procedures) and its broker (topics). `fastify.wamp` forwards to the default
 * realm; `fastify.wamp.realm(name)` returns any other.
 */
export class Realm {
  readonly name: string
  readonly dealer: Dealer
  readonly broker: Broker
  /** The realm's open sessions by id. */
  readonly sessions: Map<number, Session>
  /** WELCOME.Details.roles: assembled from what the roles really do. */
  readonly roles: Details

  constructor (options: RealmOptions) {
    this.name = options.name
    this.dealer = new Dealer(this)
    this.broker = new Broker(this)
    this.sessions = new Map()
    this.roles = {
      dealer: {
        features: {
          progressive_call_results: true,
          progressive_call_invocations: true,
          call_timeout: true,
          call_canceling: true,
          caller_identification: true
        }
      },
      broker: {
        features: {
          pattern_based_subscription: true
        }
      }
    }
  }

  /** Registers a procedure; with a TypeBox schema its arguments are validated on every CALL and typed. */
  register<S extends PayloadSchema> (uri: string, schema: S, handler: ProcedureHandler<ArgsOf<S>, KwargsOf<S>>, options?: ProcedureOptions): this
  register (uri: string, handler: ProcedureHandler, options?: ProcedureOptions): this
  register (uri: string, schemaOrHandler: PayloadSchema | ProcedureHandler, handlerOrOptions?: ProcedureHandler | ProcedureOptions, maybeOptions?: ProcedureOptions): this {
    const [schema, handler, options] = typeof schemaOrHandler === 'function'
      ? [undefined, schemaOrHandler, handlerOrOptions as ProcedureOptions | undefined]
      : [schemaOrHandler, handlerOrOptions as ProcedureHandler, maybeOptions]
    const match = options?.match ?? 'exact'
    if (!isValidUri(uri, match)) throw new FST_WAMP_INVALID_URI(uri, 'a procedure')
    if (typeof handler !== 'function') throw new FST_WAMP_INVALID_HANDLER(uri)
    if (this.dealer.has(uri, match)) throw new FST_WAMP_DUPLICATE_PROCEDURE(uri, this.name)
    this.dealer.add(new Procedure(uri, match, handler as ProcedureHandler, schema))
    return this
  }

  /** Removes a procedure; returns whether it existed. Calls already running finish normally. */
  unregister (uri: string, options?: ProcedureOptions): boolean {
    return this.dealer.remove(uri, options?.match)
  }

  /** Handles client PUBLISHes to `topic`; with a schema, publications that do not match it are refused. */
  subscribe<S extends PayloadSchema> (topic: string, schema: S, handler: TopicHandler<ArgsOf<S>, KwargsOf<S>>): this
  subscribe (topic: string, handler: TopicHandler): this
  subscribe (topic: string, schemaOrHandler: PayloadSchema | TopicHandler, maybeHandler?: TopicHandler): this {
    const [schema, handler] = typeof schemaOrHandler === 'function'
      ? [undefined, schemaOrHandler]
      : [schemaOrHandler, maybeHandler as TopicHandler]
    if (!isValidUri(topic)) throw new FST_WAMP_INVALID_URI(topic, 'a topic')
    if (typeof handler !== 'function') throw new FST_WAMP_INVALID_HANDLER(topic)
    this.broker.listen(topic, handler as TopicHandler, schema)
    return this
  }

  /** Removes one topic handler, or all of a topic's handlers. */
  unsubscribe (topic: string, handler?: TopicHandler): void {
    this.broker.unlisten(topic, handler as TopicHandler | undefined)
  }

  /** Publishes an EVENT to every session subscribed to `topic`; returns how many EVENTs were sent. */
  publishToAll (topic: string, args?: unknown[], kwargs?: Kwargs): number {
    return this.broker.publish(topic, args, kwargs)
  }

  /** Registers the decorated methods of a service object (see `procedure()` and `topic()`). */
  service (instance: object, prefix?: string): this {
    registerService(this, instance, prefix)
    return this
  }

  join (session: Session): void {
    this.sessions.set(session.id, session)
  }

  leave (session: Session): void {
    this.sessions.delete(session.id)
    this.dealer.leave(session)
    this.broker.leave(session)
  }
}
