import { Dealer, Procedure } from '../rpc/dealer.js'
import { Counters } from '../metrics.js'
import type { ProcedureHandler, ProcedureOptions } from '../rpc/dealer.js'
import { Broker } from '../pubsub/broker.js'
import type { PublishAllow, TopicHandler } from '../pubsub/broker.js'
import { filterFromOptions } from '../pubsub/publish-filter.js'
import type { PublishOptions } from '../pubsub/publish-filter.js'
import type { FanoutAdapter } from '../cluster/fanout.js'
import type { ClusterRpc } from '../cluster/rpc.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { isValidUri } from '../wire/uris.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from '../validation.js'
import { FST_WAMP_DUPLICATE_PROCEDURE, FST_WAMP_INVALID_HANDLER, FST_WAMP_INVALID_OPTION, FST_WAMP_INVALID_URI } from '../errors.js'
import { registerService } from './service.js'
import { contractTopic, implementContract } from './contract.js'
import type { AnyContract, TopicUri } from '../contract/types.js'
import type { ContractHandlers, ImplementOptions, TopicPublisher } from '../../types/contract.js'
import type { Session } from '../session/session.js'
import { RealmAuth } from '../session/auth/index.js'
import type { RealmAuthOptions } from '../session/auth/index.js'
import { Authorizer } from './authorize.js'
import { Catalog } from './catalog.js'
import { MetaEvents } from './meta-events.js'
import type { AuthorizeHook, Permissions } from './authorize.js'
import type { RouterOptions } from '../rpc/router.js'
import { Retention, retentionLimits } from '../pubsub/retention.js'
import type { RetentionOptions } from '../pubsub/retention.js'
import { enableHistory, History, historyRules } from '../pubsub/history.js'
import type { HistoryRule } from '../pubsub/history.js'
import type { CallResult, ClientCallOptions } from '../rpc/outgoing-call.js'
import type { WampSession } from '../../types/session.js'
import { killWhere } from './session-control.js'
import type { KillOptions } from './session-control.js'

export interface RealmOptions {
  name: string
  /** WAMP-level authentication: anonymous, ticket, wampcra, cryptosign, or the HTTP request's identity. */
  auth?: RealmAuthOptions
  /** Decides each client call, register, subscribe and publish; `true` allows. */
  authorize?: AuthorizeHook
  /** Declarative rules by authrole: which actions on which URIs (checked before `authorize`). */
  permissions?: Permissions
  /**
   * Client-to-client PubSub: `true` delivers every client PUBLISH to the other subscribed clients
   * (publisher exclusion, black/white listing, publisher identification); `allow` limits it to some topics, by URI
   * prefixes or a function. Off by default: client PUBLISHes reach only the application's topic handlers.
   */
  broker?: boolean | { allow?: string[] | ((topic: string, session: WampSession) => boolean) }
  /**
   * Router mode (client-to-client RPC): a client's REGISTER makes the procedure callable by the realm's other
   * clients — with shared (`invoke`) and pattern (`match`) registrations — and a client CALL that no application
   * procedure answers goes to it. `allow` limits which registrations are offered (URI prefixes, rules by URI and
   * role, or a function); the others stay private to the application. Off by default.
   */
  router?: boolean | RouterOptions
  /**
   * Event retention (PUBLISH `retain`, SUBSCRIBE `get_retained`), bounded per realm; in Redis when the fan-out
   * engine is RedisFanout. Default on with the default bounds (docs/retention-history.md); `false` turns it off.
   */
  retention?: boolean | RetentionOptions
  /**
   * Event history for `wamp.subscription.get_events`: the topics or patterns whose publications are kept, and how
   * many of each rule's latest (docs/retention-history.md). Default none.
   */
  history?: HistoryRule[]
  /**
   * Interface reflection: the `wamp.reflection.*` procedures describe the procedures, topics and errors a session
   * may use, as JSON Schema (docs/reflection.md). Default: the plugin's `reflection` option (false).
   */
  reflection?: boolean
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
  /** Undefined when everyone is admitted anonymously. */
  readonly auth: RealmAuth | undefined
  /** Undefined when every session may do everything (no check on the hot path). */
  readonly authorizer: Authorizer | undefined
  /** Meta events filtered by what each subscriber may see; undefined without authorization (then published as is). */
  readonly metaEvents: MetaEvents | undefined
  /** Cluster-wide RPC (`RedisFanout({ rpc: true })`): calls reach callees on other instances. */
  readonly cluster: ClusterRpc | undefined

  /** The endpoint's hot-path counters (shared by its realms). */
  readonly counters: Counters
  /** The procedures and topics offered, with their schemas (reflection, API document). */
  readonly catalog: Catalog

  constructor (options: RealmOptions, fanout?: FanoutAdapter, counters = new Counters()) {
    this.name = options.name
    this.counters = counters
    this.cluster = fanout?.rpc
    this.dealer = new Dealer(this, options.router)
    const allow = brokerAllow(options.name, options.broker)
    const limits = retentionLimits(options.name, options.retention)
    const retention = limits === undefined ? undefined : new Retention(limits, fanout?.storage?.retention(options.name, limits))
    const rules = historyRules(options.name, options.history)
    const history = rules === undefined ? undefined : new History(rules, fanout?.storage?.history(options.name))
    this.broker = new Broker(this, fanout, allow, retention, history)
    this.sessions = new Map()
    this.auth = RealmAuth.compile(options.auth)
    this.authorizer = Authorizer.compile(options.authorize, options.permissions)
    this.metaEvents = this.authorizer === undefined ? undefined : new MetaEvents(this, this.authorizer)
    this.catalog = new Catalog(this)
    this.roles = {
      dealer: {
        features: {
          progressive_call_results: true,
          progressive_call_invocations: this.dealer.streams,
          call_timeout: true,
          call_canceling: true,
          caller_identification: true,
          ...(this.dealer.router === undefined ? undefined : { shared_registration: true, pattern_based_registration: true })
        }
      },
      broker: {
        features: allow === undefined
          ? { pattern_based_subscription: true }
          : {
              pattern_based_subscription: true,
              publisher_exclusion: true,
              subscriber_blackwhite_listing: true,
              publisher_identification: true
            }
      }
    }
    // Revocation (lib/realm/revocation.ts) works in every realm: `session.revokeRegistration()` and the like.
    ;((this.roles.dealer as Details).features as Details).registration_revocation = true
    ;((this.roles.broker as Details).features as Details).subscription_revocation = true
    if (retention !== undefined) ((this.roles.broker as Details).features as Details).event_retention = true
    if (history !== undefined) enableHistory(this, history)
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
    const input = options?.input
    if (input !== undefined && input !== 'stream') throw new FST_WAMP_INVALID_OPTION(`procedure "${uri}": input must be 'stream' or absent`)
    this.dealer.add(new Procedure(uri, match, handler as ProcedureHandler, schema, input === 'stream'))
    // WELCOME announces progressive call invocations only where some procedure takes them.
    if (input === 'stream') ((this.roles.dealer as Details).features as Details).progressive_call_invocations = true
    return this
  }

  /**
   * Calls a procedure a client of this realm registered: in router mode by pattern and invocation policy, as
   * another client's CALL would; otherwise the session that registered `uri` first. Same options, result and
   * errors as `session.call()`; no client registration → `wamp.error.no_such_procedure`.
   */
  call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: ClientCallOptions<S> = {}): Promise<CallResult<S>> {
    return this.dealer.invoke(uri, args, kwargs, options) as Promise<CallResult<S>>
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
    this.broker.handlers.listen(topic, handler as TopicHandler, schema)
    return this
  }

  /** Removes one topic handler, or all of a topic's handlers. */
  unsubscribe (topic: string, handler?: TopicHandler): void {
    this.broker.handlers.unlisten(topic, handler as TopicHandler | undefined)
  }

  /**
   * Publishes an EVENT to every session subscribed to `topic` — on every instance when a fan-out adapter is
   * configured — that `options` admit (e.g. `{ eligible: [sessionId] }` reaches one session wherever it is).
   * Returns how many EVENTs were sent by this instance.
   */
  publishToAll (topic: string, args?: unknown[], kwargs?: Kwargs, options?: PublishOptions): number {
    return this.broker.publish(topic, args, kwargs, undefined, filterFromOptions(options), options?.retain === true)
  }

  /**
   * Kills every session of this realm with `authid` — with cluster-wide RPC on every instance — with GOODBYE
   * `options.reason` (default `wamp.close.killed`) and `options.message`. Resolves with the ids of the sessions killed.
   */
  killByAuthid (authid: string, options?: KillOptions): Promise<number[]> {
    return killWhere(this, { authid }, options)
  }

  /** Kills every session of this realm with `authrole` (see `killByAuthid`). */
  killByAuthrole (authrole: string, options?: KillOptions): Promise<number[]> {
    return killWhere(this, { authrole }, options)
  }

  /** Kills every session of this realm (see `killByAuthid`). */
  killAll (options?: KillOptions): Promise<number[]> {
    return killWhere(this, undefined, options)
  }

  /**
   * Declares the payload of a topic the application publishes to (`publishToAll`), for reflection and the API
   * document. Documentation only: publications are not checked against it.
   */
  describeTopic (topic: string, schema: PayloadSchema): this {
    this.catalog.describeTopic(topic, schema)
    return this
  }

  /**
   * Declares the schema of a procedure that clients provide (router mode), for reflection and the API document.
   * Documentation only: calls routed to it are not checked against it.
   */
  describeProcedure (uri: string, schema: PayloadSchema, options?: Pick<ProcedureOptions, 'match'>): this {
    this.catalog.describeProcedure(uri, schema, options?.match)
    return this
  }

  /** Registers the decorated methods of a service object (see `procedure()` and `topic()`). */
  service (instance: object, prefix?: string): this {
    registerService(this, instance, prefix)
    return this
  }

  /** Registers one handler per procedure of a contract and records its topics (all or nothing). */
  implement<C extends AnyContract> (contract: C, handlers: ContractHandlers<C>, options?: ImplementOptions): this {
    implementContract(this, contract, handlers, options)
    return this
  }

  /** A publisher for one topic of a contract, its payload typed by the topic's schemas. */
  topic<C extends AnyContract, U extends TopicUri<C>> (contract: C, uri: U): TopicPublisher<C['topics'][U]> {
    return contractTopic(this, contract, uri)
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

const ALLOW_ALL: PublishAllow = () => true

/** Resolves the realm option `broker` once, at register time. */
function brokerAllow (realm: string, option: RealmOptions['broker']): PublishAllow | undefined {
  if (option === undefined || option === false) return undefined
  if (option === true) return ALLOW_ALL
  // Only `allow`: a misspelled key would leave it undefined, and every topic would reach clients.
  const allow = typeof option === 'object' && option !== null && Object.keys(option).every((key) => key === 'allow') ? option.allow : null
  if (allow === undefined) return ALLOW_ALL
  if (typeof allow === 'function') return allow
  if (Array.isArray(allow) && allow.every((p) => typeof p === 'string' && p.length > 0)) {
    const prefixes = [...allow]
    return (topic) => prefixes.some((prefix) => topic.startsWith(prefix))
  }
  throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": broker must be true, false or { allow: [URI prefixes] | (topic, session) => boolean }`)
}
