import type WebSocket from 'ws'
import { MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import type { Serializer } from '../wire/serializers/index.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError, WampResult } from '../wire/wamp-error.js'
import { compilePayload, describeIssues, resultError, validatorFor } from '../validation.js'
import type { ArgsOf, KwargsOf, PayloadSchema, PayloadValidator } from '../validation.js'
import type {
  CallOptions, CallResult, ChallengeHandler, CloseInfo, EventHandler, InvocationDetails, InvocationHandler, PublishOptions,
  ReceivedEvent, RegisterOptions, Registration, SubscribeOptions, Subscription
} from './types.js'
import { Connection, guard } from './connection.js'

// A small, strict WAMP client for tests: one socket, one session, every reply matched by request id (the wire:
// lib/testing/connection.ts). Anything the server sends that this client did not ask for ends the session with
// ABORT protocol_violation, so a test sees server bugs instead of hanging.

interface SubscriptionEntry { topic: string, handlers: Set<EventHandler> }
interface RegistrationEntry { uri: string, handler: InvocationHandler, validator: PayloadValidator | undefined }
interface Waiter { resolve: (e: ReceivedEvent) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }

const MAX_BUFFERED = 1000

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
  private readonly connection: Connection
  private readonly subscriptions: Map<number, SubscriptionEntry>
  private readonly registrations: Map<number, RegistrationEntry>
  private readonly invocations: Map<number, AbortController>
  private readonly buffered: Map<string, ReceivedEvent[]>
  private readonly waiters: Map<string, Waiter[]>

  constructor (ws: WebSocket, serializer: Serializer, replyTimeout: number) {
    this.id = 0
    this.welcome = {}
    this.errors = []
    this.subscriptions = new Map()
    this.registrations = new Map()
    this.invocations = new Map()
    this.buffered = new Map()
    this.waiters = new Map()
    this.connection = new Connection(ws, serializer, replyTimeout, this.errors, {
      welcomed: (id, details) => { this.id = id; this.welcome = details },
      event: (msg) => this.event(msg),
      invocation: (msg) => this.invocation(msg),
      interrupt: (requestId) => this.invocations.get(requestId)?.abort(),
      disconnected: (err) => this.teardown(err)
    })
    this.closed = this.connection.closed
  }

  get isOpen (): boolean {
    return this.connection.isOpen
  }

  /** Calls a procedure; resolves with the RESULT (typed and checked by `options.result`), rejects with WampError. */
  async call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: CallOptions<S> = {}): Promise<CallResult<S>> {
    const callOptions: Details = { ...options.options }
    if (options.timeout !== undefined) callOptions.timeout = options.timeout
    if (options.onProgress !== undefined) callOptions.receive_progress = true
    const id = this.connection.requestId()
    const onAbort = (): void => this.connection.send([T.CANCEL, id, { mode: options.cancelMode ?? 'kill' }])
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const reply = await this.connection.request(T.CALL, `CALL "${uri}"`, withPayload([T.CALL, id, callOptions, uri, args, kwargs]), options.onProgress)
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
    const id = this.connection.requestId()
    const reply = await this.connection.request(T.SUBSCRIBE, `SUBSCRIBE "${topic}"`, [T.SUBSCRIBE, id, options.match === undefined ? {} : { match: options.match }, topic])
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
        await this.connection.request(T.UNSUBSCRIBE, `UNSUBSCRIBE ${subscriptionId}`, [T.UNSUBSCRIBE, this.connection.requestId(), subscriptionId])
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
    const id = this.connection.requestId()
    const msg = withPayload([T.PUBLISH, id, { ...options }, topic, args, kwargs])
    if (options.acknowledge !== true) {
      this.connection.send(msg)
      return undefined
    }
    const reply = await this.connection.request(T.PUBLISH, `PUBLISH "${topic}"`, msg)
    return reply[2] as number
  }

  /**
   * Registers a procedure the server can call with `session.call()`. The handler returns a value (sent as the one
   * positional result), a WampResult, or throws a WampError (sent as ERROR with its URI, args and kwargs).
   */
  async register<S extends PayloadSchema | undefined = undefined> (uri: string,
    handler: InvocationHandler<ArgsOf<S>, KwargsOf<S>>, options: RegisterOptions<S> = {}): Promise<Registration> {
    const reply = await this.connection.request(T.REGISTER, `REGISTER "${uri}"`, [T.REGISTER, this.connection.requestId(), { ...options.options }, uri])
    const id = reply[2] as number
    const validator = compilePayload(options.schema)
    this.registrations.set(id, { uri, handler: handler as InvocationHandler, validator })
    return {
      id,
      uri,
      unregister: async () => {
        if (!this.registrations.delete(id)) return
        await this.connection.request(T.UNREGISTER, `UNREGISTER ${id}`, [T.UNREGISTER, this.connection.requestId(), id])
      }
    }
  }

  /** GOODBYE, then waits for the server's GOODBYE and the socket close (terminates after the reply timeout). */
  async close (reason = 'wamp.close.normal'): Promise<CloseInfo> {
    return await this.connection.close(reason)
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** Sends HELLO and resolves on WELCOME; rejects with WampError on ABORT. */
  handshake (realm: string, details: Details, onChallenge: ChallengeHandler | undefined): Promise<void> {
    return this.connection.handshake(realm, details, onChallenge)
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
    for (const handler of entry.handlers) guard(this.errors, () => handler(event.args, event.kwargs, event))
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
      this.connection.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.noSuchProcedure])
      return undefined
    }
    const args = (msg[4] ?? []) as unknown[]
    const kwargs = (msg[5] ?? {}) as Kwargs
    const issues = registration.validator?.check(args, kwargs)
    if (issues !== undefined) {
      this.connection.send(withPayload([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues }]))
      return undefined
    }
    const controller = new AbortController()
    this.invocations.set(requestId, controller)
    const details = msg[3] as Details
    const info: InvocationDetails = {
      procedure: typeof details.procedure === 'string' ? details.procedure : registration.uri,
      details,
      signal: controller.signal,
      progress: (a, k) => { if (this.invocations.has(requestId)) this.connection.send(withPayload([T.YIELD, requestId, { progress: true }, a, k])) }
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
      this.connection.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.canceled])
    } else if (err instanceof WampError) {
      this.connection.send(withPayload([T.ERROR, T.INVOCATION, requestId, {}, err.uri, err.args, err.kwargs]))
    } else if (err !== undefined) {
      this.errors.push(err)
      this.connection.send([T.ERROR, T.INVOCATION, requestId, {}, ErrorUri.runtimeError, [err instanceof Error ? err.message : String(err)]])
    } else if (value instanceof WampResult) {
      this.connection.send(withPayload([T.YIELD, requestId, {}, value.args, value.kwargs]))
    } else {
      this.connection.send(withPayload([T.YIELD, requestId, {}, value === undefined ? undefined : [value], undefined]))
    }
  }

  private teardown (err: Error): void {
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
