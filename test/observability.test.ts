import t from 'tap'
import { tracingChannel } from 'node:diagnostics_channel'
import { hubOf, startApp, sleep, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { prometheusText, WampError } from '../index.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { inspector } from './helpers/redis.js'

type Event = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'
interface Seen { channel: string, event: Event, ctx: Record<string, unknown>, snapshot: Record<string, unknown> }

const NAMES = ['session', 'call', 'invoke', 'publish', 'subscribe', 'register']

/** Subscribes to every fastify-wamp TracingChannel for the test, recording each event with a copy of its context. */
function record (t: { teardown (fn: () => unknown): void }): Seen[] {
  const seen: Seen[] = []
  for (const name of NAMES) {
    const channel = tracingChannel(`fastify-wamp:${name}`)
    const on = (event: Event) => (ctx: unknown) => {
      seen.push({ channel: name, event, ctx: ctx as Record<string, unknown>, snapshot: { ...(ctx as Record<string, unknown>) } })
    }
    const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') }
    channel.subscribe(handlers)
    t.teardown(() => channel.unsubscribe(handlers))
  }
  return seen
}

const events = (seen: Seen[], channel: string, key: string, value: unknown): string[] =>
  seen.filter((s) => s.channel === channel && s.snapshot[key] === value).map((s) => s.event)

t.test('issue 20: tracing channels see sessions, calls both ways, publications, subscriptions and registrations', async (t) => {
  const seen = record(t)
  const { app, url } = await startApp(t, {}, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
    app.wamp.register('com.slow', async () => { await sleep(5); return 'late' })
    app.wamp.register('com.fail', () => { throw new WampError('com.error.bad', ['nope']) })
  })
  const client = await connectAutobahn(url, { serializer: 'json' })
  const sessionId = client.session.id
  const received: unknown[] = []
  await client.session.register('client.echo', (args: unknown[] | undefined) => args?.[0])
  await client.session.subscribe('com.news', (args: unknown[] | undefined) => { received.push(args?.[0]) })

  t.equal(await client.session.call('com.add', [2, 3]), 5)
  t.equal(await client.session.call('com.slow'), 'late')
  t.match(await client.session.call('com.fail').catch((err: unknown) => err), { error: 'com.error.bad' })
  t.same((await app.wamp.call('client.echo', ['hi'])).args, ['hi'])
  t.equal(app.wamp.publishToAll('com.news', ['flash']), 1, 'one receiver')
  await until(() => received.length === 1)

  const opened = seen.filter((s) => s.channel === 'session' && s.snapshot.sessionId === sessionId)
  t.same(opened.map((s) => s.event), ['start', 'end'], 'the session opened')
  t.match(opened[0].snapshot, { realm: 'realm1', authrole: 'anonymous', authmethod: 'anonymous', serializer: 'json', authid: /^anonymous-/ })

  t.same(events(seen, 'call', 'procedure', 'com.add'), ['start', 'end'], 'a synchronous handler: start, end')
  t.same(events(seen, 'call', 'procedure', 'com.slow'), ['start', 'end', 'asyncStart', 'asyncEnd'], 'an async handler: the outcome at asyncEnd')
  t.same(events(seen, 'call', 'procedure', 'com.fail'), ['start', 'error', 'end'], 'a failing handler: error before end')
  const add = seen.filter((s) => s.channel === 'call' && s.snapshot.procedure === 'com.add')
  t.match(add[0].snapshot, { realm: 'realm1', sessionId, serializer: 'json', authrole: 'anonymous', requestId: Number })
  t.equal(add[0].ctx, add[1].ctx, 'one context object from start to end (where a subscriber keeps its span)')
  const fail = seen.find((s) => s.channel === 'call' && s.event === 'error')
  t.match(fail?.snapshot, { procedure: 'com.fail', errorUri: 'com.error.bad' })
  t.type(fail?.snapshot.error, WampError, 'the error the handler threw')

  t.same(events(seen, 'invoke', 'procedure', 'client.echo'), ['start', 'end', 'asyncStart', 'asyncEnd'], 'app → client call')
  t.match(seen.find((s) => s.channel === 'invoke')?.snapshot, { kind: 'app', sessionId, realm: 'realm1' })

  t.same(events(seen, 'publish', 'topic', 'com.news'), ['start', 'end'])
  t.match(seen.find((s) => s.channel === 'publish' && s.event === 'end')?.snapshot, { realm: 'realm1', receivers: 1 })
  t.match(seen.find((s) => s.channel === 'subscribe')?.snapshot, { uri: 'com.news', match: 'exact', sessionId, id: Number })
  t.match(seen.find((s) => s.channel === 'register')?.snapshot, { uri: 'client.echo', match: 'exact', sessionId, id: Number })

  await client.close()
  await until(() => events(seen, 'session', 'sessionId', sessionId).length === 4)
  const closed = seen.filter((s) => s.channel === 'session' && s.snapshot.sessionId === sessionId)
  t.same(closed.map((s) => s.event), ['start', 'end', 'asyncStart', 'asyncEnd'], 'the session ended')
  t.type(closed[3].snapshot.duration, 'number')
})

t.test('issue 20: a routed client → client call is traced on the invoke channel, its error URI too', async (t) => {
  const seen = record(t)
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  const callee = await connectAutobahn(url)
  const caller = await connectAutobahn(url, { serializer: 'msgpack' })
  await callee.session.register('peer.double', (args: unknown[] | undefined) => (args?.[0] as number) * 2)
  await callee.session.register('peer.fail', () => { throw new Error('x') })
  t.equal(await caller.session.call('peer.double', [21]), 42)
  await t.rejects(caller.session.call('peer.fail'))
  t.same(events(seen, 'invoke', 'procedure', 'peer.double'), ['start', 'end', 'asyncStart', 'asyncEnd'])
  t.match(seen.find((s) => s.channel === 'invoke')?.snapshot, { kind: 'routed', sessionId: callee.session.id, callerId: caller.session.id })
  t.match(seen.find((s) => s.channel === 'invoke' && s.event === 'error')?.snapshot, { procedure: 'peer.fail', errorUri: 'wamp.error.runtime_error' })
  await caller.close()
  await callee.close()
})

t.test('issue 20: stats() counts sessions, registrations, calls, errors and events; a Fastify route serves them to Prometheus', async (t) => {
  const { app, url, port } = await startApp(t, {}, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
    app.wamp.register('com.fail', () => { throw new WampError('com.error.bad') })
    app.get('/metrics', async (_request, reply) => {
      reply.type('text/plain; version=0.0.4')
      return prometheusText(app.wamp.stats())
    })
  })
  const client = await connectAutobahn(url)
  const raw = await connectRaw(url, { protocols: ['wamp.2.cbor'] })
  await client.session.register('client.echo', (args: unknown[] | undefined) => args?.[0])
  await client.session.subscribe('com.news', () => {})
  await client.session.call('com.add', [1, 2])
  await t.rejects(client.session.call('com.fail'))
  await t.rejects(client.session.call('com.missing'))
  await app.wamp.call('client.echo', [1])
  app.wamp.publishToAll('com.news', [1])
  app.wamp.publishToAll('com.nobody', [1])
  raw.client.send([MSG.CALL, 1, {}, 'com.add', [1, 1]])
  t.same(await raw.client.next(), [MSG.RESULT, 1, {}, [2]])

  const stats = app.wamp.stats()
  t.match(stats, {
    connections: 2,
    sessions: 2,
    sessionsByRealm: { realm1: { anonymous: 2 } },
    registrations: 1,
    subscriptions: 1,
    callsInFlight: 0,
    invocationsInFlight: 0,
    counters: {
      calls: 3,
      callErrors: 2,
      errorsByUri: { 'com.error.bad': 1, 'wamp.error.no_such_procedure': 1 },
      invocations: 1,
      publications: 2,
      events: 1,
      sessionsOpened: 2,
      sessionsClosed: 0
    },
    fanout: { status: 'up', publishFailed: 0 }
  })

  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.match(response.headers.get('content-type'), /^text\/plain; version=0.0.4/)
  const text = await response.text()
  t.match(text, /^# HELP fastify_wamp_sessions .+\n# TYPE fastify_wamp_sessions gauge\nfastify_wamp_sessions\{realm="realm1",authrole="anonymous"\} 2$/m)
  t.match(text, /^fastify_wamp_calls_total\{kind="client_to_app"\} 3$/m)
  t.match(text, /^fastify_wamp_call_errors_total\{uri="com.error.bad"\} 1$/m)
  t.match(text, /^fastify_wamp_events_sent_total 1$/m)
  t.match(text, /^fastify_wamp_fanout_up\{status="up"\} 1$/m)
  // Every sample line is `name{labels} number` (the text format's grammar, roughly).
  for (const line of text.trimEnd().split('\n')) {
    if (!line.startsWith('#')) t.match(line, /^fastify_wamp_[a-z_]+(\{([a-z_]+="[^"\n]*",?)+\})? \d+$/, line)
  }

  await client.close()
  raw.client.close()
  await until(() => app.wamp.stats().counters.sessionsClosed === 2)
  t.match(app.wamp.stats(), { sessions: 0, registrations: 0, subscriptions: 0, sessionsByRealm: {} })
})

t.test('issue 20: prometheusText escapes label values', async (t) => {
  const text = prometheusText({
    connections: 0,
    sessions: 1,
    sessionsByRealm: { 'r"1': { 'a\\b\nc': 1 } },
    sessionsByTransport: {},
    registrations: 0,
    subscriptions: 0,
    callsInFlight: 0,
    invocationsInFlight: 0,
    bufferedBytes: 0,
    counters: { calls: 0, callErrors: 0, errorsByUri: {}, invocations: 0, routedCalls: 0, publications: 0, events: 0, sessionsOpened: 0, sessionsClosed: 0, bytesIn: 0, bytesOut: 0 },
    fanout: { status: 'down', published: 0, received: 0, publishFailed: 0, errors: 0, lastError: undefined }
  })
  t.match(text, /^fastify_wamp_sessions\{realm="r\\"1",authrole="a\\\\b\\nc"\} 1$/m)
  t.match(text, /^fastify_wamp_fanout_up\{status="down"\} 0$/m)
})

t.test('issue 20: session open and close are logged at debug with the session id bound', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, {}, undefined, { logger: { level: 'debug', stream } })
  const client = await connectAutobahn(url, { serializer: 'msgpack' })
  const sessionId = client.session.id
  await client.close()
  await until(() => lines.some((l) => l.msg === 'fastify-wamp: session closed'))
  const opened = lines.find((l) => l.msg === 'fastify-wamp: session opened')
  t.match(opened, { level: 20, wampSession: sessionId, realm: 'realm1', authrole: 'anonymous', authmethod: 'anonymous', serializer: 'msgpack', authid: /^anonymous-/ })
  const closed = lines.find((l) => l.msg === 'fastify-wamp: session closed')
  t.match(closed, { level: 20, wampSession: sessionId, realm: 'realm1', authrole: 'anonymous', duration: Number })
})

t.test('issue 20: a client call routed to another instance is traced on the callee\'s instance as routed', async (t) => {
  const seen = record(t)
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }] })
  const redis = inspector(t)
  const callee = await connectAutobahn(b.url)
  const caller = await connectAutobahn(a.url)
  await callee.session.register('far.double', (args: unknown[] | undefined) => (args?.[0] as number) * 2)
  await untilRegistered(redis, prefix, 'far.double', 1)
  t.equal(await caller.session.call('far.double', [4]), 8)
  t.same(events(seen, 'invoke', 'procedure', 'far.double'), ['start', 'end', 'asyncStart', 'asyncEnd'])
  t.match(seen.find((s) => s.channel === 'invoke')?.snapshot, { kind: 'routed', sessionId: callee.session.id, callerId: caller.session.id })
  t.equal(b.app.wamp.stats().counters.invocations, 1, 'counted on the callee\'s instance')
  await caller.close()
  await callee.close()
})

t.test('issue 20: metrics: true — call duration histograms by kind, bytes in and out, one-second rates, the Prometheus histogram', async (t) => {
  const { app, url } = await startApp(t, { metrics: true, realms: [{ name: 'realm1', router: true }] }, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
    app.wamp.register('com.slow', async () => { await sleep(20); return 1 })
  })
  const callee = await connectAutobahn(url)
  const caller = await connectAutobahn(url, { serializer: 'msgpack' })
  await callee.session.register('peer.echo', (args: unknown[] | undefined) => args?.[0])
  for (let i = 0; i < 5; i++) await caller.session.call('com.add', [i, 1])
  await caller.session.call('com.slow')
  await caller.session.call('peer.echo', ['x'])
  await app.wamp.call('peer.echo', ['y'])
  const hub = hubOf(app)
  hub.history?.tick()

  const stats = app.wamp.stats()
  const { clientToApp, appToClient, routed } = stats.latency ?? t.fail('latency') as never
  t.equal(clientToApp.count, 6, 'six client → app calls')
  t.equal(routed.count, 1, 'one routed call')
  t.equal(appToClient.count, 1, 'one app → client call')
  t.equal(clientToApp.counts.length, clientToApp.buckets.length + 1, 'one count per bucket, then +Inf')
  t.equal(clientToApp.counts[clientToApp.counts.length - 1], 6, 'cumulative: +Inf holds them all')
  for (let i = 1; i < clientToApp.counts.length; i++) t.ok(clientToApp.counts[i] >= clientToApp.counts[i - 1], 'cumulative counts never decrease')
  const le20ms = clientToApp.buckets.indexOf(0.01)
  t.ok(clientToApp.counts[le20ms] <= 5, 'the 20 ms handler is not in the ≤ 10 ms buckets')
  // A 20 ms timer can fire up to ~1 ms early against performance.now() (the loop's cached time): 15 ms is still only it.
  t.ok(clientToApp.sum >= 0.015, `the sum covers the slow call (${clientToApp.sum} s)`)
  t.ok(stats.counters.bytesIn > 0 && stats.counters.bytesOut > 0, 'bytes in and out counted')
  t.match(stats.rates, { callsPerSecond: Number, eventsPerSecond: Number, errorsPerSecond: 0, p99Ms: Number })
  t.ok((stats.rates?.callsPerSecond ?? 0) > 0, 'calls per second over the last interval')
  t.equal(hub.history?.history().length, 1, 'one sample in the history')

  const text = prometheusText(stats)
  t.match(text, /^# TYPE fastify_wamp_call_duration_seconds histogram$/m)
  t.match(text, /^fastify_wamp_call_duration_seconds_bucket\{kind="client_to_app",le="\+Inf"\} 6$/m)
  t.match(text, /^fastify_wamp_call_duration_seconds_count\{kind="routed"\} 1$/m)
  t.match(text, /^fastify_wamp_call_duration_seconds_bucket\{kind="app_to_client",le="0.0001"\} \d+$/m)
  t.match(text, /^fastify_wamp_call_duration_seconds_sum\{kind="client_to_app"\} [0-9.e-]+$/m)
  t.match(text, new RegExp(`^fastify_wamp_received_bytes_total ${stats.counters.bytesIn}$`, 'm'))

  const before = app.wamp.stats().counters
  await caller.close()
  await callee.close()
  await until(() => app.wamp.stats().connections === 0)
  const after = app.wamp.stats().counters
  t.ok(after.bytesIn >= before.bytesIn && after.bytesOut >= before.bytesOut, 'bytes of closed sockets are kept')
})

t.test('issue 20: without metrics: true the call paths keep no histogram and stats() has no latency or rates', async (t) => {
  const { app, url } = await startApp(t, {}, (app) => { app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number)) })
  const client = await connectAutobahn(url)
  await client.session.call('com.add', [1, 2])
  t.equal(hubOf(app).counters.latency, undefined)
  t.notOk('latency' in app.wamp.stats())
  t.notOk('rates' in app.wamp.stats())
  t.notMatch(prometheusText(app.wamp.stats()), /call_duration/)
  await client.close()
})

t.test('issue 20: authentication failures and authorization denials are logged at info', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, {
    auth: { ticket: { authenticate: (ticket) => ticket === 'good' ? { authrole: 'user' } : undefined } },
    permissions: { user: [{ uri: 'com.allowed', allow: ['call'] }] }
  }, (app) => {
    app.wamp.register('com.allowed', () => 1)
    app.wamp.register('com.secret', () => 2)
  }, { logger: { level: 'info', stream } })
  await t.rejects(connectAutobahn(url, { authmethods: ['ticket'], authid: 'eve', onchallenge: () => 'bad' }))
  const failed = lines.find((l) => l.msg === 'fastify-wamp: authentication failed')
  t.match(failed, { level: 30, realm: 'realm1', authmethod: 'ticket', authid: 'eve', reason: 'refused', reqId: String })
  const client = await connectAutobahn(url, { authmethods: ['ticket'], authid: 'joe', onchallenge: () => 'good' })
  await t.rejects(client.session.call('com.secret'))
  const denied = lines.find((l) => l.msg === 'fastify-wamp: not authorized')
  t.match(denied, { level: 30, wampSession: client.session.id, action: 'call', uri: 'com.secret', realm: 'realm1', authid: 'joe', authrole: 'user' })
  await client.close()
})
