import t from 'tap'
import type { AddressInfo } from 'node:net'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { connectRawSocket } from './helpers/rawsocket-client.js'
import * as lp from './helpers/longpoll-client.js'

// Messages in session states other than "open": after the server's GOODBYE, a hostile frame from the client must not
// draw a second terminal message (PROTOCOL §7.6: after our GOODBYE only the close follows), on every transport.

const HOSTILE: Array<{ name: string, frame: string | unknown[] }> = [
  { name: 'an undecodable frame', frame: 'garbage' },
  { name: 'a router-only message (WELCOME)', frame: [MSG.WELCOME, 1, {}] },
  { name: 'a malformed CALL', frame: [MSG.CALL, -1, {}, 'x'] }
]

for (const { name, frame } of HOSTILE) {
  for (const protocol of ['wamp.2.json', 'wamp.2.msgpack.batched']) {
    t.test(`WebSocket ${protocol}: ${name} after the server's GOODBYE: no ABORT after it, the socket closes`, async (t) => {
      const { app, url } = await startApp(t)
      const { client } = await connectRaw(url, { protocols: [protocol] })
      const [session] = app.wamp.sessions.values()
      session.kill()
      t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.killed'])
      if (typeof frame === 'string') client.sendRaw(client.batched ? Buffer.from([0, 0, 0, 1, 0xc1]) : frame)
      else client.send(frame)
      await client.closed
      t.same(client.history.slice(1).map((m) => m[0]), [MSG.GOODBYE], 'GOODBYE was the only terminal message')
    })
  }

  t.test(`RawSocket: ${name} after the server's GOODBYE: no ABORT after it, the connection ends`, async (t) => {
    const { app } = await startApp(t, { rawsocket: { port: 0, host: '127.0.0.1' } })
    const { client } = await connectRawSocket({ port: (app.wamp.rawsocketAddress() as AddressInfo).port })
    const [session] = app.wamp.sessions.values()
    session.kill()
    t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.killed'])
    if (typeof frame === 'string') client.sendFrame(0, Buffer.from(frame))
    else client.send(frame)
    const after: unknown[][] = []
    for (;;) {
      const msg = await client.next().catch(() => undefined)
      if (msg === undefined) break
      after.push(msg)
    }
    t.same(after, [], 'nothing after GOODBYE')
  })

  t.test(`long-poll (batched): ${name} after the server's GOODBYE: no ABORT queued after it`, async (t) => {
    const { app, port } = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 2000, idleTimeout: 5000 } })
    const poll = await lp.open(`http://127.0.0.1:${port}/lp`, ['wamp.2.json.batched'])
    await lp.send(poll, [MSG.HELLO, 'realm1', { roles: lp.HELLO_ROLES }])
    t.equal((await lp.receiveMessages(poll, 1))[0][0], MSG.WELCOME)
    const [session] = app.wamp.sessions.values()
    session.kill()
    const body = typeof frame === 'string' ? Buffer.from(frame + '\x1e') : lp.encode(poll, [frame])
    t.equal((await lp.post(`${poll.base}/${poll.transport}/send`, body)).status, 204)
    const { messages } = await lp.receive(poll)
    t.same(messages.map((m) => m[0]), [MSG.GOODBYE], 'GOODBYE was the only terminal message')
    await lp.close(poll)
  })
}
