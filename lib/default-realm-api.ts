import type { Realm } from './realm/realm.js'
import type { ProcedureHandler, ProcedureOptions } from './rpc/dealer.js'
import type { TopicHandler } from './pubsub/broker.js'
import type { Kwargs } from './wire/messages.js'
import type { PublishOptions } from './pubsub/publish-filter.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from './validation.js'
import type { CallResult, ClientCallOptions } from './rpc/outgoing-call.js'
import type { KillOptions } from './realm/session-control.js'
import type { AnyContract, TopicUri } from './contract/types.js'
import type { ContractHandlers, ImplementOptions, TopicPublisher } from '../types/contract.js'

/**
 * The part of `fastify.wamp` that acts on the default realm (the first one configured): procedures, topics,
 * contracts, services, calls to clients, kills and descriptions, each handed to that `Realm`. `Hub` extends it with
 * the realms, the session registry and the lifecycle.
 */
export abstract class DefaultRealmApi {
  protected readonly defaultRealm: Realm

  constructor (defaultRealm: Realm) {
    this.defaultRealm = defaultRealm
  }

  register<S extends PayloadSchema> (uri: string, schema: S, handler: ProcedureHandler<ArgsOf<S>, KwargsOf<S>>, options?: ProcedureOptions): this
  register (uri: string, handler: ProcedureHandler, options?: ProcedureOptions): this
  register (uri: string, a: PayloadSchema | ProcedureHandler, b?: ProcedureHandler | ProcedureOptions, c?: ProcedureOptions): this {
    (this.defaultRealm.register as (...args: unknown[]) => Realm)(uri, a, b, c)
    return this
  }

  unregister (uri: string, options?: ProcedureOptions): boolean {
    return this.defaultRealm.unregister(uri, options)
  }

  subscribe<S extends PayloadSchema> (topic: string, schema: S, handler: TopicHandler<ArgsOf<S>, KwargsOf<S>>): this
  subscribe (topic: string, handler: TopicHandler): this
  subscribe (topic: string, a: PayloadSchema | TopicHandler, b?: TopicHandler): this {
    (this.defaultRealm.subscribe as (...args: unknown[]) => Realm)(topic, a, b)
    return this
  }

  unsubscribe (topic: string, handler?: TopicHandler): void {
    this.defaultRealm.unsubscribe(topic, handler)
  }

  publishToAll (topic: string, args?: unknown[], kwargs?: Kwargs, options?: PublishOptions): number {
    return this.defaultRealm.publishToAll(topic, args, kwargs, options)
  }

  implement<C extends AnyContract> (contract: C, handlers: ContractHandlers<C>, options?: ImplementOptions): this {
    this.defaultRealm.implement(contract, handlers, options)
    return this
  }

  topic<C extends AnyContract, U extends TopicUri<C>> (contract: C, uri: U): TopicPublisher<C['topics'][U]> {
    return this.defaultRealm.topic(contract, uri)
  }

  /** Calls a procedure a client of the default realm registered (see `Realm.call`). */
  call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: ClientCallOptions<S> = {}): Promise<CallResult<S>> {
    return this.defaultRealm.call(uri, args, kwargs, options)
  }

  service (instance: object, prefix?: string): this {
    this.defaultRealm.service(instance, prefix)
    return this
  }

  killByAuthid (authid: string, options?: KillOptions): Promise<number[]> {
    return this.defaultRealm.killByAuthid(authid, options)
  }

  killByAuthrole (authrole: string, options?: KillOptions): Promise<number[]> {
    return this.defaultRealm.killByAuthrole(authrole, options)
  }

  killAll (options?: KillOptions): Promise<number[]> {
    return this.defaultRealm.killAll(options)
  }

  describeTopic (topic: string, schema: PayloadSchema): this {
    this.defaultRealm.describeTopic(topic, schema)
    return this
  }

  describeProcedure (uri: string, schema: PayloadSchema, options?: Pick<ProcedureOptions, 'match'>): this {
    this.defaultRealm.describeProcedure(uri, schema, options)
    return this
  }
}
