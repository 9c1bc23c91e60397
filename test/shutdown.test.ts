import t from 'tap'
import { startApp, until, internal } from './helpers/app.js'
import { connectRaw, openRaw, MSG } from './helpers/raw-client.js'
import { helloWith } from './helpers/auth.js'

// PROTOCOL §1.8 and issue 7: fastify.close() drains calls, says GOODBYE system_shutdown, waits (bounded) for
// replies and for handlers, then closes; nothing new starts once shutdown began.

function timers (): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

function logTo (lines: Array<Record<string, unknown>>): { logger: { level: string, stream: { write (line: string): void } } } {
  return { logger: { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } }
}

t.test('calls in flight answer before GOODBYE system_shutdown; new CALLs are refused meanwhile; no timer is left', async (t) => {
  const baseline = timers()
  let finish: (v: string) => void = () => {}
  let pings = 0
  const { url, app } = await startApp(t, { shutdownGrace: 5000, pingInterval: 1000 }, (app) => {
    app.wamp.register('slow', () => new Promise<string>((resolve) => { finish = resolve }))
    app.wamp.register('ping', () => { pings++; return 'pong' })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'slow'])
  await until(() => internal(app.wamp.sessions.values().next().value!).calls.size === 1)
  let closed = false
  const closing = app.close().then(() => { closed = true })
  client.send([MSG.CALL, 2, {}, 'ping'])
  const refused = await client.next()
  t.same(refused.slice(0, 5), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.canceled'])
  t.match((refused[5] as string[])[0], /shutting down/)
  t.equal(pings, 0, 'the refused call did not run')
  finish('done')
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['done']], 'the call in flight is answered')
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'], 'then GOODBYE')
  t.notOk(closed, 'close() waits for the GOODBYE reply')
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await closing
  t.equal((await client.expectClose()).code, 1001)
  t.equal(app.wamp.sessions.size, 0)
  t.equal(app.wamp.connections, 0)
  t.equal(timers(), baseline, 'no hello, call, keepalive or grace timer is left')
})

t.test('a CALL that arrives after GOODBYE system_shutdown is not dispatched', async (t) => {
  let runs = 0
  const { url, app } = await startApp(t, { shutdownGrace: 5000 }, (app) => {
    app.wamp.register('ping', () => { runs++; return 'pong' })
  })
  const { client } = await connectRaw(url)
  const closing = app.close()
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
  client.send([MSG.CALL, 1, {}, 'ping'])
  client.send([MSG.SUBSCRIBE, 2, {}, 'topic'])
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await closing
  await client.expectClose()
  t.equal(runs, 0, 'the handler never ran')
  t.same(client.history.slice(1).map((m) => m[0]), [MSG.GOODBYE], 'after WELCOME, nothing but the GOODBYE was sent')
})

t.test('close() waits for handlers and async close hooks still running after their session ended', async (t) => {
  const done: string[] = []
  let started = false
  const { url, app } = await startApp(t, { shutdownGrace: 5000 }, (app) => {
    app.wamp.register('work', async (_a, _k, ctx) => {
      started = true
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      await new Promise((resolve) => setTimeout(resolve, 50)) // winding down after the abort
      done.push('handler')
    })
    app.wamp.onSessionClose(async () => {
      await new Promise((resolve) => setTimeout(resolve, 80))
      done.push('hook')
    })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'work'])
  await until(() => started)
  await client.terminate() // the caller leaves; its handler's AbortSignal fires
  await until(() => app.wamp.connections === 0)
  await app.close()
  t.same(done.sort(), ['handler', 'hook'], 'both finished before close() resolved')
})

t.test('a handler that outlives shutdownGrace is aborted, close() completes, and the overrun is logged', async (t) => {
  const logs: Array<Record<string, unknown>> = []
  let signal: AbortSignal | undefined
  const { url, app } = await startApp(t, { shutdownGrace: 200 }, (app) => {
    app.wamp.register('forever', (_a, _k, ctx) => { signal = ctx.signal; return new Promise(() => {}) })
  }, logTo(logs))
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'forever'])
  await until(() => signal !== undefined)
  await app.close() // the client never answers GOODBYE either
  t.equal(signal?.aborted, true, 'the handler was told to stop')
  t.equal((await client.expectClose()).code, 1006, 'the silent peer was cut off after the grace')
  const warning = logs.find((l) => /still running after shutdownGrace/.test(String(l.msg)))
  t.equal(warning?.pending, 1)
})

t.test('a socket that never sent HELLO is closed on shutdown', async (t) => {
  const { url, app } = await startApp(t)
  const client = await openRaw(url)
  await until(() => app.wamp.connections === 1)
  await app.close()
  t.equal((await client.expectClose()).code, 1001)
  t.equal(app.wamp.connections, 0)
})

// ---- issue 15: nothing new starts once close began --------------------------------------------------------

const SHUTDOWN_ABORT = [MSG.ABORT, { message: 'the server is shutting down' }, 'wamp.close.system_shutdown']

t.test('issue 15: a PUBLISH during shutdown starts no topic handler; acknowledged, it gets ERROR canceled', async (t) => {
  let finish: (v: string) => void = () => {}
  let handled = 0
  const { url, app } = await startApp(t, { shutdownGrace: 5000 }, (app) => {
    app.wamp.register('slow', () => new Promise<string>((resolve) => { finish = resolve }))
    app.wamp.subscribe('app.topic', async () => { handled++ })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'slow'])
  await until(() => internal(app.wamp.sessions.values().next().value!).calls.size === 1)
  const closing = app.close()
  client.send([MSG.PUBLISH, 2, { acknowledge: true }, 'app.topic', [1]])
  client.send([MSG.PUBLISH, 3, {}, 'app.topic', [2]])
  t.same(await client.next(), [MSG.ERROR, MSG.PUBLISH, 2, {}, 'wamp.error.canceled', ['the server is shutting down']])
  finish('done')
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['done']])
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await closing
  t.equal(handled, 0, 'neither publication ran a handler')
})

t.test('issue 15: a session authenticating when close begins gets ABORT system_shutdown; close() awaits its authenticate', async (t) => {
  const events: string[] = []
  let answer: (v: { authrole: string }) => void = () => {}
  const { url, app } = await startApp(t, {
    shutdownGrace: 5000,
    auth: {
      ticket: {
        authenticate: () => new Promise((resolve) => { events.push('authenticate'); answer = resolve as (v: unknown) => void })
      }
    }
  })
  const client = await openRaw(url)
  t.equal((await client.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' })))[0], MSG.CHALLENGE)
  client.send([MSG.AUTHENTICATE, 'secret', {}])
  await until(() => events.length === 1)
  const closing = app.close().then(() => { events.push('closed') })
  t.same(await client.next(), SHUTDOWN_ABORT, 'ABORT, not a bare close')
  t.equal((await client.expectClose()).code, 1001)
  t.same(events, ['authenticate'], 'close() waits for the pending authenticate')
  answer({ authrole: 'user' })
  await closing
  t.same(events, ['authenticate', 'closed'])
  t.equal(app.wamp.sessions.size, 0, 'no session opened from the late answer')
  t.same(client.history.map((m) => m[0]), [MSG.CHALLENGE, MSG.ABORT])
})

t.test('issue 15: an async WAMP-CRA lookup pending when close begins: ABORT system_shutdown, no CHALLENGE after', async (t) => {
  let answer: ((v: { secret: string, authrole: string }) => void) | undefined
  const { url, app } = await startApp(t, {
    auth: { wampcra: { authenticate: () => new Promise((resolve) => { answer = resolve as (v: unknown) => void }) } }
  })
  const client = await openRaw(url)
  client.send([MSG.HELLO, 'realm1', helloWith({ authmethods: ['wampcra'], authid: 'joe' })])
  await until(() => answer !== undefined, 2000, 'the lookup to start')
  const closing = app.close()
  t.same(await client.next(), SHUTDOWN_ABORT)
  answer?.({ secret: 's', authrole: 'user' })
  await closing
  await client.expectClose()
  t.same(client.history.map((m) => m[0]), [MSG.ABORT])
})

t.test('issue 15: a HELLO or AUTHENTICATE that arrives once shutdown began starts nothing', async (t) => {
  let finish: (v: string) => void = () => {}
  let asked = 0
  const { url, app } = await startApp(t, {
    shutdownGrace: 5000,
    auth: { anonymous: true, ticket: { authenticate: () => { asked++; return { authrole: 'user' } } } }
  }, (app) => {
    app.wamp.register('slow', () => new Promise<string>((resolve) => { finish = resolve }))
  })
  const { client: busy } = await connectRaw(url)
  busy.send([MSG.CALL, 1, {}, 'slow'])
  await until(() => internal(app.wamp.sessions.values().next().value!).calls.size === 1)
  const late = await openRaw(url)
  const challenged = await openRaw(url)
  t.equal((await challenged.hello('realm1', helloWith({ authmethods: ['ticket'], authid: 'joe' })))[0], MSG.CHALLENGE)
  const closing = app.close()
  // The busy session keeps the drain phase open: these arrive while shutdown is under way.
  t.same(await late.hello(), SHUTDOWN_ABORT, 'HELLO → ABORT system_shutdown')
  challenged.send([MSG.AUTHENTICATE, 'secret', {}])
  t.same(await challenged.next(), SHUTDOWN_ABORT, 'AUTHENTICATE → ABORT system_shutdown')
  t.equal(asked, 0, 'the application\'s authenticate never ran')
  finish('done')
  await busy.nextOfType(MSG.GOODBYE)
  busy.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await closing
})
