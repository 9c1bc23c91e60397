import { tracingChannel } from 'node:diagnostics_channel'

// The OpenTelemetry bridge of docs/observability.md ("OpenTelemetry"): one span per WAMP call, invocation and
// publication, from the fastify-wamp TracingChannels. Typed structurally so that this file compiles without
// @opentelemetry/api installed (the test loads it at run time). W3C trace context: a context's `traceparent` at
// `start` is the span's parent; the bridge then writes its span's own traceparent there, which fastify-wamp
// carries to the next instance.

type Attributes = Record<string, string | number | boolean>
export interface OtelSpan {
  setAttribute (key: string, value: string | number | boolean): unknown
  setStatus (status: { code: number, message?: string }): unknown
  recordException (exception: Error): unknown
  end (): void
  spanContext (): { traceId: string, spanId: string, traceFlags: number }
}
export interface OtelTracer {
  startSpan (name: string, options?: { kind?: number, attributes?: Attributes }, context?: unknown): OtelSpan
}
/**
 * SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER and SpanStatusCode.ERROR of @opentelemetry/api, and
 * `parent`: the OpenTelemetry Context whose active span is the remote one a traceparent names
 * (`trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags, isRemote: true })`).
 */
export interface OtelConstants {
  server: number
  client: number
  producer: number
  error: number
  parent?: (traceId: string, spanId: string, traceFlags: number, tracestate: string | undefined) => unknown
}

/** `00-<trace id>-<parent id>-<flags>` → its parts (fastify-wamp only passes on valid ones). */
function parseTraceparent (value: unknown): { traceId: string, spanId: string, traceFlags: number } | undefined {
  if (typeof value !== 'string') return undefined
  const [, traceId, spanId, flags] = value.split('-')
  return { traceId, spanId, traceFlags: parseInt(flags, 16) }
}

type Context = Record<string, unknown>

/** Subscribes the bridge; returns the function that unsubscribes it. */
export function bridgeToOpenTelemetry (tracer: OtelTracer, c: OtelConstants): () => void {
  const undo: Array<() => void> = []
  const spans = new WeakMap<object, OtelSpan>()
  const finish = (ctx: object): void => {
    spans.get(ctx)?.end()
    spans.delete(ctx)
  }
  const hook = (channelName: string, kind: number, name: (ctx: Context) => string, attributes: (ctx: Context) => Attributes): void => {
    const channel = tracingChannel(channelName)
    const handlers = {
      start: (message: unknown) => {
        const ctx = message as Context
        const p = parseTraceparent(ctx.traceparent)
        const parent = p === undefined || c.parent === undefined ? undefined : c.parent(p.traceId, p.spanId, p.traceFlags, ctx.tracestate as string | undefined)
        const span = tracer.startSpan(name(ctx), { kind, attributes: attributes(ctx) }, parent)
        spans.set(ctx, span)
        const own = span.spanContext()
        ctx.traceparent = `00-${own.traceId}-${own.spanId}-${own.traceFlags.toString(16).padStart(2, '0')}`
      },
      // A call that went asynchronous ends at asyncEnd; a synchronous one (and a publication) at end.
      end: (message: unknown) => { if ((message as Context).async !== true) finish(message as object) },
      asyncStart: () => {},
      asyncEnd: (message: unknown) => finish(message as object),
      error: (message: unknown) => {
        const ctx = message as Context
        const span = spans.get(ctx)
        if (span === undefined) return
        span.setAttribute('wamp.error', String(ctx.errorUri))
        if (ctx.error instanceof Error) span.recordException(ctx.error)
        span.setStatus({ code: c.error, message: String(ctx.errorUri) })
      }
    }
    channel.subscribe(handlers)
    undo.push(() => channel.unsubscribe(handlers))
  }
  const callAttributes = (ctx: Context): Attributes => ({
    'rpc.system': 'wamp',
    'rpc.method': String(ctx.procedure),
    'wamp.realm': String(ctx.realm),
    'wamp.session_id': Number(ctx.sessionId),
    'wamp.authid': String(ctx.authid),
    'wamp.authrole': String(ctx.authrole),
    'wamp.serializer': String(ctx.serializer)
  })
  hook('fastify-wamp:call', c.server, (ctx) => String(ctx.procedure), callAttributes)
  hook('fastify-wamp:invoke', c.client, (ctx) => String(ctx.procedure), callAttributes)
  hook('fastify-wamp:publish', c.producer, (ctx) => `${String(ctx.topic)} publish`, (ctx) => ({
    'messaging.system': 'wamp',
    'messaging.destination.name': String(ctx.topic),
    'wamp.realm': String(ctx.realm)
  }))
  return () => { for (const u of undo) u() }
}
