import t from 'tap'
import type { AddressInfo } from 'node:net'
import { startApp } from './helpers/app.js'
import { openSocket, RawSocketClient } from './helpers/rawsocket-client.js'
import { MSG } from './helpers/raw-client.js'
import { WampError } from '../index.js'

// An ABORT is the one message that tells a client why its session ended: it must reach the client even when its
// message would not — a RawSocket client may accept only 512 octets, and the message may quote what the client sent
// (a realm name of control characters, each six octets once JSON escapes it; a long list of authmethods).

async function client512 (port: number): Promise<RawSocketClient> {
  const client = new RawSocketClient(await openSocket({ port }), 'json')
  await client.handshake([0x7f, 0x01, 0, 0])
  return client
}

t.test('RawSocket client accepting 512 octets: ABORT no_such_realm for a realm name that escapes to more than that, not silence', async (t) => {
  const { app } = await startApp(t, { rawsocket: { port: 0, host: '127.0.0.1' } })
  const client = await client512((app.wamp.rawsocketAddress() as AddressInfo).port)
  client.send([MSG.HELLO, '\u0001'.repeat(300), { roles: { caller: {} } }])
  t.match(await client.next(), [MSG.ABORT, {}, 'wamp.error.no_such_realm'])
  await client.expectEnd()
})

t.test('RawSocket client accepting 512 octets: ABORT protocol_violation for a realm that is not a URI, quoted past 512 octets', async (t) => {
  const { app } = await startApp(t, { rawsocket: { port: 0, host: '127.0.0.1' } })
  const client = await client512((app.wamp.rawsocketAddress() as AddressInfo).port)
  client.send([MSG.HELLO, '\u0001'.repeat(300) + '..', { roles: { caller: {} } }])
  t.match(await client.next(), [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  await client.expectEnd()
})

t.test('RawSocket client accepting 512 octets: ABORT no_auth_method when the offered methods, listed back, pass 512 octets', async (t) => {
  const { app } = await startApp(t, {
    rawsocket: { port: 0, host: '127.0.0.1' },
    auth: { ticket: { authenticate: () => ({ authrole: 'user' }) } }
  })
  const client = await client512((app.wamp.rawsocketAddress() as AddressInfo).port)
  client.send([MSG.HELLO, 'realm1', { roles: { caller: {} }, authmethods: Array.from({ length: 40 }, (_, i) => `method-${i}-xxxxxxxx`) }])
  t.match(await client.next(), [MSG.ABORT, {}, 'wamp.error.no_auth_method'])
  await client.expectEnd()
})

t.test('RawSocket client accepting 512 octets: an authenticate refusal whose WampError message is long still ABORTs with its URI', async (t) => {
  const { app } = await startApp(t, {
    rawsocket: { port: 0, host: '127.0.0.1' },
    auth: { ticket: { authenticate: () => { throw new WampError('com.app.account_disabled', ['x'.repeat(600)]) } } }
  })
  const client = await client512((app.wamp.rawsocketAddress() as AddressInfo).port)
  client.send([MSG.HELLO, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'ann' }])
  t.match(await client.next(), [MSG.CHALLENGE, 'ticket', {}])
  client.send([MSG.AUTHENTICATE, 's', {}])
  t.match(await client.next(), [MSG.ABORT, {}, 'com.app.account_disabled'])
  await client.expectEnd()
})

t.test('RawSocket client accepting 512 octets: a kill whose message passes 512 octets still sends GOODBYE with its reason', async (t) => {
  const { app } = await startApp(t, { rawsocket: { port: 0, host: '127.0.0.1' } })
  const client = await client512((app.wamp.rawsocketAddress() as AddressInfo).port)
  client.send([MSG.HELLO, 'realm1', { roles: { caller: {} } }])
  t.equal((await client.next())[0], MSG.WELCOME)
  const [session] = app.wamp.sessions.values()
  session.kill('wamp.close.killed', 'x'.repeat(600))
  t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.killed'])
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.expectEnd()
})
