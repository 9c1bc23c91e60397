import t from 'tap'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { hubOf, internal, startApp, until } from './helpers/app.js'
import { MSG } from './helpers/raw-client.js'
import { connectRawSocket, prefix } from './helpers/rawsocket-client.js'
import type { Target } from './helpers/rawsocket-client.js'
import * as lp from './helpers/longpoll-client.js'
import type { LongPollTransport } from '../lib/transports/longpoll-transport.js'

// Transport parity: every guard the WebSocket transport has must hold on RawSocket and HTTP long-poll too, since an
// attacker picks the weakest door. Real sockets, no mocks.

const MiB = 1024 * 1024
const RAW = { port: 0, host: '127.0.0.1' }
const HELLO = [MSG.HELLO, 'realm1', { roles: lp.HELLO_ROLES }]

function rawTarget (app: FastifyInstance): Target {
  return { port: (app.wamp.rawsocketAddress() as AddressInfo).port }
}

/** Writes with the socket's back-pressure; resolves early if the connection ends. */
async function write (socket: Socket, chunk: Buffer): Promise<void> {
  if (socket.write(chunk) || socket.destroyed) return
  await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve))
}

function lpBase (app: FastifyInstance): string {
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/lp`
}

async function lpJoin (base: string, protocol = 'wamp.2.json'): Promise<lp.LongPoll> {
  const session = await lp.open(base, [protocol])
  await lp.send(session, HELLO)
  return session
}

// ws cuts a peer with more than 60 auto-pongs waiting for the kernel (maxPendingAutoPongs), so a PING's payload,
// which a PONG may keep as a view of the whole read it came in, pins at most 60 reads. RawSocket must bound PONGs the
// same way: a 1-octet PING padded to a 64 KiB read counts 5 octets against maxBufferedBytes while pinning 64 KiB.
t.test('RawSocket: a peer that sends tiny PINGs in large reads and reads no PONG is cut before it pins its uploads', async (t) => {
  const { app } = await startApp(t, { rawsocket: RAW, maxBufferedBytes: MiB })
  const { client } = await connectRawSocket(rawTarget(app))
  client.socket.pause()
  const server = [...(hubOf(app).rawsocket?.connections ?? [])][0].socket
  // First fill the loopback buffers with PONGs nobody reads, a PING per read, until the server holds 64 KiB itself.
  const fill = Buffer.concat([prefix(1, 16 * 1024), Buffer.alloc(16 * 1024)])
  while (!client.ended && server.writableLength < 64 * 1024) {
    await write(client.socket, fill)
    while (!client.ended && server.bytesRead < client.socket.bytesWritten) await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve)) // the server's writes of this loop iteration leave
  }
  t.notOk(client.ended, 'not cut while the kernel took the PONGs')
  // Then a 1-octet PING per 64 KiB read (the rest a PONG from the client, which the server ignores).
  const unit = Buffer.concat([prefix(1, 1), Buffer.from('?'), prefix(2, 65531), Buffer.alloc(65531)])
  let units = 0
  for (; units < 300 && !client.ended; units++) await write(client.socket, unit)
  await until(() => client.ended, 2000).catch(() => {})
  t.ok(client.ended, `cut after ${units} PINGs of 64 KiB reads (${(units * unit.length / MiB).toFixed(0)} MiB) with PONGs unread`)
  await until(() => app.wamp.connections === 0)
})

// A WebSocket's bufferedAmount counts what the kernel has not taken yet, so a peer that does not read is cut at
// maxBufferedBytes. Over long-poll the same bytes sit in HTTP responses: a client that polls on connections it never
// reads must be bounded the same way, and what it made the server hold must go when its transport goes.
t.test('long-poll: receive answers the client does not read count against maxBufferedBytes; the cut frees them', async (t) => {
  const size = 7 * MiB
  const { app, port } = await startApp(t, { longPoll: true, maxPayload: 8 * MiB, maxBufferedBytes: 8 * MiB }, (app: FastifyInstance) => {
    app.wamp.register('big', () => 'x'.repeat(size))
  })
  const serverSockets: Socket[] = []
  app.server.on('connection', (socket: Socket) => serverSockets.push(socket))
  const session = await lpJoin(lpBase(app))
  t.equal((await lp.receiveMessages(session, 1))[0][0], MSG.WELCOME)
  const transport = internal([...app.wamp.sessions.values()][0]).transport as unknown as LongPollTransport
  const stuck: Socket[] = []
  let rounds = 0
  for (; rounds < 6 && app.wamp.connections > 0; rounds++) {
    // A receive on a connection whose answer is never read.
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(`POST /lp/${session.transport}/receive HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`)
    socket.pause()
    stuck.push(socket)
    await until(() => transport.polling || app.wamp.connections === 0, 2000, 'the receive to be held')
    if (app.wamp.connections === 0) break
    const status = await lp.send(session, [MSG.CALL, rounds + 1, {}, 'big'])
    if (status === 404) break
    await until(() => !transport.polling || app.wamp.connections === 0, 5000, 'the receive to be answered')
  }
  await until(() => app.wamp.connections === 0, 2000).catch(() => {})
  t.equal(app.wamp.connections, 0, `the session is cut (after ${rounds} answers of ${size / MiB} MiB left unread)`)
  // What the server was still writing to those connections went with the transport.
  const ours = new Set(stuck.map((s) => s.localPort))
  const holding = (): number => serverSockets.filter((s) => ours.has(s.remotePort) && !s.destroyed && s.writableLength > 0).length
  await until(() => holding() === 0, 2000).catch(() => {})
  t.equal(holding(), 0, 'no server connection still holds an unread answer')
  t.equal(await lp.send(session, [MSG.CALL, 99, {}, 'big']), 404, 'the transport is gone')
  for (const socket of stuck) socket.destroy()
})

// A RESULT the client does read must not be mistaken for one it does not: large answers to a polling client flow.
t.test('long-poll: a client that reads its answers gets every large one', async (t) => {
  const size = 3 * MiB
  const { app } = await startApp(t, { longPoll: true, maxPayload: 4 * MiB, maxBufferedBytes: 4 * MiB }, (app: FastifyInstance) => {
    app.wamp.register('big', (args) => 'x'.repeat(size - (args[0] as number)))
  })
  const session = await lpJoin(lpBase(app))
  await lp.receiveMessages(session, 1)
  for (let i = 1; i <= 5; i++) {
    t.equal(await lp.send(session, [MSG.CALL, i, {}, 'big', [i]]), 204)
    const [result] = await lp.receiveMessages(session, 1)
    t.same([result[0], result[1], (result[3] as string[])[0].length], [MSG.RESULT, i, size - i])
  }
  await lp.close(session)
})
