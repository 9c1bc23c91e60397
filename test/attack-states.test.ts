import t from 'tap'
import type { AddressInfo } from 'node:net'
import { startApp } from './helpers/app.js'
import { connectRaw, DEFAULT_HELLO_DETAILS, MSG, openRaw } from './helpers/raw-client.js'
import { connectRawSocket, openSocket, RawSocketClient } from './helpers/rawsocket-client.js'
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

// The handshake's last step: a WELCOME the client cannot take must not leave a session open only on our side.

t.test('RawSocket client announcing a max length of 512: a WELCOME larger than that → ABORT payload_size_exceeded, not silence', async (t) => {
  const { app } = await startApp(t, {
    rawsocket: { port: 0, host: '127.0.0.1' },
    auth: { ticket: { authenticate: () => ({ authrole: 'user', authextra: { motd: 'x'.repeat(600) } }) } }
  })
  const client = new RawSocketClient(await openSocket({ port: (app.wamp.rawsocketAddress() as AddressInfo).port }), 'json')
  t.same([...await client.handshake([0x7f, 0x01, 0, 0])], [0x7f, 0xb1, 0, 0], 'the client accepts 2^9 octets')
  client.send([MSG.HELLO, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'ann' }])
  t.match(await client.next(), [MSG.CHALLENGE, 'ticket', {}])
  client.send([MSG.AUTHENTICATE, 'secret', {}])
  t.match(await client.next(), [MSG.ABORT, { message: /WELCOME/ }, 'wamp.error.payload_size_exceeded'])
  await client.expectEnd()
  t.equal(app.wamp.sessions.size, 0, 'no session was opened')
})

t.test('RawSocket client announcing a max length of 512: a WAMP-CRA CHALLENGE larger than that → ABORT at once, not at auth.timeout', async (t) => {
  const { app } = await startApp(t, {
    rawsocket: { port: 0, host: '127.0.0.1' },
    auth: { wampcra: { authenticate: () => ({ secret: 's', authrole: 'user' }) } }
  })
  const client = new RawSocketClient(await openSocket({ port: (app.wamp.rawsocketAddress() as AddressInfo).port }), 'json')
  await client.handshake([0x7f, 0x01, 0, 0])
  client.send([MSG.HELLO, 'realm1', { roles: { caller: {} }, authmethods: ['wampcra'], authid: 'a'.repeat(300) }])
  t.match(await client.next(), [MSG.ABORT, { message: /CHALLENGE/ }, 'wamp.error.payload_size_exceeded'])
  await client.expectEnd()
})

t.test('an authextra the serializer cannot encode: ABORT saying so, no session open on the server only', async (t) => {
  let opened = 0
  const { app, url } = await startApp(t, {
    onSessionOpen: () => { opened++ },
    auth: { ticket: { authenticate: () => ({ authrole: 'user', authextra: { big: 10n ** 30n } }) } }
  })
  const client = await openRaw(url)
  t.match(await client.hello('realm1', { ...DEFAULT_HELLO_DETAILS, authmethods: ['ticket'], authid: 'ann' }), [MSG.CHALLENGE, 'ticket'])
  client.send([MSG.AUTHENTICATE, 'secret', {}])
  t.match(await client.next(), [MSG.ABORT, { message: /WELCOME cannot be encoded/ }, 'wamp.error.runtime_error'])
  await client.closed
  t.equal(app.wamp.sessions.size, 0)
  t.equal(opened, 0, 'onSessionOpen did not run')
})
