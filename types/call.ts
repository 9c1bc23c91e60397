import type { Details, Kwargs } from '../lib/wire/messages.js'
import type { MatchPolicy } from '../lib/wire/uris.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from '../lib/validation.js'
import type { WampSession } from './session.js'

/** One chunk of a streamed call (progressive call invocations). */
export interface Chunk<A = unknown[], K = Kwargs> { args: A, kwargs: K }

/** What a procedure handler receives besides its arguments. */
export interface CallContext<A = unknown[], K = Kwargs> {
  /** The calling session. */
  readonly session: WampSession
  /** The URI the caller called (the concrete one, also for pattern procedures). */
  readonly procedure: string
  /** CALL.Options as the caller sent them. */
  readonly details: Readonly<Details>
  /** Fires when the call is cancelled (kill, killnowait), times out, or the caller leaves. */
  readonly signal: AbortSignal
  /** True when the caller asked for progressive results. */
  readonly receiveProgress: boolean
  /** Sends a progressive result (a value, or a WampResult for several args/kwargs) if the caller asked for them. */
  progress (value?: unknown): void
  /**
   * For procedures registered with `{ input: 'stream' }`: every chunk the caller streams, the first included, in
   * order. Undefined for other procedures.
   */
  readonly input: AsyncIterable<Chunk<A, K>> | undefined
  /**
   * The W3C trace context to pass on to calls made for this one (`fastify.wamp.call(uri, args, kwargs, {
   * traceparent, tracestate })`): a tracing subscriber's span for this call if one set it, else the caller's
   * CALL.Options `_traceparent` / `_tracestate`, else undefined.
   */
  readonly traceparent: string | undefined
  readonly tracestate: string | undefined
}

export type ProcedureHandler<A = unknown[], K = Kwargs> = (args: A, kwargs: K, ctx: CallContext<A, K>) => unknown

/** What `session.call()` / `fastify.wamp.call()` resolve with (typed by `options.result` when given). */
export interface CallResult<S = undefined> { args: ArgsOf<S>, kwargs: KwargsOf<S> }

export interface ClientCallOptions<S extends PayloadSchema | undefined = undefined> {
  /** Milliseconds; on expiry the call rejects with wamp.error.timeout. */
  timeout?: number
  /** Aborting it cancels the call (rejects with wamp.error.canceled). */
  signal?: AbortSignal
  /** Receives progressive results; asks the callee for them (`receive_progress`). */
  onProgress?: (result: CallResult) => void
  /** A TypeBox schema the final result must match; it also types the result. */
  result?: S
  /**
   * W3C trace context this call continues (e.g. your HTTP request's span): the parent of its `fastify-wamp:invoke`
   * trace, carried to the callee's instance through Redis. Ignored unless a valid `traceparent`.
   */
  traceparent?: string
  tracestate?: string
}

export type { MatchPolicy }
