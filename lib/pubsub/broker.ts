import { EMPTY, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { ErrorUri, isValidUri, matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { randomId, uniqueId } from '../wire/ids.js'
import { compilePayload, describeIssues } from '../validation.js'
import type { PayloadValidator } from '../validation.js'
import type { PayloadSchema } from '../validation.js'
import { isThenable } from '../thenable.js'
import type { Serializer } from '../wire/serializers/index.js'
import type { Session } from '../session/session.js'
import type { Realm } from '../realm/realm.js'
import { authorize } from '../realm/authorize.js'
import { PatternIndex } from '../wire/uri-trie.js'
import { publishSubscribed, publishUnsubscribed } from '../realm/meta.js'
import { readPublishOptions } from './publish-filter.js'
import { publishChannel, traceContextAfterStart, tracePublishEnd, tracePublishStart } from '../diagnostics.js'
import { traceContextOf } from '../trace-context.js'
import type { ClientPublication, PublishFilter } from './publish-filter.js'
import type { FanoutAdapter, RemotePublication } from '../cluster/fanout.js'
import type { HeldEvents, Retention } from './retention.js'
import type { History } from './history.js'

/** Decides which client PUBLISHes reach other clients (realm option `broker`); undefined = none do. */
export type PublishAllow = (topic: string, session: WampSession) => boolean

/** A subscription: one (topic, match) in the realm, shared by every session that subscribed to it. */
export class Subscription {
  readonly id: number
  readonly topic: string
  readonly match: MatchPolicy
  readonly parts: string[] | undefined
  readonly sessions: Set<Session>
  /** ISO 8601 time of creation (meta API). */
  readonly created: string
  /** Until the fan-out engine confirms it: settles then (sessions wait for it before SUBSCRIBED). */
  confirming: PromiseLike<void> | undefined
  /** Sessions waiting for `confirming`. */
  waiting: number
  /** Sessions whose retained events are being fetched, with the EVENTs held back for them meanwhile. */
  awaiting: Map<Session, HeldEvents> | undefined

  constructor (id: number, topic: string, match: MatchPolicy) {
    this.id = id
    this.created = new Date().toISOString()
    this.topic = topic
    this.match = match
    this.parts = match === 'wildcard' ? topic.split('.') : undefined
    this.sessions = new Set()
    this.confirming = undefined
    this.waiting = 0
    this.awaiting = undefined
  }

  matches (topic: string): boolean {
    if (this.match === 'prefix') return topic.startsWith(this.topic)
    return matchesWildcard(this.parts as string[], topic)
  }
}

import type { PublishContext, TopicHandler } from '../../types/pubsub.js'
import type { WampSession } from '../../types/session.js'

export type { PublishContext, TopicHandler }

interface TopicListener { readonly handler: TopicHandler, readonly validator: PayloadValidator | undefined, readonly schema: PayloadSchema | undefined }

const MATCHES = new Set(['exact', 'prefix', 'wildcard'])

/**
 * Subscriptions and publications in one realm. An EVENT is encoded once per serializer per subscription and the
 * same bytes go to every subscriber.
 */
export class Broker {
  readonly realm: Realm
  private readonly exact: Map<string, Subscription>
  /** Prefix and wildcard subscriptions, indexed by URI component (lib/wire/uri-trie.ts). */
  private readonly patterns: PatternIndex<Subscription>
  readonly byId: Map<number, Subscription>
  private readonly listeners: Map<string, TopicListener[]>
  /** Carries publications to other instances; undefined when there is only this one (no cost on the fast path). */
  private readonly fanout: FanoutAdapter | undefined
  /** Client-to-client publishing (PROTOCOL §4.6): undefined when the realm does not broker client PUBLISHes. */
  readonly allow: PublishAllow | undefined
  /** Event retention (lib/pubsub/retention.ts); undefined when the realm turned it off. */
  readonly retention: Retention | undefined
  /** Event history (lib/pubsub/history.ts); undefined when the realm keeps none. */
  readonly history: History | undefined

  constructor (realm: Realm, fanout?: FanoutAdapter, allow?: PublishAllow, retention?: Retention, history?: History) {
    this.realm = realm
    this.fanout = fanout
    this.allow = allow
    this.retention = retention
    this.history = history
    this.exact = new Map()
    this.patterns = new PatternIndex()
    this.byId = new Map()
    this.listeners = new Map()
  }

  // ---- client SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------------

  subscribe (session: Session, msg: WampMessage, authorized = false): void {
    const requestId = msg[1] as number
    const topic = msg[3] as string
    const match = (msg[2] as Details).match ?? 'exact'
    const getRetained = (msg[2] as Details).get_retained
    const retained = getRetained === true && this.retention !== undefined
    if (typeof match !== 'string' || !MATCHES.has(match)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidArgument, [`unknown match policy "${String(match)}"`])
    }
    if (getRetained !== undefined && typeof getRetained !== 'boolean') {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidArgument, ['SUBSCRIBE.Options.get_retained must be a boolean'])
    }
    if (!isValidUri(topic, match as MatchPolicy)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidUri, [`"${topic}" is not a valid ${match} topic URI`])
    }
    if (!authorized && this.realm.authorizer !== undefined) return authorize(session, msg, 'subscribe', topic, msg[2] as Details)
    let subscription = match === 'exact' ? this.exact.get(topic) : this.patterns.get(topic, match as 'prefix' | 'wildcard')
    if ((subscription === undefined || !session.subscriptions.has(subscription)) &&
      session.subscriptions.size >= session.hub.options.maxSubscriptionsPerSession) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.limitExceeded, [`at most ${session.hub.options.maxSubscriptionsPerSession} subscriptions per session`])
    }
    const created = subscription === undefined
    let confirming: PromiseLike<void> | undefined
    if (subscription === undefined) {
      subscription = new Subscription(uniqueId(this.byId), topic, match as MatchPolicy)
      if (match === 'exact') this.exact.set(topic, subscription)
      else this.patterns.set(topic, match as 'prefix' | 'wildcard', subscription)
      this.byId.set(subscription.id, subscription)
      confirming = this.fanout?.subscribe(this.realm.name, topic, match as MatchPolicy)
    } else confirming = subscription.confirming
    if (confirming !== undefined) return this.whenConfirmed(session, requestId, subscription, confirming, created, retained)
    this.join(session, requestId, subscription, created, retained)
  }

  /**
   * The session joins the subscription: SUBSCRIBED, the retained events it asked for (`get_retained`), and the
   * meta event when it is new to the session.
   */
  private join (session: Session, requestId: number, subscription: Subscription, created: boolean, retained: boolean): void {
    const added = !subscription.sessions.has(session)
    subscription.sessions.add(session)
    session.subscriptions.add(subscription)
    session.send([T.SUBSCRIBED, requestId, subscription.id])
    if (retained) (this.retention as Retention).send(session, subscription)
    if (!added) return
    if (session.hub.options.metaApi) publishSubscribed(session, subscription, created)
    session.hub.clientEvent('subscribe', session, subscription)
  }

  /**
   * SUBSCRIBED once the fan-out engine has made the subscription effective on the other instances (a publication
   * made there after SUBSCRIBED must arrive). The session reads nothing meanwhile, so its later messages keep their
   * order, and it joins the subscription only then, so no EVENT precedes SUBSCRIBED.
   */
  private whenConfirmed (session: Session, requestId: number, subscription: Subscription, confirming: PromiseLike<void>, created: boolean, retained: boolean): void {
    session.hold()
    subscription.confirming = confirming
    subscription.waiting++
    const confirmed = (): void => {
      subscription.confirming = undefined
      subscription.waiting--
      if (session.isOpen) {
        this.join(session, requestId, subscription, created, retained)
      } else if (subscription.sessions.size === 0 && subscription.waiting === 0) {
        this.remove(subscription)
      }
      session.release()
    }
    confirming.then(confirmed, confirmed)
  }

  unsubscribe (session: Session, msg: WampMessage): void {
    const requestId = msg[1] as number
    const subscription = this.byId.get(msg[2] as number)
    if (subscription === undefined || !session.subscriptions.has(subscription)) {
      return session.sendError(T.UNSUBSCRIBE, requestId, ErrorUri.noSuchSubscription, [`no subscription ${String(msg[2])} in this session`])
    }
    this.drop(session, subscription)
    session.send([T.UNSUBSCRIBED, requestId])
  }

  leave (session: Session): void {
    for (const subscription of session.subscriptions) this.drop(session, subscription)
  }

  /** The session leaves `subscription` (UNSUBSCRIBE, revocation, the session ending). */
  drop (session: Session, subscription: Subscription): void {
    session.subscriptions.delete(subscription)
    subscription.sessions.delete(session)
    const deleted = subscription.sessions.size === 0 && subscription.waiting === 0
    if (deleted) this.remove(subscription)
    if (session.hub.options.metaApi) publishUnsubscribed(session, subscription, deleted)
    session.hub.clientEvent('unsubscribe', session, subscription)
  }

  private remove (subscription: Subscription): void {
    this.byId.delete(subscription.id)
    if (subscription.match === 'exact') this.exact.delete(subscription.topic)
    else this.patterns.delete(subscription.topic, subscription.match)
    this.fanout?.unsubscribe(this.realm.name, subscription.topic, subscription.match)
  }

  /** Every subscription a publication to `topic` reaches (meta API `wamp.subscription.match`). */
  matching (topic: string): Subscription[] {
    const found: Subscription[] = []
    const exact = this.exact.get(topic)
    if (exact !== undefined) found.push(exact)
    this.patterns.forEachMatch(topic, (subscription) => { found.push(subscription) })
    return found
  }

  // ---- publishing to subscribers ---------------------------------------------------------------------------

  /**
   * Sends an EVENT to every subscriber of `topic` that `filter` admits, here and (through the fan-out adapter) on
   * the other instances — or only to the local session `only`. Returns the number of EVENTs sent here.
   */
  publish (topic: string, args?: unknown[], kwargs?: Kwargs, only?: Session, filter?: PublishFilter, retain = false): number {
    const publicationId = randomId()
    this.realm.counters.publications++
    const trace = publishChannel.hasSubscribers ? tracePublishStart(this.realm.name, topic) : undefined
    const sent = this.fanOut(topic, publicationId, EMPTY, args, kwargs, only, filter)
    if (trace !== undefined) tracePublishEnd(trace, sent)
    if (only !== undefined) return sent
    this.keep(topic, publicationId, args, kwargs, undefined, filter, retain)
    if (this.fanout !== undefined) {
      const parent = trace === undefined ? undefined : traceContextAfterStart(trace)
      this.fanout.publish({ realm: this.realm.name, topic, publicationId, args, kwargs, publisher: undefined, filter, trace: parent })
    }
    return sent
  }

  /** Sends an EVENT to the subscribers on this instance only (the meta events describe local sessions). */
  publishLocal (topic: string, args?: unknown[], kwargs?: Kwargs): number {
    return this.fanOut(topic, randomId(), EMPTY, args, kwargs, undefined, undefined)
  }

  /** A publication from another instance, for the local subscription (`match`, `topic`). */
  receive (publication: RemotePublication, match: MatchPolicy, topic: string): void {
    const subscription = match === 'exact' ? this.exact.get(topic) : this.patterns.get(topic, match)
    if (subscription === undefined) return
    let details = publication.publisher ?? EMPTY
    if (match !== 'exact') {
      // A Redis glob can be broader than the WAMP pattern (a wildcard's `*` spans dots).
      if (!subscription.matches(publication.topic)) return
      details = { topic: publication.topic, ...publication.publisher }
    }
    const trace = publishChannel.hasSubscribers ? tracePublishStart(publication.realm, publication.topic, undefined, publication.trace, true) : undefined
    const sent = this.deliver(subscription, publication.publicationId, details, publication.args, publication.kwargs, undefined, publication.filter)
    if (trace !== undefined) tracePublishEnd(trace, sent)
  }

  /** Local delivery to exact and pattern subscribers; `base` details (publisher disclosure) are shared by all. */
  private fanOut (topic: string, publicationId: number, base: Details, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, only: Session | undefined, filter: PublishFilter | undefined): number {
    let sent = 0
    const exact = this.exact.get(topic)
    if (exact !== undefined) sent += this.deliver(exact, publicationId, base, args, kwargs, only, filter)
    if (this.patterns.size > 0) {
      let details: Details | undefined
      this.patterns.forEachMatch(topic, (subscription) => {
        details ??= base === EMPTY ? { topic } : { topic, ...base }
        sent += this.deliver(subscription, publicationId, details, args, kwargs, only, filter)
      })
    }
    return sent
  }

  /** A publication that reaches clients: retained when asked and the realm retains, kept when a history rule covers it. */
  private keep (topic: string, publicationId: number, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    publisher: Details | undefined, filter: PublishFilter | undefined, retain: boolean, from?: Session): void {
    if (retain && this.retention?.retain(topic, publicationId, args, kwargs, publisher, filter) === false) {
      from?.log.warn({ topic, maxEventBytes: this.retention.limits.maxEventBytes }, 'fastify-wamp: publication too large to retain')
    }
    this.history?.record(topic, publicationId, args, kwargs, publisher, filter)
  }

  private deliver (subscription: Subscription, publicationId: number, details: Details, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, only: Session | undefined, filter: PublishFilter | undefined): number {
    const awaiting = subscription.awaiting
    if (only !== undefined) {
      if (!subscription.sessions.has(only) || !only.isOpen || (filter !== undefined && !filter.admits(only))) return 0
      const held = awaiting?.get(only)
      if (held !== undefined) {
        held.push(withPayload([T.EVENT, subscription.id, publicationId, details], args, kwargs))
        return 0
      }
      if (!only.send(withPayload([T.EVENT, subscription.id, publicationId, details], args, kwargs))) return 0
      this.realm.counters.events++
      return 1
    }
    const msg = withPayload([T.EVENT, subscription.id, publicationId, details], args, kwargs)
    // One encode per serializer: nearly always one or two, so a pair of slots beats a Map.
    let s1: Serializer | undefined; let d1: string | Buffer | undefined
    let s2: Serializer | undefined; let d2: string | Buffer | undefined
    let sent = 0
    let tooLarge: Session | undefined
    for (const session of subscription.sessions) {
      if (!session.isOpen || (filter !== undefined && !filter.admits(session))) continue
      if (awaiting !== undefined) {
        const held = awaiting.get(session)
        if (held !== undefined) { held.push(msg); continue }
      }
      const transport = session.transport
      const serializer = transport.serializer
      let data: string | Buffer | undefined
      if (serializer === s1) data = d1
      else if (serializer === s2) data = d2
      else if (s1 === undefined) { s1 = serializer; data = d1 = encodeEvent(serializer, msg, session) } else if (s2 === undefined) { s2 = serializer; data = d2 = encodeEvent(serializer, msg, session) } else data = encodeEvent(serializer, msg, session)
      if (data === undefined) continue
      if (!transport.fits(data)) tooLarge = session
      else if (transport.write(data)) sent++
    }
    this.realm.counters.events += sent
    if (tooLarge !== undefined) {
      tooLarge.log.warn({ topic: subscription.topic, maxPayload: tooLarge.hub.options.maxPayload }, 'fastify-wamp: EVENT larger than maxPayload not sent')
    }
    return sent
  }

  // ---- client PUBLISH → the application's topic handlers ---------------------------------------------------

  listen (topic: string, handler: TopicHandler, schema: PayloadSchema | undefined): void {
    const validator = compilePayload(schema)
    const list = this.listeners.get(topic)
    if (list === undefined) this.listeners.set(topic, [{ handler, validator, schema }])
    else list.push({ handler, validator, schema })
  }

  /** The topics the application handles, each with the first schema one of its handlers gave (lib/realm/catalog.ts). */
  * handled (): Generator<[string, PayloadSchema | undefined]> {
    for (const [topic, list] of this.listeners) yield [topic, list.find((l) => l.schema !== undefined)?.schema]
  }

  unlisten (topic: string, handler?: TopicHandler): void {
    if (handler === undefined) {
      this.listeners.delete(topic)
      return
    }
    const list = this.listeners.get(topic)?.filter((l) => l.handler !== handler)
    if (list === undefined || list.length === 0) this.listeners.delete(topic)
    else this.listeners.set(topic, list)
  }

  /**
   * Client PUBLISH (PROTOCOL §4.5, §4.6): validated, acknowledged, delivered to subscribed clients when the realm
   * brokers the topic, then handed to the topic's handlers.
   */
  publishFrom (session: Session, msg: WampMessage, authorized = false): void {
    const requestId = msg[1] as number
    const options = msg[2] as Details
    const topic = msg[3] as string
    const args = (msg[4] ?? []) as unknown[]
    const kwargs = (msg[5] ?? {}) as Kwargs
    const acknowledge = options.acknowledge === true
    // `wamp.*` topics are the router's (meta events): a client publishing there could forge them (as Crossbar, refused).
    if (!isValidUri(topic) || topic.startsWith('wamp.')) {
      // Unacknowledged: debug only, so a client cannot flood the log with them.
      if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidUri, [`"${String(topic)}" is not a valid topic URI for a client publication`])
      else session.log.debug({ topic }, 'fastify-wamp: publication to an invalid or reserved topic dropped')
      return
    }
    if (!authorized && this.realm.authorizer !== undefined) return authorize(session, msg, 'publish', topic, options)
    // Nothing new starts once shutdown began (PROTOCOL §7.6): the publication is refused as a new CALL is.
    if (session.draining) return refusePublication(session, requestId, acknowledge, topic, ErrorUri.canceled, 'the server is shutting down')
    // Subscribers may use any serializer, here and on other instances: a value JSON cannot carry is refused whole.
    if (!session.portable) return refusePublication(session, requestId, acknowledge, topic, ErrorUri.invalidArgument, 'an integer beyond 2^53 (bignum) cannot reach subscribers of every serializer')
    const listeners = this.listeners.get(topic)
    if (listeners !== undefined) {
      const max = session.hub.options.maxTopicHandlersPerSession
      if (session.topicHandlers >= max) {
        return refusePublication(session, requestId, acknowledge, topic, ErrorUri.limitExceeded, `at most ${max} topic handlers running per session`)
      }
      for (const listener of listeners) {
        const issues = listener.validator?.check(args, kwargs)
        if (issues === undefined) continue
        if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues })
        else session.log.debug({ topic, issues }, 'fastify-wamp: publication refused')
        return
      }
    }
    let brokered: ClientPublication | undefined
    if (this.allow !== undefined && this.brokers(topic, session)) {
      const read = readPublishOptions(session, options, this.retention !== undefined)
      if (typeof read === 'string') {
        if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidArgument, [read])
        else session.log.debug({ topic, reason: read }, 'fastify-wamp: publication refused')
        return
      }
      brokered = read
    }
    const publicationId = randomId()
    if (acknowledge) session.send([T.PUBLISHED, requestId, publicationId])
    if (brokered !== undefined) this.forward(topic, publicationId, msg[4] as unknown[] | undefined, msg[5] as Kwargs | undefined, brokered, session, options)
    if (listeners === undefined) return
    const ctx: PublishContext = { session, topic, publicationId, details: options }
    for (const listener of listeners) runListener(listener.handler, args, kwargs, ctx, session)
  }

  /** Client PUBLISH → other clients subscribed here and on the other instances (PROTOCOL §4.6). */
  forward (topic: string, publicationId: number, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    publication: ClientPublication, publisher?: Session, options: Details = EMPTY): void {
    this.realm.counters.publications++
    let parent = traceContextOf(options)
    const trace = publishChannel.hasSubscribers ? tracePublishStart(this.realm.name, topic, publisher, parent) : undefined
    const sent = this.fanOut(topic, publicationId, publication.publisher ?? EMPTY, args, kwargs, undefined, publication.filter)
    if (trace !== undefined) {
      tracePublishEnd(trace, sent)
      parent = traceContextAfterStart(trace)
    }
    this.keep(topic, publicationId, args, kwargs, publication.publisher, publication.filter, publication.retain, publisher)
    if (this.fanout === undefined) return
    this.fanout.publish({ realm: this.realm.name, topic, publicationId, args, kwargs, publisher: publication.publisher, filter: publication.filter, trace: parent })
  }

  brokers (topic: string, session: Session): boolean {
    try {
      return (this.allow as PublishAllow)(topic, session) === true
    } catch (err) {
      session.log.error({ err, topic }, 'fastify-wamp: broker allow rule failed; the publication reaches no client')
      return false
    }
  }
}

function runListener (handler: TopicHandler, args: unknown[], kwargs: Kwargs, ctx: PublishContext, session: Session): void {
  try {
    const result = handler(args, kwargs, ctx)
    if (!isThenable(result)) return
    session.topicHandlers++
    session.hub.pending.add(result.then(() => { session.topicHandlers-- }, (err: unknown) => {
      session.topicHandlers--
      logListenerError(err, ctx)
    }))
  } catch (err) {
    logListenerError(err, ctx)
  }
}

/**
 * A PUBLISH that starts nothing: ERROR when acknowledged; otherwise the spec gives no channel back, so the drop
 * is logged.
 */
function refusePublication (session: Session, requestId: number, acknowledge: boolean, topic: string, uri: string, reason: string): void {
  if (acknowledge) session.sendError(T.PUBLISH, requestId, uri, [reason])
  else session.log.warn({ topic, reason }, 'fastify-wamp: publication dropped')
}

function logListenerError (err: unknown, ctx: PublishContext): void {
  ctx.session.log.error({ err, topic: ctx.topic }, 'fastify-wamp: topic handler failed')
}

/**
 * The EVENT for one serializer, text encoded to UTF-8 once for a whole fan-out instead of once per socket; or
 * undefined, logged, when the payload cannot be encoded with it (the subscribers using it get nothing).
 */
function encodeEvent (serializer: Serializer, msg: unknown[], session: Session): string | Buffer | undefined {
  let data: string | Buffer
  try {
    data = serializer.encode(msg)
  } catch (err) {
    session.log.warn({ err, subscription: msg[1], serializer: serializer.id }, 'fastify-wamp: EVENT cannot be encoded for this serializer; its subscribers get nothing')
    return undefined
  }
  return typeof data === 'string' ? Buffer.from(data) : data
}
