// fastify-wamp benchmark server, as bench/wampbench/README.md requires: path /ws, realm realm1 (router mode), anonymous;
// bench.echo returns its positional args unchanged; bench.burst {n, size, topic} publishes n events of one
// `size`-byte string to the subscribers of topic and returns the number of EVENT messages sent.
// Env: PORT (default 18081), BENCH_TYPED=1 (or --typed) validates bench.echo args with a TypeBox schema;
// RAWSOCKET_PORT (unset: none) also serves WAMP-over-RawSocket on that TCP port (0: any);
// BENCH_METRICS=1 turns `metrics` on; BENCH_TRACE=1 subscribes no-op handlers to every fastify-wamp tracing channel
// (bench/observability.ts compares the three).
// Prints `listening <port>` on stdout once ready (and `rawsocket <port>` before it, with RAWSOCKET_PORT).
import Fastify from 'fastify'
import Type from 'typebox'
import { tracingChannel } from 'node:diagnostics_channel'
import fastifyWamp, { WampResult } from '../index.js'

const port = Number(process.env.PORT ?? 18081)
const typed = process.env.BENCH_TYPED === '1' || process.argv.includes('--typed')

const app = Fastify({ logger: false })
// realm1 also brokers client-to-client publications and routes client-to-client calls (router mode: bench/callee.ts
// registers bench.echo.client), so those paths can be measured with the same server.
// BENCH_LONGPOLL=1 also serves the HTTP long-poll transport under /lp (bench/longpoll.ts).
const rawsocket = process.env.RAWSOCKET_PORT === undefined ? undefined : { port: Number(process.env.RAWSOCKET_PORT), host: '127.0.0.1' }
await app.register(fastifyWamp, {
  path: '/ws',
  realms: [{ name: 'realm1', broker: true, router: true }],
  rawsocket,
  longPoll: process.env.BENCH_LONGPOLL === '1',
  ...(process.env.BENCH_METRICS === '1' && { metrics: true })
})

if (process.env.BENCH_TRACE === '1') {
  const noop = (): void => {}
  for (const name of ['session', 'call', 'invoke', 'publish', 'subscribe', 'register']) {
    tracingChannel(`fastify-wamp:${name}`).subscribe({ start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop })
  }
}

if (typed) {
  app.wamp.register('bench.echo', { args: Type.Array(Type.String()) }, (args) => new WampResult(args))
} else {
  app.wamp.register('bench.echo', (args) => new WampResult(args))
}

app.wamp.register('bench.burst', (_args, kwargs) => {
  const n = Number(kwargs.n ?? 1000)
  const size = Number(kwargs.size ?? 100)
  const topic = typeof kwargs.topic === 'string' ? kwargs.topic : 'bench.topic'
  const payload = 'x'.repeat(size)
  let total = 0
  for (let i = 0; i < n; i++) total += app.wamp.publishToAll(topic, [payload])
  return total
})

await app.listen({ port, host: '127.0.0.1' })
const address = app.server.address()
const rsAddress = app.wamp.rawsocketAddress()
if (rsAddress !== null && typeof rsAddress === 'object') process.stdout.write(`rawsocket ${rsAddress.port}\n`)
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : port}\n`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    setTimeout(() => process.exit(0), 2000).unref()
    app.close().finally(() => process.exit(0))
  })
}
// SIGUSR2 prints the call counters (one JSON line), so a probe (strace, perf) can count per call.
process.on('SIGUSR2', () => {
  const { calls, routedCalls } = app.wamp.stats().counters
  process.stdout.write(JSON.stringify({ calls, routedCalls }) + '\n')
})
// Spawned with an IPC channel (bench/alloc.ts): 'alloc-start' / 'alloc-stop' bracket a window of the inspector's
// sampling heap profiler, answered with the profile and the call counters of that window, read in the same tick.
if (process.send !== undefined) {
  const { Session } = await import('node:inspector/promises')
  const inspector = new Session()
  inspector.connect()
  let before = { calls: 0, routedCalls: 0 }
  const counters = (): typeof before => {
    const { calls, routedCalls } = app.wamp.stats().counters
    return { calls, routedCalls }
  }
  process.on('message', (msg: { cmd: string, interval?: number }) => {
    if (msg.cmd === 'alloc-start') {
      // The include* flags (V8 ≥ 10, not in @types/node yet) keep the samples of objects that die young: all allocation.
      const params = { samplingInterval: msg.interval ?? 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }
      inspector.post('HeapProfiler.startSampling', params).then(() => {
        before = counters()
        process.send?.({ cmd: 'alloc-started' })
      }, (err: unknown) => process.send?.({ cmd: 'alloc-error', error: String(err) }))
    } else if (msg.cmd === 'alloc-stop') {
      const after = counters()
      inspector.post('HeapProfiler.getSamplingProfile').then(async ({ profile }) => {
        await inspector.post('HeapProfiler.stopSampling')
        process.send?.({ cmd: 'alloc-profile', profile, calls: after.calls - before.calls, routedCalls: after.routedCalls - before.routedCalls })
      }, (err: unknown) => process.send?.({ cmd: 'alloc-error', error: String(err) }))
    }
  })
}
