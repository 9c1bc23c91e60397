import { EMPTY, MessageType as T, withPayload } from './messages.js'
import type { Details, Kwargs, WampMessage } from './messages.js'
import { ErrorUri, isValidUri, matchesWildcard } from './uris.js'
import type { MatchPolicy } from './uris.js'
import { randomId, uniqueId } from './ids.js'
import { describeIssues, PayloadValidator } from './validation.js'
import type { PayloadSchema } from './validation.js'
import { isThenable } from './call.js'
import type { Serializer } from './serializers/index.js'
import type { Session } from './session.js'
import type { Realm } from './realm.js'

/** A subscription: one (topic, match) in the realm, shared by every session that subscribed to it. */
export class Subscription {
  readonly id: number
  readonly topic: string
  readonly match: MatchPolicy
  readonly parts: string[] | undefined
  readonly sessions: Set<Session>

  constructor (id: number, topic: string, match: MatchPolicy) {
    this.id = id
    this.topic = topic
    this.match = match
    this.parts = match === 'wildcard' ? topic.split('.') : undefined
    this.sessions = new Set()
  }

  matches (topic: string): boolean {
    if (this.match === 'prefix') return topic.startsWith(this.topic)
    return matchesWildcard(this.parts as string[], topic)
  }
}

export interface PublishContext {
  /** The publishing session. */
  readonly session: Session
  readonly topic: string
  readonly publicationId: number
  /** PUBLISH.Options as the client sent them. */
  readonly details: Details
}

export type TopicHandler<A = unknown[], K = Kwargs> = (args: A, kwargs: K, ctx: PublishContext) => unknown

interface TopicListener { readonly handler: TopicHandler, readonly validator: PayloadValidator | undefined }

const MATCHES = new Set(['exact', 'prefix', 'wildcard'])

/**
 * Subscriptions and publications in one realm. An EVENT is encoded once per serializer per subscription and the
 * same bytes go to every subscriber.
 */
export class Broker {
  readonly realm: Realm
  private readonly exact: Map<string, Subscription>
  private readonly patterns: Map<string, Subscription>
  readonly byId: Map<number, Subscription>
  private readonly listeners: Map<string, TopicListener[]>

  constructor (realm: Realm) {
    this.realm = realm
    this.exact = new Map()
    this.patterns = new Map()
    this.byId = new Map()
    this.listeners = new Map()
  }

  // ---- client SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------------------------

  subscribe (session: Session, msg: WampMessage): void {
    const requestId = msg[1] as number
    const topic = msg[3] as string
    const match = (msg[2] as Details).match ?? 'exact'
    if (typeof match !== 'string' || !MATCHES.has(match)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidArgument, [`unknown match policy "${String(match)}"`])
    }
    if (!isValidUri(topic, match as MatchPolicy)) {
      return session.sendError(T.SUBSCRIBE, requestId, ErrorUri.invalidUri, [`"${topic}" is not a valid ${match} topic URI`])
    }
    const table = match === 'exact' ? this.exact : this.patterns
    const key = match === 'exact' ? topic : `${match}:${topic}`
    let subscription = table.get(key)
    if (subscription === undefined) {
      subscription = new Subscription(uniqueId(this.byId), topic, match as MatchPolicy)
      table.set(key, subscription)
      this.byId.set(subscription.id, subscription)
    }
    subscription.sessions.add(session)
    session.subscriptions.add(subscription)
    session.send([T.SUBSCRIBED, requestId, subscription.id])
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

  private drop (session: Session, subscription: Subscription): void {
    session.subscriptions.delete(subscription)
    subscription.sessions.delete(session)
    if (subscription.sessions.size > 0) return
    this.byId.delete(subscription.id)
    if (subscription.match === 'exact') this.exact.delete(subscription.topic)
    else this.patterns.delete(`${subscription.match}:${subscription.topic}`)
  }

  // ---- publishing to subscribers ---------------------------------------------------------------------------

  /** Sends an EVENT to every subscriber of `topic` (or only to `only`); returns the number of EVENTs sent. */
  publish (topic: string, args?: unknown[], kwargs?: Kwargs, only?: Session): number {
    const publicationId = randomId()
    let sent = 0
    const exact = this.exact.get(topic)
    if (exact !== undefined) sent += this.deliver(exact, publicationId, EMPTY, args, kwargs, only)
    if (this.patterns.size > 0) {
      let details: Details | undefined
      for (const subscription of this.patterns.values()) {
        if (!subscription.matches(topic)) continue
        details ??= { topic }
        sent += this.deliver(subscription, publicationId, details, args, kwargs, only)
      }
    }
    return sent
  }

  private deliver (subscription: Subscription, publicationId: number, details: Details, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, only: Session | undefined): number {
    if (only !== undefined) {
      if (!subscription.sessions.has(only) || !only.isOpen) return 0
      only.send(withPayload([T.EVENT, subscription.id, publicationId, details], args, kwargs))
      return 1
    }
    const msg = withPayload([T.EVENT, subscription.id, publicationId, details], args, kwargs)
    // One encode per serializer: nearly always one or two, so a pair of slots beats a Map.
    let s1: Serializer | undefined; let d1: string | Buffer | undefined
    let s2: Serializer | undefined; let d2: string | Buffer | undefined
    let sent = 0
    for (const session of subscription.sessions) {
      if (!session.isOpen) continue
      const transport = session.transport
      const serializer = transport.serializer
      let data: string | Buffer
      if (serializer === s1) data = d1 as string | Buffer
      else if (serializer === s2) data = d2 as string | Buffer
      else if (s1 === undefined) { s1 = serializer; data = d1 = serializer.encode(msg) } else if (s2 === undefined) { s2 = serializer; data = d2 = serializer.encode(msg) } else data = serializer.encode(msg)
      transport.write(data)
      sent++
    }
    return sent
  }

  // ---- client PUBLISH → the application's topic handlers ---------------------------------------------------

  listen (topic: string, handler: TopicHandler, schema: PayloadSchema | undefined): void {
    const validator = schema === undefined || (schema.args === undefined && schema.kwargs === undefined)
      ? undefined
      : new PayloadValidator(schema)
    const list = this.listeners.get(topic)
    if (list === undefined) this.listeners.set(topic, [{ handler, validator }])
    else list.push({ handler, validator })
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

  /** Client PUBLISH (PROTOCOL §4.5): validated, acknowledged, then handed to the topic's handlers. */
  publishFrom (session: Session, msg: WampMessage): void {
    const requestId = msg[1] as number
    const options = msg[2] as Details
    const topic = msg[3] as string
    const args = (msg[4] ?? []) as unknown[]
    const kwargs = (msg[5] ?? {}) as Kwargs
    const acknowledge = options.acknowledge === true
    if (!isValidUri(topic)) {
      if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidUri, [`"${topic}" is not a valid topic URI`])
      return
    }
    const listeners = this.listeners.get(topic)
    if (listeners !== undefined) {
      for (const listener of listeners) {
        const issues = listener.validator?.check(args, kwargs)
        if (issues === undefined) continue
        if (acknowledge) session.sendError(T.PUBLISH, requestId, ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues })
        else session.log.debug({ topic, issues }, 'fastify-wamp: publication refused')
        return
      }
    }
    const publicationId = randomId()
    if (acknowledge) session.send([T.PUBLISHED, requestId, publicationId])
    if (listeners === undefined) return
    const ctx: PublishContext = { session, topic, publicationId, details: options }
    for (const listener of listeners) runListener(listener.handler, args, kwargs, ctx)
  }
}

function runListener (handler: TopicHandler, args: unknown[], kwargs: Kwargs, ctx: PublishContext): void {
  try {
    const result = handler(args, kwargs, ctx)
    if (isThenable(result)) result.then(undefined, (err: unknown) => logListenerError(err, ctx))
  } catch (err) {
    logListenerError(err, ctx)
  }
}

function logListenerError (err: unknown, ctx: PublishContext): void {
  ctx.session.log.error({ err, topic: ctx.topic }, 'fastify-wamp: topic handler failed')
}
