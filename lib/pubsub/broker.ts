import { EMPTY, MessageType as T } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { ErrorUri, isMatchPolicy, isValidUri, quoted } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { randomId, uniqueId } from '../wire/ids.js'
import { describeIssues } from '../validation.js'
import type { Session } from '../session/session.js'
import type { Realm } from '../realm/realm.js'
import { authorize } from '../realm/authorize.js'
import { hold, release } from '../session/inbox.js'
import { PatternIndex } from '../wire/uri-trie.js'
import { publishSubscribed, publishUnsubscribed } from '../realm/meta.js'
import { readPublishOptions } from './publish-filter.js'
import { publishChannel, traceContextAfterStart, tracePublishEnd, tracePublishStart } from '../diagnostics.js'
import { traceContextOf } from '../trace-context.js'
import type { ClientPublication, PublishFilter } from './publish-filter.js'
import type { FanoutAdapter, RemotePublication } from '../cluster/fanout.js'
import { keep } from './retention.js'
import type { Retention } from './retention.js'
import { deliver } from './delivery.js'
import type { History } from './history.js'
import { Subscription } from './subscription.js'
import { runListener, TopicHandlers } from './topic-handlers.js'
import type { PublishContext, TopicHandler } from '../../types/pubsub.js'
import type { WampSession } from '../../types/session.js'
import { peerLog } from '../session/peer-log.js'

/** Decides which client PUBLISHes reach other clients (realm option `broker`); undefined = none do. */
export type PublishAllow = (topic: string, session: WampSession) => boolean

export type { PublishContext, TopicHandler }

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
  /** The application's handlers of client PUBLISHes, by topic. */
  readonly handlers: TopicHandlers
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
    this.handlers = new TopicHandlers()
  }

  // ---- client SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------------

  subscribe (session: Session, msg: WampMessage, authorized = false): void {
    const requestId = msg[1] as number
    const topic = msg[3] as string
    const match = (msg[2] as Details).match ?? 'exact'
    const getRetained = (msg[2] as Details).get_retained
    const retained = getRetained === true && this.retention !== undefined
    if (!isMatchPolicy(match)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidArgument, [`unknown match policy "${String(match)}"`])
    }
    if (getRetained !== undefined && typeof getRetained !== 'boolean') {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidArgument, ['SUBSCRIBE.Options.get_retained must be a boolean'])
    }
    if (!isValidUri(topic, match as MatchPolicy)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidUri, [`${quoted(topic)} is not a valid ${match} topic URI`])
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
   * The session joins the subscription: SUBSCRIBED, then — when it is new to the session — the retained events it
   * asked for (`get_retained`) and the meta event. The same SUBSCRIBE again only answers SUBSCRIBED (spec "Event
   * Retention": the retained event comes "upon a new client subscription").
   */
  private join (session: Session, requestId: number, subscription: Subscription, created: boolean, retained: boolean): void {
    const added = !subscription.sessions.has(session)
    subscription.sessions.add(session)
    session.subscriptions.add(subscription)
    session.send([T.SUBSCRIBED, requestId, subscription.id])
    if (!added) return
    if (retained) (this.retention as Retention).send(session, subscription)
    if (session.hub.options.metaApi) publishSubscribed(session, subscription, created)
    session.hub.hooks.clientEvent('subscribe', session, subscription)
  }

  /**
   * SUBSCRIBED once the fan-out engine has made the subscription effective on the other instances (a publication
   * made there after SUBSCRIBED must arrive). The session reads nothing meanwhile, so its later messages keep their
   * order, and it joins the subscription only then, so no EVENT precedes SUBSCRIBED.
   */
  private whenConfirmed (session: Session, requestId: number, subscription: Subscription, confirming: PromiseLike<void>, created: boolean, retained: boolean): void {
    hold(session)
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
      release(session)
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
    session.hub.hooks.clientEvent('unsubscribe', session, subscription)
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
    keep(this, topic, publicationId, args, kwargs, undefined, filter, retain)
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
    const sent = deliver(this.realm.counters, subscription, publication.publicationId, details, publication.args, publication.kwargs, undefined, publication.filter)
    if (trace !== undefined) tracePublishEnd(trace, sent)
  }

  /** Local delivery to exact and pattern subscribers; `base` details (publisher disclosure) are shared by all. */
  private fanOut (topic: string, publicationId: number, base: Details, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, only: Session | undefined, filter: PublishFilter | undefined): number {
    let sent = 0
    const exact = this.exact.get(topic)
    if (exact !== undefined) sent += deliver(this.realm.counters, exact, publicationId, base, args, kwargs, only, filter)
    if (this.patterns.size > 0) {
      let details: Details | undefined
      this.patterns.forEachMatch(topic, (subscription) => {
        details ??= base === EMPTY ? { topic } : { topic, ...base }
        sent += deliver(this.realm.counters, subscription, publicationId, details, args, kwargs, only, filter)
      })
    }
    return sent
  }

  // ---- client PUBLISH → other clients and the application's topic handlers ---------------------------------

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
      if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidUri, [`${quoted(topic)} is not a valid topic URI for a client publication`])
      else session.log.debug({ topic }, 'fastify-wamp: publication to an invalid or reserved topic dropped')
      return
    }
    if (!authorized && this.realm.authorizer !== undefined) return authorize(session, msg, 'publish', topic, options)
    // Nothing new starts once shutdown began (PROTOCOL §7.6): the publication is refused as a new CALL is.
    if (session.draining) return refusePublication(session, requestId, acknowledge, topic, ErrorUri.canceled, 'the server is shutting down')
    // Subscribers may use any serializer, here and on other instances: a value JSON cannot carry is refused whole.
    if (!session.portable) return refusePublication(session, requestId, acknowledge, topic, ErrorUri.invalidArgument, 'an integer beyond 2^53 (bignum) cannot reach subscribers of every serializer')
    const listeners = this.handlers.get(topic)
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
    keep(this, topic, publicationId, args, kwargs, publication.publisher, publication.filter, publication.retain, publisher)
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

/**
 * A PUBLISH that starts nothing: ERROR when acknowledged; otherwise the spec gives no channel back, so the drop
 * is logged.
 */
function refusePublication (session: Session, requestId: number, acknowledge: boolean, topic: string, uri: string, reason: string): void {
  if (acknowledge) session.sendError(T.PUBLISH, requestId, uri, [reason])
  else peerLog(session, 'warn', { topic, reason }, 'fastify-wamp: publication dropped')
}
