import t from 'tap'
import { startApp, sleep } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { bridgeToOpenTelemetry } from './helpers/otel-bridge.js'
import type { OtelTracer } from './helpers/otel-bridge.js'
import { WampError } from '../index.js'

// issue 20: the tracing channels turned into OpenTelemetry spans with the SDK's in-memory exporter. The
// OpenTelemetry packages are optional dev dependencies: without them this test is skipped, saying so.

interface FinishedSpan { name: string, kind: number, attributes: Record<string, unknown>, status: { code: number, message?: string } }
interface Otel {
  api: { SpanKind: { SERVER: number, CLIENT: number, PRODUCER: number }, SpanStatusCode: { ERROR: number } }
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
