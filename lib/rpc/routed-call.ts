import { EMPTY, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { nextRequestId } from './outgoing-call.js'
import { callTimeout } from './incoming-call.js'
import type { Session } from '../session/session.js'
import type { ClientRegistration, Registration } from './registry.js'
import { traceContextOf } from '../trace-context.js'
import { invokeChannel, traceCallStart, traceReturned, traceSettled } from '../diagnostics.js'
import type { CallState } from '../diagnostics.js'

// Router mode: one client → client call in flight, the caller's CALL request ↔ the callee's INVOCATION.
// The caller gets exactly one terminal message — the callee's RESULT or ERROR passed through, or canceled,
// timeout, "the callee left" — and nothing for that request after it. The callee gets INTERRUPT only if it
// announced `call_canceling` (otherwise cancel is `skip`, spec "Call Canceling"); its late answers are discarded.

const PROGRESS: Details = Object.freeze({ progress: true }) as Details

export class RoutedCall {
  readonly caller: Session
  readonly requestId: number
  readonly callee: Session
  readonly invocationId: number
  readonly registrationId: number
  private readonly receiveProgress: boolean
  private readonly interruptible: boolean
  /** INVOCATION.Details, fixed by the initiating CALL for the whole call (spec "Progressive Call Invocations"). */
  private readonly details: Details
  /** The same with `progress: true`, for the chunks of a progressive call invocation before the last. */
  private readonly chunkDetails: Details | undefined
  /** The caller is still streaming chunks (its last CALL has not come yet). */
  private streaming: boolean
  /** Canceled with mode kill: the callee's answer, whatever it is, ends the call. */
  private killed: boolean
  private settled: boolean
  private timer: NodeJS.Timeout | undefined
  /** Only while `fastify-wamp:invoke` has subscribers. */
  private trace: CallState | undefined
  /** performance.now() when routed, with `metrics: true` (else 0). */
  private readonly started: number

  constructor (caller: Session, requestId: number, callee: ClientRegistration, invocationId: number, details: Details,
    chunkDetails: Details | undefined, options: Details) {
    this.caller = caller
    this.requestId = requestId
    this.callee = callee.session
    this.invocationId = invocationId
    this.registrationId = callee.id
    this.receiveProgress = options.receive_progress === true
    this.interruptible = callee.session.announces('callee', 'call_canceling')
    this.details = details
    this.chunkDetails = chunkDetails
    this.streaming = chunkDetails !== undefined
    this.killed = false
    this.settled = false
    const timeout = callTimeout(options)
    this.timer = timeout === undefined ? undefined : setTimeout(timedOut, timeout, this)
    caller.hub.counters.routedCalls++
    this.started = caller.hub.counters.latency === undefined ? 0 : performance.now()
    this.trace = undefined
    if (invokeChannel.hasSubscribers) {
      this.trace = traceCallStart(invokeChannel, this.callee, details.procedure as string, invocationId, 'routed', caller.id, traceContextOf(options))
      traceReturned(invokeChannel, this.trace)
    }
  }

  /** A further CALL with the same request id: the next chunk of a progressive call invocation. */
  chunk (msg: WampMessage): void {
    if (!this.streaming) return this.caller.violation(`CALL request id ${this.requestId} is already in flight`)
    const last = (msg[2] as Details).progress !== true
    if (last) this.streaming = false
    if (this.killed) return
    const details = last ? this.details : this.chunkDetails as Details
    if (!this.callee.send(withPayload([T.INVOCATION, this.invocationId, this.registrationId, details, msg[4] as unknown[] | undefined, msg[5] as Kwargs | undefined]))) {
      this.end(...this.callee.unsentError('a chunk', ErrorUri.invalidArgument), true)
    }
  }

  /** YIELD from the callee: a progressive result, or the final one. */
  yielded (msg: WampMessage): void {
    const args = msg[3] as unknown[] | undefined
    const kwargs = msg[4] as Kwargs | undefined
    if ((msg[2] as Details).progress === true) {
      if (!this.receiveProgress || this.killed) return
      if (this.caller.send(withPayload([T.RESULT, this.requestId, PROGRESS, args, kwargs]))) return
      return this.end(...this.caller.unsentError('a progressive result', ErrorUri.runtimeError), true)
    }
    this.settle()
    if (this.caller.send(withPayload([T.RESULT, this.requestId, EMPTY, args, kwargs]))) return
    this.caller.sendError(T.CALL, this.requestId, ...this.caller.unsentError('the result', ErrorUri.runtimeError))
  }

  /** ERROR from the callee: passed to the caller with its URI, args and kwargs. */
  failed (msg: WampMessage): void {
    this.settle(msg[4] as string)
    this.caller.sendError(T.CALL, this.requestId, msg[4] as string, msg[5] as unknown[] | undefined, msg[6] as Kwargs | undefined)
  }

  /** CANCEL from the caller (spec "Call Canceling"); a callee that cannot take INTERRUPT gets `skip`. */
  cancel (mode: unknown): void {
    if (this.settled) return
    if (mode === 'skip' || !this.interruptible) return this.end(ErrorUri.canceled, undefined, false)
    if (mode === 'killnowait') return this.end(ErrorUri.canceled, undefined, true)
    if (this.killed) return
    this.killed = true
    this.callee.send([T.INTERRUPT, this.invocationId, { mode: 'kill', reason: ErrorUri.canceled }])
  }

  timedOut (): void {
    this.timer = undefined
    if (!this.settled) this.end(ErrorUri.timeout, ['call timed out'], true)
  }

  /** The caller left: the callee is told if it can be, and nothing more goes anywhere. */
  abandon (): void {
    if (this.settled) return
    this.settle(ErrorUri.canceled)
    this.interrupt(ErrorUri.canceled)
  }

  /** The callee left: the caller gets ERROR canceled at once. */
  calleeLeft (): void {
    if (this.settled) return
    this.settle(ErrorUri.canceled)
    this.caller.sendError(T.CALL, this.requestId, ErrorUri.canceled, ['the callee left'])
  }

  private end (uri: string, args: unknown[] | undefined, interrupt: boolean): void {
    this.settle(uri)
    if (interrupt) this.interrupt(uri)
    this.caller.sendError(T.CALL, this.requestId, uri, args)
  }

  private interrupt (reason: string): void {
    if (this.interruptible && !this.killed) this.callee.send([T.INTERRUPT, this.invocationId, { mode: 'killnowait', reason }])
  }

  private settle (errorUri?: string): void {
    this.settled = true
    if (this.started !== 0) this.caller.hub.counters.latency?.routed.observe(performance.now() - this.started)
    if (this.trace !== undefined) traceSettled(invokeChannel, this.trace, errorUri)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const routed = this.callee.routed
    if (routed.get(this.invocationId) === this) routed.delete(this.invocationId)
    // Off the caller's calls in flight; chunks the caller still streams are dropped by `caller.streams`.
    this.caller.endCall(this.requestId, this)
  }
}

function timedOut (call: RoutedCall): void {
  call.timedOut()
}

/**
 * Routes a client CALL to `callee` (the pick of `registration`): INVOCATION out with the caller's args
 * and kwargs as they came, then the call is in flight on both sessions.
 */
export function routeCall (caller: Session, msg: WampMessage, uri: string, registration: Registration, callee: ClientRegistration): void {
  const requestId = msg[1] as number
  const options = msg[2] as Details
  const session = callee.session
  const streamed = options.progress === true
  // Spec: a callee takes progressive call invocations only if it announced them and call canceling.
  if (streamed && !(session.announces('callee', 'progressive_call_invocations') && session.announces('callee', 'call_canceling'))) {
    return caller.sendError(T.CALL, requestId, ErrorUri.featureNotSupported, [`the callee of "${uri}" does not take progressive call invocations`])
  }
  const receiveProgress = options.receive_progress === true && session.announces('callee', 'progressive_call_results')
  const disclose = options.disclose_me === true || callee.options.disclose_caller === true
  const details: Details = receiveProgress || disclose || uri !== registration.uri ? { procedure: uri } : registration.details
  if (receiveProgress) details.receive_progress = true
  if (disclose) {
    details.caller = caller.id
    details.caller_authid = caller.authid
    details.caller_authrole = caller.authrole
  }
  const chunkDetails = streamed ? { ...details, progress: true } : undefined
  const invocationId = nextRequestId(session)
  const first = withPayload([T.INVOCATION, invocationId, callee.id, chunkDetails ?? details, msg[4] as unknown[] | undefined, msg[5] as Kwargs | undefined])
  if (!session.send(first)) {
    return caller.sendError(T.CALL, requestId, ...session.unsentError('the call\'s payload', ErrorUri.invalidArgument))
  }
  const call = new RoutedCall(caller, requestId, callee, invocationId, details, chunkDetails, options)
  caller.calls.set(requestId, call)
  session.routed.set(invocationId, call)
}
