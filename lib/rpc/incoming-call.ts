import { EMPTY, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError, WampResult } from '../wire/wamp-error.js'
import type { Session } from '../session/session.js'
import type { Procedure } from './dealer.js'
import { isThenable } from '../thenable.js'
import type { CallContext, Chunk } from '../../types/call.js'
import { callChannel, traceCallStart, traceReturned, traceSettled } from '../diagnostics.js'
import type { CallState } from '../diagnostics.js'
import type { Counters } from '../metrics.js'
import { traceContextOf } from '../trace-context.js'

export type { CallContext, Chunk }

const MAX_TIMEOUT = 2 ** 31 - 1
const PROGRESS: Details = Object.freeze({ progress: true }) as Details

/**
 * One client → server call in flight (PROTOCOL §2): it sends exactly one terminal message — RESULT or ERROR —
 * and nothing after it, whatever the order of handler outcome, CANCEL, timeout and disconnect.
 */
export class IncomingCall implements CallContext {
  readonly session: Session
  readonly requestId: number
  readonly procedure: string
  readonly details: Details
  readonly receiveProgress: boolean
  readonly input: ChunkStream | undefined
  readonly registration: Procedure
  private settled: boolean
  private killed: boolean
  private controller: AbortController | undefined
  private timer: NodeJS.Timeout | undefined
  /** Only while `fastify-wamp:call` has subscribers. */
  private trace: CallState | undefined
  private readonly counters: Counters
  /** performance.now() at run, with `metrics: true` (else 0). */
  private started: number

  constructor (session: Session, requestId: number, procedure: string, details: Details, registration: Procedure, streamed: boolean) {
    this.session = session
    this.requestId = requestId
    this.procedure = procedure
    this.details = details
    this.receiveProgress = details.receive_progress === true
    this.input = streamed ? new ChunkStream(session) : undefined
    this.registration = registration
    this.settled = false
    this.killed = false
    this.controller = undefined
    this.timer = undefined
    this.trace = undefined
    this.counters = session.hub.counters
    this.started = 0
  }

  get signal (): AbortSignal {
    if (this.controller === undefined) this.controller = new AbortController()
    return this.controller.signal
  }

  get traceparent (): string | undefined {
    return this.trace !== undefined ? this.trace.traceparent : traceContextOf(this.details)?.traceparent
  }

  get tracestate (): string | undefined {
    return this.trace !== undefined ? this.trace.tracestate : traceContextOf(this.details)?.tracestate
  }

  get open (): boolean {
    return !this.settled
  }

  /**
   * Runs the handler. A synchronous result is answered at once: nothing can cancel it meanwhile, so only a call
   * that goes asynchronous (or streams its input) is tracked in `session.calls` and gets its timeout timer.
   */
  run (args: unknown[], kwargs: Kwargs): void {
    this.counters.calls++
    if (this.counters.latency !== undefined) this.started = performance.now()
    if (callChannel.hasSubscribers) this.trace = traceCallStart(callChannel, this.session, this.procedure, this.requestId, undefined, undefined, traceContextOf(this.details))
    if (this.input !== undefined) this.track()
    let result: unknown
    try {
      result = this.registration.handler(args, kwargs, this)
    } catch (err) {
      return this.fail(err)
    }
    if (this.trace !== undefined && (isThenable(result) || isAsyncIterator(result))) traceReturned(callChannel, this.trace)
    if (isThenable(result)) {
      this.track()
      // The derived promise goes to `pending`, which handles its rejection: nothing here can reject unhandled.
      this.session.hub.pending.add(Promise.resolve(result).then((value) => this.succeed(value), (err: unknown) => this.fail(err)))
    } else if (isAsyncIterator(result)) {
      this.track()
      this.session.hub.pending.add(this.drain(result).catch((err: unknown) => this.fail(err)))
    } else {
      this.succeed(result)
    }
  }

  /** In flight: reachable by CANCEL and further chunks, and bounded by CALL.Options.timeout. */
  private track (): void {
    if (this.settled || this.session.calls.get(this.requestId) === this) return
    this.session.calls.set(this.requestId, this)
    const timeout = callTimeout(this.details)
    if (timeout !== undefined) this.timer = setTimeout(timedOut, timeout, this)
  }

  /**
   * The next chunk of streamed input; past `maxStreamBufferBytes` unread — in this call, or in all the session's
   * calls together (else maxCallsPerSession streams could each hold that much) — the call fails (PROTOCOL §7.4).
   */
  chunk (args: unknown[], kwargs: Kwargs, last: boolean, bytes: number): void {
    const input = this.input as ChunkStream
    input.push({ args, kwargs }, last, bytes)
    const max = this.session.hub.options.maxStreamBufferBytes
    if (this.session.streamBuffered > max) this.refuse(ErrorUri.limitExceeded, [`a session's calls may hold at most ${max} bytes of unread streamed input`])
  }

  progress (value?: unknown): void {
    if (this.settled || this.killed || !this.receiveProgress) return
    if (this.session.send(resultMessage(this.requestId, PROGRESS, value))) return
    this.refuse(...this.session.unsentError('a progressive result', ErrorUri.runtimeError))
  }

  succeed (value: unknown): void {
    if (this.settled) return
    if (this.killed) return this.finishWithError(ErrorUri.canceled)
    this.finish(resultMessage(this.requestId, EMPTY, value))
  }

  fail (err: unknown): void {
    if (this.settled) {
      this.session.log.debug({ err }, 'fastify-wamp: error from a call that was already answered')
      return
    }
    if (this.killed) return this.finishWithError(ErrorUri.canceled)
    if (this.trace !== undefined) this.trace.error = err
    if (err instanceof WampError) return this.finishWithError(err.uri, err.args, err.kwargs)
    this.session.log.error({ err, procedure: this.procedure }, 'fastify-wamp: procedure failed')
    const message = this.session.hub.options.exposeErrors && err instanceof Error ? err.message : 'internal error'
    this.finishWithError(ErrorUri.runtimeError, [message])
  }

  /** CANCEL from the caller (PROTOCOL §2.9). */
  cancel (mode: unknown): void {
    if (this.settled) return
    if (mode === 'skip') return this.finishWithError(ErrorUri.canceled)
    // Before the signal fires: a progressive result the handler sends from then on is dropped, as in router mode.
    this.killed = true
    this.abort('canceled')
    if (mode === 'killnowait') this.finishWithError(ErrorUri.canceled)
  }

  /** The session is gone: stop the handler, send nothing. */
  abandon (): void {
    if (this.settled) return
    this.settle(ErrorUri.canceled)
    this.abort('session closed')
  }

  timedOut (): void {
    this.timer = undefined
    if (this.settled) return
    this.finishWithError(ErrorUri.timeout, ['call timed out'])
    this.abort('timeout')
  }

  private async drain (iterator: AsyncIterator<unknown>): Promise<void> {
    for (;;) {
      if (this.settled) {
        await iterator.return?.()
        return
      }
      const step = await iterator.next()
      if (step.done === true) return this.succeed(step.value)
      this.progress(step.value)
    }
  }

  private abort (reason: string): void {
    const err = new WampError(reason === 'timeout' ? ErrorUri.timeout : ErrorUri.canceled, [reason])
    if (this.controller === undefined) this.controller = new AbortController()
    this.controller.abort(err)
    if (this.input !== undefined && !this.input.ended) this.input.fail(new WampError(ErrorUri.canceled, [reason]))
  }

  /** Ends the call with ERROR now and stops the handler (e.g. a streamed chunk failed validation). */
  refuse (uri: string, args?: unknown[], kwargs?: Kwargs): void {
    if (this.settled) return
    this.finishWithError(uri, args, kwargs)
    this.abort('canceled')
  }

  private finishWithError (uri: string, args?: unknown[], kwargs?: Kwargs): void {
    this.settle(uri)
    this.session.sendError(T.CALL, this.requestId, uri, args, kwargs)
  }

  private finish (msg: unknown[]): void {
    this.settle()
    if (this.session.send(msg)) return
    this.session.sendError(T.CALL, this.requestId, ...this.session.unsentError('the result', ErrorUri.runtimeError))
  }

  private settle (errorUri?: string): void {
    this.settled = true
    if (this.started !== 0) this.counters.latency?.clientToApp.observe(performance.now() - this.started)
    if (this.trace !== undefined) traceSettled(callChannel, this.trace, errorUri)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    // What the handler left unread no longer counts against the session (the queue goes with the call).
    this.input?.detach()
    this.session.endCall(this.requestId, this)
  }
}

function timedOut (call: IncomingCall): void {
  call.timedOut()
}

/** RESULT for a handler's value: `undefined` → no args, WampResult → its args/kwargs, anything else → [value]. */
export function resultMessage (requestId: number, details: Details, value: unknown): unknown[] {
  if (value instanceof WampResult) return withPayload([T.RESULT, requestId, details, value.args, value.kwargs])
  return value === undefined ? [T.RESULT, requestId, details] : [T.RESULT, requestId, details, [value]]
}

/**
 * CALL.Options.timeout in ms, or undefined for none. Node turns delays beyond 2^31 − 1 ms (about 24.8 days) into
 * 1 ms, so such a timeout also means "none".
 */
export function callTimeout (options: Details): number | undefined {
  const timeout = options.timeout
  return typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMEOUT ? timeout : undefined
}

function isAsyncIterator (value: unknown): value is AsyncIterator<unknown> {
  return value !== null && typeof value === 'object' &&
    typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function' &&
    typeof (value as { next?: unknown }).next === 'function'
}

/** The chunks of a progressive call invocation, as an async iterable with a small queue. */
export class ChunkStream implements AsyncIterable<Chunk> {
  ended: boolean
  /** The caller's final chunk arrived (a later CALL with this id reuses an id in flight). */
  complete: boolean
  /** Bytes of the chunks queued and not yet read (by the size of the frames that carried them). */
  buffered: number
  private readonly queue: Chunk[]
  private readonly sizes: number[]
  private waiting: { resolve: (r: IteratorResult<Chunk>) => void, reject: (e: unknown) => void } | undefined
  private failure: unknown
  /** The session whose `streamBuffered` counts this stream's unread bytes, until the call ends (`detach`). */
  private owner: { streamBuffered: number } | undefined

  constructor (owner?: { streamBuffered: number }) {
    this.owner = owner
    this.ended = false
    this.complete = false
    this.buffered = 0
    this.queue = []
    this.sizes = []
    this.waiting = undefined
    this.failure = undefined
  }

  push (chunk: Chunk, last: boolean, bytes: number): void {
    if (last) this.complete = true
    // Ended by a cancel, timeout or refusal while the handler winds down: the caller's chunks are dropped.
    if (this.ended) return
    if (last) this.ended = true
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      waiting.resolve({ value: chunk, done: false })
    } else {
      this.queue.push(chunk)
      this.sizes.push(bytes)
      this.buffered += bytes
      if (this.owner !== undefined) this.owner.streamBuffered += bytes
    }
  }

  /** The call ended: its unread bytes stop counting against the session. */
  detach (): void {
    if (this.owner !== undefined) this.owner.streamBuffered -= this.buffered
    this.owner = undefined
  }

  fail (err: unknown): void {
    if (this.ended && this.queue.length === 0 && this.waiting === undefined) return
    this.ended = true
    this.failure = err
    this.queue.length = 0
    this.sizes.length = 0
    if (this.owner !== undefined) this.owner.streamBuffered -= this.buffered
    this.buffered = 0
    const waiting = this.waiting
    this.waiting = undefined
    waiting?.reject(err)
  }

  [Symbol.asyncIterator] (): AsyncIterator<Chunk> {
    return {
      next: () => {
        const chunk = this.queue.shift()
        if (chunk !== undefined) {
          const size = this.sizes.shift() as number
          this.buffered -= size
          if (this.owner !== undefined) this.owner.streamBuffered -= size
          return Promise.resolve({ value: chunk, done: false })
        }
        if (this.failure !== undefined) return Promise.reject(this.failure)
        if (this.ended) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve, reject) => { this.waiting = { resolve, reject } })
      }
    }
  }
}
