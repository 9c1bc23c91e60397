import t from 'tap'
import type { Test } from 'tap'
import { startApp, sleep, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { bridgeToOpenTelemetry } from './helpers/otel-bridge.js'
import type { OtelTracer } from './helpers/otel-bridge.js'
import { WampError } from '../index.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { inspector, startCluster, untilSubscribers } from './helpers/redis.js'

// issue 20: the tracing channels turned into OpenTelemetry spans with the SDK's in-memory exporter. The
// OpenTelemetry packages are optional dev dependencies: without them this test is skipped, saying so.

interface FinishedSpan {
  name: string
  kind: number
  attributes: Record<string, unknown>
  status: { code: number, message?: string }
  spanContext (): { traceId: string, spanId: string }
  /** SDK 2.x */
  parentSpanContext?: { traceId: string, spanId: string }
  /** SDK 1.x */
  parentSpanId?: string
}
interface Otel {
  api: {
    SpanKind: { SERVER: number, CLIENT: number, PRODUCER: number }
    SpanStatusCode: { ERROR: number }
    ROOT_CONTEXT: unknown
    trace: { setSpanContext (context: unknown, spanContext: object): unknown }
    createTraceState?: (value: string) => unknown
  }
  sdk: {
    BasicTracerProvider: new (config?: object) => { getTracer (name: string): OtelTracer, forceFlush (): Promise<void>, shutdown (): Promise<void> }
    SimpleSpanProcessor: new (exporter: object) => object
    InMemorySpanExporter: new () => { getFinishedSpans (): FinishedSpan[] }
  }
}

const API: string = '@opentelemetry/api'
const SDK: string = '@opentelemetry/sdk-trace-base'

async function loadOtel (): Promise<Otel | undefined> {
  try {
    return { api: namedExports(await import(API)) as Otel['api'], sdk: namedExports(await import(SDK)) as Otel['sdk'] }
  } catch {
    return undefined
  }
}

t.test('issue 20: OpenTelemetry sees a span per call, invocation and publication', async (t) => {
  const otel = await loadOtel()
  if (otel === undefined) {
    t.comment('SKIP: @opentelemetry/api and @opentelemetry/sdk-trace-base are not installed (optional dev dependencies)')
    t.pass('skipped: OpenTelemetry packages absent')
    return
  }
  const { api, sdk } = otel
  const exporter = new sdk.InMemorySpanExporter()
  const processor = new sdk.SimpleSpanProcessor(exporter)
  // SDK 2.x: the processors are given to the constructor.
  const provider = new sdk.BasicTracerProvider({ spanProcessors: [processor] })
  const unbridge = bridgeToOpenTelemetry(provider.getTracer('fastify-wamp-test'), {
    server: api.SpanKind.SERVER, client: api.SpanKind.CLIENT, producer: api.SpanKind.PRODUCER, error: api.SpanStatusCode.ERROR
  })
  t.teardown(async () => { unbridge(); await provider.shutdown() })

  const { app, url } = await startApp(t, {}, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
    app.wamp.register('com.slow', async () => { await sleep(5); return 1 })
    app.wamp.register('com.fail', () => { throw new WampError('com.error.bad') })
  })
  const client = await connectAutobahn(url)
  const sessionId = client.session.id
  await client.session.register('client.echo', (args: unknown[] | undefined) => args?.[0])
  await client.session.call('com.add', [1, 2])
  await client.session.call('com.slow')
  await client.session.call('com.fail').catch(() => {})
  await app.wamp.call('client.echo', ['x'])
  app.wamp.publishToAll('com.news', [1])
  await client.close()
  await provider.forceFlush()

  const spans = exporter.getFinishedSpans()
  const byName = (name: string): FinishedSpan | undefined => spans.find((s) => s.name === name)
  t.match(byName('com.add'), {
    kind: api.SpanKind.SERVER,
    attributes: { 'rpc.system': 'wamp', 'rpc.method': 'com.add', 'wamp.realm': 'realm1', 'wamp.session_id': sessionId, 'wamp.authrole': 'anonymous', 'wamp.serializer': 'json' }
  })
  t.ok(byName('com.slow'), 'an async call ends its span at asyncEnd')
  t.match(byName('com.fail'), { status: { code: api.SpanStatusCode.ERROR, message: 'com.error.bad' }, attributes: { 'wamp.error': 'com.error.bad' } })
  t.match(byName('client.echo'), { kind: api.SpanKind.CLIENT, attributes: { 'rpc.method': 'client.echo' } })
  t.match(byName('com.news publish'), { kind: api.SpanKind.PRODUCER, attributes: { 'messaging.destination.name': 'com.news' } })
  t.equal(spans.length, 5, 'one span each, none left open')
})

/** A CommonJS package imported from ESM: its exports are named when Node detects them, else under default. */
function namedExports (module: { default?: unknown }): unknown {
  return Object.keys(module).length > 1 || module.default === undefined ? module : module.default
}

/** A tracer provider with an in-memory exporter, bridged to the tracing channels with W3C parents. */
async function tracing (t: Test): Promise<{ otel: Otel, spans: () => Promise<FinishedSpan[]> } | undefined> {
  const otel = await loadOtel()
  if (otel === undefined) {
    t.comment('SKIP: @opentelemetry/api and @opentelemetry/sdk-trace-base are not installed (optional dev dependencies)')
    t.pass('skipped: OpenTelemetry packages absent')
    return undefined
  }
  const { api, sdk } = otel
  const exporter = new sdk.InMemorySpanExporter()
  const provider = new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(exporter)] })
  const unbridge = bridgeToOpenTelemetry(provider.getTracer('fastify-wamp-test'), {
    server: api.SpanKind.SERVER,
    client: api.SpanKind.CLIENT,
    producer: api.SpanKind.PRODUCER,
    error: api.SpanStatusCode.ERROR,
    parent: (traceId, spanId, traceFlags, tracestate) => api.trace.setSpanContext(api.ROOT_CONTEXT, {
      traceId, spanId, traceFlags, isRemote: true, traceState: tracestate === undefined ? undefined : api.createTraceState?.(tracestate)
    })
  })
  t.teardown(async () => { unbridge(); await provider.shutdown() })
  return { otel, spans: async () => { await provider.forceFlush(); return exporter.getFinishedSpans() } }
}

const parentOf = (span: FinishedSpan | undefined): string | undefined => span?.parentSpanContext?.spanId ?? span?.parentSpanId

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${CLIENT_SPAN}-01`

t.test('issue 20: a client\'s CALL.Options._traceparent is the parent of the call\'s span; a malformed one is ignored', async (t) => {
  const otel = await tracing(t)
  if (otel === undefined) return
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, { _traceparent: TRACEPARENT, _tracestate: 'vendor=x' }, 'com.add', [1, 2]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [3]])
  client.send([MSG.CALL, 2, { _traceparent: '00-' + '0'.repeat(32) + '-00f067aa0ba902b7-01' }, 'com.add', [1, 1]])
  t.same(await client.next(), [MSG.RESULT, 2, {}, [2]])
  client.send([MSG.CALL, 3, { _traceparent: { hostile: true } }, 'com.add', [2, 2]])
  t.same(await client.next(), [MSG.RESULT, 3, {}, [4]])
  const spans = (await otel.spans()).filter((s) => s.name === 'com.add')
  t.equal(spans.length, 3)
  t.equal(spans[0].spanContext().traceId, TRACE_ID, 'the client\'s trace')
  t.equal(parentOf(spans[0]), CLIENT_SPAN, 'child of the client\'s span')
  t.not(spans[1].spanContext().traceId, TRACE_ID)
  t.notOk(parentOf(spans[1]), 'an all-zero trace id is invalid: a new trace (W3C)')
  t.notOk(parentOf(spans[2]), 'a non-string is ignored')
  client.close()
})

t.test('issue 20: across instances the callee\'s span is a child of the caller instance\'s (traceparent in the Redis message)', async (t) => {
  const otel = await tracing(t)
  if (otel === undefined) return
  const { api } = otel.otel
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }] }, (app, i) => {
    if (i === 0) {
      app.wamp.register('com.relay', async (args, _kwargs, ctx) =>
        (await app.wamp.call('far.double', args, undefined, { traceparent: ctx.traceparent, tracestate: ctx.tracestate })).args[0])
    }
  })
  const redis = inspector(t)
  const callee = await connectAutobahn(b.url)
  await callee.session.register('far.double', (args: unknown[] | undefined) => (args?.[0] as number) * 2)
  await untilRegistered(redis, prefix, 'far.double', 1)

  // 1. A client's CALL on A routed to the callee on B (router mode): A's `call` span (kind cluster) → B's `invoke` span.
  const { client } = await connectRaw(a.url)
  client.send([MSG.CALL, 1, { _traceparent: TRACEPARENT }, 'far.double', [4]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [8]])
  // 2. An app procedure on A calling the callee on B with the handler's trace context.
  client.send([MSG.CALL, 2, { _traceparent: TRACEPARENT }, 'com.relay', [5]])
  t.same(await client.next(), [MSG.RESULT, 2, {}, [10]])
  client.close()

  const spans = await otel.spans()
  const far = spans.filter((s) => s.name === 'far.double')
  t.equal(far.length, 3, 'A: the routed CALL (server); B: two invocations (client)')
  const onA = far.find((s) => s.kind === api.SpanKind.SERVER)
  const onB = far.filter((s) => s.kind === api.SpanKind.CLIENT)
  t.equal(onA?.spanContext().traceId, TRACE_ID)
  t.equal(parentOf(onA), CLIENT_SPAN, 'A\'s span continues the client\'s trace')
  t.ok(onB.some((s) => parentOf(s) === onA?.spanContext().spanId && s.spanContext().traceId === TRACE_ID), 'B\'s span is a child of A\'s')
  const relay = spans.find((s) => s.name === 'com.relay')
  t.equal(parentOf(relay), CLIENT_SPAN)
  t.ok(onB.some((s) => parentOf(s) === relay?.spanContext().spanId && s.spanContext().traceId === TRACE_ID), 'the app\'s call from the handler: child of the handler\'s span')
  await callee.close()
})

t.test('issue 20: a publication\'s trace context crosses instances with it', async (t) => {
  const otel = await tracing(t)
  if (otel === undefined) return
  const { apps: [a, b], prefix } = await startCluster(t, 2, { realms: [{ name: 'realm1', broker: true }] })
  const redis = inspector(t)
  const subscriber = await connectAutobahn(b.url)
  const got: unknown[] = []
  await subscriber.session.subscribe('com.news', (args: unknown[] | undefined) => { got.push(args?.[0]) })
  await untilSubscribers(redis, `${prefix}realm1:t:com.news`, 1)
  const { client } = await connectRaw(a.url)
  client.send([MSG.PUBLISH, 1, { _traceparent: TRACEPARENT, acknowledge: true }, 'com.news', ['hi']])
  t.equal((await client.next())[0], MSG.PUBLISHED)
  await until(() => got.length === 1)
  const spans = (await otel.spans()).filter((s) => s.name === 'com.news publish')
  t.equal(spans.length, 2, 'one on the publisher\'s instance, one on the subscriber\'s')
  const [first, second] = spans
  t.equal(parentOf(first), CLIENT_SPAN)
  t.equal(parentOf(second), first.spanContext().spanId, 'the subscriber instance\'s span is a child of the publisher instance\'s')
  t.equal(second.spanContext().traceId, TRACE_ID)
  client.close()
  await subscriber.close()
})
