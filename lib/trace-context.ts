import type { Details } from './wire/messages.js'

// W3C Trace Context (https://www.w3.org/TR/trace-context/) as fastify-wamp carries it: from a client's
// CALL.Options / PUBLISH.Options under the implementation-specific keys `_traceparent` and `_tracestate` (WAMP
// reserves `_[a-z0-9_]{3,}` for them; the spec defines no tracing key), through the tracing channels' contexts, and
// in the cluster's Redis messages. A malformed value is ignored (the W3C rule: the receiver starts a new trace).

/** The CALL/PUBLISH option keys. */
export const TRACEPARENT = '_traceparent'
export const TRACESTATE = '_tracestate'

/** Longest tracestate carried (W3C: 32 list members of at most 256 characters; 512 is its suggested floor). */
export const MAX_TRACESTATE = 512

const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/

export interface TraceContext {
  traceparent: string
  tracestate: string | undefined
}

/** The traceparent if `value` is a valid one (version ff, an all-zero trace id or parent id are not), else undefined. */
export function validTraceparent (value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length !== 55 || !TRACEPARENT_FORMAT.test(value)) return undefined
  if (value.startsWith('ff') || value.slice(3, 35) === '0'.repeat(32) || value.slice(36, 52) === '0'.repeat(16)) return undefined
  return value
}

/** The trace context of a client's CALL or PUBLISH options, if it sent a valid one. */
export function traceContextOf (options: Details): TraceContext | undefined {
  const traceparent = validTraceparent(options[TRACEPARENT])
  if (traceparent === undefined) return undefined
  const state = options[TRACESTATE]
  return { traceparent, tracestate: typeof state === 'string' && state.length <= MAX_TRACESTATE ? state : undefined }
}

/** The same from the cluster's wire form `[traceparent, tracestate | null]` (another instance may be older or foreign). */
export function traceContextFromWire (value: unknown): TraceContext | undefined {
  if (!Array.isArray(value)) return undefined
  const traceparent = validTraceparent(value[0])
  if (traceparent === undefined) return undefined
  return { traceparent, tracestate: typeof value[1] === 'string' && value[1].length <= MAX_TRACESTATE ? value[1] : undefined }
}

export function traceContextToWire (trace: TraceContext | undefined): [string, string | null] | null {
  return trace === undefined ? null : [trace.traceparent, trace.tracestate ?? null]
}
