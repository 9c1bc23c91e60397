import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { Realm } from './realm.js'
import type { ProcedureHandler, ProcedureOptions } from './dealer.js'
import type { TopicHandler } from './broker.js'
import type { Kwargs } from './messages.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from './validation.js'
import type { Serializer } from './serializers/index.js'
import { Session } from './session.js'
import { CloseUri } from './uris.js'
import { FST_WAMP_NO_SUCH_REALM } from './errors.js'
import type { NormalizedOptions } from './options.js'

export type SessionHook = (session: Session) => unknown

/**
 * `fastify.wamp`: the realms, the registry of open sessions and the session hooks. Procedure and topic methods
 * act on the default realm (the first one configured); `realm(name)` reaches the others.
 */
export class Hub {
  readonly options: NormalizedOptions
  readonly realms: Map<string, Realm>
  /** Every open session, all realms, by session id. */
  readonly sessions: Map<number, Session>
  readonly agent: string
  private readonly defaultRealm: Realm
  private readonly live: Set<Session>
  private readonly openHooks: SessionHook[]
  private readonly closeHooks: SessionHook[]
  private readonly log: FastifyBaseLogger
  private closing: boolean

  constructor (fastify: FastifyInstance, options: NormalizedOptions) {
    this.options = options
    this.realms = new Map(options.realms.map((r) => [r.name, new Realm(r)]))
    this.defaultRealm = this.realms.get(options.realms[0].name) as Realm
    this.sessions = new Map()
    this.agent = options.agent
    this.live = new Set()
    this.openHooks = [...options.onSessionOpen]
    this.closeHooks = [...options.onSessionClose]
    this.log = fastify.log
    this.closing = false
  }

  /** Number of open sessions across all realms. */
  get count (): number {
    return this.sessions.size
  }

  realm (name: string): Realm {
    const realm = this.realms.get(name)
    if (realm === undefined) throw new FST_WAMP_NO_SUCH_REALM(name)
    return realm
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

  publishToAll (topic: string, args?: unknown[], kwargs?: Kwargs): number {
    return this.defaultRealm.publishToAll(topic, args, kwargs)
  }

  service (instance: object, prefix?: string): this {
    this.defaultRealm.service(instance, prefix)
    return this
  }

  /** Runs after WELCOME is sent; the session can already be called and published to. */
  onSessionOpen (hook: SessionHook): this {
    this.openHooks.push(hook)
    return this
  }

  /** Runs once when a session ends, however it ends. */
  onSessionClose (hook: SessionHook): this {
    this.closeHooks.push(hook)
    return this
  }

  // ---- internals -------------------------------------------------------------------------------------------

  accept (socket: WebSocket, request: FastifyRequest, serializer: Serializer): void {
    const session = new Session(this, socket, serializer, request)
    this.live.add(session)
    if (this.closing) session.close(CloseUri.systemShutdown).catch(() => {})
  }

  sessionOpened (session: Session): void {
    this.sessions.set(session.id, session)
  }

  sessionClosed (session: Session): void {
    this.live.delete(session)
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    this.runHooks(this.closeHooks, session, 'onSessionClose')
  }

  runOpenHooks (session: Session): void {
    this.runHooks(this.openHooks, session, 'onSessionOpen')
  }

  private runHooks (hooks: SessionHook[], session: Session, name: string): void {
    for (const hook of hooks) {
      try {
        const result = hook(session) as { then?: unknown } | undefined
        if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
          (result as Promise<unknown>).then(undefined, (err: unknown) => this.hookFailed(err, session, name))
        }
      } catch (err) {
        this.hookFailed(err, session, name)
      }
    }
  }

  private hookFailed (err: unknown, session: Session, name: string): void {
    session.log.error({ err }, `fastify-wamp: ${name} hook failed`)
  }

  /** GOODBYE system_shutdown to every session, then wait (bounded) for them to close (PROTOCOL §1.8). */
  async shutdown (): Promise<void> {
    this.closing = true
    const closing: Array<Promise<void>> = []
    for (const session of this.live) closing.push(session.close(CloseUri.systemShutdown, undefined, this.options.shutdownGrace))
    await Promise.all(closing)
    this.log.debug({ sessions: closing.length }, 'fastify-wamp: all sessions closed')
  }
}
