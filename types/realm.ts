import type { Kwargs } from '../lib/wire/messages.js'
import type { MatchPolicy } from '../lib/wire/uris.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from '../lib/validation.js'
import type { PublishOptions } from '../lib/pubsub/publish-filter.js'
import type { CallResult, ClientCallOptions, ProcedureHandler } from './call.js'
import type { TopicHandler } from './pubsub.js'
import type { WampSession } from './session.js'
import type { KillOptions } from '../lib/realm/session-control.js'

export type { KillOptions }
import type { AnyContract, TopicUri } from '../lib/contract/types.js'
import type { ContractHandlers, ImplementOptions, TopicPublisher } from './contract.js'

export interface ProcedureOptions {
  /** `prefix` or `wildcard` makes one handler answer every matching URI (`ctx.procedure` tells which). */
  match?: MatchPolicy
  /**
   * `'stream'`: the procedure takes streamed input (progressive call invocations) and reads it from `ctx.input`.
   * Other procedures answer a `CALL {progress: true}` with `wamp.error.feature_not_supported`.
   */
  input?: 'stream'
}

/**
 * A realm: its sessions, its procedures and its topics. `fastify.wamp` acts on the default realm;
 * `fastify.wamp.realm(name)` returns any other.
 */
export interface Realm extends RealmApi {
  readonly name: string
  /** The realm's open sessions on this instance, by id. */
  readonly sessions: ReadonlyMap<number, WampSession>
}

/** Procedures, topics and calls of one realm: what `Realm` and `fastify.wamp` (for the default realm) offer. */
export interface RealmApi {
  /** Registers a procedure; with a TypeBox schema its arguments are validated on every CALL and typed. */
  register<S extends PayloadSchema> (uri: string, schema: S, handler: ProcedureHandler<ArgsOf<S>, KwargsOf<S>>, options?: ProcedureOptions): this
  register (uri: string, handler: ProcedureHandler, options?: ProcedureOptions): this
  /** Removes a procedure; returns whether it existed. Calls already running finish normally. */
  unregister (uri: string, options?: ProcedureOptions): boolean

  /** Handles client PUBLISHes to `topic`; with a schema, publications that do not match it are refused. */
  subscribe<S extends PayloadSchema> (topic: string, schema: S, handler: TopicHandler<ArgsOf<S>, KwargsOf<S>>): this
  subscribe (topic: string, handler: TopicHandler): this
  /** Removes one topic handler, or all of a topic's handlers. */
  unsubscribe (topic: string, handler?: TopicHandler): void

  /**
   * Publishes an EVENT to every session subscribed to `topic` — on every instance when a fan-out adapter is
   * configured — that `options` admit. Returns how many EVENTs were sent by this instance.
   */
  publishToAll (topic: string, args?: unknown[], kwargs?: Kwargs, options?: PublishOptions): number

  /**
   * Calls a procedure a client of this realm registered: in router mode by pattern and invocation policy, as
   * another client's CALL would; otherwise the session that registered `uri` first.
   */
  call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options?: ClientCallOptions<S>): Promise<CallResult<S>>

  /**
   * Declares the payload of a topic the application publishes to (`publishToAll`), for reflection and the API
   * document (docs/reflection.md). Documentation only: publications are not checked against it. Topics handled
   * with `subscribe(topic, schema, handler)` are described by that schema already; this one's fields win.
   */
  describeTopic (topic: string, schema: PayloadSchema): this

  /**
   * Declares the schema of a procedure that clients provide (router mode), for reflection and the API document.
   * Documentation only: calls routed to it are not checked against it.
   */
  describeProcedure (uri: string, schema: PayloadSchema, options?: Pick<ProcedureOptions, 'match'>): this

  /** Registers the decorated methods of a service object (see `procedure()` and `topic()`). */
  service (instance: object, prefix?: string): this

  /**
   * Kills every session of the realm with `authid` — on every instance with `RedisFanout({ rpc: true })` — with
   * GOODBYE `options.reason` (default `wamp.close.killed`) and `options.message`. Resolves with the ids killed;
   * throws a TypeError for a reason that is not a valid URI.
   */
  killByAuthid (authid: string, options?: KillOptions): Promise<number[]>
  /** Kills every session of the realm with `authrole` (see `killByAuthid`). */
  killByAuthrole (authrole: string, options?: KillOptions): Promise<number[]>
  /** Kills every session of the realm (see `killByAuthid`). */
  killAll (options?: KillOptions): Promise<number[]>
  /**
   * Registers one handler per procedure of a contract (`defineContract()`), each with the procedure's schemas, and
   * records its topics. All or nothing: when one registration fails, none stays.
   */
  implement<C extends AnyContract> (contract: C, handlers: ContractHandlers<C>, options?: ImplementOptions): this
  /** A publisher for one topic of a contract; its payload is typed by the topic's schemas. */
  topic<C extends AnyContract, U extends TopicUri<C>> (contract: C, uri: U): TopicPublisher<C['topics'][U]>
}
