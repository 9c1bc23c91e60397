import t from 'tap'
import { startApp, until, internal } from './helpers/app.js'
import { MSG } from './helpers/raw-client.js'
import { HELLO_ROLES, open, post, receiveMessages, send } from './helpers/longpoll-client.js'
import type { LongPollTransport } from '../lib/transports/longpoll-transport.js'
import { HELD_SEND_BYTES } from '../lib/transports/longpoll-transport.js'

// While an async authorize decides, a long-poll session reads nothing and its sends are held unanswered, bounded by
// maxBufferedBytes. Empty sends weighed nothing against that bound: a client could hold any number of requests
// (each a connection) open. Each held send now counts at least HELD_SEND_BYTES.

t.test('empty sends held while the session waits for authorize are bounded too: the transport ends', async (t) => {
  let asked = 0
  let decide: (allowed: boolean) => void = () => {}
  const decision = new Promise<boolean>((resolve) => { decide = resolve })
  const maxBufferedBytes = 64 * 1024
  const { app, port } = await startApp(t, {
    longPoll: { path: '/lp', pollTimeout: 20_000, idleTimeout: 30_000 },
    maxPayload: 64 * 1024,
    maxBufferedBytes,
    authorize: (_session, action, uri) => {
      if (action !== 'call' || uri !== 'gated') return true
      asked++
      return decision
    }
  }, (app) => { app.wamp.register('gated', () => 'in') })
  const base = `http://127.0.0.1:${port}/lp`
  const lp = await open(base)
  t.equal(await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }]), 204)
  const [welcome] = await receiveMessages(lp, 1)
  const transport = internal(app.wamp.sessions.get(welcome[1] as number)).transport as LongPollTransport
  const polling = post(`${base}/${lp.transport}/receive`)
  const gate = send(lp, [MSG.CALL, 1, {}, 'gated'])
  await until(() => asked === 1, 2000, 'authorize to be asked')
  const count = maxBufferedBytes / HELD_SEND_BYTES + 8
  const sends = Array.from({ length: count }, async () => (await post(`${base}/${lp.transport}/send`, '')).status)
  await until(() => !transport.open, 5000, 'the transport holding too many sends to end')
  const statuses = await Promise.all(sends)
  t.ok(statuses.every((s) => s === 204 || s === 404), `every send answered (${[...new Set(statuses)].join(',')})`)
  t.equal(await gate, 204)
  await polling
  decide(true)
  await until(() => app.wamp.sessions.size === 0, 2000, 'its session to end')
})
