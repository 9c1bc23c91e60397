import WebSocket from 'ws'
import type { RawData } from 'ws'
import { isDict, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import type { Serializer } from '../wire/serializers/index.js'
import { CloseUri, ErrorUri } from '../wire/uris.js'
import { WampError, WampResult } from '../wire/wamp-error.js'
import { isThenable } from '../thenable.js'
import { compilePayload, describeIssues, resultError, validatorFor } from '../validation.js'
import type { ArgsOf, KwargsOf, PayloadSchema, PayloadValidator } from '../validation.js'
import type {
  CallOptions, CallResult, ChallengeHandler, CloseInfo, EventHandler, InvocationDetails, InvocationHandler, PublishOptions,
  ReceivedEvent, RegisterOptions, Registration, SubscribeOptions, Subscription
} from './types.js'

// A small, strict WAMP client for tests: one socket, one session, every reply matched by request id. Anything
// the server sends that this client did not ask for ends the session with ABORT protocol_violation, so a test
// sees server bugs instead of hanging.

interface Pending {
  readonly type: number
  readonly what: string
  readonly resolve: (msg: WampMessage) => void
  readonly reject: (err: unknown) => void
  readonly timer: NodeJS.Timeout
  readonly onProgress: ((result: { args: unknown[], kwargs: Kwargs }) => void) | undefined
}

interface SubscriptionEntry { topic: string, handlers: Set<EventHandler> }
interface RegistrationEntry { uri: string, handler: InvocationHandler, validator: PayloadValidator | undefined }
interface Waiter { resolve: (e: ReceivedEvent) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }

const MAX_BUFFERED = 1000

// Request message type → its success reply.
const REPLY: Record<number, number> = {
  [T.CALL]: T.RESULT,
  [T.SUBSCRIBE]: T.SUBSCRIBED,
  [T.UNSUBSCRIBE]: T.UNSUBSCRIBED,
  [T.PUBLISH]: T.PUBLISHED,
  [T.REGISTER]: T.REGISTERED,
  [T.UNREGISTER]: T.UNREGISTERED
}

export const CLIENT_ROLES: Details = {
  caller: { features: { progressive_call_results: true, call_canceling: true, call_timeout: true, caller_identification: true } },
  callee: { features: { progressive_call_results: true, call_canceling: true } },
  publisher: { features: { publisher_exclusion: true, subscriber_blackwhite_listing: true, publisher_identification: true } },
  subscriber: { features: { pattern_based_subscription: true } }
}

/** A WAMP session for tests; create it with `connect()`. */
export class TestClient {
  /** Session id from WELCOME. */
  id: number
  /** WELCOME.Details: realm, authid, authrole, roles… */
  welcome: Details
  /** Exceptions thrown by event and invocation handlers (a test can assert it stays empty). */
  readonly errors: unknown[]
  /** Resolves when the socket has closed. */
  readonly closed: Promise<CloseInfo>
  private readonly ws: WebSocket
  private readonly serializer: Serializer
  private readonly replyTimeout: number
  private nextId: number
  private closeReason: string | undefined
  private goodbyeSent: boolean
  private readonly pending: Map<number, Pending>
  private readonly subscriptions: Map<number, SubscriptionEntry>
  private readonly registrations: Map<number, RegistrationEntry>
  private readonly invocations: Map<number, AbortController>
  private readonly buffered: Map<string, ReceivedEvent[]>
  private readonly waiters: Map<string, Waiter[]>
  private onWelcome: ((msg: WampMessage) => void) | undefined

  constructor (ws: WebSocket, serializer: Serializer, replyTimeout: number) {
    this.id = 0
    this.welcome = {}
    this.errors = []
    this.ws = ws
    this.serializer = serializer
    this.replyTimeout = replyTimeout
    this.nextId = 1
    this.closeReason = undefined
    this.goodbyeSent = false
    this.pending = new Map()
    this.subscriptions = new Map()
    this.registrations = new Map()
    this.invocations = new Map()
    this.buffered = new Map()
    this.waiters = new Map()
    this.onWelcome = undefined
    this.closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.teardown(new Error(`WAMP connection closed (${code}${this.closeReason === undefined ? '' : ` ${this.closeReason}`})`))
        resolve({ code, reason: this.closeReason })
      })
    })
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(data as Buffer, isBinary))
    ws.on('error', (err) => this.errors.push(err))
  }

  get isOpen (): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.id !== 0 && !this.goodbyeSent && this.closeReason === undefined
  }

  /** Calls a procedure; resolves with the RESULT (typed and checked by `options.result`), rejects with WampError. */
  async call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: CallOptions<S> = {}): Promise<CallResult<S>> {
    const callOptions: Details = { ...options.options }
    if (options.timeout !== undefined) callOptions.timeout = options.timeout
    if (options.onProgress !== undefined) callOptions.receive_progress = true
    const id = this.requestId()
    const onAbort = (): void => this.send([T.CANCEL, id, { mode: options.cancelMode ?? 'kill' }])
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const reply = await this.request(T.CALL, `CALL "${uri}"`, withPayload([T.CALL, id, callOptions, uri], args, kwargs), options.onProgress)
      const result = { args: (reply[3] ?? []) as unknown[], kwargs: (reply[4] ?? {}) as Kwargs, details: reply[2] as Details }
      if (options.result !== undefined) {
        const invalid = resultError(validatorFor(options.result), result.args, result.kwargs)
        if (invalid !== undefined) throw invalid
      }
      return result as CallResult<S>
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Subscribes; every EVENT goes to `handler` (if given) and to the buffer `nextEvent()` reads. */
  async subscribe<S extends PayloadSchema | undefined = undefined> (topic: string,
    handler?: EventHandler<ArgsOf<S>, KwargsOf<S>>, options: SubscribeOptions<S> = {}): Promise<Subscription> {
    const id = this.requestId()
    const reply = await this.request(T.SUBSCRIBE, `SUBSCRIBE "${topic}"`, [T.SUBSCRIBE, id, options.match === undefined ? {} : { match: options.match }, topic])
    const subscriptionId = reply[2] as number
    let entry = this.subscriptions.get(subscriptionId)
    if (entry === undefined) this.subscriptions.set(subscriptionId, entry = { topic, handlers: new Set() })
    const own: EventHandler = handler === undefined ? () => {} : handler as EventHandler
    entry.handlers.add(own)
    return {
      id: subscriptionId,
      topic,
      unsubscribe: async () => {
        const current = this.subscriptions.get(subscriptionId)
        if (current === undefined || !current.handlers.delete(own) || current.handlers.size > 0) return
        this.subscriptions.delete(subscriptionId)
        await this.request(T.UNSUBSCRIBE, `UNSUBSCRIBE ${subscriptionId}`, [T.UNSUBSCRIBE, this.requestId(), subscriptionId])
      }
    }
  }

  /**
   * The oldest EVENT received for `topic` and not read yet, or the next one to arrive within `timeout` ms.
   * Events are buffered (up to 1000 per topic) from the moment the subscription exists, so no event is missed.
   */
  nextEvent (topic: string, timeout = 2000): Promise<ReceivedEvent> {
    const queue = this.buffered.get(topic)
    if (queue !== undefined && queue.length > 0) return Promise.resolve(queue.shift() as ReceivedEvent)
    if (!this.isOpen) return Promise.reject(new Error('the WAMP session is closed'))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.set(topic, (this.waiters.get(topic) ?? []).filter((w) => w !== waiter))
          reject(new Error(`no EVENT on "${topic}" within ${timeout} ms`))
        }, timeout)
      }
      const list = this.waiters.get(topic)
      if (list === undefined) this.waiters.set(topic, [waiter])
      else list.push(waiter)
    })
  }

  /** Publishes; with `acknowledge: true` resolves with the publication id (or rejects with WampError). */
  async publish (topic: string, args?: unknown[], kwargs?: Kwargs, options: PublishOptions = {}): Promise<number | undefined> {
    const id = this.requestId()
    const msg = withPayload([T.PUBLISH, id, { ...options }, topic], args, kwargs)
    if (options.acknowledge !== true) {
      this.send(msg)
      return undefined
    }
    const reply = await this.request(T.PUBLISH, `PUBLISH "${topic}"`, msg)
    return reply[2] as number
  }

  /**
   * Registers a procedure the server can call with `session.call()`. The handler returns a value (sent as the one
   * positional result), a WampResult, or throws a WampError (sent as ERROR with its URI, args and kwargs).
   */
  async register<S extends PayloadSchema | undefined = undefined> (uri: string,
    handler: InvocationHandler<ArgsOf<S>, KwargsOf<S>>, options: RegisterOptions<S> = {}): Promise<Registration> {
    const reply = await this.request(T.REGISTER, `REGISTER "${uri}"`, [T.REGISTER, this.requestId(), { ...options.options }, uri])
    const id = reply[2] as number
    const validator = compilePayload(options.schema)
    this.registrations.set(id, { uri, handler: handler as InvocationHandler, validator })
    return {
      id,
      uri,
      unregister: async () => {
        if (!this.registrations.delete(id)) return
        await this.request(T.UNREGISTER, `UNREGISTER ${id}`, [T.UNREGISTER, this.requestId(), id])
      }
    }
  }

  /** GOODBYE, then waits for the server's GOODBYE and the socket close (terminates after the reply timeout). */
  async close (reason = 'wamp.close.normal'): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN && !this.goodbyeSent && this.closeReason === undefined) {
      this.goodbyeSent = true
      this.send([T.GOODBYE, {}, reason])
      const timer = setTimeout(() => this.ws.terminate(), this.replyTimeout)
      const info = await this.closed
      clearTimeout(timer)
      return info
    }
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close()
    return await this.closed
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** Sends HELLO and resolves on WELCOME; rejects with WampError on ABORT. */
  handshake (realm: string, details: Details, onChallenge: ChallengeHandler | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: unknown): void => { this.onWelcome = undefined; reject(err) }
      this.closed.then((info) => fail(new Error(`WAMP connection closed during the handshake (${info.code} ${info.reason ?? ''})`)), fail)
      this.onWelcome = (msg) => {
        const type = msg[0]
        if (type === T.WELCOME) {
          this.onWelcome = undefined
          this.id = msg[1] as number
          this.welcome = msg[2] as Details
          return resolve()
        }
        if (type === T.ABORT) {
          const info = msg[1] as Details
          this.closeReason = msg[2] as string
          this.ws.close()
          return fail(new WampError(msg[2] as string, typeof info.message === 'string' ? [info.message] : [], info))
        }
        if (type === T.CHALLENGE && onChallenge !== undefined) {
          Promise.resolve(onChallenge(msg[1] as string, msg[2] as Details)).then(
            (signature) => this.send([T.AUTHENTICATE, signature, {}]),
            (err: unknown) => { this.abort(ErrorUri.authenticationFailed, String(err)); fail(err) })
          return
        }
        this.abort(ErrorUri.protocolViolation, `unexpected message type ${String(type)} during the handshake`)
        fail(new Error(`unexpected message during the handshake: ${JSON.stringify(msg)}`))
      }
      this.send([T.HELLO, realm, details])
    })
  }

  private requestId (): number {
    return this.nextId++
  }

  private send (msg: WampMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(this.serializer.encode(msg))
  }

  private request (type: number, what: string, msg: WampMessage,
    onProgress?: (result: { args: unknown[], kwargs: Kwargs }) => void): Promise<WampMessage> {
    if (!this.isOpen) return Promise.reject(new Error(`cannot send ${what}: the WAMP session is closed`))
    const id = msg[1] as number
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`no reply to ${what} within ${this.replyTimeout} ms`))
      }, this.replyTimeout)
      this.pending.set(id, { type, what, resolve, reject, timer, onProgress })
      this.send(msg)
    })
  }

  private receive (data: Buffer, isBinary: boolean): void {
    let msg: unknown
    try {
      if (isBinary !== this.serializer.binary) throw new Error('wrong frame type')
      msg = this.serializer.decode(data)
    } catch (err) {
      return this.abort(ErrorUri.protocolViolation, `undecodable frame: ${(err as Error).message}`)
    }
    if (!Array.isArray(msg) || typeof msg[0] !== 'number') return this.abort(ErrorUri.protocolViolation, 'a WAMP message must be a list')
    if (this.onWelcome !== undefined) return this.onWelcome(msg)
    const problem = this.dispatch(msg)
    if (problem !== undefined) this.abort(ErrorUri.protocolViolation, `${problem}: ${JSON.stringify(msg)}`)
  }

  /** Returns what was wrong with the message, if anything. */
  private dispatch (msg: WampMessage): string | undefined {
    switch (msg[0]) {
      case T.RESULT: case T.SUBSCRIBED: case T.UNSUBSCRIBED: case T.PUBLISHED: case T.REGISTERED: case T.UNREGISTERED:
        return this.reply(msg)
      case T.ERROR: return this.reply(msg)
      case T.EVENT: return this.event(msg)
      case T.INVOCATION: return this.invocation(msg)
      case T.INTERRUPT:
        this.invocations.get(msg[1] as number)?.abort()
        return undefined
      case T.GOODBYE:
        this.closeReason = msg[2] as string
        if (!this.goodbyeSent) this.send([T.GOODBYE, {}, CloseUri.goodbyeAndOut])
        this.ws.close(1000)
        return undefined
      case T.ABORT:
        this.closeReason = msg[2] as string
        this.ws.close()
        return undefined
      default: return `unexpected message type ${String(msg[0])}`
    }
  }

  private reply (msg: WampMessage): string | undefined {
    const isError = msg[0] === T.ERROR
    // UNSUBSCRIBED/UNREGISTERED with request 0 is a revocation by the router.
    if (!isError && (msg[0] === T.UNSUBSCRIBED || msg[0] === T.UNREGISTERED) && msg[1] === 0) return undefined
    const id = (isError ? msg[2] : msg[1]) as number
    const pending = this.pending.get(id)
    const expected = pending === undefined ? undefined : isError ? pending.type : REPLY[pending.type]
    if (pending === undefined || (isError ? msg[1] : msg[0]) !== expected) return `reply for no request ${id} in flight`
    if (msg[0] === T.RESULT && isDict(msg[2]) && msg[2].progress === true) {
      if (pending.onProgress === undefined) return 'progressive RESULT without receive_progress'
      this.guard(() => pending.onProgress?.({ args: (msg[3] ?? []) as unknown[], kwargs: (msg[4] ?? {}) as Kwargs }))
      return undefined
    }
    this.pending.delete(id)
    clearTimeout(pending.timer)
    if (isError) pending.reject(new WampError(msg[4] as string, (msg[5] ?? []) as unknown[], (msg[6] ?? {}) as Kwargs))
    else pending.resolve(msg)
    return undefined
  }

  private event (msg: WampMessage): string | undefined {
    const entry = this.subscriptions.get(msg[1] as number)
    if (entry === undefined) return `EVENT for unknown subscription ${String(msg[1])}`
    const details = msg[3] as Details
    const event: ReceivedEvent = {
      topic: typeof details.topic === 'string' ? details.topic : entry.topic,
      args: (msg[4] ?? []) as unknown[],
      kwargs: (msg[5] ?? {}) as Kwargs,
      details,
      subscription: msg[1] as number,
      publication: msg[2] as number
    }
    for (const handler of entry.handlers) this.guard(() => handler(event.args, event.kwargs, event))
    const waiter = this.waiters.get(event.topic)?.shift()
    if (waiter !== undefined) {
      clearTimeout(waiter.timer)
      waiter.resolve(event)
      return undefined
    }
    let queue = this.buffered.get(event.topic)
    if (queue === undefined) this.buffered.set(event.topic, queue = [])
    if (queue.length >= MAX_BUFFERED) queue.shift()
    queue.push(event)
    return undefined
  }

  private invocation (msg: WampMessage): string | undefined {
    const requestId = msg[1] as number
    const registration = this.registrations.get(msg[2] as number)
    if (registration === undefined) {
      this.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.noSuchProcedure])
      return undefined
    }
    const args = (msg[4] ?? []) as unknown[]
    const kwargs = (msg[5] ?? {}) as Kwargs
    const issues = registration.validator?.check(args, kwargs)
    if (issues !== undefined) {
      this.send(withPayload([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.invalidArgument], [describeIssues(issues)], { errors: issues }))
      return undefined
    }
    const controller = new AbortController()
    this.invocations.set(requestId, controller)
    const details = msg[3] as Details
    const info: InvocationDetails = {
      procedure: typeof details.procedure === 'string' ? details.procedure : registration.uri,
      details,
      signal: controller.signal,
      progress: (a, k) => { if (this.invocations.has(requestId)) this.send(withPayload([T.YIELD, requestId, { progress: true }], a, k)) }
    }
    new Promise((resolve) => resolve(registration.handler(args, kwargs, info))).then(
      (value) => this.answer(requestId, value, undefined),
      (err: unknown) => this.answer(requestId, undefined, err))
    return undefined
  }

  private answer (requestId: number, value: unknown, err: unknown): void {
    const controller = this.invocations.get(requestId)
    if (controller === undefined) return
    this.invocations.delete(requestId)
    if (controller.signal.aborted) {
      this.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.canceled])
    } else if (err instanceof WampError) {
      this.send(withPayload([T.ERROR, T.INVOCATION, requestId, {}, err.uri], err.args, err.kwargs))
    } else if (err !== undefined) {
      this.errors.push(err)
      this.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.runtimeError, [err instanceof Error ? err.message : String(err)]])
    } else if (value instanceof WampResult) {
      this.send(withPayload([T.YIELD, requestId, {}], value.args, value.kwargs))
    } else {
      this.send(withPayload([T.YIELD, requestId, {}], value === undefined ? undefined : [value], undefined))
    }
  }

  private guard (fn: () => unknown): void {
    try {
      const result = fn()
      if (isThenable(result)) result.then(undefined, (err: unknown) => this.errors.push(err))
    } catch (err) {
      this.errors.push(err)
    }
  }

  private abort (uri: string, message: string): void {
    this.errors.push(new Error(`${uri}: ${message}`))
    this.closeReason = uri
    this.send([T.ABORT, { message }, uri])
    this.ws.close(1002)
  }

  private teardown (err: Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.pending.clear()
    for (const list of this.waiters.values()) {
      for (const waiter of list) {
        clearTimeout(waiter.timer)
        waiter.reject(err)
      }
    }
    this.waiters.clear()
    for (const controller of this.invocations.values()) controller.abort()
    this.invocations.clear()
  }
}
