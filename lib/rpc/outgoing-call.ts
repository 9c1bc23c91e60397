import { MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { resultError, validatorFor } from '../validation.js'
import type { PayloadValidator } from '../validation.js'
import type { PayloadSchema } from '../validation.js'
import type { Session } from '../session/session.js'
import type { ClientRegistration } from './registry.js'
import { invokeChannel, traceCallStart, traceReturned, traceSettled } from '../diagnostics.js'
import type { CallState } from '../diagnostics.js'
import { validTraceparent } from '../trace-context.js'
import type { TraceContext } from '../trace-context.js'

/** The client behind a routed call that crosses instances (router mode), for caller disclosure. */
export interface CallerIdentity { id: number, authid: string, authrole: string, discloseMe: boolean }

import type { CallResult, ClientCallOptions } from '../../types/call.js'

/** Who hears how an OutgoingCall ends (exactly once). */
export interface CallSettlement { resolve: (r: CallResult) => void, reject: (e: unknown) => void }

export type { CallResult, ClientCallOptions }

/**
 * One server → client call in flight (PROTOCOL §3). Settles once: YIELD, ERROR, timeout, cancel or the session
 * leaving. INTERRUPT goes out only to callees that announced `call_canceling`; late answers are discarded.
 */
export class OutgoingCall {
  readonly session: Session
  readonly requestId: number
  private readonly onProgress: ((result: CallResult) => void) | undefined
  private readonly validator: PayloadValidator | undefined
  private readonly signal: AbortSignal | undefined
  /** Listens on `signal` (made only for a call that has one). */
  private readonly onAbort: (() => void) | undefined
  private readonly done: CallSettlement
  private timer: NodeJS.Timeout | undefined
  /** Only while `fastify-wamp:invoke` has subscribers. */
  trace: CallState | undefined
  /** performance.now() when it went out, with `metrics: true` (else 0). */
  private readonly started: number

  constructor (session: Session, requestId: number, options: ClientCallOptions<PayloadSchema | undefined>,
    done: CallSettlement) {
    this.session = session
    this.requestId = requestId
    this.onProgress = options.onProgress
    this.validator = options.result === undefined ? undefined : validatorFor(options.result)
    this.signal = options.signal
    this.done = done
    this.trace = undefined
    this.started = session.hub.counters.latency === undefined ? 0 : performance.now()
    this.timer = options.timeout !== undefined && options.timeout > 0
      ? setTimeout(() => this.interrupt(new WampError(ErrorUri.timeout, ['call timed out'])), options.timeout)
      : undefined
    if (this.signal === undefined) this.onAbort = undefined
    else this.signal.addEventListener('abort', this.onAbort = () => this.cancel())
  }

  /** Cancels the call as an aborted `signal` would (for callers that hold the call rather than a signal). */
  cancel (): void {
    this.interrupt(new WampError(ErrorUri.canceled, ['call canceled']))
  }

  progress (args: unknown[], kwargs: Kwargs): void {
    if (this.onProgress === undefined) return
    try {
      this.onProgress({ args, kwargs })
    } catch (err) {
      this.session.log.error({ err }, 'fastify-wamp: onProgress callback failed')
    }
  }

  resolve (args: unknown[], kwargs: Kwargs): void {
    const invalid = resultError(this.validator, args, kwargs)
    if (invalid !== undefined) return this.reject(invalid)
    this.settle()
    if (this.trace !== undefined) traceSettled(invokeChannel, this.trace, undefined)
    this.done.resolve({ args, kwargs } as CallResult)
  }

  reject (err: unknown): void {
    this.settle()
    if (this.trace !== undefined) {
      this.trace.error = err
      traceSettled(invokeChannel, this.trace, err instanceof WampError ? err.uri : ErrorUri.runtimeError)
    }
    this.done.reject(err)
  }

  /** Timeout or cancel: INTERRUPT if the callee can take it, then reject now and discard whatever comes later. */
  private interrupt (err: WampError): void {
    if (this.session.invocations.get(this.requestId) !== this) return
    if (this.session.announces('callee', 'call_canceling')) {
      this.session.send([T.INTERRUPT, this.requestId, { mode: 'killnowait', reason: err.uri }])
    }
    this.reject(err)
  }

  /** The session is gone. */
  abandon (reason: string): void {
    this.reject(new WampError(ErrorUri.canceled, [reason]))
  }

  private settle (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort)
    if (this.session.invocations.get(this.requestId) !== this) return
    this.session.invocations.delete(this.requestId)
    if (this.started !== 0) this.session.hub.counters.latency?.appToClient.observe(performance.now() - this.started)
  }
}

export function findRegistration (session: Session, uri: string): ClientRegistration | undefined {
  for (const r of session.registrations.values()) if (r.uri === uri) return r
  return undefined
}

/** The next INVOCATION request id of a session (server → client calls and routed client → client calls alike). */
export function nextRequestId (session: Session): number {
  const id = session.nextRequestId++
  if (session.nextRequestId > 2 ** 53) session.nextRequestId = 1
  return id
}

/** `session.call()`: INVOCATION to a procedure the client registered. */
export function callClient (session: Session, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
  options: ClientCallOptions<PayloadSchema | undefined>): Promise<CallResult> {
  if (!session.isOpen) return Promise.reject(new WampError(ErrorUri.canceled, ['the session is closed']))
  const registration = findRegistration(session, uri)
  if (registration === undefined) {
    return Promise.reject(new WampError(ErrorUri.noSuchProcedure, [`session ${session.id} has not registered "${uri}"`]))
  }
  return invokeCallee(registration, uri, args, kwargs, options)
}

/** INVOCATION of `uri` to one callee of a registration (`session.call()`, `realm.call()`). */
export function invokeCallee (registration: ClientRegistration, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
  options: ClientCallOptions<PayloadSchema | undefined>, caller?: CallerIdentity): Promise<CallResult> {
  return new Promise((resolve, reject) => { invoke(registration, uri, args, kwargs, options, { resolve, reject }, caller) })
}

/**
 * The same without a promise: `done` hears the one settlement (a call served for another instance is its own
 * `done`). Returns the call in flight, or undefined when it ended at once (`done.reject` was called).
 */
export function invoke (registration: ClientRegistration, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
  options: ClientCallOptions<PayloadSchema | undefined>, done: CallSettlement, caller?: CallerIdentity): OutgoingCall | undefined {
  const session = registration.session
  const refused = !session.isOpen ? 'the session is closed' : options.signal?.aborted === true ? 'call canceled' : undefined
  if (refused !== undefined) {
    done.reject(new WampError(ErrorUri.canceled, [refused]))
    return undefined
  }
  const requestId = nextRequestId(session)
  const call = new OutgoingCall(session, requestId, options, done)
  session.hub.counters.invocations++
  if (invokeChannel.hasSubscribers) call.trace = traceCallStart(invokeChannel, session, uri, requestId, caller === undefined ? 'app' : 'routed', caller?.id, traceContextOfCall(options))
  session.invocations.set(requestId, call)
  const details: Details = { procedure: uri }
  if (options.onProgress !== undefined) details.receive_progress = true
  // A routed call from another instance: disclosed as routeCall() does locally.
  if (caller !== undefined && (caller.discloseMe || registration.options.disclose_caller === true)) {
    details.caller = caller.id
    details.caller_authid = caller.authid
    details.caller_authrole = caller.authrole
  }
  if (!session.send(withPayload([T.INVOCATION, requestId, registration.id, details, args, kwargs]))) {
    call.reject(new WampError(...session.unsentError('the call\'s payload', ErrorUri.invalidArgument)))
    return undefined
  }
  if (call.trace !== undefined) traceReturned(invokeChannel, call.trace)
  return call
}

/** The trace context given in a call's options (`traceparent`, `tracestate`), if valid. */
export function traceContextOfCall (options: ClientCallOptions<PayloadSchema | undefined>): TraceContext | undefined {
  const traceparent = validTraceparent(options.traceparent)
  return traceparent === undefined ? undefined : { traceparent, tracestate: typeof options.tracestate === 'string' ? options.tracestate : undefined }
}
