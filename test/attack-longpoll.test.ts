import t from 'tap'
import { startApp, until, internal } from './helpers/app.js'
import type { TestApp } from './helpers/app.js'
import { MSG } from './helpers/raw-client.js'
import { HELLO_ROLES, open, post, receiveMessages, send } from './helpers/longpoll-client.js'
import type { LongPoll } from './helpers/longpoll-client.js'
import type { FastifyWampOptions } from '../index.js'
import type { LongPollTransport } from '../lib/transports/longpoll-transport.js'

// Hostile long-poll clients: what HTTP lets them do that a socket would not.

async function lpApp (t: Parameters<typeof startApp>[0], options: FastifyWampOptions = {}, setup?: Parameters<typeof startApp>[2]): Promise<TestApp & { base: string }> {
  const started = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 2000, idleTimeout: 5000 }, ...options }, setup)
  return { ...started, base: `http://127.0.0.1:${started.port}/lp` }
}

async function join (base: string): Promise<{ lp: LongPoll, sessionId: number }> {
  const lp = await open(base)
  if (await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }]) !== 204) throw new Error('HELLO not accepted')
  const [welcome] = await receiveMessages(lp, 1)
  if (welcome[0] !== MSG.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(welcome)}`)
  return { lp, sessionId: welcome[1] as number }
}

t.test('while the session is held (async authorize), sends past maxBufferedBytes end the transport instead of piling up', async (t) => {
  let asked = 0
  let decide: (allowed: boolean) => void = () => {}
  const decision = new Promise<boolean>((resolve) => { decide = resolve })
  const { app, base } = await lpApp(t, {
    longPoll: { path: '/lp', pollTimeout: 20_000, idleTimeout: 30_000 },
    maxPayload: 64 * 1024,
    maxBufferedBytes: 256 * 1024,
    // Authorization decided asynchronously (a database lookup, say), and slow.
    authorize: (_session, action, uri) => {
      if (action !== 'call' || uri !== 'gated') return true
      asked++
      return decision
    }
  }, (app) => { app.wamp.register('gated', () => 'in') })
  const { lp, sessionId } = await join(base)
  const transport = internal(app.wamp.sessions.get(sessionId)).transport as LongPollTransport
  const polling = post(`${base}/${lp.transport}/receive`) // the client keeps polling: it is not idle
  const gate = send(lp, [MSG.CALL, 1, {}, 'gated'])
  await until(() => asked === 1, 2000, 'authorize to be asked')
  // 64 sends of ~60 KiB each (≈ 3.8 MiB) while the session reads nothing: at most maxBufferedBytes may wait.
  const big = 'x'.repeat(60 * 1024)
  const sends = Array.from({ length: 64 }, (_, i) => send(lp, [MSG.PUBLISH, 100 + i, {}, 'com.flood', [big]]))
  await until(() => !transport.open, 3000, 'the flooding transport to end')
  await until(() => app.wamp.sessions.size === 0, 2000, 'its session to end')
  const statuses = await Promise.all(sends)
  t.ok(statuses.every((s) => s === 204 || s === 404 || s === 413), `every send answered (${[...new Set(statuses)].join(',')})`)
  t.equal(await gate, 204)
  await polling
  decide(true)
  t.equal((await post(`${base}/${lp.transport}/receive`)).status, 404, 'the transport is gone')
})

t.test('the transport id (the only credential of /send and /receive) never appears in the request log', async (t) => {
  const lines: string[] = []
  const stream = { write: (line: string) => { lines.push(line) } }
  const started = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 2000, idleTimeout: 5000 } },
    (app) => { app.wamp.register('echo', (args: unknown[]) => args[0]) }, { logger: { level: 'info', stream } })
  const base = `http://127.0.0.1:${started.port}/lp`
  const { lp } = await join(base)
  t.equal(await send(lp, [MSG.CALL, 1, {}, 'echo', ['hi']]), 204)
  const [result] = await receiveMessages(lp, 1)
  t.same(result, [MSG.RESULT, 1, {}, ['hi']])
  const urls = lines.map((l) => JSON.parse(l) as { req?: { url?: string } }).filter((l) => l.req?.url !== undefined).map((l) => l.req?.url)
  t.ok(urls.some((u) => u === '/lp/<transport>/send') && urls.some((u) => u === '/lp/<transport>/receive'), 'send and receive are logged, redacted')
  t.notOk(lines.some((l) => l.includes(lp.transport)), `no log line holds the transport id (${lines.length} lines)`)
})
