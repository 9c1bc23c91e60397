import t from 'tap'
import type { AddressInfo, Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { hubOf, startApp, until } from './helpers/app.js'
import { MSG } from './helpers/raw-client.js'
import { connectRawSocket, prefix } from './helpers/rawsocket-client.js'
import type { Target } from './helpers/rawsocket-client.js'
import * as lp from './helpers/longpoll-client.js'

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
