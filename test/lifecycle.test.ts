import t from 'tap'
import { startApp, until, internal } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import type { WampSession as Session } from '../index.js'

t.test('session hooks run once each, in order, and a failing hook is logged, not fatal', async (t) => {
  const events: string[] = []
  const logged: string[] = []
  const { url, app } = await startApp(t, {
    onSessionOpen: (s) => { events.push(`open-option ${s.id}`) },
    onSessionClose: [(s) => { events.push(`close-option ${s.id}`) }]
  }, (app) => {
    app.wamp.onSessionOpen(() => { throw new Error('sync hook failure') })
    app.wamp.onSessionOpen(async (s) => { events.push(`open-async ${s.id}`); throw new Error('async hook failure') })
    app.wamp.onSessionClose((s) => { events.push(`close ${s.id} ${app.wamp.sessions.has(s.id)}`) })
    app.wamp.register('ping', () => 'pong')
  }, {
    logger: {
      level: 'error',
      stream: { write: (line: string) => { logged.push(JSON.parse(line).msg) } }
    }
  })
  const { client, sessionId } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'ping'])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']], 'the session works despite failing hooks')
  t.equal(app.wamp.count, 1)
  await client.close()
  await until(() => events.length === 4)
  t.same(events, [`open-option ${sessionId}`, `open-async ${sessionId}`, `close-option ${sessionId}`, `close ${sessionId} false`])
  await until(() => logged.filter((m) => /onSessionOpen hook failed/.test(m)).length === 2)
  t.pass('both hook failures were logged')
})

t.test('a dropped socket is cleaned up like a GOODBYE: close hook once, calls settled, registry emptied', async (t) => {
  let closes = 0
  let aborted: unknown
  const { url, app } = await startApp(t, {}, (app) => {
    app.wamp.onSessionClose(() => { closes++ })
    app.wamp.register('hang', (_a, _k, ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => { aborted = ctx.signal.reason; resolve(undefined) })
    }))
  })
  const { client } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'client.proc'])
  await client.next()
  client.send([MSG.CALL, 2, {}, 'hang'])
  await until(() => app.wamp.sessions.size === 1)
  const session = [...app.wamp.sessions.values()][0]
  const pending = session.call('client.proc').then(() => 'resolved', (e: { uri?: string }) => e.uri)
  await client.nextOfType(MSG.INVOCATION)
  await client.terminate()
  t.equal(await pending, 'wamp.error.canceled', 'the server → client call is rejected')
  await until(() => closes === 1 && aborted !== undefined)
  t.equal(app.wamp.sessions.size, 0)
  t.match(aborted, { uri: 'wamp.error.canceled' }, 'the running handler\'s AbortSignal fired')
  t.equal(session.isOpen, false)
})

t.test('per-session state and the upgrade request are reachable from hooks and handlers', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.addHook('onRequest', async (request) => { (request as { tenant?: string }).tenant = String(request.headers['x-tenant']) })
    app.wamp.onSessionOpen((session) => { session.data.visits = 0 })
    app.wamp.register('visit', (_a, _k, { session }) => {
      session.data.visits = (session.data.visits as number) + 1
      return { visits: session.data.visits, tenant: (session.request as { tenant?: string }).tenant, ua: session.request?.headers['x-tenant'] }
    })
  })
  const { client } = await connectRaw(url, { headers: { 'x-tenant': 'acme' } })
  client.send([MSG.CALL, 1, {}, 'visit'])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [{ visits: 1, tenant: 'acme', ua: 'acme' }]])
  client.send([MSG.CALL, 2, {}, 'visit'])
  t.same((await client.next())[3], [{ visits: 2, tenant: 'acme', ua: 'acme' }])
  await client.close()
})

t.test('onSessionOpen may call the client\'s procedures without deadlock', async (t) => {
  let answer: unknown
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.onSessionOpen(async (session: Session) => {
      // The client registers right after joining; the read loop runs independently of this hook.
      for (let i = 0; i < 100 && internal(session).registrations.size === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      answer = (await session.call('client.hello', ['server'])).args[0]
    })
  })
  const ab = await connectAutobahn(url)
  await ab.session.register('client.hello', (args) => `hello ${String(args?.[0])}`)
  await until(() => answer !== undefined)
  t.equal(answer, 'hello server')
  await ab.close()
})
